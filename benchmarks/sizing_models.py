"""Sizing models for the partition benchmark: VGG-11, VGG-16 and ResNet-18 at CIFAR input size (3 x 32 x 32),
with random weights (sizing needs shapes and non-zero weights, not training).

Each model is built in eval mode with BatchNorm statistics set to random values, so the front end folds
real BatchNorm layers, as with a trained model, and exported the way users export (``torch.export`` with a
static batch of 1). Average pooling replaces VGG's max pooling and ResNet's global pool is an average pool
(ANN-to-SNN conversion keeps pooling linear; ``--maxpool`` would turn VGG's pools into max-count gates).
"""

from __future__ import annotations

import torch
from torch import nn

VGG_CFG = {
    "vgg11": [64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"],
    "vgg16": [64, 64, "P", 128, 128, "P", 256, 256, 256, "P", 512, 512, 512, "P", 512, 512, 512, "P"],
}


def _bn(c: int, gen: torch.Generator) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=gen)
        bn.bias.uniform_(-0.1, 0.1, generator=gen)
        bn.running_mean.uniform_(-0.1, 0.1, generator=gen)
        bn.running_var.uniform_(0.5, 1.5, generator=gen)
    return bn


def vgg(name: str, gen: torch.Generator, classes: int = 10, maxpool: bool = False) -> nn.Module:
    layers, c = [], 3
    for v in VGG_CFG[name]:
        if v == "P":
            layers.append(nn.MaxPool2d(2) if maxpool else nn.AvgPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), _bn(v, gen), nn.ReLU()]
            c = v
    layers += [nn.Flatten(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, gen: torch.Generator):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _bn(cout, gen)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout, gen)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout, gen))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + (x if self.down is None else self.down(x)))


def resnet18(gen: torch.Generator, classes: int = 10) -> nn.Module:
    blocks, c = [], 64
    for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        blocks.append(_Block(c, cout, stride, gen))
        c = cout
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), _bn(64, gen), nn.ReLU(), *blocks,
                         nn.AvgPool2d(4), nn.Flatten(), nn.Linear(512, classes))


def build(name: str, seed: int = 0) -> nn.Module:
    """``vgg11``, ``vgg16`` or ``resnet18``, random weights (seeded), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = resnet18(gen) if name == "resnet18" else vgg(name, gen)
    return model.eval()


def export(name: str, path, seed: int = 0):
    """Export the model the way users do (eval mode, static batch of 1) to ``path`` (.pt2)."""
    model = build(name, seed)
    ep = torch.export.export(model, (torch.zeros(1, 3, 32, 32),))
    torch.export.save(ep, str(path))
    return path
