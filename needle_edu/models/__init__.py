"""Models built from the library: the assignments' models (softmax regression, the two-layer
network) and the networks of the later assignments (CNNs, ResNet9).

The submodules are imported on demand, e.g. ``from needle_edu.models import softmax_regression``.
"""
