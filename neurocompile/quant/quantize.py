"""Integer quantiser, first version: float SNN IR -> integer IR.

* Input: ``x_int = clip(round(x * s_in), 0, 2^b - 1)`` (or symmetric signed if the calibration input
  has negative values), ``s_in = qmax / max|x|`` over the calibration data.
* Conv2d / Linear: signed b-bit weights, one shared scale per layer, ``s_w = qmax_b / max|W|``
  (power of two with ``pow2=True``); ``W_int = round(W * s_w)``.
* AvgPool2d becomes a sum pool (divisor 1); the 1/k^2 moves into the unit of what it feeds.
* Add: integer gains ``G_i = round(g_i * U / U_i)`` with ``U = max_i U_i`` (units of the inputs).
* Each op's output has an integer *unit* U (integers per normalised float unit): the input has s_in,
  spikes have 1, a weight op multiplies by s_w, a sum pool by k^2.
* Neurons: threshold, bias and initial potential are rounded on the unit of their input, shifted by
  ``state_shift``; the state saturates at ``state_bits``. Output: bias on its input's unit.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError
from ..fixedpoint import fits, qmax, quantize, round_half_away
from ..ir import Add, AvgPool2d, Conv2d, Graph, Input, Linear, Neurons, Output
from ..passes.base import Pass
from ..passes.chains import chains


class QuantizeInteger(Pass):
    name = "quantize"
    requires = ("snn", "biases_on_neurons")
    ensures = ("integer",)

    def __init__(self, weight_bits: int = 8, state_bits: int = 24, input_bits: int = 8, state_shift: int = 0,
                 pow2: bool = False):
        if not 2 <= weight_bits <= 16:
            raise QuantizationError(f"weight bits {weight_bits} outside 2..16")
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
        unit: dict[str, float] = {}
        inp = graph.input
        lo, hi = graph.meta.get("input_range", [0.0, 1.0])
        signed = lo < 0
        amax = max(abs(lo), abs(hi)) or 1.0
        inp.bits, inp.signed = self.input_bits, signed
        inp.scale = qmax(self.input_bits, signed) / amax
        unit[inp.name] = inp.scale
        units_report = {}
        for ch in chains(graph):
            for s in ch.sources:
                unit.setdefault(s, 1.0)  # a spike is one normalised unit
            for op in ch.ops:
                ins = graph.inputs(op.name)
                if isinstance(op, (Conv2d, Linear)):
                    s_w = self._scale(op.weight, op.name)
                    op.weight = quantize(op.weight, s_w, self.weight_bits)
                    op.weight_scale, op.weight_bits, op.weight_exp = s_w, self.weight_bits, 0
                    unit[op.name] = unit[ins[0]] * s_w
                elif isinstance(op, AvgPool2d):
                    unit[op.name] = unit[ins[0]] * op.divisor  # integer sum = divisor * float average
                    op.divisor = 1
                elif isinstance(op, Add):
                    u = max(unit[i] for i in ins)
                    gains = op.gains or (1.0,) * len(ins)
                    g_int = [int(round_half_away(g * u / unit[i])) for g, i in zip(gains, ins)]
                    if not fits(np.array(g_int), self.weight_bits):
                        raise QuantizationError(f"layer {op.name}: add gains {g_int} exceed {self.weight_bits} bits")
                    op.gains = tuple(g_int)
                    unit[op.name] = u
                else:
                    unit[op.name] = unit[ins[0]]
            t = ch.target
            u_in = unit[graph.inputs(t.name)[0]]
            if isinstance(t, Neurons):
                u_state = u_in * (1 << self.state_shift)
                th = round_half_away(np.asarray(t.threshold) * u_state)
                if np.any(th < 1):
                    raise QuantizationError(f"layer {t.name}: integer threshold {int(th.min())} < 1 (unit {u_state:.4g})")
                if not fits(th, self.state_bits):
                    raise QuantizationError(
                        f"layer {t.name}: integer threshold {int(th.max())} exceeds {self.state_bits}-bit state; "
                        "use fewer weight/input bits or a wider state")
                t.threshold = th
                t.bias = None if t.bias is None else round_half_away(t.bias * u_state)
                t.v_init = None if t.v_init is None else round_half_away(np.asarray(t.v_init) * u_state)
                t.state_bits, t.state_shift, t.scale = self.state_bits, self.state_shift, u_state
                unit[t.name] = 1.0
            elif isinstance(t, Output):
                t.bias = None if t.bias is None else round_half_away(t.bias * u_in)
                t.scale = u_in
            units_report[t.name] = u_in
        graph.meta["weight_bits"] = self.weight_bits
        graph.meta["state_bits"] = self.state_bits
        return graph
