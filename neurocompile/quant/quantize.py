"""Integer quantiser: float SNN IR -> integer IR (docs/semantics.md, "Quantisation").

* Input: ``x_int = clip(round(x * s_in), 0, 2^b - 1)`` (or symmetric signed if the calibration input
  has negative values), ``s_in = qmax / max|x|`` over the calibration data.
* Each op's output has an integer *unit* U (integers per normalised float unit), the op's ``q_unit``
  facet: the input has s_in, spikes have 1, a weight op multiplies by its weight scale s_w
  (``s_w = qmax_b / max|W|``, a power of two with ``pow2=True``), a sum pool by k^2, a max-count gate
  and Flatten pass it on, an STCSNN encoder's decoded train has its state unit.
* A weight op's scale is lowered where the population it feeds (through pools / flatten) would
  otherwise exceed its limits (``Neurons.q_caps``: threshold <= 2^(S-3), the bias format) or, with
  ``input_wrap``, could reach the wrap. Weight ops that feed only an Add or a Concat share its unit
  (``Add.q_unit``, ``Concat.q_unit``), or take it over an integer gain k in the sum where their weights do not
  allow it (``own_divisor``; ``ir.units.summed_unit_bound``), the other inputs get integer gains (a Concat's
  exact where it can be).
* Then every op rounds its own parameters on those units (its ``quantize`` facet): weights, gains,
  thresholds, biases, initial potentials, encoder thresholds.
* A weight op whose non-zero weights all round to 0 is an error (the layer would pass on nothing but its
  bias), unless it feeds an Add / Concat beside other inputs (a warning then); one where more than :data:`LOST_WEIGHTS_WARN` of them round to 0 or saturate gets a warning in
  ``meta["notes"]`` (``warning: layer ...``), which the CLI also prints on stderr.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import QuantizationError
from ..fixedpoint import qmax, round_half_away
from ..ir import Graph
from ..ir.names import layer
from ..passes.base import Pass


#: share of a weight layer's non-zero float weights that may round to 0 or saturate before the build warns
#: (docs/semantics.md, "Quantisation"): beyond it the layer keeps fewer than half of its weights as they were
LOST_WEIGHTS_WARN = 0.5

#: prefix of the notes the CLI also prints on stderr
WARNING = "warning: "


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

    def natural_scale(self, w: np.ndarray) -> float:
        """The weight scale that maps max|w| to the largest weight (a power of two with ``pow2``)."""
        m = float(np.max(np.abs(w))) if w.size else 0.0
        if m == 0:
            return 1.0
        s = qmax(self.weight_bits) / m
        return 2.0 ** math.floor(math.log2(s)) if self.pow2 else s

    def run(self, graph: Graph) -> Graph:
        lo, hi = graph.meta.get("input_range", [0.0, 1.0])
        graph.input.set_range(lo, hi, self.input_bits)
        units = _Units(graph, self)
        order = graph.topo()
        for n in order:  # all units and scales are fixed from the float weights before any rounding
            units.unit(n.name)
        for n in order:  # then each op rounds its parameters on them (a weight op before the Add it feeds)
            w = np.array(n.weight, dtype=np.float64) if n.weighted else None
            n.quantize(units)
            if w is not None:
                _check_weights(units, n, w * units.absorbed_gain(n.name))
        graph.meta["weight_bits"] = self.weight_bits
        graph.meta["state_bits"] = self.state_bits
        return graph


def _check_weights(units: "_Units", n, w: np.ndarray) -> None:
    """QuantizationError if every non-zero float weight ``w`` of weight op ``n`` rounded to 0 (unless ``n``
    feeds a sum, whose other inputs still pass on something); a warning note if more than
    ``LOST_WEIGHTS_WARN`` of them rounded to 0 or saturated (``n`` already quantised)."""
    s_w, bits = float(n.weight_scale), int(n.weight_bits)
    nz = w != 0
    total = int(nz.sum())
    if total == 0:  # zero in the float model too: nothing is lost
        return
    r = round_half_away(w * s_w)
    zeroed = int((nz & (r == 0)).sum())
    saturated = int((np.abs(r) > qmax(bits)).sum())
    largest = float(np.abs(w).max()) * s_w
    why = _why_small(units, n, w, s_w)
    if zeroed == total and units.sole_sum(n.name) is None:  # in a sum, its other inputs still carry: a warning
        raise QuantizationError(
            f"{layer(n)}: all {total:,} non-zero weights round to 0 as {bits}-bit integers (weight scale "
            f"{s_w:.3g}: largest |w| x scale = {largest:.3g} < 0.5){why}")
    if zeroed + saturated > LOST_WEIGHTS_WARN * total:
        parts = [f"{zeroed:,} round to 0"] if zeroed else []
        parts += [f"{saturated:,} saturate at +-{qmax(bits)}"] if saturated else []
        units.g.meta.setdefault("notes", []).append(
            f"{WARNING}{layer(n)}: of its {total:,} non-zero weights, {' and '.join(parts)} as {bits}-bit "
            f"integers ({100 * (zeroed + saturated) / total:.0f} % > {100 * LOST_WEIGHTS_WARN:.0f} %; weight scale "
            f"{s_w:.3g}, largest |w| x scale = {largest:.3g}){why}")


def _why_small(units: "_Units", n, w: np.ndarray, s_w: float) -> str:
    """Why the scale is below the one that maps the largest weight to the largest integer, if it is."""
    natural = units.q.natural_scale(w)
    if s_w >= 0.5 * natural:
        return ""
    q = units.q
    if units.sole_sum(n.name) is not None:
        return (f"; the sum it feeds gives it a unit {natural / s_w:.0f}x below its {q.weight_bits}-bit range "
                "(its other inputs' weights are much larger)")
    return (f"; the population it feeds caps the scale {natural / s_w:.0f}x below the {q.weight_bits}-bit range "
            f"(threshold <= 2^{q.state_bits - 3} in the {q.state_bits}-bit state, or the bias / input format): "
            "use more --state-bits or fewer --input-bits")


class _Units:
    """Integer unit (integers per normalised float unit) of every node's output, and the weight scales that
    produce them; what the ops' quantisation facets ask for (``g``: the graph, ``q``: the pass's settings,
    ``memo``: values an op caches for itself)."""

    def __init__(self, graph: Graph, q: QuantizeInteger):
        self.g, self.q = graph, q
        self._unit: dict[str, float] = {}
        self._scale: dict[str, float] = {}
        self.memo: dict = {}

    def unit(self, name: str) -> float:
        if name not in self._unit:
            self._unit[name] = self.g.node(name).q_unit(self)
        return self._unit[name]

    def int_bound(self, name: str) -> float:
        """Upper bound of |integer value| of a node's output that needs no weights (inf where none is known)."""
        return self.g.node(name).int_bound(self)

    def sole_sum(self, name: str):
        """The op with ``sums_inputs`` (an Add, a Concat) that is the only consumer of ``name``, or None."""
        cons = self.g.consumers(name)
        if len(cons) == 1 and self.g.node(cons[0]).sums_inputs:
            return self.g.node(cons[0])
        return None

    def absorbed_gain(self, name: str) -> float:
        """The float gain of the Add that weight op ``name`` alone feeds (its weights absorb it), else 1."""
        add = self.sole_sum(name)
        if add is None or add.gains is None:
            return 1.0
        return float(add.gains[self.g.inputs(add.name).index(name)])

    def weight_scale(self, name: str) -> float:
        if name not in self._scale:
            n = self.g.node(name)
            add = self.sole_sum(name)
            if add is not None:  # its unit is the sum's (over the sum's integer gain for it, if it has one)
                k = add.own_divisor(self, name)
                self._scale[name] = self.unit(add.name) / self.unit(self.g.inputs(name)[0]) / k
            else:
                s_nat = self.q.natural_scale(n.weight)
                cap = self.unit_cap(name) / self.unit(self.g.inputs(name)[0])
                self._scale[name] = min(s_nat, cap)
        return self._scale[name]

    def unit_cap(self, name: str) -> float:
        """Largest output unit of op ``name`` that keeps the population it feeds (through ops whose
        ``cap_factor`` says how the unit grows: pools, flatten) within its limits (``q_caps``), and, with
        ``input_wrap``, no input that can reach the wrap; inf if it feeds no population that way."""
        mult, cur = 1.0, name
        while True:
            cons = self.g.consumers(cur)
            if len(cons) != 1:
                return math.inf
            n = self.g.node(cons[0])
            caps = n.q_caps(self, mult)
            if caps is not None:
                break
            f = n.cap_factor()
            if f is None:
                return math.inf
            mult *= f
            cur = n.name
        q, sh = self.q, 1 << self.q.state_shift
        op = self.g.node(name)
        if q.input_wrap and op.weighted:
            # |I| <= sum_i |W_int[o,i]| * bound(input) <= (s_w * rowsum_f + fan_in / 2) * bound < 2^(wrap-1-shift)
            w = np.abs(op.weight.reshape(op.weight.shape[0], -1))
            rows, fan = float(w.sum(1).max()), w.shape[1]
            bound = self.int_bound(self.g.inputs(name)[0]) * mult
            limit = (1 << (q.input_wrap - 1)) / sh
            if rows and math.isfinite(bound):
                s_max = (limit / bound - fan / 2) / rows
                if s_max <= 0:
                    raise QuantizationError(f"{layer(op)}: fan-in {fan} x input bound {bound:g} can reach the "
                                            f"{q.input_wrap}-bit input wrap at any weight scale")
                caps.append(s_max * self.unit(self.g.inputs(name)[0]))
        return min(caps)
