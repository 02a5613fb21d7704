"""``Module``, the base class of layers and networks, and ``Parameter``, a trainable tensor.

A Module keeps its Parameters and sub-Modules in ordinary attributes (also inside lists,
tuples and dicts); ``parameters()`` finds them by looking through those attributes, recursively.
"""
from ..autograd import Tensor


class Parameter(Tensor):
    """A Tensor that is a trainable leaf of the graph: ``Module.parameters()`` collects it."""

    def detach(self):
        """The same data as a plain Tensor (so ``p.data`` is no parameter), as in PyTorch."""
        return Tensor.make_const(self.cached_data)


def _members(value, name):
    """(name, member) for each Parameter or Module in ``value``, looking into lists, tuples and dicts."""
    if isinstance(value, (Parameter, Module)):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _members(item, f"{name}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _members(item, f"{name}.{i}")


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


class Module:
    """A layer or a network: set Parameters and sub-Modules as attributes in ``__init__`` and
    write ``forward``; then ``module(x)`` runs ``forward(x)``.

    ``training`` is True after ``train()``, False after ``eval()``: layers such as Dropout and
    BatchNorm1d behave differently in the two modes.
    """

    def __init__(self):
        self.training = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _own(self, kind):
        """(name, member) for each member of ``kind`` held by this module's own attributes, once."""
        seen = set()
        for attribute, value in vars(self).items():
            for name, member in _members(value, attribute):
                if isinstance(member, kind) and id(member) not in seen:
                    seen.add(id(member))
                    yield name, member

    def named_children(self):
        """(attribute name, module) for the modules held directly by this one."""
        return list(self._own(Module))

    def children(self):
        return [child for _, child in self.named_children()]

    def named_modules(self, prefix="", seen=None):
        """(name, module) for this module (named ``prefix``) and every module inside it, each
        once (a module used twice is listed at its first place), parents before children."""
        seen = set() if seen is None else seen
        if id(self) in seen:
            return []
        seen.add(id(self))
        found = [(prefix, self)]
        for name, child in self.named_children():
            found += child.named_modules(_join(prefix, name), seen)
        return found

    def modules(self):
        return [module for _, module in self.named_modules()]

    def named_parameters(self):
        """(dotted name, parameter) for every Parameter in this module and those inside it, each once."""
        found, seen = [], set()
        for prefix, module in self.named_modules():
            for name, parameter in module._own(Parameter):
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    found.append((_join(prefix, name), parameter))
        return found

    def parameters(self):
        """Every Parameter of this module and of the modules inside it, each once."""
        return [parameter for _, parameter in self.named_parameters()]

    def train(self, mode=True):
        """Set ``training`` on this module and every module inside it; returns self."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def extra_repr(self):
        """The settings shown between the parentheses of ``repr`` (a subclass's choice)."""
        return ""

    def __repr__(self):
        head = f"{type(self).__name__}({self.extra_repr()}"
        children = [f"({name}): {child!r}" for name, child in self.named_children()]
        if not children:
            return head + ")"
        return head + "".join("\n  " + line.replace("\n", "\n  ") for line in children) + "\n)"
