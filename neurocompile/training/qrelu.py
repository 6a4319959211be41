"""QReLU training helper (HPC: "A High Performance and Low Latency Deep SNN Conversion Framework").

``QReLU`` replaces ReLU during training by the function an integrate-and-fire neuron with reset by
subtraction computes in T steps: with threshold lam, initial potential lam/2 and a constant input x,
it emits ``clip(floor(T x / lam + 1/2), 0, T)`` spikes, i.e. the activation

    QReLU(x) = lam / T * clip(floor(T x / lam + 1/2), 0, T)

Training sees this quantised, clipped value (straight-through gradient for the rounding, PACT gradient
for the learned clip level ``lam``). After training, ``to_exportable`` turns every QReLU into
``clamp(x, 0, lam)``, which ``torch.export`` writes as ``aten.clamp`` and the front end reads as a
clipped population; ``neurocompile build --method qrelu`` then uses ``lam`` as its threshold, so the
converted SNN has no clipping or rounding error beyond the QReLU's own at T steps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class QReLU(nn.Module):
    """Clipped ReLU quantised to T levels with a learned clip level ``lam`` (PACT / STE)."""

    def __init__(self, levels: int, lam: float = 1.0):
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self.levels = int(levels)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.lam.abs() + 1e-6
        y = torch.minimum(torch.relu(x), lam)  # PACT: d/dlam = 1 where x >= lam
        q = torch.floor(y * self.levels / lam + 0.5).clamp(0, self.levels) * lam / self.levels
        return y + (q - y).detach()  # straight-through: forward q, gradient of y

    def extra_repr(self) -> str:
        return f"levels={self.levels}, lam={float(self.lam):.4g}"


class ClampReLU(nn.Module):
    """``clamp(x, 0, lam)`` with a constant ``lam``: the exportable form of a trained QReLU."""

    def __init__(self, lam: float):
        super().__init__()
        self.lam = float(lam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0.0, self.lam)

    def extra_repr(self) -> str:
        return f"lam={self.lam:.6g}"


def _replace(module: nn.Module, pred, make) -> int:
    n = 0
    for name, child in module.named_children():
        if pred(child):
            setattr(module, name, make(child))
            n += 1
        else:
            n += _replace(child, pred, make)
    return n


def swap_relu(model: nn.Module, levels: int, lam: float = 1.0) -> nn.Module:
    """Replace every ``nn.ReLU`` module by a ``QReLU(levels, lam)`` in place; returns the model."""
    if _replace(model, lambda m: isinstance(m, nn.ReLU), lambda m: QReLU(levels, lam)) == 0:
        raise ValueError("model has no nn.ReLU modules to swap")
    return model


@torch.no_grad()
def input_percentiles(model: nn.Module, x: torch.Tensor, cls: type, percentile: float) -> dict[str, float]:
    """The percentile of the positive inputs of every ``cls`` module on ``x`` (eval mode; 1.0 for a module
    that sees no positive input or is not called), by module name."""
    acts, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, cls):
            hooks.append(m.register_forward_hook(lambda mod, inp, out, k=name: acts.setdefault(k, []).append(
                inp[0].detach().flatten())))
    was = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, cls):
            a = torch.cat(acts[name]).numpy() if name in acts else np.zeros(0)
            pos = a[a > 0]
            out[name] = float(np.percentile(pos, percentile)) if pos.size else 1.0
    return out


@torch.no_grad()
def set_lambdas(model: nn.Module, x: torch.Tensor, cls: type, percentile: float) -> dict[str, float]:
    """Fill the ``lam`` parameter / buffer of every ``cls`` module with :func:`input_percentiles`; returns
    the values stored."""
    mods = dict(model.named_modules())
    out = {}
    for name, lam in input_percentiles(model, x, cls, percentile).items():
        mods[name].lam.fill_(lam)
        out[name] = float(mods[name].lam)
    return out


def calibrate_lambdas(model: nn.Module, x: torch.Tensor, percentile: float = 99.9) -> dict[str, float]:
    """Set every QReLU's ``lam`` to the percentile of its (non-zero) input on ``x``; returns them."""
    return set_lambdas(model, x, QReLU, percentile)


def to_exportable(model: nn.Module) -> nn.Module:
    """Replace every QReLU by ``ClampReLU(|lam|)`` in place (for ``torch.export``); returns the model."""
    _replace(model, lambda m: isinstance(m, QReLU), lambda m: ClampReLU(abs(float(m.lam.detach())) + 1e-6))
    return model
