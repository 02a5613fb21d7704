"""Matrix multiplication, batched over leading axes that broadcast as in numpy."""
from ..autograd import TensorOp
from ..backend_ndarray import broadcast_shapes
from .ops_shape import sum_to_shape, transpose


class MatMul(TensorOp):
    """a @ b for a (..., m, n) and b (..., n, p). d/da = out_grad @ bᵀ and d/db = aᵀ @ out_grad,
    each summed back over the batch axes its input was broadcast along."""

    def check_inputs(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"{self.name}: shapes {a.shape} and {b.shape} do not align "
                             f"(need (..., m, n) and (..., n, p))")
        try:
            broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"{self.name}: the batch axes of shapes {a.shape} and {b.shape} "
                             f"do not broadcast") from None

    def compute(self, a, b):
        return a @ b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return (sum_to_shape(out_grad @ transpose(b), a.shape),
                sum_to_shape(transpose(a) @ out_grad, b.shape))


def matmul(a, b):
    return MatMul()(a, b)
