"""``Encoder``: the STCSNN spike-train encoding block (a population with a decaying threshold)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ... import fixedpoint as fx
from ...errors import GraphError
from ..names import layer
from .base import Node, broadcast_check, register_op


def encode_decode(v: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """STCSNN block on floats: load ``v``, fire ``s_k = v >= thresholds[k]`` and subtract, k = 0 .. T-1;
    returns ``sum_k thresholds[k] * s_k`` (the value the next block's accumulator decodes)."""
    v = v.clone()
    q = torch.zeros_like(v)
    for th in thresholds.reshape(-1):
        s = (v >= th).to(v.dtype)
        v -= th * s
        q += th * s
    return q


@register_op
@dataclass(eq=False)
class Encoder(Node):
    """STCSNN spike-train encoding block (STEB): an IF population with a decaying threshold that encodes
    one value per neuron into a spike train of T = len(thresholds) steps.

    Its input is the value accumulated by the current accumulator block (CAB) over the spike trains of
    its sources (each source's step k weighted by that source's ``thresholds[k]``; an analog Input counts
    once). The value is loaded once as the membrane potential, then for k = 0 .. T-1::

        v_0 = sat(shift(acc, -load_shift) + bias)        (float IR: v_0 = acc + bias)
        s_k = v_k >= thresholds[k]
        v_{k+1} = v_k - thresholds[k] * s_k

    Consumers see the decoded value ``q = sum_k thresholds[k] * s_k`` (in the block's state units): the
    block is a clipped, quantised ReLU of its input. ``thresholds[k]`` is ``V_th0 * 2^(-k / tau)``
    rounded to the state grid. A network with encoders runs block by block: docs/semantics.md.
    """

    #: (T,) thresholds of steps 0 .. T-1, state units, > 0
    thresholds: np.ndarray | None = None
    #: added once when the input is loaded, state units; None or population shape
    bias: np.ndarray | None = None
    #: integer IR: state width in bits (saturating at load); None in float IR
    state_bits: int | None = None
    #: integer IR: the accumulated input is shifted right by this (left if negative) when loaded
    load_shift: int = 0
    #: threshold time constant in steps: thresholds[k] ~ 2^(-k / tau)
    tau: float = 2.0
    #: integer IR: integer state units per unit of normalised potential (for reports)
    scale: float | None = None

    op: ClassVar[str] = "encoder"
    array_fields: ClassVar[tuple[str, ...]] = ("thresholds", "bias")
    spike_source: ClassVar[bool] = True
    chain_target: ClassVar[bool] = True
    placed: ClassVar[bool] = True
    reported: ClassVar[bool] = True
    block_coded: ClassVar[bool] = True
    #: binary spikes
    payload_bits: ClassVar[int] = 0
    spike_dtype: ClassVar[np.dtype] = np.dtype(bool)

    @property
    def timesteps(self) -> int:
        return int(np.asarray(self.thresholds).size)

    # ---- structure
    def check(self, graph):
        th = np.asarray(self.thresholds) if self.thresholds is not None else np.zeros(0)
        if th.ndim != 1 or th.size < 1:
            raise GraphError(f"{self.label}: encoder thresholds must be a non-empty (T,) array, got shape {th.shape}")
        if np.any(th <= 0):
            raise GraphError(f"{self.label}: encoder thresholds must be > 0, min is {th.min()}")
        if not self.tau > 0:
            raise GraphError(f"{self.label}: tau {self.tau} must be > 0")

    @classmethod
    def check_graph(cls, graph, nodes):
        lengths = {e.timesteps for e in nodes}
        if len(lengths) != 1:
            raise GraphError(f"graph {graph.name}: encoders with different spike-train lengths {sorted(lengths)}")
        mixed = [n for n in graph.topo() if n.spike_source and n.chain_target and not n.block_coded]
        if mixed:
            raise GraphError(f"graph {graph.name}: {layer(mixed[0])} is a rate-coded population in a network "
                             "of STCSNN encoders; convert every ReLU the same way")

    def infer_shape(self, ins):
        broadcast_check(self, "bias", self.bias, ins[0])
        return ins[0]

    # ---- float view: exact in one pass (the decoded train)
    def eval_float(self, ins, p, ctx):
        v = ins[0] + p["bias"] if "bias" in p else ins[0]
        return encode_decode(v, p["thresholds"])

    # ---- integer run (intsim, block by block)
    def int_encode(self, acc: torch.Tensor, record_v: bool = False):
        """Load the accumulated input ``acc`` (N, ...) and fire the train: returns (spikes (T, N, ...) bool,
        decoded value q, the membrane after each step (T, N, ...) or None, the residue after the train)."""
        shape = acc.shape[1:]
        bias = torch.as_tensor(np.broadcast_to(0 if self.bias is None else self.bias, shape).copy(), dtype=torch.int64)
        v = fx.stc_load(acc, bias, self.load_shift, self.state_bits)
        th = [int(k) for k in np.asarray(self.thresholds)]
        s_all = torch.zeros((len(th), *acc.shape), dtype=torch.bool)
        v_all = torch.zeros((len(th), *acc.shape), dtype=torch.int64) if record_v else None
        q = torch.zeros_like(v)
        for k, theta in enumerate(th):
            s = fx.stc_step_(v, theta)
            s_all[k] = s
            q += theta * s
            if v_all is not None:
                v_all[k] = v
        return s_all, q, v_all, v

    def rate(self, spikes: np.ndarray, timesteps: int, depth: int) -> np.ndarray:
        """The decoded train as a fraction of the block's range, per neuron, from a run's recorded spikes
        (steps, N, ...): the block at chain depth ``depth`` fires in steps [(depth - 1) T, depth T)."""
        th = np.asarray(self.thresholds, dtype=np.float64)
        start = (depth - 1) * len(th)
        return np.tensordot(th, spikes[start:start + len(th)].astype(np.float64), axes=1) / th.sum()

    # ---- quantisation: the accumulated input (unit U) is loaded shifted by ``load_shift``
    def load_shift_for(self, units) -> int:
        """The exponent e with the first threshold ``theta_0 * U / 2^e`` in (2^(S-4), 2^(S-3)] (two bits
        of state headroom, as the IF thresholds)."""
        key = ("load_shift", self.name)
        if key not in units.memo:
            top = float(np.max(self.thresholds)) * units.unit(units.g.inputs(self.name)[0])
            units.memo[key] = math.ceil(math.log2(top) - (units.q.state_bits - 3)) if top > 0 else 0
        return units.memo[key]

    def q_unit(self, units):  # the decoded train is in state units
        return units.unit(units.g.inputs(self.name)[0]) / 2.0 ** self.load_shift_for(units)

    def quantize(self, units):
        q, u, shift = units.q, units.unit(self.name), self.load_shift_for(units)
        th = fx.round_half_away(np.asarray(self.thresholds, dtype=np.float64) * u)
        if np.any(th < 1):
            units.g.meta.setdefault("notes", []).append(
                f"{layer(self)}: {int((th < 1).sum())} of {th.size} spike-train thresholds round below 1 state "
                f"unit; clamped to 1 (the {q.state_bits}-bit state cannot resolve {th.size} steps of this schedule)")
            th = np.maximum(th, 1)
        self.thresholds = th
        self.bias = None if self.bias is None else fx.round_half_away(np.asarray(self.bias, dtype=np.float64) * u)
        self.state_bits, self.load_shift, self.scale = q.state_bits, shift, u

    # ---- placement, report
    def param_words(self):
        return 1 + (self.bias is not None), self.timesteps

    def report_threshold(self):
        return list(np.asarray(self.thresholds).reshape(-1))

    def report_fields(self):
        return {"neuron": "stc-encoder", "timesteps": self.timesteps, "tau": float(self.tau),
                "load_shift": int(self.load_shift)}
