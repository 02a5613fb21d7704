"""Convolutional networks built from needle_edu.nn: a small CNN for 28 x 28 grayscale images
(Fashion-MNIST) and needle's ResNet9 for 32 x 32 color images (CIFAR-10)."""
from .. import nn


class ConvBN(nn.Module):
    """Convolution, batch normalization and ReLU: the unit both networks are made of."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, device=None, dtype="float32"):
        super().__init__()
        self.conv = nn.Conv(in_channels, out_channels, kernel_size, stride=stride, device=device, dtype=dtype)
        self.bn = nn.BatchNorm2d(out_channels, device=device, dtype=dtype)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class SmallCNN(nn.Sequential):
    """Two ConvBN blocks, each halving the image with a 2 x 2 max pool, then one linear layer:
    (N, 1, 28, 28) to (N, 10) logits."""

    def __init__(self, channels=(16, 32), num_classes=10, image_size=28, in_channels=1, device=None,
                 dtype="float32"):
        c1, c2 = channels
        side = image_size // 4
        super().__init__(
            ConvBN(in_channels, c1, 3, device=device, dtype=dtype), nn.MaxPool2d(2),
            ConvBN(c1, c2, 3, device=device, dtype=dtype), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * side * side, num_classes, device=device, dtype=dtype))


class ResNet9(nn.Module):
    """needle's ResNet9 for (N, 3, 32, 32) images: six ConvBN blocks, two of them skipped around
    by a residual connection, strides shrinking the image 32 -> 8 -> 4 -> 2 -> 1, then two linear
    layers to (N, num_classes) logits."""

    def __init__(self, num_classes=10, device=None, dtype="float32"):
        super().__init__()

        def block(c_in, c_out, k, stride=1):
            return ConvBN(c_in, c_out, k, stride, device=device, dtype=dtype)

        self.body = nn.Sequential(
            block(3, 16, 7, 4), block(16, 32, 3, 2),
            nn.Residual(nn.Sequential(block(32, 32, 3), block(32, 32, 3))),
            block(32, 64, 3, 2), block(64, 128, 3, 2),
            nn.Residual(nn.Sequential(block(128, 128, 3), block(128, 128, 3))),
            nn.Flatten(), nn.Linear(128, 128, device=device, dtype=dtype), nn.ReLU(),
            nn.Linear(128, num_classes, device=device, dtype=dtype))

    def forward(self, x):
        return self.body(x)
