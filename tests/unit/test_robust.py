"""Method robust: candidates scored on the integer network, chosen on one part of the calibration data and
checked on the held-out part, with a fallback to the baseline that is the baseline bit for bit."""

import numpy as np
import pytest

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.fixedpoint import qmax
from neurocompile.ir import Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.passes import PassManager
from neurocompile.passes.convert import Calibrate, NeuronModel
from neurocompile.passes.robust import ROBUST_PERCENTILES, IntegerNetwork, RobustConversion

BASELINE = dict(method="rueckauer", v_init=0.5, normalization="channel")


def _same_network(a: Graph, b: Graph) -> bool:
    """Same nodes, attributes and integer arrays (meta aside: it records how the network was chosen)."""
    if [n.name for n in a.topo()] != [n.name for n in b.topo()]:
        return False
    for n in a.topo():
        m = b.node(n.name)
        if n.attrs() != m.attrs() or n.arrays().keys() != m.arrays().keys():
            return False
        if any(v.dtype != m.arrays()[k].dtype or not np.array_equal(v, m.arrays()[k]) for k, v in n.arrays().items()):
            return False
    return True


class Rigged:
    """intsim, except that the readout of every network other than ``baseline`` is rigged on whole batches:
    on the choice images it agrees with the ANN everywhere, on the held-out images it agrees ``held_out``
    (True: everywhere, False: nowhere). Runs that record spikes (the bias correction) are intsim's."""

    def __init__(self, ann: Graph, baseline: Graph, x_choice: np.ndarray, held_out: bool, predict=None):
        self.ann, self.baseline, self.x_choice, self.held_out = ann, baseline, x_choice, held_out
        self.predict = predict or (lambda x: run_ann(self.ann, x)[0].argmax(1))  # the reference's choices
        self.seen: list[Graph] = []

    def __call__(self, g, x, timesteps, record=False, **kw):
        self.seen.append(g)
        r = simulate(g, x, timesteps, record=record, **kw)
        if record or _same_network(g, self.baseline):
            return r
        pred = self.predict(x)
        on_choice = len(x) == len(self.x_choice) and np.array_equal(x, self.x_choice)
        if not (on_choice or self.held_out):
            pred = (pred + 1) % r.readout.shape[1]
        r.readout = np.eye(r.readout.shape[1], dtype=np.int64)[pred] * 1000
        return r


def _setup(seed=3, n=64):
    """A model, its calibration images and the baseline built from the choice half (the first n / 2)."""
    g = random_graph(seed)
    xc = random_inputs(g, n, seed)
    base = compile_graph(g, xc[: n // 2], CompileOptions(timesteps=8, **BASELINE))
    return g, xc, base


def test_held_out_worse_candidate_falls_back_to_the_baseline_bit_for_bit():
    """A candidate better on the choice half but worse on the held-out half is rejected: the build is the
    baseline's integer network (calibrated on the choice half) bit for bit (same spikes), and the notes say so."""
    g, xc, base = _setup()
    sim = Rigged(g, base, xc[:32], held_out=False)
    ig = compile_graph(g, xc, CompileOptions(method="robust", timesteps=8), simulate=sim)
    info = ig.meta["robust"]
    assert info["fell_back"] and info["chosen"] == "p99.9"
    assert max(info["choice_agreement"].values()) == 32  # the rigged candidates: every choice image
    assert info["held_out_agreement"]["candidate"] == 0 < info["held_out_agreement"]["baseline"]
    assert info["candidate"] != "p99.9"
    assert _same_network(ig, base)
    x = random_inputs(g, 16, 9)
    a, b = simulate(ig, x, 8, record=True), simulate(base, x, 8, record=True)
    assert sum(int(v.sum()) for v in a.spikes.values()) > 0
    assert all(np.array_equal(a.spikes[k], b.spikes[k]) for k in b.spikes)
    assert np.array_equal(a.readout, b.readout)
    assert any("fell back to the baseline" in n for n in ig.meta["notes"])


def test_held_out_better_candidate_is_kept():
    """Negative control of the test above: the same rigged candidate, good on the held-out half too, is kept
    (the build is not the baseline, and no fallback note)."""
    g, xc, base = _setup()
    sim = Rigged(g, base, xc[:32], held_out=True)
    ig = compile_graph(g, xc, CompileOptions(method="robust", timesteps=8), simulate=sim)
    assert not ig.meta["robust"]["fell_back"] and ig.meta["robust"]["chosen"] != "p99.9"
    assert not _same_network(ig, base)
    assert not any("fell back" in n for n in ig.meta.get("notes", []))


def _qcfs_setup(seed=3, n=64, T=4):
    """A model with trained clips on its populations (as a QCFS export has), its calibration images, and Bu et
    al.'s conversion of it from the choice half: ``qrelu`` with plain IF neurons, the baseline of ``qcfs``."""
    g = random_graph(seed)
    xc = random_inputs(g, n, seed)
    _, acts = run_ann(g, xc, record=True)
    for p in g.nodes_of(Neurons):
        p.clip = float(np.percentile(acts[p.name], 99.0))
    base = compile_graph(g, xc[: n // 2], CompileOptions(method="qrelu", neuron="if", timesteps=T))
    return g, xc, base


@pytest.mark.parametrize("held_out", [False, True])
def test_qcfs_is_checked_like_robust(held_out, monkeypatch):
    """--method qcfs starts from Bu et al.'s conversion (the clips as thresholds, initial potential half a
    threshold) and keeps a corrected network only if it holds on the held-out images: a rigged candidate that
    fails there gives the baseline bit for bit (and a note); one that holds is kept (negative control). The
    rigged readouts follow the pass's own reference (the L-level network, tests/unit/test_qcfs.py)."""
    g, xc, base = _qcfs_setup()
    refs = []
    real = RobustConversion._reference
    monkeypatch.setattr(RobustConversion, "_reference", lambda self, *a: refs.append(real(self, *a)) or refs[-1])
    sim = Rigged(g, base, xc[:32], held_out=held_out, predict=lambda x: refs[-1](x)[0].argmax(1))
    ig = compile_graph(g, xc, CompileOptions(method="qcfs", timesteps=4), simulate=sim)
    info = ig.meta["robust"]
    assert info["fell_back"] is not held_out and info["candidate"] == "p99.9+bias"
    assert _same_network(ig, base) is not held_out
    assert set(ig.meta["clip_scales"]) == {n.name for n in ig.nodes_of(Neurons)}
    notes = [n for n in ig.meta.get("notes", []) if "fell back" in n]
    assert bool(notes) is not held_out
    assert all(n.startswith("method qcfs: ") and "agrees with the 4-level network" in n
               and "the baseline (the trained clips, v_init 0.5)" in n for n in notes)
    if not held_out:
        x = random_inputs(g, 16, 9)
        a, b = simulate(ig, x, 4, record=True), simulate(base, x, 4, record=True)
        assert sum(int(v.sum()) for v in a.spikes.values()) > 0
        assert all(np.array_equal(a.spikes[k], b.spikes[k]) for k in b.spikes)


@pytest.mark.parametrize("bits", [3, 8])
def test_candidates_are_scored_as_integer_networks_of_the_build(bits):
    """Every network the scorer runs is the integer network of the build: quantised weights within the
    build's weight bits, integer thresholds, and the target's limits (composed chains for Loihi's 8 bits)."""
    g, xc, _ = _setup()
    seen = []

    def spy(graph, x, timesteps, **kw):
        seen.append((graph, x))
        return simulate(graph, x, timesteps, **kw)

    ig = compile_graph(g, xc, CompileOptions(method="robust", timesteps=8, weight_bits=bits), simulate=spy)
    assert seen
    for graph, x in seen:
        assert "integer" in graph.meta["passes"]
        for n in graph.topo():
            if n.weighted:
                assert np.abs(n.weight).max() <= qmax(bits) and np.array_equal(n.weight, np.round(n.weight))
        for n in graph.nodes_of(Neurons):
            assert np.asarray(n.threshold).dtype.kind == "i"
        # only calibration images, never anything else
        assert all(any(np.array_equal(row, c) for c in xc) for row in x[:3])
    assert _same_network(ig, compile_graph(g, xc, CompileOptions(method="robust", timesteps=8, weight_bits=bits)))


def test_weight_bits_change_the_choice():
    """The choice is made on the integer network: on this model, at 3-bit weights the largest scale with the
    bias correction (which also absorbs the rounding's mean error) wins on the choice images and holds on the
    held-out ones, while at 8 bits the candidate that wins on the choice images (the 100th percentile) does
    worse on the held-out ones and the baseline is kept (a float-scored search would see one network and make
    one choice)."""
    g = random_graph(2)
    xc = random_inputs(g, 128, 2)
    r3 = compile_graph(g, xc, CompileOptions(method="robust", timesteps=8, weight_bits=3, neuron="if")).meta["robust"]
    r8 = compile_graph(g, xc, CompileOptions(method="robust", timesteps=8, weight_bits=8, neuron="if")).meta["robust"]
    assert (r3["chosen"], r3["fell_back"]) == ("p100+bias", False)
    assert (r8["chosen"], r8["candidate"], r8["fell_back"]) == ("p99.9", "p100", True)
    assert r3["choice_agreement"] != r8["choice_agreement"]
    assert set(r8["choice_agreement"]) >= {f"p{p:g}" for p in ROBUST_PERCENTILES}  # every percentile was scored


def test_buffered_neurons_are_a_candidate_that_must_win_by_a_margin(monkeypatch):
    """Where neither the user nor the target fixes the neuron, robust also scores HPC's buffered neuron at the
    plain neuron's best percentiles, and keeps it only if it agrees with the ANN on SIGNED_MARGIN of the
    choice images more than every plain candidate; the build then has buffered populations and says so."""
    from neurocompile.passes import robust

    g = random_graph(2)
    xc = random_inputs(g, 128, 2)
    opts = dict(method="robust", timesteps=8, weight_bits=3)
    built = compile_graph(g, xc, CompileOptions(**opts))
    r = built.meta["robust"]
    signed = {k: v for k, v in r["choice_agreement"].items() if k.endswith("buffered")}
    plain = {k: v for k, v in r["choice_agreement"].items() if "buffered" not in k and "+bias" not in k}
    assert len(signed) == robust.SIGNED_PERCENTILES
    assert "buffered" in r["chosen"] and not r["fell_back"]
    need = max(plain.values()) + max(1, int(np.ceil(robust.SIGNED_MARGIN * r["choice_images"])))
    assert r["choice_agreement"][r["chosen"].replace("+bias", "")] >= need
    assert all(n.buffered for n in built.nodes_of(Neurons))
    assert any("buffered neurons" in note for note in built.meta.get("notes", []))
    # not tried where the user chose the neuron, or where the target runs binary IF neurons only
    for extra in ({"neuron": "if"}, {"graded_neurons": False}):
        r = compile_graph(g, xc, CompileOptions(**opts, **extra)).meta["robust"]
        assert not any("buffered" in k for k in r["choice_agreement"]), extra
    # negative control: a margin no candidate can reach keeps the plain neuron
    monkeypatch.setattr(robust, "SIGNED_MARGIN", 1.0)
    r = compile_graph(g, xc, CompileOptions(**opts)).meta["robust"]
    assert "buffered" not in r["chosen"] and any("buffered" in k for k in r["choice_agreement"])


def test_fpga_target_fixes_plain_neurons():
    from neurocompile.targets import get_target

    assert get_target("fpga").compile_overrides()["graded_neurons"] is False
    assert "graded_neurons" not in get_target("loihi2-sim").compile_overrides()


def _one_layer(n: int) -> Graph:
    g = Graph("one")
    g.add(Input("x", shape=(n,)))
    g.add(Linear("w", weight=np.eye(n)), ["x"])
    g.add(Neurons("n"), ["w"])
    g.add(Linear("r", weight=np.eye(n)), ["n"])
    g.add(Output("out"), ["r"])
    return g


def test_bias_correction_removes_the_mean_rate_error():
    """Li et al.'s correction on a hand-checkable case: identity weights, initial potential 0, T = 4: the
    rate floor(4 z) / 4 undershoots z by 1/8 on average; the corrected bias adds that (x the threshold) and
    the mean rate error per feature drops to a fraction of it."""
    T, n = 4, 6
    g = _one_layer(n)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.02, 0.98, (400, n)).astype(np.float32)
    net = IntegerNetwork(_int_passes, simulate, T)
    p = RobustConversion(x, net, percentile=100.0, candidates=(), neuron=NeuronModel("subtract", 0.0),
                         channelwise=False, correct_samples=200)
    cal = PassManager([Calibrate(x, 100.0, (100.0,))]).run(g.copy())
    lam = {k: v["100.0"] for k, v in cal.meta["lambda_candidates"].items()}
    snn = p._snn(cal, lam)
    ref, acts = run_ann(cal, p.xa[:200], record=True)
    want = np.clip(acts["n"] / lam["n"], 0, 1)

    def err(graph):
        rates, _ = net.rates(net.build(graph), p.xa[:200], ["n"])
        return (want - rates["n"]).mean(0)

    before, after = err(snn), err(p._corrected(snn, lam, acts, ref))
    assert np.all(np.abs(before - 1 / 8) < 0.04)
    assert np.all(np.abs(after) < 0.25 * np.abs(before))


def _int_passes():
    from neurocompile.compiler import integer_passes

    return integer_passes(CompileOptions(timesteps=4))


def test_only_calibration_data_reaches_the_api(monkeypatch):
    """``compile(method="robust")`` reads the train split alone (the test split is never touched)."""
    import torch
    from torch import nn

    import neurocompile as nc
    from neurocompile import datasets

    splits = []
    real = datasets.load

    def spy(name, split="test"):
        splits.append(split)
        return real(name, split)

    monkeypatch.setattr(datasets, "load", spy)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    b = nc.compile(model, calib="digits", method="robust", timesteps=8, calib_samples=200, progress=False)
    assert splits == ["train"] and b.snn.meta["robust"]["held_out_images"] == 100


def test_defaults_robust_and_the_baseline_explicit():
    """Without a method, build / compile use robust with its own calibration count and initial potential;
    method rueckauer keeps the seed's defaults (1000 images, initial potential 0)."""
    from neurocompile.api.options import build_options

    d = build_options({})
    assert (d["method"], d["calib_samples"], d["v_init"]) == ("robust", 2000, 0.5)
    r = build_options({"method": "rueckauer"})
    assert (r["calib_samples"], r["v_init"]) == (1000, 0.0)
    assert build_options({"calib_samples": 300, "v_init": 0.0})["v_init"] == 0.0
    assert CompileOptions().method == "robust"
    # robust calibrates on its choice half: with the defaults, the very images the baseline calibrates on
    from neurocompile.api.data import calibration_subset

    x = np.arange(5000, dtype=np.float32)[:, None]
    assert np.array_equal(calibration_subset(x, d["calib_samples"])[:1000], calibration_subset(x, r["calib_samples"]))
