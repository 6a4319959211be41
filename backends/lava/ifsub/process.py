"""``IFSubtract``: Lava's LIF structure with reset by subtraction.

Per step (fixed point, as Lava's LIF with du = 4095, dv = 0; see models.py)::

    u = wrap24(a_in << 6)                       # current, Lava's one-shot 24-bit wrap
    v = clip(v + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    s = v > vth << 6
    v = v - (vth << 6) where s                  # reset by subtraction (Lava's LIF sets v = 0)
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.variable import Var
from lava.proc.lif.process import AbstractLIF


class IFSubtract(AbstractLIF):
    """Integrate-and-fire neurons with reset by subtraction (no leak)."""

    def __init__(self, *, shape: tuple[int, ...], vth: int, bias_mant: np.ndarray | int = 0,
                 bias_exp: np.ndarray | int = 0, v: np.ndarray | int = 0, name: str | None = None):
        super().__init__(shape=shape, u=0, v=v, du=4095, dv=0, bias_mant=bias_mant, bias_exp=bias_exp,
                         name=name, log_config=None)
        self.vth = Var(shape=(1,), init=vth)


class IFGraded(AbstractLIF):
    """HPC's buffered non-leaky IF neuron with multi-bit spikes: Lava's LIF current and voltage (as
    ``IFSubtract``), then the signed graded spike of ``neurocompile.fixedpoint.if_graded_update_`` sent as
    the spike payload (``held`` is the net spike count, HPC's buffer). Downstream ``Sparse`` processes take
    it with ``num_message_bits`` > 0."""

    def __init__(self, *, shape: tuple[int, ...], vth: int, bias_mant: np.ndarray | int = 0,
                 bias_exp: np.ndarray | int = 0, v: np.ndarray | int = 0, spike_max: int = 1,
                 buffered: bool = True, reset: str = "subtract", name: str | None = None):
        super().__init__(shape=shape, u=0, v=v, du=4095, dv=0, bias_mant=bias_mant, bias_exp=bias_exp,
                         name=name, log_config=None, spike_max=int(spike_max), buffered=bool(buffered),
                         reset=str(reset))
        self.vth = Var(shape=(1,), init=vth)
        self.held = Var(shape=shape, init=0)
