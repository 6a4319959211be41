"""Integer quantiser, first version: float SNN IR -> integer IR.

* Input: ``x_int = clip(round(x * s_in), 0, 2^b - 1)`` (or symmetric signed if the calibration input
  has negative values), ``s_in = qmax / max|x|`` over the calibration data.
* Conv2d / Linear: signed b-bit weights, one shared scale per layer, ``s_w = qmax_b / max|W|``
  (power of two with ``pow2=True``); ``W_int = round(W * s_w)``; lowered if the threshold it leads to
  would exceed 2^(state_bits-3).
* AvgPool2d becomes a sum pool (divisor 1); the 1/k^2 moves into the unit of what it feeds.
* MaxPool2d (the max-count gate) has no parameters: its unit and integer bound are its input's.
* Add: integer gains ``G_i = round(g_i * U / U_i)`` with ``U = max_i U_i`` (units of the inputs).
* Each op's output has an integer *unit* U (integers per normalised float unit): the input has s_in,
  spikes have 1, a weight op multiplies by s_w, a sum pool by k^2.
* Neurons: threshold, bias and initial potential are rounded on the unit of their input, shifted by
  ``state_shift``; the state saturates at ``state_bits``. Output: bias on its input's unit.
* STCSNN Encoder: its accumulated input (unit U) is loaded shifted by ``load_shift`` = the exponent that
  puts the first threshold in (2^(S-4), 2^(S-3)]; state unit U / 2^load_shift, thresholds and bias rounded
  on it (a threshold below 1 is clamped to 1 and noted). The decoded spike train has the state unit.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError
from ..fixedpoint import fits, qmax, quantize, round_half_away, round_mant_exp
from ..ir import Add, AvgPool2d, Conv2d, Encoder, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output
from ..passes.base import Pass


class QuantizeInteger(Pass):
    name = "quantize"
    requires = ("snn", "biases_on_neurons")
    ensures = ("integer",)

    def __init__(self, weight_bits: int = 8, state_bits: int = 24, input_bits: int = 8, state_shift: int = 0,
                 pow2: bool = False, input_wrap: int | None = None, bias_mant_bits: int | None = None,
                 bias_exp_max: int = 0, max_weight_bits: int | None = None, target: str = "intsim"):
        if not 2 <= weight_bits <= 16:
            raise QuantizationError(f"weight bits {weight_bits} outside 2..16")
        if max_weight_bits is not None and weight_bits > max_weight_bits:
            raise QuantizationError(
                f"{weight_bits}-bit weights requested, but target {target} stores at most {max_weight_bits}-bit "
                "weights; use an FPGA target for 9-10-bit weights")
        self.input_wrap, self.bias_mant_bits, self.bias_exp_max = input_wrap, bias_mant_bits, bias_exp_max
        if not 2 <= input_bits <= 16:
            raise QuantizationError(f"input bits {input_bits} outside 2..16")
        if not 8 <= state_bits <= 48:
            raise QuantizationError(f"state bits {state_bits} outside 8..48")
        self.weight_bits, self.state_bits, self.input_bits = weight_bits, state_bits, input_bits
        self.state_shift, self.pow2 = state_shift, pow2

    def _scale(self, w: np.ndarray, name: str) -> float:
        m = float(np.max(np.abs(w))) if w.size else 0.0
        if m == 0:
            return 1.0
        s = qmax(self.weight_bits) / m
        return 2.0 ** math.floor(math.log2(s)) if self.pow2 else s

    def run(self, graph: Graph) -> Graph:
        inp = graph.input
        lo, hi = graph.meta.get("input_range", [0.0, 1.0])
        signed = lo < 0
        amax = max(abs(lo), abs(hi)) or 1.0
        inp.bits, inp.signed = self.input_bits, signed
        inp.scale = qmax(self.input_bits, signed) / amax
        units = _Units(graph, self)
        for n in graph.topo():  # all units and scales are fixed from the float weights before any rounding
            units.unit(n.name)
        for n in graph.topo():  # quantise synaptic ops with the scales the unit analysis chose
            if isinstance(n, (Conv2d, Linear)):
                s_w, g = units.weight_scale(n.name), units.absorbed_gain(n.name)
                n.weight = quantize(n.weight * g, s_w, self.weight_bits)
                n.weight_scale, n.weight_bits, n.weight_exp = s_w, self.weight_bits, 0
            elif isinstance(n, Add):
                n.gains = units.add_gains(n.name)
        for n in graph.topo():
            if isinstance(n, AvgPool2d):
                n.divisor = 1  # integer sum pool; its 1/k^2 lives in the unit of what it feeds
        for t in graph.topo():
            if isinstance(t, Neurons):
                u_state = units.unit(graph.inputs(t.name)[0]) * (1 << self.state_shift)
                # threshold on the input's grid, then shifted: a multiple of 2^state_shift (Lava: vth << 6)
                th = round_half_away(np.asarray(t.threshold) * u_state / (1 << self.state_shift)) << self.state_shift
                if np.any(th < 1):  # threshold below one input LSB: the finest the integer grid can express
                    lo = float(np.min(t.threshold)) * u_state / (1 << self.state_shift)
                    graph.meta.setdefault("notes", []).append(
                        f"layer {t.name}: threshold {lo:.3g} input LSBs rounds to 0; clamped to 1 LSB "
                        f"(too few weight bits for this layer's dynamic range)")
                    th = np.maximum(th, 1 << self.state_shift)
                if not fits(th, self.state_bits):
                    raise QuantizationError(
                        f"layer {t.name}: integer threshold {int(th.max())} exceeds {self.state_bits}-bit state; "
                        "use fewer weight/input bits or a wider state")
                if t.v_init is not None:  # a fraction of the float threshold -> the same fraction of the integer one
                    frac = np.asarray(t.v_init, dtype=np.float64) / np.asarray(t.threshold, dtype=np.float64)
                    t.v_init = round_half_away(frac * th)
                t.threshold = th
                t.bias = None if t.bias is None else round_half_away(t.bias * u_state)
                if t.bias is not None and self.bias_mant_bits:
                    t.bias = round_mant_exp(t.bias, self.bias_mant_bits, self.bias_exp_max)
                t.input_wrap = self.input_wrap
                t.state_bits, t.state_shift, t.scale = self.state_bits, self.state_shift, u_state
            elif isinstance(t, Encoder):
                self._encoder(graph, t, units)
            elif isinstance(t, Output):
                u_in = units.unit(graph.inputs(t.name)[0])
                t.bias = None if t.bias is None else round_half_away(t.bias * u_in)
                t.scale = u_in
        graph.meta["weight_bits"] = self.weight_bits
        graph.meta["state_bits"] = self.state_bits
        return graph

    def _encoder(self, graph: Graph, t: Encoder, units: "_Units") -> None:
        u, shift = units.unit(t.name), units.load_shift(t.name)
        th = round_half_away(np.asarray(t.thresholds, dtype=np.float64) * u)
        if np.any(th < 1):
            graph.meta.setdefault("notes", []).append(
                f"layer {t.name}: {int((th < 1).sum())} of {th.size} spike-train thresholds round below 1 state "
                f"unit; clamped to 1 (the {self.state_bits}-bit state cannot resolve {th.size} steps of this schedule)")
            th = np.maximum(th, 1)
        t.thresholds = th
        t.bias = None if t.bias is None else round_half_away(np.asarray(t.bias, dtype=np.float64) * u)
        t.state_bits, t.load_shift, t.scale = self.state_bits, shift, u


class _Units:
    """Integer unit (integers per normalised float unit) of every node's output, and the weight scales
    that produce them. Weight ops feeding an Add share the Add's unit, chosen so every weight and gain
    of the Add fits the weight width: ``U = min_i qmax * unit_in_i / max|g_i W_i|``."""

    def __init__(self, graph: Graph, q: QuantizeInteger):
        self.g, self.q = graph, q
        self._unit: dict[str, float] = {}
        self._add_unit: dict[str, float] = {}
        self._scale: dict[str, float] = {}
        self._shift: dict[str, int] = {}

    def _sole_add(self, name: str) -> Add | None:
        cons = self.g.consumers(name)
        if len(cons) == 1 and isinstance(self.g.node(cons[0]), Add):
            return self.g.node(cons[0])
        return None

    def absorbed_gain(self, name: str) -> float:
        add = self._sole_add(name)
        if add is None or add.gains is None:
            return 1.0
        return float(add.gains[self.g.inputs(add.name).index(name)])

    def weight_scale(self, name: str) -> float:
        if name not in self._scale:
            n = self.g.node(name)
            add = self._sole_add(name)
            if add is not None:
                self._scale[name] = self.add_unit(add.name) / self.unit(self.g.inputs(name)[0])
            else:
                s_nat = self.q._scale(n.weight, name)
                cap = self._unit_cap(name) / self.unit(self.g.inputs(name)[0])
                self._scale[name] = min(s_nat, cap)
        return self._scale[name]

    def _unit_cap(self, name: str) -> float:
        """Largest output unit of op ``name`` that keeps the population it feeds (through pools / flatten)
        within its limits: threshold <= 2^(S-3) (two bits of state headroom); with a bias mantissa/exponent
        format, the largest bias representable; with ``input_wrap``, no input that can reach the wrap."""
        mult, cur = 1.0, name
        while True:
            cons = self.g.consumers(cur)
            if len(cons) != 1:
                return math.inf
            n = self.g.node(cons[0])
            if isinstance(n, AvgPool2d):
                mult *= n.divisor
            elif isinstance(n, Neurons):
                break
            elif not isinstance(n, Flatten):
                return math.inf
            cur = n.name
        q, sh = self.q, 1 << self.q.state_shift
        caps = [(1 << (q.state_bits - 3)) / (float(np.max(n.threshold)) * sh * mult)]
        if q.bias_mant_bits and n.bias is not None and np.any(n.bias != 0):
            caps.append(qmax(q.bias_mant_bits) * (1 << q.bias_exp_max) / (float(np.max(np.abs(n.bias))) * sh * mult))
        op = self.g.node(name)
        if q.input_wrap and isinstance(op, (Conv2d, Linear)):
            # |I| <= sum_i |W_int[o,i]| * bound(input) <= (s_w * rowsum_f + fan_in / 2) * bound < 2^(wrap-1-shift)
            w = np.abs(op.weight.reshape(op.weight.shape[0], -1))
            rows, fan = float(w.sum(1).max()), w.shape[1]
            bound = self.int_bound(self.g.inputs(name)[0]) * mult
            limit = (1 << (q.input_wrap - 1)) / sh
            if rows and math.isfinite(bound):
                s_max = (limit / bound - fan / 2) / rows
                if s_max <= 0:
                    raise QuantizationError(f"layer {name}: fan-in {fan} x input bound {bound:g} can reach the "
                                            f"{q.input_wrap}-bit input wrap at any weight scale")
                caps.append(s_max * self.unit(self.g.inputs(name)[0]))
        return min(caps)

    def int_bound(self, name: str) -> float:
        """Upper bound of |integer value| of a source or pooled / flattened source (input, spikes)."""
        n = self.g.node(name)
        if isinstance(n, Input):
            return float(qmax(self.q.input_bits, n.signed))
        if isinstance(n, Neurons):
            return float(n.spike_max)
        if isinstance(n, AvgPool2d):
            return n.divisor * self.int_bound(self.g.inputs(name)[0])
        if isinstance(n, (Flatten, MaxPool2d)):  # a gate's step output is bounded by its input's
            return self.int_bound(self.g.inputs(name)[0])
        return math.inf  # an op after a weight op: no cheap bound; the caller then sets no wrap cap

    def load_shift(self, name: str) -> int:
        """Shift of an encoder's accumulated input (unit U): the exponent e with the first threshold
        ``theta_0 * U / 2^e`` in (2^(S-4), 2^(S-3)] (two bits of state headroom, as the IF thresholds)."""
        if name not in self._shift:
            n = self.g.node(name)
            top = float(np.max(n.thresholds)) * self.unit(self.g.inputs(name)[0])
            self._shift[name] = math.ceil(math.log2(top) - (self.q.state_bits - 3)) if top > 0 else 0
        return self._shift[name]

    def add_unit(self, name: str) -> float:
        if name not in self._add_unit:
            add, qm, cands = self.g.node(name), qmax(self.q.weight_bits), []
            ins = self.g.inputs(name)
            gains = add.gains or (1.0,) * len(ins)
            for g, i in zip(gains, ins):
                n = self.g.node(i)
                if isinstance(n, (Conv2d, Linear)) and self._sole_add(i) is add:
                    m = float(np.max(np.abs(n.weight * g))) if n.weight.size else 0.0
                    if m > 0:
                        cands.append(qm * self.unit(self.g.inputs(i)[0]) / m)
                elif g != 0:
                    cands.append(qm * self.unit(i) / abs(float(g)))
            self._add_unit[name] = min(min(cands) if cands else 1.0, self._unit_cap(name))
        return self._add_unit[name]

    def add_gains(self, name: str) -> tuple[int, ...]:
        add, u = self.g.node(name), self.add_unit(name)
        ins = self.g.inputs(name)
        gains = add.gains or (1.0,) * len(ins)
        out = []
        for g, i in zip(gains, ins):
            n = self.g.node(i)
            if isinstance(n, (Conv2d, Linear)) and self._sole_add(i) is add:
                out.append(1)  # the gain lives in the weights
            else:
                out.append(int(round_half_away(float(g) * u / self.unit(i))))
        if not fits(np.array(out), self.q.weight_bits):
            raise QuantizationError(f"layer {name}: add gains {out} exceed {self.q.weight_bits} bits")
        return tuple(out)

    def unit(self, name: str) -> float:
        if name not in self._unit:
            n = self.g.node(name)
            if isinstance(n, Input):
                u = n.scale
            elif isinstance(n, Neurons):
                u = 1.0  # a spike is one normalised unit
            elif isinstance(n, Encoder):
                u = self.unit(self.g.inputs(name)[0]) / 2.0 ** self.load_shift(name)  # decoded train: state unit
            elif isinstance(n, (Conv2d, Linear)):
                u = self.unit(self.g.inputs(name)[0]) * self.weight_scale(name)
            elif isinstance(n, AvgPool2d):
                u = self.unit(self.g.inputs(name)[0]) * n.divisor  # integer sum = divisor * average
            elif isinstance(n, Add):
                u = self.add_unit(name)
            elif isinstance(n, MaxPool2d):
                u = self.unit(self.g.inputs(name)[0])  # a gate passes its input's values on (max of counts)
            else:
                u = self.unit(self.g.inputs(name)[0])
            self._unit[name] = u
        return self._unit[name]
