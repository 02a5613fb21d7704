"""Initializers: tensors of constants and of random numbers, made on a device in a dtype.

``init_basic`` draws the numbers (all from one seedable generator: ``manual_seed``);
``init_initializers`` scales them by a layer's fan-in and fan-out (Xavier, Kaiming).
"""
from .init_basic import (constant, default_generator, manual_seed, normal, one_hot, ones, randb,
                         uniform, zeros)
from .init_initializers import (calculate_gain, kaiming_normal, kaiming_uniform, xavier_normal,
                                xavier_uniform)

__all__ = ["calculate_gain", "constant", "default_generator", "kaiming_normal", "kaiming_uniform",
           "manual_seed", "normal", "one_hot", "ones", "randb", "uniform", "xavier_normal",
           "xavier_uniform", "zeros"]
