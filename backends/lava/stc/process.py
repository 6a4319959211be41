"""``STEncoder`` and ``SpikeAccumulator``: one STCSNN block as Lava Processes (fixed point, CPU).

Per Lava step ``t`` (1-based, docs/semantics.md "Lava target")::

    STEncoder:        a = a_in (sum of the accumulators wired to it)
                      t == t_load:            v = sat(shift(a, -load_shift) + bias)
                      0 <= k = t - t_load < T: s = v >= thresholds[k]; v -= thresholds[k] * s
                      send s (0/1; 0 outside the window)
    SpikeAccumulator: a = a_in (the Sparse output of one source)
                      0 <= k = t - t_first < len(weights): acc += weights[k] * a
                      send acc at t == t_send, else 0
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


class STEncoder(AbstractProcess):
    """Spike-train encoding block: loads its accumulated input once and fires against decaying thresholds."""

    def __init__(self, *, shape: tuple[int, ...], thresholds: np.ndarray, bias: np.ndarray, load_shift: int,
                 state_bits: int, t_load: int, name: str | None = None):
        super().__init__(shape=shape, load_shift=int(load_shift), state_bits=int(state_bits), t_load=int(t_load),
                         name=name, log_config=None)
        th = np.asarray(thresholds, dtype=np.int64).reshape(-1)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=0)
        self.bias = Var(shape=shape, init=np.broadcast_to(np.asarray(bias, dtype=np.int64), shape).copy())
        self.thresholds = Var(shape=th.shape, init=th)


class SpikeAccumulator(AbstractProcess):
    """Current accumulator of one (source, target) pair: weights step k of the source's train by
    ``weights[k]`` (the source encoder's thresholds; [1] for the analog input) and sends the sum once."""

    def __init__(self, *, shape: tuple[int, ...], weights: np.ndarray, t_first: int, t_send: int,
                 name: str | None = None):
        super().__init__(shape=shape, t_first=int(t_first), t_send=int(t_send), name=name, log_config=None)
        w = np.asarray(weights, dtype=np.int64).reshape(-1)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.acc = Var(shape=shape, init=0)
        self.weights = Var(shape=w.shape, init=w)
