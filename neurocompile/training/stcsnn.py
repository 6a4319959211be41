"""STCSNN training helper (spatio-temporal conversion blocks: "STCSNN: High energy efficiency spike-train level
spiking neural networks with spatio-temporal conversion", sections 3.1-3.3).

A spike-train encoding block (STEB) takes its input ``x`` as the initial membrane potential and fires a
binary train over T steps with the decaying thresholds ``theta_k = lam * th_k``, ``th = stc_schedule(T, tau)``
(normalised ``2^(-k / tau)``, so ``sum_k theta_k = lam``, the largest value the train represents):

    v_0     = x + delta * theta_{T-1}
    s_k     = [v_k >= theta_k]                  k = 0 .. T-1
    v_{k+1} = v_k - theta_k * s_k

The current accumulator block (CAB) after the next convolution weights step k by ``theta_k``, so
STEB -> conv -> CAB equals ``conv(q)`` with ``q(x) = sum_k theta_k s_k`` ("equivalent forward pass 1"). As an
activation function ``q`` is a quantised clipped ReLU: 0 for ``x <= 0``, ``lam`` for ``x >= lam``, and within
one threshold of ``x`` in between. ``delta = 0.5`` rounds to the nearest level; the paper's block is 0.

Training uses ``q`` in the forward pass and the ReLU's gradient in the backward pass ("equivalent backward
pass 2", ReLU + Conv): ``relu(x) + (q(x) - relu(x)).detach()``. ``lam`` is fixed (like the paper's V_th0),
calibrated from a percentile of the block's input before fine-tuning. ``to_exportable_stc`` then writes
``clamp(x, 0, lam)`` in place of each block, which ``neurocompile build --method stcsnn`` reads as a clipped
population whose range ``lam`` becomes the block's threshold scale.
"""

from __future__ import annotations

import torch
from torch import nn

from ..passes.stcsnn import stc_schedule
from .qrelu import ClampReLU, _replace, set_lambdas


class SpikeTrainReLU(nn.Module):
    """The STEB + CAB of an STCSNN block as an activation: forward ``q(x)``, backward the ReLU's gradient.

    Parameters
    ----------
    timesteps : int
        Length T of the spike train (>= 1).
    tau : float
        Time constant of the threshold decay ``2^(-k / tau)`` (> 0; the paper uses 2).
    lam : float
        Range of the block, the sum of its thresholds (> 0). A buffer, not a learned parameter.
    delta : float
        Extra initial potential in units of the smallest threshold, in [0, 1).
    """

    def __init__(self, timesteps: int, tau: float = 2.0, lam: float = 1.0, delta: float = 0.5):
        super().__init__()
        self.schedule = stc_schedule(timesteps, tau)  # float64, sums to 1; validates T and tau
        if not lam > 0:
            raise ValueError(f"lam must be > 0, got {lam}")
        if not 0 <= delta < 1:
            raise ValueError(f"delta must be in [0, 1), got {delta}")
        self.timesteps, self.tau, self.delta = int(timesteps), float(tau), float(delta)
        self.register_buffer("lam", torch.tensor(float(lam)))

    def thresholds(self, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
        """``theta_k = lam * th_k`` (k = 0 .. T-1), computed in float64 and rounded once to ``dtype``."""
        return torch.as_tensor(float(self.lam) * self.schedule, dtype=dtype, device=device)

    @torch.no_grad()
    def _encode(self, x: torch.Tensor, keep_spikes: bool = False):
        theta = self.thresholds(x.dtype, x.device)
        v = x + self.delta * theta[-1]
        q = torch.zeros_like(x)
        spikes = []
        for t in theta:
            s = (v >= t).to(x.dtype)
            v = v - t * s
            q = q + t * s
            if keep_spikes:
                spikes.append(s)
        return q, spikes

    def spike_train(self, x: torch.Tensor) -> torch.Tensor:
        """The binary spikes ``s_k`` of every element, shape ``(T, *x.shape)``, in ``x``'s dtype."""
        return torch.stack(self._encode(x, keep_spikes=True)[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, _ = self._encode(x)
        r = torch.relu(x)
        return r + (q - r).detach()  # forward q(x), gradient of relu(x)

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}, tau={self.tau:g}, lam={float(self.lam):.4g}, delta={self.delta:g}"


def swap_relu_stc(model: nn.Module, timesteps: int, tau: float = 2.0, delta: float = 0.5) -> nn.Module:
    """Replace every ``nn.ReLU`` module (recursively) by a ``SpikeTrainReLU`` in place; returns the model.

    Raises
    ------
    ValueError
        If the model has no ``nn.ReLU`` module.
    """
    make = lambda m: SpikeTrainReLU(timesteps, tau, delta=delta)  # noqa: E731
    if _replace(model, lambda m: isinstance(m, nn.ReLU), make) == 0:
        raise ValueError("model has no nn.ReLU modules to swap")
    return model


def calibrate_stc(model: nn.Module, x: torch.Tensor, percentile: float = 99.9) -> dict[str, float]:
    """Set every ``SpikeTrainReLU``'s ``lam`` to the percentile of its positive inputs on ``x``.

    A block that sees no positive input (or is not called) gets ``lam = 1``. Returns ``{module name: lam}``.
    """
    return set_lambdas(model, x, SpikeTrainReLU, percentile)


def to_exportable_stc(model: nn.Module) -> nn.Module:
    """Replace every ``SpikeTrainReLU`` by ``ClampReLU(lam)`` in place (for ``torch.export``); returns the model."""
    _replace(model, lambda m: isinstance(m, SpikeTrainReLU), lambda m: ClampReLU(float(m.lam)))
    return model
