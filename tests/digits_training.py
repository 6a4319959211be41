"""Brief training on the 8x8 digits for the end-to-end tests (a second or so of CPU)."""

from __future__ import annotations

import torch
from torch import nn


def train_digits(model: nn.Module, steps: int = 120, seed: int = 0) -> nn.Module:
    """Adam (lr 0.01) on random batches of 256 training images, ``steps`` steps from seed ``seed``."""
    from neurocompile.datasets import load

    torch.manual_seed(seed)
    x, y = load("digits", "train")
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (256,))
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model
