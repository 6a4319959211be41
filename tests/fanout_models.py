"""Small models whose linear signals fan out (issue 22, deliverable 2), for tests/unit/test_fanout.py and the
Lava / RTL bit-exactness tests: MobileNetV2 inverted residuals, a pool->skip block, a ResNet downsampling
shortcut, a pre-activation block (BN-ReLU-conv, a BatchNorm on the network input and after an add), and
back-to-back convolutions without activation that feed two consumers. Each model's ``logits`` is its output
before the optional softmax / log_softmax head (``head``), which the front end drops."""

from __future__ import annotations

import torch
from torch import nn


class _Net(nn.Module):
    head = None  # None, "softmax" or "log_softmax"

    def forward(self, x):
        y = self.logits(x)
        if self.head == "softmax":
            return torch.softmax(y, dim=1)
        if self.head == "log_softmax":
            return nn.functional.log_softmax(y, dim=-1)
        return y


class InvertedResidual(nn.Module):
    """MobileNetV2: expand 1x1 + BN + ReLU6, depthwise 3x3 + BN + ReLU6, project 1x1 + BN (linear), add."""

    def __init__(self, c: int, expand: int):
        super().__init__()
        h = c * expand
        self.conv = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.conv(x)


class MobileNetV2Blocks(_Net):
    """Stem, a non-residual inverted block whose linear projection starts the residual stream, then two
    residual inverted blocks in a row: the stream stays linear over two adds."""

    def __init__(self, c: int = 4, expand: int = 2, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU6())
        self.first = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU6(),
                                   nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.blocks = nn.Sequential(InvertedResidual(c, expand), InvertedResidual(c, expand))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def logits(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.first(self.stem(x)))), 1))


class PoolSkip(_Net):
    """conv -> avgpool -> BN -> ReLU (the BN moves in front of the pool and folds); an average pool feeding a
    ReLU and a residual add; flatten -> BatchNorm1d -> linear (a diagonal weight op)."""

    def __init__(self, c: int = 4, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c, 3, padding=1)
        self.pool1 = nn.AvgPool2d(2)
        self.bn1 = nn.BatchNorm2d(c)
        self.pool2 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn_fc = nn.BatchNorm1d(c * 2 * 2)
        self.fc = nn.Linear(c * 2 * 2, classes)

    def logits(self, x):
        h = torch.relu(self.bn1(self.pool1(self.conv1(x))))
        p = self.pool2(h)
        y = torch.relu(p + self.conv2(torch.relu(p)))
        return self.fc(self.bn_fc(torch.flatten(y, 1)))


class DownsampleBlock(_Net):
    """ResNet basic block with stride 2 and a 1x1 stride-2 conv + BN shortcut."""

    def __init__(self, c: int = 4, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.conv1 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * c)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * c)
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 1, stride=2, bias=False), nn.BatchNorm2d(2 * c))
        self.fc = nn.Linear(2 * c, classes)

    def logits(self, x):
        s = self.stem(x)
        y = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(s))))) + self.down(s))
        return self.fc(y.mean((2, 3)))


class PreActBlock(_Net):
    """A BatchNorm on the network input, a stem conv whose linear output feeds the block's BatchNorm and the
    residual add, the pre-activation block BN-ReLU-conv-BN-ReLU-conv, and BN-ReLU after the add."""

    def __init__(self, c: int = 4, classes: int = 10):
        super().__init__()
        self.bn_in = nn.BatchNorm2d(1)
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn_out = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c * 4 * 4, classes)

    def logits(self, x):
        s = self.stem(self.bn_in(x))
        y = s + self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(s))))))
        y = nn.functional.avg_pool2d(torch.relu(self.bn_out(y)), 2)
        return self.fc(torch.flatten(y, 1))


class ConvConvFanout(_Net):
    """Two convolutions without activation between them whose output feeds a ReLU and a residual add."""

    def __init__(self, c: int = 4, classes: int = 10):
        super().__init__()
        self.conv0 = nn.Conv2d(1, c, 3, padding=1)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 1)
        self.conv3 = nn.Conv2d(c, c, 3, padding=1)
        self.fc = nn.Linear(c * 4 * 4, classes)

    def logits(self, x):
        t = self.conv2(self.conv1(torch.relu(self.conv0(x))))
        y = torch.relu(t + self.conv3(torch.relu(t)))
        return self.fc(torch.flatten(nn.functional.avg_pool2d(y, 2), 1))


MODELS = {"mobilenetv2": MobileNetV2Blocks, "poolskip": PoolSkip, "downsample": DownsampleBlock,
          "preact": PreActBlock, "convconv": ConvConvFanout}


def make(name: str, seed: int = 0, head: str | None = None, **kw) -> _Net:
    """The model (``kw``: its constructor's arguments) in eval mode with seeded weights and non-trivial
    BatchNorm statistics."""
    torch.manual_seed(seed)
    m = MODELS[name](**kw)
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
            mod.weight.data.copy_(0.5 + torch.rand(n, generator=g))
            mod.bias.data.copy_(0.3 * (torch.rand(n, generator=g) - 0.3))
    m.head = head
    return m.eval()


def inputs(n: int, seed: int, size: int = 8) -> torch.Tensor:
    """(n, 1, size, size) inputs in [0, 1)."""
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))
