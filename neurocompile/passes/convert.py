"""Baseline ANN-to-SNN conversion (Rueckauer et al., "Theory and Tools for the Conversion of Analog to Spiking
Convolutional Neural Networks", 2016, and its journal version, Frontiers in Neuroscience 2017).

Passes, in pipeline order:

``Calibrate``      runs the float ANN on calibration data and records, per neuron population, the robust
                   scale lambda_l = p-th percentile of its non-zero ReLU activations (p = 99.9 by default;
                   p = 100 is max-norm), lambda of the output (percentile of |logits|) and the input range.
``Normalize``      data-based normalisation with biases: W_l <- W_l * lambda_{l-1} / lambda_l,
                   b_l <- b_l / lambda_l, the output layer included; Add gains get the same treatment (a Concat
                   followed by a weight op in its chain keeps its inputs' units side by side instead). A
                   MaxPool2d gate has no lambda of its own: its unit is that of the population it pools
                   (per channel too: max commutes with a positive per-channel scale).
``FoldBiases``     moves every synaptic bias into the neuron population (or readout) it feeds, as a
                   constant input current per neuron (computed by evaluating the chain on zero spikes).
``NeuronModel``    IF neurons: threshold 1 (in normalised units), reset mode, initial potential.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import Graph, Neurons
from ..ir.ann import run_ann
from ..ir.chains import chains, eval_chain, spike_origin
from ..ir.snn import simulate_float
from ..ir.units import as_unit
from .base import Pass
from .scales import channelwise_ok, per_channel_percentiles


class Calibrate(Pass):
    """Record each population's scale lambda (and, with ``candidates``, a table of lambdas for several
    percentiles). ``channelwise``: populations that allow it (``scales.channelwise_ok``) get one lambda
    per channel, no smaller than ``channel_floor`` x the layer's lambda."""

    name = "calibrate"
    ensures = ("lambda",)

    def __init__(self, x: np.ndarray, percentile: float = 99.9, candidates: tuple[float, ...] = (),
                 channelwise: bool = False, channel_floor: float = 0.25):
        for p in (percentile, *candidates):
            if not 0 < p <= 100:
                raise ConversionError(f"percentile {p} outside (0, 100]")
        if not 0 < channel_floor <= 1:
            raise ConversionError(f"channel floor {channel_floor} outside (0, 1]")
        self.x, self.percentile, self.candidates = x, percentile, tuple(candidates)
        self.channelwise, self.channel_floor = bool(channelwise), float(channel_floor)

    def run(self, graph: Graph) -> Graph:
        _, acts = run_ann(graph, self.x, record=True)
        ps = sorted({self.percentile, *self.candidates})
        per_channel = channelwise_ok(graph) if self.channelwise else set()
        table = {}  # layer -> {str(p): lambda (float, or a list per channel)}
        for n in [*graph.nodes_of(Neurons), graph.output]:
            a = np.abs(acts[n.name]) if n is graph.output else acts[n.name]
            pos = a[a > 0]
            vals = np.percentile(pos, ps) if pos.size else np.ones(len(ps))
            if n.name in per_channel:
                ch = per_channel_percentiles(a, ps, vals, self.channel_floor)
                table[n.name] = {str(p): [float(v) for v in row] for p, row in zip(ps, ch)}
            else:
                table[n.name] = {str(p): float(v) for p, v in zip(ps, vals)}
        lam = {k: v[str(self.percentile)] for k, v in table.items()}
        graph.meta["lambda"] = lam
        if self.candidates:
            graph.meta["lambda_candidates"] = table
        graph.meta["percentile"] = self.percentile
        graph.meta["normalization"] = "channel" if self.channelwise else "layer"
        graph.meta["input_range"] = [float(self.x.min()), float(self.x.max())]
        return graph


class Normalize(Pass):
    name = "normalize"
    requires = ("lambda",)
    ensures = ("normalized",)

    def run(self, graph: Graph) -> Graph:
        shapes = graph.infer_shapes()
        lam = {k: as_unit(v, shapes[k]) for k, v in graph.meta["lambda"].items()}
        unit: dict[str, object] = {graph.input.name: 1.0}  # original value = normalised value * unit
        for ch in chains(graph):
            lt = lam[ch.target.name]
            for s in ch.sources:  # a max-count gate passes its input's unit on (max commutes with scaling)
                origin = spike_origin(graph, s).name
                unit.setdefault(s, unit.get(origin, lam.get(origin, 1.0)))
            want = _wanted_units(graph, ch, lt, shapes)
            for op in ch.ops:
                ins = graph.inputs(op.name)
                w = want[op.name]
                if w is None and not op.free_unit:  # any unit will do: the chain's, as one number
                    w = lt if np.isscalar(lt) else float(np.max(lt))
                unit[op.name] = op.normalize([unit[i] for i in ins], w, [shapes[i] for i in ins])
            ch.target.normalize_target(unit[graph.inputs(ch.target.name)[0]], lt)
            unit[ch.target.name] = lt
        return graph


def _wanted_units(graph: Graph, ch, lt, shapes) -> dict[str, object]:
    """The unit each op of a chain must give its output for the target to receive unit ``lt``: lt mapped
    back through the ops on the way (each one's ``input_unit``: a Concat's input gets its channel range);
    None where a weight op on the way absorbs any unit."""
    want = {ch.target.name: lt}
    for op in reversed(ch.ops):
        ws = []
        for c in graph.consumers(op.name):  # one, or several ops of this chain
            ins = graph.inputs(c)
            ws.append(lt if c == ch.target.name else
                      graph.node(c).input_unit(want[c], ins.index(op.name), [shapes[i] for i in ins], shapes[c]))
        want[op.name] = None if all(w is None for w in ws) else ws[0] if len(ws) == 1 else lt
    return want


class FoldBiases(Pass):
    name = "fold_biases"
    ensures = ("biases_on_neurons",)

    def run(self, graph: Graph) -> Graph:
        shapes = graph.infer_shapes()
        for ch in chains(graph):
            if not any(getattr(op, "bias", None) is not None for op in ch.ops):
                continue
            zeros = {s: torch.zeros((1, *shapes[s]), dtype=torch.float64) for s in ch.sources}
            const = eval_chain(graph, ch, zeros)[0].numpy()
            t = ch.target
            t.bias = const if t.bias is None else np.asarray(t.bias) + const
            for op in ch.ops:
                if getattr(op, "bias", None) is not None:
                    op.bias = None
        return graph


#: neuron kinds: plain integrate-and-fire, or HPC's buffered non-leaky IF (negative spikes)
NEURON_KINDS = ("if", "buffered")


class NeuronModel(Pass):
    """Integrate-and-fire neurons: reset mode, initial potential (fraction of the threshold), kind (plain IF
    or HPC's buffered IF) and the largest spike magnitude (1 = binary; 2^k = HPC's multi-bit spikes)."""

    name = "neuron_model"
    requires = ("normalized",)
    ensures = ("snn",)

    def __init__(self, reset: str = "subtract", v_init: float = 0.0, neuron: str = "if", spike_max: int = 1):
        if reset not in ("subtract", "zero"):
            raise ConversionError(f"reset mode {reset!r}: use subtract or zero")
        if neuron not in NEURON_KINDS:
            raise ConversionError(f"neuron {neuron!r}: use one of {', '.join(NEURON_KINDS)}")
        if spike_max < 1 or spike_max & (spike_max - 1) or spike_max > 64:
            raise ConversionError(f"spike_max {spike_max}: use a power of two from 1 to 64")
        self.reset, self.v_init, self.neuron, self.spike_max = reset, v_init, neuron, int(spike_max)

    def run(self, graph: Graph) -> Graph:
        for n in graph.nodes_of(Neurons):
            th = np.asarray(1.0 if n.threshold is None else n.threshold, dtype=np.float64)
            n.threshold = th
            n.reset = self.reset
            n.v_init = th * self.v_init if self.v_init else None
            n.buffered, n.spike_max = self.neuron == "buffered", self.spike_max
        graph.meta["reset"] = self.reset
        graph.meta["v_init"] = self.v_init
        graph.meta["neuron"] = {"kind": self.neuron, "spike_max": self.spike_max}
        return graph


class SearchPercentiles(Pass):
    """Choose each population's normalisation percentile for a target T (greedy, layer by layer).

    For every neuron population in topological order, try each candidate percentile (keeping the choices
    made so far) and keep the one whose normalised network, run as a float SNN for T steps
    (``ir.snn.simulate_float``, initial potential ``delta`` thresholds), agrees best with the ANN's
    predictions on (a subset of) the calibration data; ties go to the smaller output error. The default
    percentile is kept unless another candidate does strictly better.
    """

    name = "search_percentiles"
    requires = ("lambda",)

    def __init__(self, x: np.ndarray, timesteps: int, delta: float = 0.5, default: float = 99.9, samples: int = 500,
                 neuron: NeuronModel | None = None):
        self.x, self.T, self.delta, self.default = x[:samples], int(timesteps), float(delta), default
        self.neuron = neuron or NeuronModel("subtract", self.delta)

    def _score(self, graph: Graph, lam: dict, ref_pred: np.ndarray, ref_out: np.ndarray, given=None,
               keep: tuple[str, ...] = ()) -> tuple[tuple[float, float], dict]:
        """(agreement with the ANN's predictions, -output mse) of the normalised graph run as a float SNN,
        and the spike trains of the ``keep`` populations (``given`` ones are reused, not simulated)."""
        g = graph.copy()
        g.meta["lambda"] = dict(lam)
        for p in (Normalize(), FoldBiases(), self.neuron):
            g = p.run(g)
        out, rates = simulate_float(g, self.x, self.T, given=given, keep=keep)
        out = out * lam[g.output.name] / self.T
        trains = {k[: -len("@trains")]: v for k, v in rates.items() if k.endswith("@trains")}
        return (float(np.mean(out.argmax(1) == ref_pred)), -float(np.mean((out - ref_out) ** 2))), trains

    @staticmethod
    def _boundary(chs: list, i: int) -> tuple[str, ...]:
        """Populations made by chains before chain ``i`` and read by chain ``i`` or a later one: all a
        change of chain i's target needs of the network before it."""
        before = {c.target.name for c in chs[:i]}
        return tuple(sorted({s for c in chs[i:] for s in c.sources if s in before}))

    def run(self, graph: Graph) -> Graph:
        table = graph.meta.get("lambda_candidates")
        if not table:
            raise ConversionError("pass search_percentiles: calibrate with candidate percentiles first")
        ref_out, _ = run_ann(graph, self.x)
        ref_pred = ref_out.argmax(1)
        lam, chosen = dict(graph.meta["lambda"]), {}
        chs = chains(graph)
        index = {c.target.name: i for i, c in enumerate(chs)}
        kept: dict = {}
        best = None
        for n in graph.nodes_of(Neurons):
            bound = self._boundary(chs, index[n.name])
            given = {k: v for k, v in kept.items() if k in bound}
            best, trains = self._score(graph, lam, ref_pred, ref_out, given=given,
                                       keep=tuple(k for k in bound if k not in given))
            kept = {**given, **trains}  # spike trains before this layer: the same for every candidate
            best_key = str(self.default)
            for key, val in table[n.name].items():
                trial = dict(lam, **{n.name: val})
                score, _ = self._score(graph, trial, ref_pred, ref_out, given=kept)
                if score > best:
                    best_key, best = key, score
            lam[n.name] = table[n.name][best_key]
            chosen[n.name] = float(best_key)
        if best is None:
            best, _ = self._score(graph, lam, ref_pred, ref_out)
        graph.meta["lambda"] = lam
        graph.meta["percentiles"] = chosen
        graph.meta["search"] = {"timesteps": self.T, "delta": self.delta, "agreement": best[0]}
        return graph


class UseClipScales(Pass):
    """HPC / QReLU, QCFS: a population trained with a clipped, quantised ReLU (``Neurons.clip`` = its learned
    lambda) takes lambda as its scale, so its threshold is the clip level; others keep the calibration.
    ``required``: a model without any clipped ReLU is an error (naming ``method`` and its training helper,
    ``neurocompile.training.<method>``) or left as calibrated."""

    name = "use_clip_scales"
    requires = ("lambda",)

    def __init__(self, required: bool = True, method: str = "qrelu"):
        self.required, self.method = bool(required), method

    def run(self, graph: Graph) -> Graph:
        lam = dict(graph.meta["lambda"])
        clipped = {n.name: float(n.clip) for n in graph.nodes_of(Neurons) if n.clip is not None}
        if not clipped and self.required:
            raise ConversionError(f"method {self.method}: the model has no clipped ReLU (train it with "
                                  f"neurocompile.training.{self.method} and export it with to_exportable)")
        lam.update(clipped)
        graph.meta["lambda"] = lam
        graph.meta["clip_scales"] = clipped
        return graph


PERCENTILE_CANDIDATES = (98.0, 99.0, 99.5, 99.9, 99.99, 100.0)


def default_conversion(x_calib: np.ndarray, percentile: float = 99.9, reset: str = "subtract",
                       v_init: float = 0.0, neuron: str = "if", spike_max: int = 1,
                       channelwise: bool = False) -> list[Pass]:
    """The baseline (Rueckauer) conversion pipeline."""
    return [Calibrate(x_calib, percentile, channelwise=channelwise), Normalize(), FoldBiases(),
            NeuronModel(reset, v_init, neuron, spike_max)]


def qrelu_conversion(x_calib: np.ndarray, tre: float = 0.5, reset: str = "subtract", percentile: float = 99.9,
                     neuron: str = "buffered", spike_max: int = 1, channelwise: bool = False) -> list[Pass]:
    """HPC (QReLU-trained networks; with ``neuron="if"``, Bu et al. 2022's QCFS conversion): each clipped
    population's learned lambda is its threshold scale; the initial potential ``tre`` (0.5, QCFS's shift) makes
    the IF neuron's T-step rate the activation's rounding; HPC's buffered IF neuron (negative spikes) by default
    takes back over-fired spikes. Layers without a clip keep the calibrated scale."""
    return [Calibrate(x_calib, percentile, channelwise=channelwise), UseClipScales(), Normalize(),
            FoldBiases(), NeuronModel(reset, tre, neuron, spike_max)]


def ecc_conversion(x_calib: np.ndarray, timesteps: int, tre: float = 0.5, reset: str = "subtract",
                   percentile: float = 99.9, neuron: str = "if", spike_max: int = 1,
                   channelwise: bool = False) -> list[Pass]:
    """ECC (Wu et al. 2021): current normalisation with each layer's scale chosen for the target T
    (``SearchPercentiles``), thresholding for residual elimination (an initial potential of
    ``tre`` x threshold: exactly tre*V_th of extra charge per neuron over the spike train) and
    consistency maintenance for batch-norm (BatchNorm is folded with each layer's own eps by the front end).
    """
    model = NeuronModel(reset, tre, neuron, spike_max)
    return [Calibrate(x_calib, percentile, PERCENTILE_CANDIDATES, channelwise=channelwise),
            SearchPercentiles(x_calib, timesteps, tre, percentile, neuron=model), Normalize(), FoldBiases(), model]


def stcsnn_conversion(x_calib: np.ndarray, timesteps: int, tau: float = 2.0, delta: float = 0.5,
                      percentile: float = 99.9, channelwise: bool = False) -> list[Pass]:
    """STCSNN: every ReLU becomes a spike-train encoding block of ``timesteps`` steps with thresholds
    decaying as 2^(-k / tau) over the layer's range (its calibrated lambda, or the clip level of a model
    trained with ``neurocompile.training.stcsnn``); the next layer's accumulator decodes the train."""
    from .stcsnn import SpikeTrainBlocks

    return [Calibrate(x_calib, percentile, channelwise=channelwise), UseClipScales(required=False), Normalize(),
            FoldBiases(), SpikeTrainBlocks(timesteps, tau, delta)]
