"""Neural-network building blocks: ``Module`` and ``Parameter``, layers, losses, normalization.

A network is a Module whose attributes are other Modules; ``model.parameters()`` finds every
Parameter inside it, which is all an optimizer needs.
"""
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .attention import MultiHeadAttention
from .conv import Conv, ConvTranspose
from .dropout import Dropout
from .embedding import Embedding
from .layers import Flatten, Identity, Linear, Residual, Sequential
from .loss import GANLoss, SoftmaxLoss
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, LayerNorm1d
from .pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .rnn import LSTM, RNN, LSTMCell, RNNCell
from .transformer import LearnedPositionalEncoding, PositionalEncoding, Transformer, TransformerLayer
from ..checkpoint import Checkpoint

__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv", "ConvTranspose", "GlobalAvgPool2d",
           "MaxPool2d", "Checkpoint", "Dropout", "Flatten", "Identity", "LayerNorm1d", "Linear", "Module",
           "Parameter", "ReLU", "Residual", "Sequential", "Sigmoid", "SoftmaxLoss", "Tanh",
           "Embedding", "LSTM", "LSTMCell", "RNN", "RNNCell",
           "GANLoss", "LeakyReLU",
           "GELU", "LayerNorm", "LearnedPositionalEncoding", "MultiHeadAttention", "PositionalEncoding",
           "Transformer", "TransformerLayer"]
