"""The core state of a packing (``partition.state.CoreState``): its operations, the undo journal
(checkpoint / rollback / commit) and the strategy registry over it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from test_partition_empty import _split
from test_partition_props import NETGEN, SETTINGS, bases, budgets, make_profile, netgen_graph
from neurocompile.errors import PartitionError
from neurocompile.partition.cuts import find_cut
from neurocompile.partition.state import CoreState
from neurocompile.partition.strategies import STRATEGIES, Packing, Strategy, register, strategy


def _first_fit_items(g, prof):
    """The split slices of ``g`` on ``prof`` as CoreState items: the model, consumers, items and traffic."""
    model, cons, _, slices, edges = _split(g, prof)
    return model, cons, [(s.layer, s.box, s.resources, i) for i, s in enumerate(slices)], edges


def _rows(a: np.ndarray) -> list:
    """``a`` without its trailing all-zero rows (``grow`` adds zero rows that no rollback removes)."""
    nz = np.flatnonzero(a.reshape(len(a), -1).any(axis=1))
    return a[:nz[-1] + 1 if nz.size else 0].tolist()


def snapshot(c: CoreState):
    """Everything a strategy can see of the state (the order of each core's slices included)."""
    return ({k: v.tolist() for k, v in c.vec.items()}, dict(c.core_of), dict(c.origin),
            {core: list(keys) for core, keys in c.members.items() if keys}, {k: list(v) for k, v in c.boxes.items()},
            _rows(c.load), _rows(c.carved), _rows(c.closed), c.n_open, c.origin_core.tolist())


def _random_ops(c: CoreState, rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random operations (place, unplace, cut, close); the names of those done."""
    done = []
    for _ in range(n):
        op = rng.integers(4)
        placed, free = list(c.core_of), c.unplaced()
        if op == 0 and free:
            key = free[rng.integers(len(free))]
            c.place(key, int(rng.integers(c.n_open + 1)))
            done.append("place")
        elif op == 1 and placed:
            c.unplace(placed[rng.integers(len(placed))])
            done.append("unplace")
        elif op == 2 and free and c.n_open:
            key = free[rng.integers(len(free))]
            core = int(rng.integers(c.n_open))
            cut = find_cut(c, key[0], key[1], core)
            if cut is not None:
                c.cut(key, cut, core)
                done.append("cut+feeders" if cut.feeders else "cut")
        elif op == 3 and c.n_open:
            core = int(rng.integers(c.n_open))
            if not c.closed[core]:
                c.close(core)
                done.append("close")
    return done


@settings(max_examples=25, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, core=budgets, seed=st.integers(0, 2**16),
       inner=st.sampled_from(["commit", "rollback"]))
def test_rollback_undoes_every_operation_exactly_and_commit_keeps_them(idx, base, core, seed, inner):
    """From a carved packing: random operations, a nested checkpoint with more of them (committed or rolled
    back), then the outer rollback gives exactly the state before; the same operations committed keep
    exactly the state after them, and the journal is empty once no checkpoint is open."""
    try:
        model, cons, items, edges = _first_fit_items(netgen_graph(NETGEN[idx]), make_profile(base, core))
    except PartitionError:
        event("refused")
        return
    states = []
    for outer in ("rollback", "commit"):
        c = CoreState(model, items, cons, edges)
        strategy("carve").run(c)
        before = snapshot(c)
        rng = np.random.default_rng(seed)
        c.checkpoint()
        done = _random_ops(c, rng, 6)
        middle = snapshot(c)
        c.checkpoint()
        done += _random_ops(c, rng, 6)
        getattr(c, inner)()
        if inner == "rollback":
            assert snapshot(c) == middle
        after = snapshot(c)
        getattr(c, outer)()
        assert not c._marks and not c._journal
        states.append((before, after, snapshot(c)))
        note(f"{outer}: {done}")
        for d in set(done):
            event(d)
    (before, after, rolled), (before2, after2, committed) = states
    assert rolled == before and before2 == before and after2 == after
    assert committed == after
    if after != before:  # the control: the operations changed the state that the rollback restored
        event("changed")


def _three_on_a_core():
    g = netgen_graph(NETGEN[0])
    model, cons, items, edges = _first_fit_items(g, make_profile("loihi1", {"neurons": 32}))
    c = CoreState(model, items, cons, edges)
    keys = c.unplaced()[:3]
    for k in keys:
        c.place(k, 0)
    return c, keys


def test_a_broken_inverse_is_caught(monkeypatch):
    """Negative control of the snapshot comparison above: an inverse of ``unplace`` that puts the slice back
    at the end of its core's list (not where it was) leaves a different state, and the comparison sees it;
    so does a cut whose inverse is not journalled."""
    c, keys = _three_on_a_core()
    before = snapshot(c)
    c.checkpoint()
    c.unplace(keys[0])
    c.rollback()
    assert snapshot(c) == before and list(c.members[0]) == keys
    monkeypatch.setattr(CoreState, "_replace", lambda self, key, core, order: (
        self.load.__setitem__(core, self.load[core] + self.vec[key]), self.core_of.__setitem__(key, core),
        self.members[core].__setitem__(key, None)))
    c.checkpoint()
    c.unplace(keys[0])
    c.rollback()
    assert list(c.members[0]) == [keys[1], keys[2], keys[0]] and snapshot(c) != before
    monkeypatch.undo()
    c, keys = _three_on_a_core()
    free = c.unplaced()
    cut = next((k, find_cut(c, k[0], k[1], 1)) for k in free if find_cut(c, k[0], k[1], 1) is not None)
    before = snapshot(c)
    c.checkpoint()
    c.cut(cut[0], cut[1], 1)
    c._journal = [e for e in c._journal if e[0].__name__ != "_uncut"]  # the cut's inverse lost
    c.rollback()
    assert snapshot(c) != before


def test_no_journal_without_a_checkpoint_and_typed_misuse():
    """Without a checkpoint nothing is journalled (a first fit of thousands of slices keeps no log);
    rollback or commit without one raise, and so do placing or cutting a slice that is on a core."""
    c, keys = _three_on_a_core()
    with pytest.raises(ValueError, match=rf"^slice {keys[0][0]}\[.*\] is on core 0 already$"):
        c.place(keys[0], 1)
    with pytest.raises(ValueError, match="is on core 0: unplace it to cut it"):
        c.cut(keys[0], None, 1)
    c.unplace(keys[1])
    c.close(0)
    assert c._journal == [] and c.closed[0] and not c.core_of
    for op in (c.rollback, c.commit):
        with pytest.raises(RuntimeError, match="with no open checkpoint"):
            op()


def test_registry_names_every_strategy_and_refuses_a_second_with_the_same_name():
    assert set(STRATEGIES) == {"first-fit", "first-fit+traffic", "assign", "carve", "empty", "fill"}
    assert all(issubclass(cls, Strategy) and cls.name == name for name, cls in STRATEGIES.items())
    with pytest.raises(ValueError, match="no packing strategy 'carving'; registered: assign, carve"):
        strategy("carving")

    class Other(Strategy):
        name = "carve"

        def run(self, state):
            pass
    with pytest.raises(ValueError, match="strategy 'carve' is registered already"):
        register(Other)
    assert STRATEGIES["carve"] is not Other


def test_a_registered_strategy_runs_as_a_packing():
    """A strategy added through the registry alone (every slice on a core of its own) runs as a packing:
    every slice placed once, cores numbered without gaps."""
    class OnePerCore(Strategy):
        name = "one-per-core-test"

        def run(self, state):
            for k, key in enumerate(state.unplaced()):
                state.place(key, state.n_open)
    register(OnePerCore)
    try:
        g = netgen_graph(NETGEN[0])
        model, cons, items, edges = _first_fit_items(g, make_profile("loihi1", {"neurons": 32}))
        pieces = Packing("test", (strategy("one-per-core-test"),)).run(model, items, cons, edges)
        assert sorted(p[3] for p in pieces) == list(range(len(items)))
        assert sorted(p[2] for p in pieces) == list(range(len(items)))
    finally:
        del STRATEGIES["one-per-core-test"]
