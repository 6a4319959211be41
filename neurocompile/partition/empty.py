"""Emptying cores (strategy ``empty``): move everything a core holds into the room other cores have left.

A packing built core by core leaves room behind: a core full of one layer's synapse memory has neurons to
spare, one full of an early layer's neurons has synapse memory to spare. :class:`Empty` takes the cores of
a finished packing one by one, the least used first (sum of its fractions of every limit), gives the core
up (:meth:`CoreState.close <.state.CoreState.close>`) and re-houses each of its slices on the other cores:
whole where a slice fits (the core it fills best), else the largest piece that fits the core that could take
the largest share of it (:func:`.cuts.find_cut`: output axons exact, the feeders' included), until the rest
fits, at most ``tuning.MAX_CUTS`` pieces per core. When every slice found a place the attempt is committed;
otherwise it is rolled back (the state's journal puts everything back as it was). At most
``tuning.EMPTY_ATTEMPTS`` cores are tried, and cores holding the same layers as ``tuning.SKIP_AFTER`` cores
that could not be emptied in a row are skipped (bounded, deterministic time).
"""

from __future__ import annotations

import numpy as np

from . import tuning
from .cuts import find_cut, grain
from .state import CoreState, Key
from .strategies import Strategy, register


@register
class Empty(Strategy):
    """Emptying the least used cores into the others' room (see the module doc)."""

    name = "empty"

    def run(self, state: CoreState) -> None:
        n = state.n_open
        order = np.argsort(state.frac(state.load[:n]).sum(axis=1), kind="stable")  # the least used first
        failed: dict[tuple, int] = {}  # per set of layers a core holds: attempts failed since the last success
        attempts = tuning.EMPTY_ATTEMPTS
        for core in order.tolist():
            if attempts <= 0:
                break
            if state.closed[core]:
                continue
            sig = tuple(sorted({k[0] for k in state.members.get(core, ())}))
            if failed.get(sig, 0) >= tuning.SKIP_AFTER:
                continue
            attempts -= 1
            state.checkpoint()
            if self.empty_core(state, core, n):
                state.commit()
                failed[sig] = 0
            else:
                state.rollback()
                failed[sig] = failed.get(sig, 0) + 1

    def empty_core(self, state: CoreState, core: int, n: int) -> bool:
        """Give ``core`` up and re-house its slices on the other open cores of 0..n-1, the largest first;
        False (the state then holds a partial attempt, to roll back) if some of them found no room."""
        self.cuts = 0  # pieces cut in this attempt
        keys = state.close(core)
        keys = sorted(keys, key=lambda k: -float(np.max(state.frac(state.vec[k]))))
        return all(self._rehouse(state, k, n) for k in keys)

    def _rehouse(self, state: CoreState, key: Key, n: int) -> bool:
        """Place ``key`` (unplaced) whole or in pieces on the open cores; False if some of it found no room."""
        while True:
            key = self._step(state, key, n)
            if key is None:
                return True
            if key is False:
                return False

    def _step(self, state: CoreState, key: Key, n: int):
        """Place unplaced ``key`` whole on the open core it fills best (the largest fraction of a core used
        after it; returns None), or cut the largest piece that fits off it for the core that could take the
        largest share of it (returns the rest's key); False if neither is possible."""
        layer, box = key
        v = state.vec[key]
        ok = np.nonzero(state.open_fitting(v, n))[0]
        if ok.size:
            after = state.frac(state.load[ok] + v).max(axis=1)
            state.place(key, int(ok[int(np.argmax(after))]))
            return None
        if self.cuts >= tuning.MAX_CUTS:
            return False
        g = grain(state, layer, box, v)
        if g is None:
            return False
        cand = np.nonzero(state.open_fitting(g, n))[0]
        share = state.shares(v, cand)
        for core in cand[np.argsort(-share, kind="stable")[:tuning.PIECE_CORES]].tolist():
            cut = find_cut(state, layer, box, core)
            if cut is not None:
                self.cuts += 1
                return state.cut(key, cut, core)
        return False
