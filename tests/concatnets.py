"""Small networks with ``torch.cat`` for the concat tests (random weights, 1 x 8 x 8 inputs).

* ``Fire``: a SqueezeNet Fire module, ``cat([relu(e1(q)), relu(e3(q))])``, then a max pool on the concat.
* ``Inception``: an inception-like block with a pooled branch (``conv1x1(maxpool(s))``), a BatchNorm on a
  concat of conv outputs (split per input and folded), and a max pool on the concat of the branches' ReLUs.
* ``Vectors``: a concat of flattened vectors, one of them spikes beside a linear layer's output, read by a
  population directly (integer gains on the spike input), then a concat of two populations' vectors.

Fire and Inception take average pools instead of max pools for targets without the max-pool gate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Fire(nn.Module):
    def __init__(self, pool=nn.MaxPool2d):
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.squeeze = nn.Conv2d(6, 4, 1)
        self.e1 = nn.Conv2d(4, 5, 1)
        self.e3 = nn.Conv2d(4, 7, 3, padding=1)
        self.pool = pool(2)
        self.fc = nn.Linear(12 * 4 * 4, 10)

    def forward(self, x):
        q = torch.relu(self.squeeze(torch.relu(self.stem(x))))
        y = torch.cat([torch.relu(self.e1(q)), torch.relu(self.e3(q))], 1)
        return self.fc(torch.flatten(self.pool(y), 1))


class Inception(nn.Module):
    def __init__(self, pool=nn.MaxPool2d):
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.b1 = nn.Conv2d(6, 3, 1, stride=2)
        self.b3a = nn.Conv2d(6, 4, 1)
        self.b3 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.pool = pool(2)
        self.bp = nn.Conv2d(6, 2, 1)
        self.c1 = nn.Conv2d(10, 4, 1)
        self.c2 = nn.Conv2d(10, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(7)
        self.pool2 = pool(2)
        self.fc = nn.Linear(7 * 2 * 2, 10)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        y = torch.cat([torch.relu(self.b1(s)), torch.relu(self.b3(torch.relu(self.b3a(s)))),
                       torch.relu(self.bp(self.pool(s)))], dim=-3)
        z = torch.relu(self.bn(torch.cat([self.c1(y), self.c2(y)], 1)))
        return self.fc(torch.flatten(self.pool2(z), 1))


class Vectors(nn.Module):
    def __init__(self, pool=None):
        super().__init__()
        self.conv_a = nn.Conv2d(1, 3, 3, stride=2, padding=1)
        self.conv_b = nn.Conv2d(1, 2, 3, stride=2, padding=1)
        self.fc_b = nn.Linear(2 * 4 * 4, 12)
        self.fc_c = nn.Linear(3 * 16 + 12, 9)
        self.fc = nn.Linear(3 * 16 + 12 + 9, 10)

    def forward(self, x):
        a = torch.flatten(torch.relu(self.conv_a(x)), 1)
        b = self.fc_b(torch.flatten(torch.relu(self.conv_b(x)), 1))
        h = torch.relu(torch.cat([a, b], 1))  # spikes of a beside fc_b's output, into one population
        c = torch.relu(self.fc_c(h))
        return self.fc(torch.cat((h, c), dim=-1))


MODELS = {"fire": Fire, "inception": Inception, "vectors": Vectors}


def model(name: str, seed: int = 0, pool=nn.MaxPool2d) -> nn.Module:
    """The network ``name`` with random weights (and BatchNorm statistics) drawn from ``seed``; ``pool``: the
    pooling layer (``nn.AvgPool2d`` for targets without the max-pool gate)."""
    torch.manual_seed(seed)
    m = MODELS[name](pool)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.3)
    return m.eval()


def inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8)).astype(np.float32)
