"""Carving (strategy ``carve``): first-fit decreasing where a slice that fits no open core gives an open core
the largest piece of it that fits, and goes on with the rest.

Slices are sorted by the largest fraction of a core that their smallest piece needs (coarse slices first, so
that finely divisible ones come last and fill the gaps), then by their own largest fraction
(:func:`.cuts.coarse_first`). Each goes, whole, to an open core where it fits (the one it exchanges the most
spikes with, else the first); if none has room, a piece is cut off it (:func:`.cuts.find_cut`) for an open
core where its smallest piece fits (:func:`.cuts.grain`): among those that could take at least
``tuning.MIN_SHARE`` of the slice (ratio free / needed over the resources), the best fit first (the one that
could take the least: the gaps left by coarse slices are filled), trying up to ``tuning.CARVE_CORES`` cores
(the best fit may have the room but not in the resources a piece needs); the rest goes back to the front of
the queue. A core receives at most ``tuning.MAX_PIECES`` carved pieces. After ``tuning.MAX_FAILURES`` slices
for which no cut was found carving stops (bounded time on networks of thousands of slices), and it is not
tried on more than ``tuning.CARVE_MAX_SLICES`` slices.

Output axons stay exact (:mod:`.state`): a cut that would push a feeding slice, or the core it sits on,
over the output-axon limit is not made.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from . import tuning
from .cuts import coarse_first, find_cut, grain
from .pack import affinity
from .state import CoreState
from .strategies import Strategy, register


@register
class Carve(Strategy):
    """Carving into open cores (see the module doc)."""

    name = "carve"

    def applies(self, slices: int) -> bool:
        return slices <= tuning.CARVE_MAX_SLICES

    def run(self, state: CoreState) -> None:
        failures = 0
        queue = deque(coarse_first(state, state.unplaced()))
        while queue:
            key = queue.popleft()
            layer, box = key
            v = state.vec[key]
            n = state.n_open
            ok = np.flatnonzero(state.fitting(v, n))
            if ok.size:
                core = int(ok[0])
                if state.edges is not None and ok.size > 1:
                    aff = affinity(state.edges, state.origin[key], state.origin_core, n)[ok]
                    if aff.max() > 0:
                        core = int(ok[int(np.argmax(aff))])
                state.place(key, core)
                continue
            g = grain(state, layer, box, v)
            room = state.carved[:n] < tuning.MAX_PIECES
            if g is not None:  # cores where the smallest piece of the slice fits
                room &= state.fitting(g, n)
            open_ = np.nonzero(room)[0] if g is not None else np.zeros(0, np.int64)
            cut = None
            if open_.size:  # among them the best fit that could take MIN_SHARE of the slice (see the doc)
                share = state.shares(v, open_)
                enough = share >= tuning.MIN_SHARE
                rank = np.argsort(np.where(enough, share, np.inf), kind="stable")[:int(enough.sum())]
                if failures < tuning.MAX_FAILURES and rank.size:
                    for core in open_[rank[:tuning.CARVE_CORES]].tolist():
                        cut = find_cut(state, layer, box, core)
                        if cut is not None:
                            break
                    failures += cut is None
            if cut is not None:
                queue.appendleft(state.cut(key, cut, core))
            else:
                state.place(key, n)
