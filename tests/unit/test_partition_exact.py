"""A placement does not change what intsim computes.

``simulate(..., placement=pl)`` evaluates every slice of every placed layer from only the source units its
fan-in mask lets through (``backends/intsim/placed.py``). With placements that really split the layers over
many cores, the placed and the unplaced runs must agree exactly (spikes of every population and gate, every
step, and the readout), with spikes in every layer; negative controls show that a slice missing one connected
source unit, or a placement missing a slice, is caught.
"""

from __future__ import annotations

import copy
import functools
import json

import numpy as np
import pytest

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import GraphError, PartitionError
from neurocompile.ir import Add, AvgPool2d, Conv2d, Encoder, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output
from neurocompile.partition import Placement, partition, profile_from_dict, validate
from neurocompile.partition import connectivity

T = 8
PLACED_T = (Neurons, Encoder, MaxPool2d, Output)


def _hand_twopath() -> Graph:
    """A source reaching its target by two paths (3x3 conv after an overlapping pool, and a 1x1 conv before
    it): a matrix connection between feature maps."""
    rng = np.random.default_rng(12)
    g = Graph("hand_twopath")
    g.add(Input("x", shape=(2, 9, 9)))
    g.add(Conv2d("c1", weight=rng.normal(size=(4, 2, 3, 3)) * 0.6, bias=np.full(4, 0.1), padding=(1, 1)), ["x"])
    g.add(Neurons("r1"), ["c1"])
    g.add(AvgPool2d("p1", kernel_size=(3, 3), stride=(2, 2)), ["r1"])
    g.add(Conv2d("c2", weight=rng.normal(size=(4, 2, 3, 3)) * 0.6, bias=np.full(4, 0.1), padding=(1, 1), groups=2),
          ["p1"])
    g.add(Conv2d("c3", weight=rng.normal(size=(4, 4, 1, 1)) * 0.6, bias=None), ["r1"])
    g.add(AvgPool2d("p3", kernel_size=(3, 3), stride=(2, 2)), ["c3"])
    g.add(Add("a"), ["c2", "p3"])
    g.add(Neurons("r2"), ["a"])
    g.add(Flatten("f"), ["r2"])
    g.add(Linear("l", weight=rng.normal(size=(5, 64)) * 0.3), ["f"])
    g.add(Output("out"), ["l"])
    return g


def _profile(base: str, neurons: int, **core):
    return profile_from_dict({"base": base, "name": f"small-{base}", "core": {"neurons": neurons, **core},
                              "chip": {"max_chips": None, "cores_per_chip": 16}})


#: id -> (float graph factory, compile options, profile)
CASES = {
    "res-loihi1": (lambda: random_graph(0, residual=True), {}, _profile("loihi1", 40, input_axons=512,
                                                                       output_axons=600)),
    "res-maxpool-loihi2": (lambda: random_graph(2, residual=True, maxpool=True), {},
                           _profile("loihi2", 24, synapse_words=300)),
    "grp-maxpool-fpga": (lambda: random_graph(4, maxpool=True), {}, _profile("fpga-generic", 20, synapse_words=120)),
    "res-maxpool-delay": (lambda: random_graph(6, residual=True, maxpool=True),
                          {"synapse_delay": 1, "reset": "zero"}, _profile("loihi1", 16, output_axons=200)),
    "input-gate": (lambda: random_graph(7, size=12, maxpool=True, input_pool=True), {},
                   _profile("loihi1", 16, input_axons=64)),
    "overlap-gate-grp": (lambda: random_graph(11, maxpool=True), {"weight_bits": 6},
                         _profile("fpga-generic", 12, input_axons=40)),
    "dil-res-vinit": (lambda: random_graph(14, residual=True), {"v_init": 0.5}, _profile("loihi2", 32,
                                                                                        output_axons=150)),
    "stride-dil": (lambda: random_graph(8), {}, _profile("loihi1", 20, synapse_words=64)),
    "stcsnn": (lambda: random_graph(5, residual=True), {"method": "stcsnn"}, _profile("loihi1", 24)),
    "twopath-matrix": (_hand_twopath, {}, _profile("fpga-generic", 18, input_axons=200)),
}


@functools.lru_cache(maxsize=None)
def case(name: str):
    make, opts, prof = CASES[name]
    g = make()
    ig = compile_graph(g, random_inputs(g, 32, 1), CompileOptions(timesteps=T, **{"method": "rueckauer", **opts}))
    pl = partition(ig, prof)
    return ig, prof, pl


def _assert_same_run(a, b) -> None:
    assert sorted(a.spikes) == sorted(b.spikes)
    for name in a.spikes:
        assert a.spikes[name].shape == b.spikes[name].shape
        assert np.array_equal(a.spikes[name], b.spikes[name]), f"layer {name}: placed spikes differ"
    assert np.array_equal(a.readout, b.readout)
    assert all(np.array_equal(a.spike_counts[k], b.spike_counts[k]) for k in a.spike_counts)


def _differs(a, b) -> bool:
    return not np.array_equal(a.readout, b.readout) or any(not np.array_equal(a.spikes[k], b.spikes[k])
                                                           for k in a.spikes)


def test_cases_cover_the_features():
    assert len(CASES) >= 8
    kinds = set()
    for name in CASES:
        ig, _, _ = case(name)
        kinds |= {type(n).__name__ for n in ig.topo()}
    assert {"Add", "MaxPool2d", "Encoder", "AvgPool2d", "Conv2d", "Linear"} <= kinds
    assert case("stcsnn")[0].nodes_of(Encoder) and not case("stcsnn")[0].nodes_of(MaxPool2d)


@pytest.mark.parametrize("name", list(CASES))
def test_placed_simulation_is_exact(name):
    ig, prof, pl = case(name)
    validate(ig, prof, pl)
    # the placement really splits: several cores, layers in several slices spread over several cores
    per_layer: dict[str, list] = {}
    for s in pl.slices:
        per_layer.setdefault(s.layer, []).append(s.core)
    assert pl.n_cores >= 3, pl.n_cores
    split = [k for k, cores in per_layer.items() if len(cores) > 1]
    assert len(split) >= 1 and max(len(per_layer[k]) for k in split) >= 3, pl.layers
    assert any(len(set(per_layer[k])) > 1 for k in split), "every split layer sits on one core"
    x = random_inputs(ig, 3, 40)
    ref = simulate(ig, x, T, record=True)
    placed = simulate(ig, x, T, record=True, placement=pl)
    pops = [n.name for n in ig.topo() if isinstance(n, (Neurons, Encoder))]
    assert set(pops) <= set(ref.spikes)
    for k, counts in ref.spike_counts.items():
        assert counts.sum() > 0, f"{name}: no spikes in layer {k}"
    assert np.any(ref.readout != 0)
    _assert_same_run(ref, placed)


def test_placement_json_round_trip_simulates_the_same():
    ig, prof, pl = case("res-maxpool-loihi2")
    back = Placement.from_json(json.loads(json.dumps(pl.to_json())))
    validate(ig, prof, back)
    x = random_inputs(ig, 2, 41)
    _assert_same_run(simulate(ig, x, T, record=True, placement=pl), simulate(ig, x, T, record=True, placement=back))


# ----------------------------------------------------------------------------------------- negative controls
def _drop_one_unit(monkeypatch, cls, layer: str, box, unit):
    """Patch ``cls.fanin_mask`` so that slice ``box`` of ``layer`` misses the connected source ``unit``."""
    orig = cls.fanin_mask

    def patched(self, b):
        mask = orig(self, b)
        if self.target == layer and tuple(b) == tuple(box):
            assert mask[unit], "the unit to drop is not connected"
            mask = mask.copy()
            mask[unit] = False
        return mask

    monkeypatch.setattr(cls, "fanin_mask", patched)


@pytest.mark.parametrize("name,kind", [("res-loihi1", "conv"), ("res-loihi1", "matrix"),
                                       ("grp-maxpool-fpga", "gate")])
def test_slice_missing_one_source_unit_changes_the_result(monkeypatch, name, kind):
    ig, prof, pl = case(name)
    x = random_inputs(ig, 3, 40)
    ref = simulate(ig, x, T, record=True)
    conns = connectivity.build_conns(ig)
    want = {"conv": connectivity.ConvConn, "matrix": connectivity.MatrixConn}
    best = None
    for s in pl.slices:
        for c in conns[s.layer]:
            is_gate = isinstance(ig.node(s.layer), MaxPool2d)
            if (kind == "gate") != is_gate or (kind != "gate" and not isinstance(c, want[kind])):
                continue
            if c.source not in ref.spikes:
                continue
            activity = np.abs(ref.spikes[c.source].astype(np.int64)).sum((0, 1))  # per source unit
            mask = c.fanin_mask(s.box)
            score = np.where(mask, activity, -1)
            u = np.unravel_index(int(np.argmax(score)), score.shape)
            if score[u] > 0 and (best is None or score[u] > best[0]):
                best = (int(score[u]), type(c), s.layer, s.box, u, c.source)
    assert best is not None, "no active connected source unit found"
    _, cls, layer, box, unit, src = best
    _drop_one_unit(monkeypatch, cls, layer, box, unit)
    dropped = connectivity.build_conns(ig)[layer]
    assert not next(c for c in dropped if c.source == src).fanin_mask(box)[unit]  # the patch is in effect
    bad = simulate(ig, x, T, record=True, placement=pl)
    assert _differs(ref, bad), f"dropping source unit {unit} from {layer}{box} went unnoticed"


def test_placement_missing_a_slice_is_refused():
    ig, prof, pl = case("res-loihi1")
    x = random_inputs(ig, 1, 40)
    bad = copy.deepcopy(pl)
    k = next(i for i, s in enumerate(bad.slices) if s.layer == "relu2")
    missing = bad.slices[k].resources["neurons"]
    del bad.slices[k]
    with pytest.raises(GraphError, match="slices of layer relu2 do not tile it exactly once"):
        simulate(ig, x, T, placement=bad)
    with pytest.raises(PartitionError, match=f"layer relu2: placement leaves {missing} units unplaced"):
        validate(ig, prof, bad)


def test_placement_with_a_shrunk_slice_is_refused():
    """A slice whose box loses its last row (or channel): the layer is no longer tiled (and the recorded
    resources no longer match)."""
    ig, prof, pl = case("res-loihi1")
    bad = copy.deepcopy(pl)
    s = next(s for s in bad.slices if s.layer == "relu1" and any(hi - lo > 1 for lo, hi in s.box))
    ax = next(a for a, (lo, hi) in enumerate(s.box) if hi - lo > 1)
    s.box = s.box[:ax] + ((s.box[ax][0], s.box[ax][1] - 1),) + s.box[ax + 1:]
    with pytest.raises(GraphError, match="do not tile"):
        simulate(ig, random_inputs(ig, 1, 40), T, placement=bad)
    with pytest.raises(PartitionError, match=r"layer relu1: placement leaves \d+ units unplaced"):
        validate(ig, prof, bad)


def test_placement_naming_an_unknown_layer_is_refused():
    ig, prof, pl = case("res-loihi1")
    bad = copy.deepcopy(pl)
    bad.slices[0].layer = "conv1"  # a synaptic op, not a placed layer
    with pytest.raises(GraphError, match="conv1 is not a placed layer"):
        simulate(ig, random_inputs(ig, 1, 40), T, placement=bad)
    with pytest.raises(PartitionError, match=r"slice conv1\[slice 0\] names no placed layer"):
        validate(ig, prof, bad)
