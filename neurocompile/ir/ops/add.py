"""``Add``: the element-wise weighted sum of two or more inputs (a residual connection)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ... import fixedpoint as fx
from ...errors import GraphError, QuantizationError
from ..names import describe, layer
from ..units import add_gain, summed_unit_bound
from .base import PASS, Node, register_op


@register_op
@dataclass(eq=False)
class Add(Node):
    """Element-wise sum of two or more inputs, ``y = sum_i gains[i] * x_i`` (inputs ordered by edge)."""

    gains: tuple[float, ...] | None = None  # None = all ones; integers in the integer IR

    op: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None
    synaptic: ClassVar[bool] = True
    sums_inputs: ClassVar[bool] = True

    def gain_list(self, n: int) -> tuple:
        return self.gains or (1,) * n

    def infer_shape(self, ins):
        if any(s != ins[0] for s in ins):
            raise GraphError(f"{self.label}: input shapes differ: {ins}")
        if self.gains is not None and len(self.gains) != len(ins):
            raise GraphError(f"{self.label}: {len(self.gains)} gains for {len(ins)} inputs")
        return ins[0]

    def eval_float(self, ins, p, ctx):
        return sum(float(g) * v for g, v in zip(self.gain_list(len(ins)), ins))

    def indicator(self, ins):
        return sum(v * float(g != 0) for g, v in zip(self.gain_list(len(ins)), ins))

    def int_forward(self, xs, bounds):
        gains = [int(g) for g in self.gain_list(len(xs))]
        bound = sum(abs(g) * b for g, b in zip(gains, bounds))
        dt = fx.exact_float(bound, describe(self))
        return sum(g * v.to(dt) for g, v in zip(gains, xs)), bound

    def int_map(self, in_shape, out_shape, idx):
        return int(self.gains[idx]) if self.gains is not None else 1

    def window(self, in_shape, idx):
        return None if self.gains is not None and self.gains[idx] == 0 else PASS

    def normalize(self, units, lt, in_shapes):
        self.gains = tuple(add_gain(g, u, lt, describe(self)) for g, u in zip(self.gain_list(len(units)), units))
        return lt

    # ---- quantisation: weight ops feeding only this Add take its unit U (over an integer gain k where U is
    # above what their weights allow: own_divisor); the other inputs integer gains
    def _own_weighted(self, units, i: str) -> bool:
        n = units.g.node(i)
        return n.weighted and units.sole_sum(i) is self

    def _wcap(self, units, i: str, g) -> float:
        """The largest unit weight op ``i`` (feeding only this Add) can take with its weights in range."""
        n = units.g.node(i)
        m = float(np.max(np.abs(n.weight * float(g)))) if n.weight.size else 0.0
        return fx.qmax(units.q.weight_bits) * units.unit(units.g.inputs(i)[0]) / m if m > 0 else math.inf

    def q_unit(self, units):
        qm, wcaps, cands = fx.qmax(units.q.weight_bits), [], []
        ins = units.g.inputs(self.name)
        for g, i in zip(self.gain_list(len(ins)), ins):
            if self._own_weighted(units, i):
                wcaps.append(self._wcap(units, i, g))
            elif g != 0:
                cands.append(qm * units.unit(i) / abs(float(g)))
        top = min([summed_unit_bound(wcaps, qm), *cands, units.unit_cap(self.name)])
        return top if math.isfinite(top) else 1.0

    def own_divisor(self, units, i: str) -> int:
        ins = units.g.inputs(self.name)
        cap = self._wcap(units, i, self.gain_list(len(ins))[ins.index(i)])
        u = units.unit(self.name)
        return 1 if u <= cap else math.ceil(u / cap * (1 - 1e-12))

    def quantize(self, units):
        u = units.unit(self.name)
        ins = units.g.inputs(self.name)
        out = []
        for g, i in zip(self.gain_list(len(ins)), ins):
            if self._own_weighted(units, i):  # the float gain lives in the weights, the divisor k stays here
                out.append(int(fx.round_half_away(u / units.unit(i))))
            else:
                out.append(int(fx.round_half_away(float(g) * u / units.unit(i))))
        if not fx.fits(np.array(out), units.q.weight_bits):
            raise QuantizationError(f"{layer(self)}: add gains {out} exceed {units.q.weight_bits} bits")
        self.gains = tuple(out)
