"""Layer 1 of needle_edu: tensors that remember how they were made, and reverse-mode autodiff.

Every ``Tensor`` made by an op keeps the op and its inputs: the computation graph. ``backward``
walks that graph from the output back to the leaves in reverse topological order, asking each
op for the gradients of its inputs. Gradients are themselves computed with Tensor ops, so
``grad(..., create_graph=True)`` gives a graph that can be differentiated again.
"""
import contextlib
import functools
import operator

from .backend_ndarray import NDArray, full
from .backend_ndarray import device as lookup_device
from .backend_ndarray.ndarray import REAL_TYPES, dtype_name
from .course import student_implements

# ---------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled():
    """False inside ``no_grad()``: ops then record no graph."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad():
    """A context (or decorator) in which ops record no graph: for inference and updates."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


# ---------------------------------------------------------------------------- ops


class Op:
    """An operation of the graph: ``compute`` on NDArrays, ``gradient`` in Tensor ops.

    ``check_inputs`` raises a clear error, naming the op, for inputs ``compute`` cannot take.
    """

    def __call__(self, *args):
        raise NotImplementedError

    def check_inputs(self, *arrays):
        """Raise ValueError/TypeError naming this op when ``arrays`` are not valid inputs."""

    def compute(self, *arrays):
        """The op's value, computed from its inputs' NDArrays."""
        raise NotImplementedError

    def gradient(self, out_grad, node):
        """The gradient of each input, given ``out_grad``, the gradient of the output ``node``.

        An input that does not require grad may get None: nothing will use its gradient.
        """
        raise NotImplementedError

    def gradient_as_tuple(self, out_grad, node):
        """``gradient``, always as a tuple with one entry per input, each checked: a graph value
        shaped like its input, or None."""
        grads = self.gradient(out_grad, node)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        if len(grads) != len(node.inputs):
            _wrong_gradient_count(self, grads, node.inputs)
        for i, (g, x) in enumerate(zip(grads, node.inputs)):
            if g is not None and (not isinstance(g, Value) or g.shape != x.shape):
                _wrong_gradient(self, i, g, x)
        return grads

    @property
    def name(self):
        return type(self).__name__


class TensorOp(Op):
    """An op whose output is a Tensor."""

    def __call__(self, *args):
        return Tensor.make_from_op(self, args)


class TensorTupleOp(Op):
    """An op whose output is a TensorTuple."""

    def __call__(self, *args):
        return TensorTuple.make_from_op(self, args)


def _check_operands(op, inputs):
    """The inputs' data (NDArrays), once every input is checked to be a graph value and all are
    on one device and of one dtype."""
    arrays = []
    for x in inputs:
        if not isinstance(x, Value):
            raise TypeError(f"{op.name}: inputs must be Tensors, got {type(x).__name__}")
        arrays.append(x.cached_data)
    if len(arrays) == 2 and type(arrays[0]) is NDArray and type(arrays[1]) is NDArray:
        a, b = arrays  # the common case, answered by two comparisons
        if a.device is b.device and a.dtype == b.dtype:
            return arrays
    if len(arrays) > 1:
        _check_same_kind(op, inputs)
    return arrays


def _check_same_kind(op, inputs):
    first = None
    for x in inputs:
        if x.device is None:  # a tuple of no tensors
            continue
        if first is None:
            first = x
        elif x.device != first.device:
            raise ValueError(f"{op.name}: inputs are on different devices ({first.device.name} "
                             f"and {x.device.name}); move one with .to(device)")
        elif x.dtype != first.dtype:
            raise TypeError(f"{op.name}: dtypes differ ({first.dtype} with shape {first.shape} "
                            f"and {x.dtype} with shape {x.shape}); convert one with .astype()")


def _kind(value):
    """The type of ``value`` as a student would look it up: numpy.ndarray, float, Tensor."""
    kind = type(value)
    return kind.__name__ if kind.__module__ in ("builtins", __name__) else f"{kind.__module__.partition('.')[0]}.{kind.__name__}"


def _check_result(op, cls, data):
    """``op.compute``'s result: an NDArray for a Tensor, a tuple of NDArrays for a TensorTuple."""
    if cls is TensorTuple or issubclass(cls, TensorTuple):
        if isinstance(data, tuple) and all(isinstance(a, NDArray) for a in data):
            return
        rule = "a TensorTuple op's compute must return a tuple of NDArrays"
    elif isinstance(data, NDArray):
        return
    else:
        rule = "compute must return an NDArray, made with the NDArray methods of its inputs"
    raise TypeError(f"{op.name}.compute returned {_kind(data)}; {rule}")


def _wrong_gradient_count(op, grads, inputs):
    raise TypeError(f"{op.name}.gradient returned {len(grads)} gradient{'s' * (len(grads) != 1)} for "
                    f"{len(inputs)} input{'s' * (len(inputs) != 1)}; return one per input (a tuple), "
                    f"None for an input that needs no gradient")


def _wrong_gradient(op, i, grad, x):
    if not isinstance(grad, Value):
        raise TypeError(f"{op.name}.gradient returned {_kind(grad)} for input {i}; gradients are "
                        f"Tensors built from ops (of out_grad and node.inputs)")
    raise ValueError(f"{op.name}.gradient returned a gradient of shape {grad.shape} for input {i} of "
                     f"shape {x.shape}; each gradient has the shape of its input")


# ---------------------------------------------------------------------------- values


class Value:
    """A node of the graph: ``op`` made it from ``inputs``; ``cached_data`` holds its value.

    A leaf (made from data, not by an op) has ``op is None`` and no inputs.
    """

    @classmethod
    def make_const(cls, data, requires_grad=False):
        """A leaf holding ``data`` (an NDArray, or a tuple of them for a TensorTuple)."""
        value = cls.__new__(cls)
        value._init_leaf(data, requires_grad)
        return value

    def _init_leaf(self, data, requires_grad):
        self.op, self.inputs, self.cached_data = None, (), data
        self.requires_grad, self.grad = requires_grad, None

    @classmethod
    def make_from_op(cls, op, inputs):
        """Run ``op`` on ``inputs``; the result joins the graph when any input requires grad."""
        arrays = _check_operands(op, inputs)
        op.check_inputs(*arrays)
        data = op.compute(*arrays)
        if type(data) is not NDArray:
            _check_result(op, cls, data)
        value = cls.__new__(cls)
        value.op, value.inputs, value.cached_data, value.requires_grad, value.grad = None, (), data, False, None
        if _grad_enabled and any(x.requires_grad for x in inputs):
            value.op, value.inputs, value.requires_grad = op, tuple(inputs), True
        return value

    def is_leaf(self):
        return self.op is None

    def detach(self):
        """The same data as a new leaf outside any graph."""
        return type(self).make_const(self.cached_data)


class Tensor(Value):
    """An n-dimensional array that records the ops applied to it, for automatic gradients.

    ``Tensor(data, device=None, dtype=None, requires_grad=True)`` copies numpy arrays, lists and
    numbers; an NDArray or Tensor already on ``device`` with ``dtype`` is shared, not copied.
    """

    def __init__(self, data, *, device=None, dtype=None, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.cached_data
        if isinstance(data, NDArray):
            data = data.to(data.device if device is None else device).astype(dtype or data.dtype)
        else:
            data = NDArray(data, device=device, dtype=dtype)
        self._init_leaf(data, requires_grad)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return self.cached_data.shape

    @property
    def dtype(self):
        return self.cached_data.dtype

    @property
    def device(self):
        return self.cached_data.device

    @property
    def ndim(self):
        return self.cached_data.ndim

    @property
    def size(self):
        return self.cached_data.size

    @property
    def data(self):
        """This tensor's data as a new leaf with no graph (``requires_grad=False``)."""
        return self.detach()

    @data.setter
    def data(self, value):
        """Replace this tensor's data without recording anything in the graph."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: expected a Tensor, got {type(value).__name__}")
        if (value.device, value.dtype) != (self.device, self.dtype):
            raise TypeError(f"Tensor.data: cannot replace {self.dtype} data on {self.device.name} "
                            f"with {value.dtype} data on {value.device.name}")
        self.cached_data = value.cached_data

    def numpy(self):
        return self.cached_data.numpy()

    def item(self):
        """The value of a one-element tensor as a Python float."""
        return float(self.cached_data)

    def __repr__(self):
        return (f"Tensor({self.numpy()}, device={self.device.name}, dtype={self.dtype}, "
                f"requires_grad={self.requires_grad})")

    def __str__(self):
        return str(self.numpy())

    # ------------------------------------------------------------------ autodiff
    def backward(self, out_grad=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``out_grad`` (the gradient of some final scalar with respect to this tensor) may be
        left out only for one-element tensors, where it is 1.
        """
        with no_grad():
            for leaf, leaf_grad in compute_gradients(self, out_grad, Value.is_leaf, "backward").items():
                leaf.grad = leaf_grad if leaf.grad is None else leaf.grad + leaf_grad

    # ------------------------------------------------------------------ operators
    def _binary(self, other, tensor_op, scalar_op):
        if isinstance(other, Tensor):
            return tensor_op()(self, other)
        if isinstance(other, REAL_TYPES):
            return scalar_op(other)(self)
        raise TypeError(f"{tensor_op.__name__}: expected a Tensor or a number, got {type(other).__name__}")

    def __add__(self, other):
        return self._binary(other, ops.EWiseAdd, ops.AddScalar)

    __radd__ = __add__

    def __mul__(self, other):
        return self._binary(other, ops.EWiseMul, ops.MulScalar)

    __rmul__ = __mul__

    def __sub__(self, other):
        return self._binary(other, ops.EWiseSub, lambda c: ops.AddScalar(-c))

    def __rsub__(self, other):
        return (-self) + other

    def __truediv__(self, other):
        return self._binary(other, ops.EWiseDiv, ops.DivScalar)

    def __rtruediv__(self, other):
        return (self ** -1) * other

    def __pow__(self, other):
        return self._binary(other, ops.EWisePow, ops.PowerScalar)

    def __neg__(self):
        return ops.negate(self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # ------------------------------------------------------------------ methods
    def sum(self, axes=None, keepdims=False):
        return ops.summation(self, axes, keepdims)

    def mean(self, axes=None, keepdims=False):
        return ops.mean(self, axes, keepdims)

    def max(self, axes=None, keepdims=False):
        return ops.max(self, axes, keepdims)

    def reshape(self, *shape):
        return ops.reshape(self, _one_tuple(shape))

    def permute(self, *axes):
        return ops.permute(self, _one_tuple(axes))

    def transpose(self, axes=None):
        return ops.transpose(self, axes)

    def broadcast_to(self, shape):
        return ops.broadcast_to(self, shape)

    def to(self, device):
        """This tensor on ``device`` (itself when already there); gradients flow back."""
        return self if lookup_device(device) == self.device else ops.to_device(self, device)

    def astype(self, dtype):
        """This tensor in ``dtype`` (itself when already so); gradients flow back."""
        return self if dtype_name(dtype) == self.dtype else ops.astype(self, dtype)


def _one_tuple(args):
    """The arguments of ``f(2, 3)`` or of ``f((2, 3))``, as one tuple."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


class TensorTuple(Value):
    """A tuple of tensors that is one node of the graph (the output of ``split``, say)."""

    def __len__(self):
        return len(self.cached_data)

    def __getitem__(self, index):
        return ops.tuple_get_item(self, index)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __add__(self, other):
        return ops.ops_tuple.tuple_add(self, other)

    @property
    def device(self):
        return self.cached_data[0].device if self.cached_data else None

    @property
    def dtype(self):
        return self.cached_data[0].dtype if self.cached_data else None

    @property
    def shape(self):
        return tuple(a.shape for a in self.cached_data)

    def __repr__(self):
        return f"TensorTuple(shapes={self.shape}, requires_grad={self.requires_grad})"


def full_like(x, value):
    """A constant tensor of ``value`` with the shape, device and dtype of ``x`` (Tensor or NDArray)."""
    return Tensor.make_const(full(x.shape, value, device=x.device, dtype=x.dtype))


def zeros_like(x):
    return full_like(x, 0.0)


def ones_like(x):
    return full_like(x, 1.0)


# ---------------------------------------------------------------------------- reverse mode


@student_implements("a03")
def find_topo_sort(outputs):
    """Every node the ``outputs`` depend on, each listed after all of its inputs.

    A depth-first search in post-order, kept on an explicit stack (no recursion limit): a
    node is emitted once all of its inputs have been.
    """
    # BEGIN SOLUTION a03
    order, visited = [], set()
    for root in outputs:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            node, pending_inputs = stack[-1]
            for child in pending_inputs:
                if child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:  # every input is done
                stack.pop()
                order.append(node)
    return order
    # END SOLUTION


def _initial_out_grad(output, out_grad, caller):
    if not output.requires_grad:
        raise ValueError(f"{caller}: this tensor does not require grad (its inputs do not, or it "
                         f"was made under no_grad), so there is nothing to differentiate")
    if out_grad is None:
        if output.size != 1:
            raise ValueError(f"{caller}: out_grad is required for a tensor of shape {output.shape} "
                             f"(only scalars get a default of 1)")
        return ones_like(output)
    if not isinstance(out_grad, Tensor):
        out_grad = Tensor(out_grad, device=output.device, dtype=output.dtype, requires_grad=False)
    if out_grad.shape != output.shape:
        raise ValueError(f"{caller}: out_grad has shape {out_grad.shape} but the tensor has "
                         f"shape {output.shape}")
    return out_grad


def compute_gradients(output, out_grad, keep, caller):
    """{node: d(output)/d(node)} for the nodes where ``keep(node)``, in one reverse sweep."""
    return reverse_sweep(output, _initial_out_grad(output, out_grad, caller), keep)


@student_implements("a03")
def reverse_sweep(output, output_grad, keep):
    """The adjoint d(output)/d(node) of every node that ``keep(node)`` accepts, as a dict.

    Nodes are visited in reverse topological order, so a node's adjoint is complete (the sum of
    the partial adjoints from all of its consumers) before its op passes it on to its inputs.
    """
    # BEGIN SOLUTION a03
    grads_to_sum = {output: [output_grad]}
    kept = {}
    for node in reversed(find_topo_sort([output])):
        partials = grads_to_sum.pop(node, None)
        if partials is None:  # no path from this node to the output needs a gradient
            continue
        node_grad = functools.reduce(operator.add, partials)
        if keep(node):
            kept[node] = node_grad
        if node.op is None:
            continue
        for child, child_grad in zip(node.inputs, node.op.gradient_as_tuple(node_grad, node)):
            if child.requires_grad:
                grads_to_sum.setdefault(child, []).append(child_grad)
    return kept
    # END SOLUTION


def grad(output, inputs, out_grad=None, create_graph=False):
    """The gradients of ``output`` with respect to each tensor of ``inputs``, as a list.

    Unlike ``backward`` nothing is stored in ``.grad``; an input ``output`` does not depend
    on gets zeros. With ``create_graph=True`` the gradients are themselves in the graph, so
    they can be differentiated again.
    """
    wanted = set(inputs)
    with contextlib.nullcontext() if create_graph else no_grad():
        found = compute_gradients(output, out_grad, wanted.__contains__, "grad")
    return [found[x] if x in found else zeros_like(x) for x in inputs]


from . import ops  # noqa: E402  (the ops are built on the classes above)
