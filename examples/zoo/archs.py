"""Architectures of the Fashion-MNIST evaluation zoo (issue 23): CNNs that differ the way users' models differ.

Each entry of ``ARCHS`` builds a fresh ``nn.Module`` for 1x28x28 inputs and 10 classes. ``act`` is the
activation factory used for every hidden activation (``nn.ReLU`` for the plain zoo; a QCFS activation from
``neurocompile.training.qcfs`` for the low-latency variants), so one definition serves both. Kept small:
each model's weights stay well under 2 MB, and each needs at most a few million MACs per image, so the
fidelity benchmark can run every model on the full test set at T = 32 in minutes.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

Act = Callable[[], nn.Module]


def small_max(act: Act = nn.ReLU) -> nn.Module:
    """2 convs (8, 16), no BatchNorm, max pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def bn_avg_dropout(act: Act = nn.ReLU) -> nn.Module:
    """2 convs (16, 32) with BatchNorm, average pooling, fc128 with dropout (the issue's model family)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), act(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), act(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), act(), nn.Dropout(0.3), nn.Linear(128, 10))


def strided(act: Act = nn.ReLU) -> nn.Module:
    """3 convs (32, 64, 64), strided instead of pooling, BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), act(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), act(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), act(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


def vgg4(act: Act = nn.ReLU) -> nn.Module:
    """4 convs (8, 16, 32, 32) with BatchNorm, max pooling after each pair, fc64."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), act(),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), act(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), act(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), act(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), act(), nn.Linear(64, 10))


def deep6(act: Act = nn.ReLU) -> nn.Module:
    """6 convs (8..32) without BatchNorm, average pooling, global average pooling head."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), act(), nn.Conv2d(8, 8, 3, padding=1), act(), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), act(), nn.Conv2d(16, 16, 3, padding=1), act(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), act(), nn.Conv2d(32, 32, 3, padding=1), act(), nn.AvgPool2d(7),
        nn.Flatten(), nn.Linear(32, 10))


class _Residual(nn.Module):
    """conv-BN-act-conv-BN plus the identity, then act."""

    def __init__(self, ch: int, act: Act):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), act(),
                                  nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))
        self.out = act()

    def forward(self, x):
        return self.out(self.body(x) + x)


def resnet(act: Act = nn.ReLU) -> nn.Module:
    """Stem conv8, a residual block, strided conv16, a residual block, global average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act(), _Residual(8, act),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), act(), _Residual(16, act),
        nn.AvgPool2d(14), nn.Flatten(), nn.Linear(16, 10))


def wide(act: Act = nn.ReLU) -> nn.Module:
    """2 wide convs (64, 128) with BatchNorm, max pooling, then a strided conv and global average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64), act(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), act(), nn.AvgPool2d(7),
        nn.Flatten(), nn.Linear(128, 10))


#: name -> builder(act); the zoo trains each with its own seed
ARCHS: dict[str, Callable[..., nn.Module]] = {
    "small_max": small_max, "bn_avg_dropout": bn_avg_dropout, "strided": strided, "vgg4": vgg4,
    "deep6": deep6, "resnet": resnet, "wide": wide,
}
