"""Robust post-training conversion (method ``robust``): every choice is scored on the integer network as it
will run, chosen on one half of the calibration data and checked on the other.

The pass starts from a baseline, Rueckauer's data-based normalisation with channel-wise scales at the 99.9th
percentile and an initial potential of half a threshold (``rueckauer --v-init 0.5 --normalization channel``),
and considers:

* **scale search** (threshold balancing over percentiles, Deng & Gu, ICLR 2021 "Optimal Conversion of
  Conventional Artificial Neural Networks to Spiking Neural Networks"; Rueckauer et al. 2017's robust
  percentile): one percentile for every population, from ``candidates`` (method robust:
  ``ROBUST_PERCENTILES``);
* **bias correction of each layer's mean error** (light calibration, Li et al., ICML 2021 "A Free Lunch From
  ANN: Towards Efficient, Accurate Spiking Neural Networks Calibration"): layer by layer in topological
  order, the integer network is run and each channel's (each feature's) mean firing rate compared with the
  ANN's clipped normalised activation on the same images; the difference times the threshold is added to
  the population's constant input current (its bias), so the next layer is corrected on the corrected
  spikes; the readout's mean error per class likewise;
* **buffered neurons** (``signed``; HPC's neuron, whose negative spikes take back spikes that later input
  cancels — the unevenness error of Bu et al. 2022 that plain IF neurons cannot undo) at the plain neuron's
  ``SIGNED_PERCENTILES`` best percentiles, kept only by a margin of ``SIGNED_MARGIN`` of the choice images
  over every plain candidate (they cost synaptic events); the compiler gives them where neither the user nor
  the target fixes the neuron model.

Each candidate float SNN is completed with the rest of the real pipeline (``IntegerNetwork``: the quantiser
with the build's weight, state and input bits and the target's limits, composed chains where the target
stores narrow weights) and run in the reference simulator for the build's T; its score is the share of
images on which the readout's argmax agrees with the float ANN's (ties: the smaller mean squared error of
the normalised readout). Scales are calibrated on the *choice* half (the first images of the calibration set:
with the default 2000, the same 1000 the other methods calibrate on). The best candidate on the choice half
is then run on the *held-out* half; if it agrees with the ANN on fewer held-out images than the baseline
does, the baseline is returned (bit for bit what the baseline method builds from the choice images: with the
defaults, what ``rueckauer --v-init 0.5 --normalization channel`` builds) and ``meta["notes"]`` says so.
Only calibration images (no labels) are used. ``meta["robust"]`` records every score.

``prepare``: passes run after the calibration, before the candidates are made; method ``qcfs`` gives
``UseClipScales``, so its baseline is Bu et al.'s conversion (the trained clips as thresholds) instead of
the calibrated percentile, and the clips stay the scales of every candidate. ``reference``: what the
network is scored against and corrected towards: the float ANN (``"ann"``), or (``"levels"``, method
``qcfs``) the ANN with every population's output on ``levels`` levels (``--qcfs-levels``, default T): for
a QCFS-trained network with that L, the function it was trained to compute (its exported
``clamp(x, 0, lam)`` activations are not: they drop the trained quantisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, Neurons
from ..ir.ann import run_ann
from ..ir.timing import chain_depths, run_steps
from .base import Pass, PassManager
from .convert import Calibrate, FoldBiases, NeuronModel, Normalize

#: percentiles the scale search of method robust tries (one for every population; ``candidates``): each costs a
#: run of the integer network on the choice images; on most models none beats the 99.9th, but a slowly converging
#: one (the zoo's residual net) gains more from a smaller scale than the bias correction gives it
ROBUST_PERCENTILES = (99.0, 99.5, 99.9, 99.99, 100.0)

#: the buffered-neuron candidates (``signed``) are made at this many of the plain neuron's best percentiles, and
#: one is chosen only if it agrees with the reference on this share of the choice images more than the best plain
#: candidate (its negative spikes are extra synaptic events; on a network where plain IF neurons already track
#: the ANN it gains too little to pay for them)
SIGNED_PERCENTILES = 2
SIGNED_MARGIN = 0.01


@dataclass
class IntegerNetwork:
    """The rest of the build for a float SNN graph: ``passes()`` makes the integer passes the compile pipeline
    runs after conversion (fresh objects each time), ``simulate(graph, x, timesteps, record=...)`` is the
    reference simulator (a :class:`~neurocompile.results.RunResult`), ``timesteps`` the build's T. Given to
    the pass by the compiler, so the core imports no backend."""

    passes: Callable[[], list]
    simulate: Callable
    timesteps: int

    def build(self, snn: Graph) -> Graph:
        return PassManager(self.passes()).run(snn.copy())

    def readout(self, ig: Graph, x: np.ndarray) -> np.ndarray:
        """The readout in the output's normalised float unit, (N, F)."""
        return self.simulate(ig, x, self.timesteps).readout / (self.timesteps * float(ig.output.scale))

    def rates(self, ig: Graph, x: np.ndarray, names: list[str], batch: int = 64) -> tuple[dict, np.ndarray]:
        """({population: spikes per integration step per sample, (N, *shape)}, normalised readout (N, F)) of
        one run: a population's spike count over the run divided by the steps it receives input (``run_steps``
        less its pipeline depth)."""
        d = int(ig.meta.get("synapse_delay", 0))
        depth, total = chain_depths(ig), run_steps(ig, self.timesteps)
        rates, outs = {k: [] for k in names}, []
        for s in range(0, len(x), batch):
            r = self.simulate(ig, x[s:s + batch], self.timesteps, record=list(names))
            for k in names:
                rates[k].append(r.spikes[k].astype(np.float32).sum(0) / (total - d * depth[k]))
            outs.append(r.readout / (self.timesteps * float(ig.output.scale)))
        return {k: np.concatenate(v) for k, v in rates.items()}, np.concatenate(outs)


def _score(out: np.ndarray, ref: np.ndarray, lam_out: float) -> tuple[int, float]:
    """(images whose argmax agrees with the ANN's, minus the mean squared error of the normalised readout)."""
    return int(np.sum(out.argmax(1) == ref.argmax(1))), -float(np.mean((out - ref / lam_out) ** 2))


class RobustConversion(Pass):
    """Calibrate, search the scales, correct each layer's mean error, check on held-out data (module doc).

    ``x``: the calibration images; the first ``choice`` share chooses, the rest checks. ``net``: the rest of
    the pipeline and the simulator (:class:`IntegerNetwork`). ``percentile``: the baseline's; ``candidates``:
    the percentiles the search tries; ``correct``: run the bias correction; ``correct_samples``: choice
    images its mean errors are measured on.
    """

    name = "robust_conversion"
    ensures = ("lambda", "normalized", "biases_on_neurons", "snn")

    def __init__(self, x: np.ndarray, net: IntegerNetwork, percentile: float = 99.9,
                 candidates: tuple[float, ...] = (), neuron: NeuronModel | None = None,
                 channelwise: bool = True, correct: bool = True, choice: float = 0.5, correct_samples: int = 256,
                 iterations: int = 1, prepare: tuple = (), method: str = "robust", reference: str = "ann",
                 levels: int | None = None, signed: NeuronModel | None = None):
        if reference not in ("ann", "levels"):
            raise ConversionError(f"method {method}: reference {reference!r}: use 'ann' or 'levels'")
        self.method, self.prepare, self.reference, self.levels = method, tuple(prepare), reference, levels
        if len(x) < 2:
            raise ConversionError(f"method {method}: needs at least 2 calibration images (one to choose, one to "
                                  f"check), got {len(x)}")
        if not 0 < choice < 1:
            raise ConversionError(f"method {method}: choice share {choice} outside (0, 1)")
        k = min(len(x) - 1, max(1, int(round(len(x) * choice))))
        self.x, self.xa, self.xb = x, x[:k], x[k:]
        self.net, self.percentile, self.candidates = net, float(percentile), tuple(candidates)
        self.neuron = neuron or NeuronModel("subtract", 0.5)
        self.channelwise, self.correct, self.correct_samples = bool(channelwise), bool(correct), int(correct_samples)
        self.iterations = int(iterations)
        self.signed = signed

    # ------------------------------------------------------------------ candidates
    def _snn(self, graph: Graph, lam: dict, neuron: NeuronModel | None = None) -> Graph:
        g = graph.copy()
        g.meta["lambda"] = dict(lam)
        return PassManager([Normalize(), FoldBiases(), neuron or self.neuron]).run(g)

    def _corrected(self, snn: Graph, lam: dict, acts: dict, ref: np.ndarray) -> Graph:
        """Li et al.'s light calibration on the integer network, layer by layer in topological order: each
        population's mean rate error per channel (per feature), measured with every earlier population already
        corrected, added to its bias; then the readout's mean error per class. (Correcting all populations from
        one run overshoots: a layer's error then includes what its inputs' corrections are about to fix.)"""
        g = snn.copy()
        xs = self.xa[: self.correct_samples]
        pops = [n for n in g.nodes_of(Neurons) if not n.block_coded]
        for _ in range(self.iterations):
            for n in pops:
                rates, _ = self.net.rates(self.net.build(g), xs, [n.name])
                a = acts[n.name]
                if self.reference == "levels":  # already the T-level rate of the population
                    want = a
                else:
                    unit = np.asarray(lam[n.name], dtype=np.float64)
                    want = np.clip(a / (unit.reshape(-1, *([1] * (a.ndim - 2))) if unit.ndim else unit), 0.0, 1.0)
                err = _channel_mean(want - rates[n.name])
                th = np.asarray(n.threshold, dtype=np.float64)
                n.bias = (0.0 if n.bias is None else np.asarray(n.bias)) + np.broadcast_to(err * th, a.shape[1:])
        _, out = self.net.rates(self.net.build(g), xs, [])
        o = g.output
        err = (ref / float(lam[o.name]) - out).mean(0)
        o.bias = err if o.bias is None else np.asarray(o.bias) + err
        return g

    def _reference(self, cal: Graph, base: Graph, lam: dict) -> Callable:
        """``ann(x, record=False)`` -> (the reference readout in ANN units, {population: activation}): the float
        ANN (``reference="ann"``), or (``"levels"``) the ANN whose every population outputs
        ``clip(floor(L z + v_init), 0, L) / L`` of its normalised input ``z``, ``L`` = ``levels`` (default the
        build's T): a QCFS-trained network's L-level function, which T steps of an IF neuron started at
        ``v_init`` thresholds reproduce at T = L. ``base``: the baseline float SNN, normalised with ``lam``."""
        if self.reference == "ann":
            return lambda x, record=False: run_ann(cal, x, record=record)
        unit = float(lam[cal.output.name])
        T, v0 = int(self.levels or self.net.timesteps), float(self.neuron.v_init)

        def ann(x, record=False):
            out, acts = run_ann(base, x, record=record, levels=T, delta=v0)
            return out * unit, acts

        return ann

    def run(self, graph: Graph) -> Graph:
        ps = sorted({self.percentile, *self.candidates})
        # statistics from the choice images only: the held-out ones stay unseen, and with the default 2000 images
        # the choice half is the 1000 the other methods calibrate on, so the baseline is theirs bit for bit
        cal = PassManager([Calibrate(self.xa, self.percentile, tuple(ps), channelwise=self.channelwise),
                           *self.prepare]).run(graph)
        table = cal.meta["lambda_candidates"]
        fixed = dict(cal.meta.get("clip_scales", {}))  # trained clips (QCFS) are the scales whatever the percentile
        lam_out = lambda lam: float(lam[cal.output.name])  # noqa: E731 - the readout's scale

        def lam_at(p):
            return {**{k: v[str(p)] for k, v in table.items()}, **fixed}

        base_lam = lam_at(self.percentile)
        base = self._snn(cal, base_lam)
        ann = self._reference(cal, base, base_lam)
        ref_a, acts = ann(self.xa[: self.correct_samples], record=True)
        ref_a_all = ref_a if len(self.xa) <= self.correct_samples else ann(self.xa)[0]
        ref_b, _ = ann(self.xb)

        def score(snn, lam, x, ref):
            return _score(self.net.readout(self.net.build(snn), x), ref, lam_out(lam))

        tried = {f"p{self.percentile:g}": score(base, base_lam, self.xa, ref_a_all)}
        best = (tried[f"p{self.percentile:g}"], f"p{self.percentile:g}", base, base_lam)
        for p in ps:
            if p == self.percentile:
                continue
            lam = lam_at(p)
            snn = self._snn(cal, lam)
            s = tried[f"p{p:g}"] = score(snn, lam, self.xa, ref_a_all)
            if s > best[0]:
                best = (s, f"p{p:g}", snn, lam)
        if self.signed is not None:
            # the buffered neuron at the plain neuron's best percentiles; it takes the lead only by a margin, as
            # its negative spikes cost synaptic events
            top = sorted(ps, key=lambda p: tried[f"p{p:g}"], reverse=True)[:SIGNED_PERCENTILES]
            need = best[0][0] + max(1, int(np.ceil(SIGNED_MARGIN * len(self.xa))))
            for p in top:
                lam = lam_at(p)
                snn = self._snn(cal, lam, self.signed)
                s = tried[f"p{p:g} buffered"] = score(snn, lam, self.xa, ref_a_all)
                if s[0] >= need and s > best[0]:
                    best = (s, f"p{p:g} buffered", snn, lam)
        if self.correct:
            _, label, snn, lam = best
            corr = self._corrected(snn, lam, acts, ref_a)
            s = tried[f"{label}+bias"] = score(corr, lam, self.xa, ref_a_all)
            if s > best[0]:
                best = (s, f"{label}+bias", corr, lam)
        _, label, chosen, lam = best
        base_b = score(base, base_lam, self.xb, ref_b)
        chosen_b = base_b if chosen is base else score(chosen, lam, self.xb, ref_b)
        fell_back = chosen_b[0] < base_b[0]
        candidate = label
        n_b = len(self.xb)
        if fell_back:
            ref = "the ANN" if self.reference == "ann" else \
                f"the {self.levels or self.net.timesteps}-level network"
            how = "the trained clips" if fixed else \
                f"p{self.percentile:g}, {'channel' if self.channelwise else 'layer'}-wise"
            base.meta.setdefault("notes", []).append(
                f"method {self.method}: the best candidate on the choice images ({label}) agrees with {ref} on "
                f"{chosen_b[0]}/{n_b} held-out calibration images, the baseline ({how}, v_init "
                f"{self.neuron.v_init:g}) on {base_b[0]}/{n_b}; fell back to the baseline")
            chosen, label = base, f"p{self.percentile:g}"
        if "buffered" in label:  # only a signed candidate carries that label
            chosen.meta.setdefault("notes", []).append(
                f"method {self.method}: HPC's buffered neurons (negative spikes take back early ones) agree with "
                f"the ANN on {tried[label][0]}/{len(self.xa)} choice images, plain IF neurons on at most "
                f"{max(v[0] for k, v in tried.items() if 'buffered' not in k)}; built with buffered neurons "
                "(--neuron if keeps plain ones)")
        chosen.meta["robust"] = {
            "chosen": label, "candidate": candidate, "fell_back": bool(fell_back), "choice_images": len(self.xa),
            "held_out_images": n_b, "choice_agreement": {k: v[0] for k, v in tried.items()},
            "held_out_agreement": {"candidate": int(chosen_b[0]), "baseline": int(base_b[0])},
        }
        chosen.meta.pop("lambda_candidates", None)
        return chosen


def _channel_mean(e: np.ndarray) -> np.ndarray:
    """Mean of ``e`` (N, C, H, W) per channel as (C, 1, 1), or of (N, F) per feature as (F,)."""
    if e.ndim == 4:
        return e.mean(axis=(0, 2, 3))[:, None, None]
    return e.mean(axis=0)
