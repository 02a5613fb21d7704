"""Where the time of one training step goes, op by op: kernels, allocation, NDArray, checks, graph.

For one MLP 784-100-10 training step (batch 100) and one LSTM time step (hidden 256, batch 32,
forward and backward; the cell written from ops in ``bench_training``), on each device, every
op's time is split into:

- kernel    the compiled code: a C++ call, or a numba-compiled function (with its argument unboxing)
- dispatch  the device module's Python around its compiled code (numba: chunks, serial or parallel)
- alloc     making output buffers (``module.Array``)
- ndarray   NDArray's Python: views, shapes and dtypes, compact(), the kernels' argument checks
- checks    the ops' input checks (devices, dtypes, shapes) and result checks
- graph     autograd's Python: making nodes, gradient code, the topological sort, summing partials,
            the optimizer's loop

A row is an op applied in the forward pass, an op's ``gradient`` (with every op it applies), the
backward sweep around the gradients (with the sums of partial gradients), the optimizer step, or
the Python outside any op; ``ops`` counts the ops applied in the row per step. The instrumentation
wraps those functions with timers whose own cost is measured and subtracted; the step's time
without timers is printed next to the account's sum, so its accuracy shows. On a shared machine
run it with one thread and the CPU clock (OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1, --clock cpu):
the Python shares do not change, and a kernel's time is then not the time it waited for a core.
Usage: ``python benchmarks/profile_ops.py [--devices cpu numba] [--steps N] [--workloads mlp lstm]
[--clock cpu]``.
"""
import argparse
import collections
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import needle_edu as ndl  # noqa: E402
from needle_edu import autograd, nn, optim  # noqa: E402
from needle_edu.backend_ndarray import kernel_checks, ndarray  # noqa: E402

import bench_conv  # noqa: E402  (the workloads)
import bench_training  # noqa: E402

CATEGORIES = ("kernel", "dispatch", "alloc", "ndarray", "checks", "graph")
OUTSIDE = "outside ops (model, loss, data)"
KERNELS = ("from_numpy", "to_numpy", "fill", "compact", "ewise_setitem", "scalar_setitem",
           "reduce_sum", "reduce_max", "matmul")


class Account:
    """Exclusive time per (row, category): each timed call's own time, less its timed callees."""

    def __init__(self, clock=time.perf_counter_ns):
        self.clock = clock
        self.ns = collections.defaultdict(lambda: dict.fromkeys(CATEGORIES + ("calibration",), 0))
        self.calls = collections.Counter()
        self.stack = [["none", OUTSIDE, 0, 0]]  # frames: category, row, callees' ns, pass-throughs
        # A timer's own cost: inside its clock, all of it, and a call passed straight through.
        self.inner_ns = self.outer_ns = self.pass_ns = 0

    def timed(self, function, category, row_of=None, count=False):
        """``function`` wrapped: its time goes to ``category`` of the row ``row_of(parent row,
        *args)`` (the caller's row when None); ``count`` counts the calls in that row."""
        stack, ns, calls, clock = self.stack, self.ns, self.calls, self.clock

        def wrapper(*args, **kwargs):
            parent = stack[-1]
            if row_of is None and parent[0] == category:  # inside its own kind: nothing to split off
                parent[3] += 1
                return function(*args, **kwargs)
            row = parent[1] if row_of is None else row_of(parent[1], *args)
            if count:
                calls[row] += 1
            frame = [category, row, 0, 0]
            stack.append(frame)
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = clock() - start
                stack.pop()
                ns[row][category] += elapsed - frame[2] - self.inner_ns - frame[3] * self.pass_ns
                parent[2] += elapsed + self.outer_ns - self.inner_ns

        return wrapper

    def calibrate(self, repeats=2000, rounds=3):
        """Measure what a timer costs: what it records for an empty call, what its caller sees, and
        what a call passed through costs; the least of a few rounds (the machine's other work only
        adds). Repeated before every step, so that it follows the machine's load."""
        def empty():
            return None

        timed = self.timed(empty, "calibration", lambda row: "calibration")
        passed = self.timed(empty, "calibration")
        clock = self.clock
        self.inner_ns = self.outer_ns = self.pass_ns = 0
        inner, outer, through = [], [], []
        for _ in range(rounds):
            start = clock()
            for _ in range(repeats):
                empty()
            plain = clock() - start
            start = clock()
            for _ in range(repeats):
                timed()
            outer.append((clock() - start - plain) / repeats)
            inner.append(self.ns.pop("calibration")["calibration"] / repeats)
            self.stack.append(["calibration", "calibration", 0, 0])
            start = clock()
            for _ in range(repeats):
                passed()
            through.append((clock() - start - plain) / repeats)
            self.stack.pop()
        self.inner_ns, self.outer_ns, self.pass_ns = min(inner), min(outer), min(through)
        self.stack[0][2:] = [0, 0]


class Patches:
    """Attributes to replace while an account is kept: ``apply()`` and ``undo()``."""

    def __init__(self):
        self.replacements = []  # (owner, name, original, replacement)

    def add(self, owner, name, value):
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        self.replacements.append((owner, name, original, value))

    def everywhere(self, original, value):
        """Replace ``original`` wherever a needle_edu module holds it as a global."""
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("needle_edu") and module is not None:
                for name, held in list(vars(module).items()):
                    if held is original:
                        self.add(module, name, value)

    def apply(self):
        for owner, name, _, value in self.replacements:
            setattr(owner, name, value)

    def undo(self):
        for owner, name, original, _ in reversed(self.replacements):
            setattr(owner, name, original)


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def timers(account, device):
    """Patches that put timers on every layer between a Tensor op and its kernel."""
    patches = Patches()
    timed = account.timed

    def op_row(parent_row, cls, op, inputs):  # Value.make_from_op(cls, op, inputs)
        return type(op).__name__ if parent_row == OUTSIDE else parent_row

    def gradient_row(parent_row, op, *args):
        return f"{type(op).__name__}.gradient"

    # graph: node creation, the sweep and the optimizer; checks: the ops' input checks
    make = autograd.Value.__dict__["make_from_op"].__func__
    patches.add(autograd.Value, "make_from_op", classmethod(timed(make, "graph", op_row, count=True)))
    for name in ("_check_operands", "_check_result"):
        if hasattr(autograd, name):
            patches.add(autograd, name, timed(getattr(autograd, name), "checks"))
    for name in ("compute_gradients", "reverse_sweep", "find_topo_sort"):
        patches.add(autograd, name, timed(getattr(autograd, name), "graph", lambda row, *a: "backward sweep"))
    patches.add(optim.Optimizer, "step", timed(optim.Optimizer.step, "graph", lambda row, *a: "optimizer step"))
    for cls in {autograd.Op, *_all_subclasses(autograd.Op)}:
        own = cls.__dict__
        if "check_inputs" in own:
            patches.add(cls, "check_inputs", timed(own["check_inputs"], "checks"))
        if "compute" in own:
            patches.add(cls, "compute", timed(own["compute"], "ndarray"))
        if "gradient" in own:
            patches.add(cls, "gradient", timed(own["gradient"], "graph", gradient_row))
    # ndarray: NDArray's methods, the module's helpers and the kernels' argument checks
    for name, attribute in list(vars(ndarray.NDArray).items()):
        if isinstance(attribute, staticmethod):
            patches.add(ndarray.NDArray, name, staticmethod(timed(attribute.__func__, "ndarray")))
        elif callable(attribute) and name not in ("__hash__", "__len__"):
            patches.add(ndarray.NDArray, name, timed(attribute, "ndarray"))
    for name in ("normalize_axes", "broadcast_shapes", "dtype_name", "_merge_dims", "_compact_strides"):
        original = getattr(ndarray, name, None)
        if original is not None:
            patches.everywhere(original, timed(original, "ndarray"))
    for name, function in list(vars(kernel_checks).items()):
        if callable(function) and not name.startswith("__") and getattr(function, "__module__", "") == kernel_checks.__name__:
            patches.add(kernel_checks, name, timed(function, "ndarray"))
    # kernel, dispatch, alloc: the device module
    module = device.module
    python_module = hasattr(module, "__file__") and module.__file__.endswith(".py")
    names = [n for n in vars(module) if n in KERNELS or n.startswith(("ewise_", "scalar_"))]
    for name in names:
        patches.add(module, name, timed(getattr(module, name), "dispatch" if python_module else "kernel"))
    patches.add(module, "Array", timed(module.Array, "alloc"))
    if python_module:  # numba: the compiled functions the module's Python calls
        for holder in list(vars(module).values()):
            for build in ("parallel", "serial"):
                compiled = getattr(holder, build, None)
                if compiled is not None and hasattr(compiled, "py_func"):
                    patches.add(holder, build, timed(compiled, "kernel"))
    return patches


# ---------------------------------------------------------------------------------------
# The workloads: each returns a function that runs one step.


def mlp_step(device):
    X, y = bench_training.images(1)
    step = bench_training.mlp_training_step(device)
    (xb, yb), = bench_training.needle_batches(device, X, y)
    return lambda: step(xb, yb)


def lstm_time_step(device, hidden=256, batch=32):
    """Forward and backward of one time step of one nn.LSTMCell, inputs as wide as the state."""
    rng = np.random.default_rng(0)
    cell = nn.LSTMCell(hidden, hidden, device=device)

    def tensor(*shape):
        return ndl.Tensor(rng.standard_normal(shape, dtype=np.float32), device=device, requires_grad=False)

    x, h, c, out_grad = tensor(batch, hidden), tensor(batch, hidden), tensor(batch, hidden), tensor(batch, hidden)

    def step():
        cell.weight.grad = cell.bias.grad = None
        h_next, _ = cell(x, (h, c))
        h_next.backward(out_grad)

    return step


def conv_step(layer, batch=32):
    """Forward and backward of one of ResNet9's convolutions (``bench_conv``'s layer ``layer``)."""
    side, c_in, c_out, k, stride = bench_conv.RESNET9_LAYERS[layer]

    def make(device):
        x, w = bench_conv.layer_arrays(batch, side, c_in, c_out, k, layer)
        return bench_conv.needle_step(device, x, w, stride, layer > 0)

    return make


WORKLOADS = {
    "mlp": ("MLP 784-100-10 training step (batch 100: forward, backward, SGD step)", mlp_step),
    "lstm": ("LSTM time step (one layer, hidden 256, batch 32: forward and backward)", lstm_time_step),
    **{f"conv{layer + 1}": (f"ResNet9 convolution {layer + 1} {bench_conv.RESNET9_LAYERS[layer]} "
                            "(side, c_in, c_out, k, stride), batch 32: forward and backward", conv_step(layer))
       for layer in range(len(bench_conv.RESNET9_LAYERS))},
}


def profile(step, device, steps, clock, block=10):
    """(median step time in us without timers: wall and this thread's CPU, {row: {category: median
    us}}, ops a step, timer ns).

    Blocks of ``block`` steps with and without timers alternate, so both see the same load (and
    Python's specialized bytecode, which each switch resets, warms up again within a block).
    Each cell is the median over the steps, so that a step the machine's other work interrupted
    does not put its pause in whichever row was running.
    """
    for _ in range(3):  # warm-up: numba compiles, caches fill
        step()
    account = Account(clock)
    root = account.timed(step, "graph")
    patches = timers(account, device)
    plain, plain_cpu, per_step, timer_ns = [], [], [], []
    while len(plain) < steps:
        for _ in range(block):
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            step()
            plain_cpu.append(time.thread_time_ns() - start_cpu)
            plain.append(time.perf_counter_ns() - start)
        patches.apply()
        try:
            for _ in range(block):
                account.calibrate()
                timer_ns.append(account.outer_ns)
                account.ns.clear()
                root()
                per_step.append({row: dict(categories) for row, categories in account.ns.items()})
        finally:
            patches.undo()
    rows = {row: {c: statistics.median(s.get(row, {}).get(c, 0) for s in per_step) / 1e3 for c in CATEGORIES}
            for row in set().union(*per_step)}
    ops_made = {row: n / len(per_step) for row, n in account.calls.items()}
    return (statistics.median(plain) / 1e3, statistics.median(plain_cpu) / 1e3, rows, ops_made,
            statistics.median(timer_ns))


def print_account(title, plain_us, plain_cpu_us, rows, ops_made, timer_ns, top):
    totals = {row: sum(categories.values()) for row, categories in rows.items()}
    whole = {c: sum(r[c] for r in rows.values()) for c in CATEGORIES}
    accounted = sum(whole.values())
    print(f"\n{title}\n  without timers, a step's median: {plain_us:.0f} us wall, {plain_cpu_us:.0f} us of this "
          f"thread's CPU; the account's medians sum to {accounted:.0f} us (timer cost {timer_ns:.0f} ns a call, "
          f"subtracted)")
    print("  " + "row".ljust(34) + "ops".rjust(6) + "".join(c.rjust(9) for c in CATEGORIES) + "total".rjust(9))
    shown = sorted(rows, key=totals.get, reverse=True)
    for row in shown[:top]:
        print("  " + row[:34].ljust(34) + (f"{ops_made[row]:6.0f}" if row in ops_made else "      ")
              + "".join(f"{rows[row][c]:9.1f}" for c in CATEGORIES) + f"{totals[row]:9.1f}")
    if len(shown) > top:
        rest = {c: sum(rows[r][c] for r in shown[top:]) for c in CATEGORIES}
        print("  " + f"({len(shown) - top} more rows)".ljust(40) + "".join(f"{rest[c]:9.1f}" for c in CATEGORIES)
              + f"{sum(rest.values()):9.1f}")
    print("  " + "total (us a step)".ljust(40) + "".join(f"{whole[c]:9.1f}" for c in CATEGORIES) + f"{accounted:9.1f}")
    print("  " + "share".ljust(40) + "".join(f"{whole[c] / accounted:9.0%}" for c in CATEGORIES))
    return {"step_us": plain_us, "accounted_us": accounted, "categories_us": whole,
            "rows_us": {row: rows[row] for row in shown}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "numba"])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--steps", type=int, default=100, help="steps timed, with and without timers")
    parser.add_argument("--top", type=int, default=20, help="rows shown; the rest are summed")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="what the timers read: wall time, or this thread's CPU time (with one "
                             "thread on a shared machine: a kernel's time is then not its wait for a core)")
    args = parser.parse_args()
    for name in args.devices:
        device = ndl.device(name)
        if not device.enabled():
            print(f"\n{name}: unavailable ({device.reason})")
            continue
        for workload in args.workloads:
            title, make = WORKLOADS[workload]
            clock = time.thread_time_ns if args.clock == "cpu" else time.perf_counter_ns
            print_account(f"{title} on {name} ({args.clock} clock)", *profile(make(device), device, args.steps, clock),
                          args.top)


if __name__ == "__main__":
    main()
