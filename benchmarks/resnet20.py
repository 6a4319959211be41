"""CIFAR-style ResNet-20 (He et al. 2016, section 4.2): a 3x3 stem, 3 stages x 3 basic blocks of 16 / 32 / 64
channels (stride 2 at the start of stages 2 and 3, with a 1x1 convolution + BatchNorm as the downsampling
shortcut), global average pooling and a linear classifier; 19 convolutions + 1 linear layer.

Used by ``benchmarks/lava_speed.py`` (and its test) to time a network of this size in Lava; random weights
(the speed of a run does not depend on what the network learned, only on its size and activity).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, in_channels: int = 1, classes: int = 10, width: int = 16, blocks: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage in range(3):
            cout = width << stage
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if stage and not b else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def resnet20(in_channels: int = 1, classes: int = 10, seed: int = 0) -> ResNet20:
    """ResNet-20 with seeded random weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    m = ResNet20(in_channels, classes)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(0.0, 0.2)
    return m.eval()
