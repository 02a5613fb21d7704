"""Layer 2 of needle_edu: every op, its ``compute`` and its ``gradient`` side by side.

One module per family; each op is a class and a lowercase function that applies it, e.g.
``ops.summation(x, axes=0)`` is ``ops.Summation(axes=0)(x)``.
"""
from .ops_elementwise import (AddScalar, DivScalar, EWiseAdd, EWiseDiv, EWiseMul, EWisePow, EWiseSub,
                              Exp, Log, Maximum, MulScalar, Negate, PowerScalar, ReLU, Sigmoid, Sqrt,
                              Tanh, add, add_scalar, divide, divide_scalar, exp, log, maximum,
                              mul_scalar, multiply, negate, power, power_scalar, relu, sigmoid,
                              sqrt, subtract, tanh)
from .ops_convert import AsType, ToDevice, astype, to_device
from .ops_conv import Conv, avg_pool2d, conv, im2col, max_pool2d
from .ops_matmul import MatMul, matmul
from .ops_reduce import (LogSoftmax, LogSumExp, Max, Mean, Softmax, Summation, log_softmax,
                         logsumexp, max, mean, softmax, summation)
from .ops_shape import (BroadcastTo, Dilate, Flip, GetItem, Pad, Permute, Reshape, ScatterItem,
                        Transpose, UnDilate, broadcast_to, dilate, flip, getitem, pad, permute,
                        reshape, scatter_item, sum_to_shape, transpose, undilate)
from .ops_tuple import (Concat, MakeTensorTuple, Split, Stack, TupleGetItem, concat, make_tuple,
                        split, stack, tuple_get_item)
