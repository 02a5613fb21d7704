"""Matrix multiplication, batched over leading axes that broadcast as in numpy."""
from ..autograd import TensorOp
from ..backend_ndarray import broadcast_shapes
from ..course import student_implements
from . import ops_shape  # sum_to_shape looked up when called: a03 installs its own
from .ops_shape import transpose


class MatMul(TensorOp):
    """a @ b for a (..., m, n) and b (..., n, p). d/da = out_grad @ bᵀ and d/db = aᵀ @ out_grad,
    each summed back over the batch axes its input was broadcast along."""

    def check_inputs(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"{self.name}: shapes {a.shape} and {b.shape} do not align "
                             f"(need (..., m, n) and (..., n, p))")
        try:
            if a.ndim > 2 or b.ndim > 2:
                broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"{self.name}: the batch axes of shapes {a.shape} and {b.shape} "
                             f"do not broadcast") from None

    @student_implements("a03")
    def compute(self, a, b):
        # BEGIN SOLUTION a03
        return a @ b
        # END SOLUTION

    @student_implements("a03")
    def gradient(self, out_grad, node):
        # BEGIN SOLUTION a03
        a, b = node.inputs
        # A matmul costs too much to spend on an input nobody differentiates (a batch of data).
        grad_a = ops_shape.sum_to_shape(out_grad @ transpose(b), a.shape) if a.requires_grad else None
        grad_b = ops_shape.sum_to_shape(transpose(a) @ out_grad, b.shape) if b.requires_grad else None
        return grad_a, grad_b
        # END SOLUTION


def matmul(a, b):
    return MatMul()(a, b)
