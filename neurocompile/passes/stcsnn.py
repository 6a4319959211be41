"""STCSNN (spatio-temporal conversion blocks, ../shared/papers/stcsnn-*): the threshold schedule.

A spike-train encoding block (STEB) takes its input as the initial membrane potential and, at step
k = 0 .. T-1, fires when ``v >= theta_k`` and then subtracts ``theta_k``, with the decaying threshold
``theta_k = V_th0 * 2^(-k / tau)``. The current accumulator block (CAB) after the next convolution weights
step k by the same ``theta_k``, so STEB -> conv -> CAB computes ``conv(sum_k theta_k s_k)``: the convolution
of the spike train's decoded value.
"""

from __future__ import annotations

import numpy as np


def stc_schedule(timesteps: int, tau: float) -> np.ndarray:
    """Normalised thresholds ``theta_k / sum_j theta_j`` (k = 0 .. T-1) of ``theta_k = 2^(-k / tau)``: the
    spike train of a block whose range is 1 (a layer's scale lambda maps to 1) decodes to at most 1."""
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    th = 2.0 ** (-np.arange(timesteps, dtype=np.float64) / float(tau))
    return th / th.sum()
