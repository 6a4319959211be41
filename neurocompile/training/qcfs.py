"""QCFS training helper (Bu et al., ICLR 2022: "Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency
Spiking Neural Networks").

The quantisation-clip-floor-shift activation replaces ReLU during training:

    h(x) = lam * clip(floor(x L / lam + phi) / L, 0, 1)

with ``L`` quantisation levels, a trainable threshold ``lam`` and the shift ``phi`` (the paper's optimum 1/2).
An integrate-and-fire neuron with threshold ``lam``, initial potential ``phi * lam`` and reset by subtraction
that receives the constant input ``x`` for ``T = L`` steps emits exactly ``L * h(x) / lam`` spikes, so the
converted network at T = L steps reproduces the activation the ANN was trained with (exactly in the first hidden
layer; in expectation deeper in, where inputs arrive unevenly over the steps).

At ``phi = 1/2`` the forward function is HPC's QReLU (``neurocompile.training.qrelu``), so ``QCFS`` is a
``QReLU``: it shares its export (``to_exportable`` writes ``clamp(x, 0, lam)``, which the front end reads as a
population's ``Neurons.clip``) and its percentile initialisation (``calibrate_lambdas``). What QCFS adds is the
paper's gradient: a straight-through floor inside ``lam * clip(x / lam)``, so ``lam`` also learns from the
quantisation error of the inputs below it (``dh/dlam = floor(.)/L - x/lam`` there; 1 above ``lam``), where
QReLU's PACT gradient is zero. Compile the exported model with ``neurocompile build ... --method qcfs``.
"""

from __future__ import annotations

import torch
from torch import nn

from .qrelu import QReLU, _replace


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` forward, identity gradient (the paper's straight-through estimator)."""
    return x + (torch.floor(x) - x).detach()


class QCFS(QReLU):
    """``lam * clip(floor(x L / lam + shift) / L, 0, 1)`` with a trainable ``lam`` (Bu et al. 2022)."""

    def __init__(self, levels: int = 4, lam: float = 1.0, shift: float = 0.5):
        super().__init__(levels, lam)
        if not 0.0 <= shift < 1.0:
            raise ValueError(f"shift must be in [0, 1), got {shift}")
        self.shift = float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.lam.abs() + 1e-6
        v = torch.clamp(x / lam, 0.0, 1.0)
        return floor_ste(v * self.levels + self.shift) * lam / self.levels

    def extra_repr(self) -> str:
        return f"levels={self.levels}, lam={float(self.lam.detach()):.4g}, shift={self.shift:g}"


def swap_relu_qcfs(model: nn.Module, levels: int = 4, lam: float = 1.0, shift: float = 0.5) -> nn.Module:
    """Replace every ``nn.ReLU`` module by a ``QCFS(levels, lam, shift)`` in place; returns the model.

    Initialise ``lam`` from data with ``calibrate_lambdas`` (a percentile of each activation's input), or train
    it from the given value as the paper does."""
    if _replace(model, lambda m: isinstance(m, nn.ReLU), lambda m: QCFS(levels, lam, shift)) == 0:
        raise ValueError("model has no nn.ReLU modules to swap")
    return model
