"""Emptying cores after a packing (strategy ``empty``): fewer cores where other cores have the room, every
limit still kept, and a core that cannot be emptied put back exactly as it was (the core state's journal)."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from test_partition_props import NETGEN, SETTINGS, bases, budgets, check_placement, make_profile, netgen_graph
from neurocompile.errors import PartitionError
from neurocompile.partition import ResourceModel, lower_bound, place, tuning
from neurocompile.partition.pack import assign_chips
from neurocompile.partition.placement import Placement
from neurocompile.partition.resources import OUT, consumers
from neurocompile.partition.state import CoreState
from neurocompile.partition.strategies import strategy


def _split(g, prof):
    model = ResourceModel(g, prof)
    cons = consumers(model)
    boxes: dict = {}
    for layer in reversed(model.layers):
        boxes[layer], _ = place._split_layer(model, layer, boxes, cons)
    slices, _, sym = place._first_fit(model, boxes, None, cons)
    return model, cons, boxes, slices, sym


def _placement(g, prof, model, cons, pieces) -> Placement:
    placed = place._finish(model, pieces)
    n = max(s.core for s in placed) + 1
    pos = {name: i for i, name in enumerate(model.layers)}
    first = [min(pos[s.layer] for s in placed if s.core == c) for c in range(n)]
    return Placement(prof.name, prof.family, dict(prof.limits), placed, assign_chips(first, prof.chip.cores_per_chip),
                     lower_bound=lower_bound(model, cons))


def _packing(slices, name: str):
    """The first of ``place.packings`` called ``split+NAME`` (for fill: the first slack)."""
    return next(p for p in place.packings([s.core for s in slices]) if p.name == f"split+{name}")


# cases found by a search over the property tests' networks and budgets (the last two with output axons
# limited, so cuts change the feeders' output axons and the emptier must keep them exact)
CASES = [
    (2, "fpga-generic", {"neurons": 84, "input_axons": 146, "output_axons": None, "synapse_words": 2298}, "carve"),
    (2, "fpga-generic", {"neurons": 60, "input_axons": 253, "output_axons": 18, "synapse_words": 3845}, "carve"),
    (2, "loihi1", {"neurons": 43, "input_axons": 470, "output_axons": 1014, "synapse_words": 1487}, "fill"),
    # the first fit emptied without carving (split+empty); with no attempts it is the first fit itself
    (2, "fpga-generic", {"neurons": 84, "input_axons": 146, "output_axons": None, "synapse_words": 2298}, "empty"),
    (2, "fpga-generic", {"neurons": 60, "input_axons": 253, "output_axons": 18, "synapse_words": 3845}, "empty"),
    (2, "loihi1", {"neurons": 43, "input_axons": 470, "output_axons": 1014, "synapse_words": 1487}, "empty"),
]


@pytest.mark.parametrize("idx,base,core,packer", CASES)
def test_emptying_gives_up_cores_within_every_limit(monkeypatch, idx, base, core, packer):
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core)
    model, cons, boxes, slices, edges = _split(g, prof)
    packing = _packing(slices, packer)
    counts = {}
    full = tuning.EMPTY_ATTEMPTS
    for attempts in (0, full):
        monkeypatch.setattr(tuning, "EMPTY_ATTEMPTS", attempts)
        got = place._pack(model, boxes, None, cons, slices, edges, packing)
        assert got is not None
        got = got[0]
        counts[attempts] = max(s.core for s in got) + 1
        check_placement(g, prof, _placement(g, prof, model, cons, got), naive=False)
    assert counts[full] < counts[0], counts
    if packer == "empty":  # no attempts: the first fit's cores
        assert counts[0] == max(s.core for s in slices) + 1


@pytest.mark.parametrize("idx,base,core,packer", CASES[:3])
def test_memo_of_output_axons_and_traffic_changes_nothing(idx, base, core, packer):
    """``place._slices`` with a memo of each layer's output axons and traffic (kept per its slices and its
    consumers' slices): a packing's slices, resources and traffic are those computed without it, and a layer
    seen before is taken from the memo."""
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core)
    model, cons, boxes, _, _ = _split(g, prof)
    memo: dict = {}
    slices, _, sym = place._first_fit(model, boxes, None, cons, memo)
    assert len(memo) == len(model.layers)
    packing = _packing(slices, packer)
    runs = [place._pack(model, boxes, None, cons, slices, sym, packing, True, m) for m in (memo, None)]
    (a, ea), (b, eb) = runs
    assert [(s.layer, s.box, s.core, s.resources) for s in a] == [(s.layer, s.box, s.core, s.resources) for s in b]
    assert (ea != eb).nnz == 0 and ea.nnz > 0
    n = len(memo)
    again = place._pack(model, boxes, None, cons, slices, sym, packing, True, memo)
    assert len(memo) == n  # the same packing again: every layer from the memo
    assert [(s.layer, s.box, s.resources) for s in again[0]] == [(s.layer, s.box, s.resources) for s in a]
    assert (again[1] != ea).nnz == 0


@pytest.mark.parametrize("gate", [0, None])
def test_carving_is_not_tried_above_its_slice_limit(monkeypatch, gate):
    """Above ``tuning.CARVE_MAX_SLICES`` slices the packings are the first fit and its emptied cores (valid,
    no more cores than the first fit); at the default limit carving is tried (and wins) on the same network."""
    idx, base, core, _ = CASES[0]
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core)
    if gate is not None:
        monkeypatch.setattr(tuning, "CARVE_MAX_SLICES", gate)
    said: list[str] = []
    pl = place.partition(g, prof, progress=said.append)
    check_placement(g, prof, pl)
    packings = next(m for m in said if m.startswith("packing: "))
    first_fit = next(int(m.split()[1]) for m in said if m.startswith("packing ") and m.endswith("slices"))
    if gate is None:
        assert "split+carve" in packings and pl.strategy == "split+carve", (packings, pl.strategy)
    else:
        assert first_fit > gate
        assert "split+carve" not in packings and "split+empty" in packings
        assert pl.strategy != "split+carve"


def _state(c: CoreState):
    return ({k: tuple(v.tolist()) for k, v in c.vec.items()}, dict(c.core_of), c.load.tolist(),
            {k: list(v) for k, v in c.boxes.items()}, dict(c.origin),
            {core: list(keys) for core, keys in c.members.items() if keys}, c.carved.tolist(), c.closed.tolist())


@settings(max_examples=20, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, core=budgets)
def test_a_core_that_is_not_given_up_is_put_back_exactly(idx, base, core):
    """Every core of a carving is emptied (pieces cut, feeders' output axons grown) and then rolled back: the
    packing's state is exactly what it was; before the rollback it differs (the core was given up)."""
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core)
    try:
        model, cons, _, slices, edges = _split(g, prof)
    except PartitionError:
        event("refused")
        return
    items = [(s.layer, s.box, s.resources, i) for i, s in enumerate(slices)]
    c = CoreState(model, items, cons, edges)
    strategy("carve").run(c)
    emptier = strategy("empty")
    before = _state(c)
    n = c.n_open
    for core_ in range(n):
        outs = {k: v[OUT] for k, v in c.vec.items()}
        c.checkpoint()
        ok = emptier.empty_core(c, core_, n)
        assert _state(c) != before
        event("emptied" if ok else "failed")
        if len(c.vec) > len(before[0]):
            event("pieces cut")
            if any(c.vec[k][OUT] > outs[k] for k in outs if k in c.vec):
                event("a cut grew feeders' output axons")
        c.rollback()
        assert _state(c) == before
        assert not c.closed.any()
