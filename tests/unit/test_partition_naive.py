"""Never above the naive placement (each layer on cores of its own, equal chunks; ``bounds.naive_boxes``):
every placement ``partition`` returns needs at most as many cores. The property tests check it on every
placement they make (``test_partition_props.check_placement``: random layer shapes, random networks, random
budgets, with ``COUNTEREXAMPLE`` there as an explicit example); here on the example CNNs on every profile
that holds them. The split's packings alone do not promise it (``COUNTEREXAMPLE``); ``place``'s guard sizes
the naive placement as far as it could need fewer cores and packs it then. Negative controls: without the
guard the counterexample fails the check, and so does a deliberately bad packing. And the guard's own
parts: its early stop, the floor it relies on and the chunk counts."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from test_partition_props import (COUNTEREXAMPLE, NETGEN, SETTINGS, assert_not_above_naive, bases, budgets,
                                  make_profile, netgen_graph)
from neurocompile.partition import ResourceModel, bounds, partition, place, tuning
from neurocompile.partition.bounds import NaiveLimit, naive_boxes, naive_cores, naive_floor, naive_limit
from neurocompile.partition.resources import consumers
from neurocompile.partition.split import grid_boxes
from neurocompile.partition.strategies import STRATEGIES, Strategy


@functools.lru_cache(maxsize=None)
def _example(name: str, calib: str):
    from neurocompile import datasets
    from neurocompile.compiler import CompileOptions, compile_graph
    from neurocompile.frontend import load_model

    x, _ = datasets.load(calib, "train")
    return compile_graph(load_model(f"examples/{name}.pt2"), x[:64], CompileOptions(method="rueckauer", timesteps=32))


@pytest.mark.parametrize("name,calib,target", [
    ("digits_cnn", "digits", "loihi1"), ("digits_cnn", "digits", "loihi2"), ("digits_cnn", "digits", "fpga-generic"),
    ("fashion_cnn", "fashion-mnist", "loihi2"), ("fashion_cnn", "fashion-mnist", "fpga-unbounded"),
    ("fashion_vgg", "fashion-mnist", "fpga-unbounded"),
])
def test_never_above_the_naive_placement_on_the_examples(name, calib, target):
    """The example CNNs on every built-in profile that holds them (the others are refused: a fan-in above
    Loihi's axons, or more cores than the 64-core device; ``fpga-unbounded``: fpga-generic without a device
    limit, as in benchmarks/partition.py)."""
    from neurocompile.partition import get_profile, profile_from_dict

    prof = (profile_from_dict({"base": "fpga-generic", "name": "fpga-unbounded", "chip": {"max_chips": None}})
            if target == "fpga-unbounded" else get_profile(target))
    g = _example(name, calib)
    pl = partition(g, prof)
    assert pl.n_cores >= 2 and pl.strategy != "naive+pack"
    assert_not_above_naive(g, prof, pl)


def test_the_guard_is_what_keeps_the_counterexample_below_the_naive_placement(monkeypatch):
    """Negative control: without the guard the split's packings need more cores than the naive placement
    on the counterexample, and the check says so; with it the naive chunks are packed."""
    idx, base, core = COUNTEREXAMPLE
    g, prof = netgen_graph(idx), make_profile(base, core)
    pl = partition(g, prof)
    assert (pl.strategy, pl.n_cores) == ("naive+pack", 16)
    assert_not_above_naive(g, prof, pl)
    monkeypatch.setattr(place, "_naive_below", lambda model, cons, cores: None)
    unguarded = partition(g, prof)
    assert unguarded.n_cores == 18
    with pytest.raises(AssertionError, match=r"^18 cores \(split\+\w+\) > 17 of the naive placement"):
        assert_not_above_naive(g, prof, unguarded)


def test_a_deliberately_bad_packing_fails_the_check(monkeypatch):
    """Negative control: a first fit that puts every slice on a core of its own (no other packing, no
    guard) needs more cores than the naive placement (23 split slices, 17 naive chunks), and the check says so."""
    class OnePerCore(Strategy):
        name = "first-fit"

        def run(self, state):
            for key in state.unplaced():
                state.place(key, state.n_open)
    monkeypatch.setitem(STRATEGIES, "first-fit", OnePerCore)
    monkeypatch.setitem(STRATEGIES, "first-fit+traffic", OnePerCore)
    monkeypatch.setattr(place, "packings", lambda first_fit: [])
    monkeypatch.setattr(place, "_naive_below", lambda model, cons, cores: None)
    idx, base, core = COUNTEREXAMPLE
    g, prof = netgen_graph(idx), make_profile(base, core)
    pl = partition(g, prof)
    assert pl.n_cores == len(pl.slices) == 23
    with pytest.raises(AssertionError, match="of the naive placement"):
        assert_not_above_naive(g, prof, pl)


@settings(max_examples=40, **SETTINGS)
@given(shape=st.one_of(st.tuples(st.integers(1, 300)),
                       st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20))),
       n=st.integers(1, 10_000))
def test_chunk_count_is_that_of_the_boxes_and_never_decreases(shape, n):
    """``bounds._chunks``, which the guard's early stop and :func:`naive_floor` rely on."""
    k = bounds._chunks(shape, n)
    assert k == len(grid_boxes(shape, bounds._equal_chunk(shape, n)))
    assert bounds._chunks(shape, n + 1) >= k and 1 <= k <= math.prod(shape)


@settings(max_examples=30, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, core=budgets)
def test_naive_floor_is_below_every_layers_naive_chunks(idx, base, core):
    """The guard stops as soon as the chunks so far plus the floor of the layers still to size exceed its
    limit, so the floor must never exceed what a layer's sizing gives."""
    g = netgen_graph(NETGEN[idx])
    model = ResourceModel(g, make_profile(base, core))
    cons = consumers(model)
    boxes = naive_boxes(model, cons)
    if boxes is None:
        event("the naive placement does not fit")
        return
    floor = naive_floor(model, cons)
    assert all(1 <= floor[layer] <= len(boxes[layer]) for layer in model.layers), (floor, boxes)
    event("floor = chunks" if all(floor[k] == len(boxes[k]) for k in boxes) else "floor < chunks somewhere")


def test_naive_sizing_stops_at_its_limit_and_not_below(monkeypatch):
    """A limit at the naive count sizes everything; one below stops; one below the floor of the layers still
    to size stops before any layer is sized (the control: just below the count, layers are sized first)."""
    g = netgen_graph(NETGEN[3])
    model = ResourceModel(g, make_profile("loihi1", {"neurons": 16, "output_axons": 40}))
    full = naive_boxes(model)
    n = sum(len(b) for b in full.values())
    floor = sum(naive_floor(model).values())
    assert (floor, n) == (18, 26)
    assert naive_boxes(model, limit=n) == full and naive_cores(model, limit=n) == (n, None)
    assert naive_cores(model, limit=n - 1) == (None, n - 1)
    probes: list = []
    real = bounds._bad_slice
    monkeypatch.setattr(bounds, "_bad_slice", lambda *a: probes.append(a[1]) or real(*a))
    with pytest.raises(NaiveLimit):
        naive_boxes(model, limit=floor - 1)
    assert probes == []
    with pytest.raises(NaiveLimit):
        naive_boxes(model, limit=n - 1)
    assert probes


def test_naive_limit_is_eight_times_up_to_2000_cores_and_at_least_ours():
    assert [naive_limit(n) for n in (10, 250, 1000, 3000)] == [80, 2000, 2000, 3000]
    assert (tuning.NAIVE_LIMIT, tuning.NAIVE_CORES, tuning.NAIVE_FLOOR) == (8, 2000, 1)


@pytest.mark.parametrize("make,base,core", [
    ("two_conv", "fpga-generic", {"neurons": 64, "output_axons": 8}),
    ("netgen0", "loihi1", {"neurons": 2, "output_axons": 18}),
])
def test_a_naive_placement_that_does_not_fit_does_not_refuse_a_placeable_network(make, base, core):
    from test_partition_props import _netgen_small, _two_conv_net

    g = {"two_conv": _two_conv_net, "netgen0": _netgen_small}[make]()
    prof = make_profile(base, core)
    assert naive_cores(ResourceModel(g, prof)) == (None, None)  # even single units do not fit
    pl = partition(g, prof)
    assert pl.strategy != "naive+pack" and np.all(np.array(pl.chip_of_core) >= 0)
