"""``Concat``: inputs side by side along channels ((C, H, W) maps) or features ((F,) vectors), ``torch.cat``.

A routing op: every output unit is one input unit times that input's integer gain, and the gains are 1
wherever the inputs already share one integer unit (docs/semantics.md, "Concat").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from ... import fixedpoint as fx
from ...errors import ConversionError, GraphError, QuantizationError
from ..names import describe, describe_of, layer
from ..units import concat_unit, slice_unit, summed_unit_bound, uniform
from .base import Node, Window, register_op


@register_op
@dataclass(eq=False)
class Concat(Node):
    """``y = cat([gains[0] * x_0, gains[1] * x_1, ...])`` along axis 0 of the per-sample shapes (inputs
    ordered by edge); ``sizes``: each input's extent on that axis (its channels or features)."""

    sizes: tuple[int, ...] = ()
    gains: tuple[float, ...] | None = None  # None = all ones; integers in the integer IR

    op: ClassVar[str] = "concat"
    arity: ClassVar[int | None] = None
    synaptic: ClassVar[bool] = True
    #: weight ops that feed only the Concat take its integer unit (quant.quantize._Units.sole_sum)
    sums_inputs: ClassVar[bool] = True
    channel_unit: ClassVar[str] = "keep"
    free_unit: ClassVar[bool] = True

    def gain_list(self, n: int) -> tuple:
        return tuple(self.gains) if self.gains is not None else (1,) * n

    def offsets(self) -> list[int]:
        """Start of each input's range on the concatenated axis."""
        return [0, *np.cumsum(self.sizes[:-1]).tolist()] if self.sizes else []

    # ---- structure ---------------------------------------------------------------------------------
    def infer_shape(self, ins):
        if any(len(s) not in (1, 3) or len(s) != len(ins[0]) or s[1:] != ins[0][1:] for s in ins):
            raise GraphError(f"{self.label}: inputs {ins} differ in rank or outside the concatenated axis")
        if tuple(self.sizes) != tuple(s[0] for s in ins):
            raise GraphError(f"{self.label}: sizes {tuple(self.sizes)} do not match inputs {ins}")
        if self.gains is not None and len(self.gains) != len(ins):
            raise GraphError(f"{self.label}: {len(self.gains)} gains for {len(ins)} inputs")
        return (int(sum(self.sizes)), *ins[0][1:])

    def eval_float(self, ins, p, ctx):
        return torch.cat([float(g) * v for g, v in zip(self.gain_list(len(ins)), ins)], dim=1)

    def indicator(self, ins):
        return torch.cat([v * float(g != 0) for g, v in zip(self.gain_list(len(ins)), ins)], dim=1)

    # ---- integer IR --------------------------------------------------------------------------------
    def int_forward(self, xs, bounds):
        gains = [int(g) for g in self.gain_list(len(xs))]
        bound = max(abs(g) * b for g, b in zip(gains, bounds))
        dt = fx.exact_float(bound, describe(self))
        return torch.cat([v.to(dt) if g == 1 else g * v.to(dt) for g, v in zip(gains, xs)], dim=1), bound

    def int_map(self, in_shape, out_shape, idx):
        n_in = int(np.prod(in_shape))
        inner = n_in // in_shape[0]
        rows = self.offsets()[idx] * inner + np.arange(n_in)
        data = np.full(n_in, int(self.gain_list(len(self.sizes))[idx]), dtype=np.int64)
        return sp.csr_matrix((data, (rows, np.arange(n_in))), shape=(int(np.prod(out_shape)), n_in))

    def window(self, in_shape, idx):
        """A (C, H, W) input as a 1x1 window that moves channel c to channel offset + c."""
        if len(in_shape) != 3 or self.gain_list(len(self.sizes))[idx] == 0:
            return None
        mask = np.zeros((int(sum(self.sizes)), in_shape[0], 1, 1), dtype=bool)
        off = self.offsets()[idx]
        mask[off + np.arange(in_shape[0]), np.arange(in_shape[0])] = True
        return Window("full", mask, (1, 1), (0, 0))

    # ---- conversion ----------------------------------------------------------------------------------
    def input_unit(self, lt, idx: int, in_shapes, out_shape):
        off = self.offsets()[idx]
        return slice_unit(lt, off, off + self.sizes[idx])

    def normalize(self, units, lt, in_shapes):
        """``lt`` None: a weight op downstream absorbs any unit, so the inputs keep theirs, side by side
        (gains 1). Otherwise the output must have unit ``lt``: input i gets the gain unit_i / lt_i."""
        if lt is None:
            return concat_unit(units, in_shapes)
        gains = []
        for i, (u, s) in enumerate(zip(units, in_shapes)):
            r = uniform(np.asarray(u, dtype=np.float64) / np.asarray(self.input_unit(lt, i, in_shapes, None)))
            if not np.isscalar(r):
                raise ConversionError(f"{layer(self)}: per-channel scales reach a Concat gain without a weight op "
                                      "in between; use layer-wise normalisation")
            gains.append(float(self.gain_list(len(units))[i]) * float(r))
        self.gains = None if all(g == 1.0 for g in gains) else tuple(gains)
        return lt

    # ---- quantisation: one integer unit U; weight ops feeding only this Concat take U (their gain in their
    # weights), every other input i gets the integer gain g_i * U / U_i, exact where U is a common multiple
    def _own_weighted(self, units, i: str) -> bool:
        return units.g.node(i).weighted and units.sole_sum(i) is self

    def _wcap(self, units, i: str, g) -> float:
        """The largest unit weight op ``i`` (feeding only this Concat) can take with its weights in range."""
        n = units.g.node(i)
        m = float(np.max(np.abs(n.weight * float(g)))) if n.weight.size else 0.0
        return fx.qmax(units.q.weight_bits) * units.unit(units.g.inputs(i)[0]) / m if m > 0 else math.inf

    def q_unit(self, units):
        qm = fx.qmax(units.q.weight_bits)
        ins = units.g.inputs(self.name)
        wcaps, others = [], []
        for g, i in zip(self.gain_list(len(ins)), ins):
            if self._own_weighted(units, i):
                wcaps.append(self._wcap(units, i, g))
            elif g != 0:
                others.append((units.unit(i), float(g)))
        wcaps = [w for w in wcaps if math.isfinite(w)]
        rest = min([*(qm * v / abs(g) for v, g in others), units.unit_cap(self.name)])
        top = min(summed_unit_bound(wcaps, qm), rest)
        base = _common_multiple([v for v, _ in others]) if all(g == 1 for _, g in others) else None
        if base is not None and base <= top:  # gains U / U_i exact integers
            return base * math.floor(top / base) if wcaps and math.isfinite(top) else base
        least = max((v / abs(g) for v, g in others), default=0.0)  # the unit that gives every other input gain 1
        if math.isfinite(top) and 0 < top < 0.5 * least <= least <= min([rest, *(qm * w for w in wcaps)]):
            # an input finer than the weight ops allow would get a gain U / U_i that rounds to 0: U is the
            # least unit that keeps it, and each weight op takes U / k with an integer gain k <= qm (own_divisor)
            return least
        return top if math.isfinite(top) else 1.0

    def own_divisor(self, units, i: str) -> int:
        """k for weight op ``i`` feeding only this Concat: it takes the unit U / k (k = 1 unless U is above what
        its weights allow) and gets the integer gain k."""
        ins = units.g.inputs(self.name)
        cap = self._wcap(units, i, self.gain_list(len(ins))[ins.index(i)])
        u = units.unit(self.name)
        return 1 if u <= cap else math.ceil(u / cap * (1 - 1e-12))

    def int_gains(self, units) -> list[int | None]:
        """The integer gain of each input on the units worked out (None: a weight op that takes the unit)."""
        u, ins, out = units.unit(self.name), units.g.inputs(self.name), []
        for g, i in zip(self.gain_list(len(ins)), ins):
            if self._own_weighted(units, i):  # its unit is U / k (own_divisor, fixed when its weights were scaled)
                k = int(fx.round_half_away(u / units.unit(i)))
                out.append(None if k == 1 else k)
                continue
            q = int(fx.round_half_away(float(g) * u / units.unit(i)))
            if q == 0 and g != 0:
                raise QuantizationError(
                    f"{layer(self)}: the gain of input {describe_of(units.g, i)} rounds to 0 "
                    f"({float(g) * u / units.unit(i):.3g}) at {units.q.weight_bits}-bit weights; its values would "
                    "be lost (use more weight bits)")
            out.append(q)
        return out

    def int_bound(self, units):
        bounds = [math.inf if q is None or self._own_weighted(units, i) else abs(q) * units.int_bound(i)
                  for q, i in zip(self.int_gains(units), units.g.inputs(self.name))]
        return max(bounds)

    def cap_factor(self):
        return 1.0

    def quantize(self, units):
        out = [1 if q is None else q for q in self.int_gains(units)]
        if not fx.fits(np.array(out), units.q.weight_bits):
            raise QuantizationError(f"{layer(self)}: concat gains {out} exceed {units.q.weight_bits} bits")
        self.gains = None if all(q == 1 for q in out) else tuple(out)

    def param_words(self):
        return 0, 0


def _common_multiple(vs: list[float]) -> float | None:
    """The smallest of ``vs``'s common multiples tried (the largest value, or the lcm of integers) that every
    value divides exactly; None if there is none of those (then the gains are rounded)."""
    if not vs:
        return None
    m = max(vs)
    if all((m / v).is_integer() for v in vs):
        return float(m)
    if all(float(v).is_integer() for v in vs):
        return float(math.lcm(*(int(v) for v in vs)))
    return None
