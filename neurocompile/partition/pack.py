"""First fit (plain and traffic-aware), placing on given cores, and cores onto chips.

First fit decreasing (strategy ``first-fit``): slices sorted by their largest fraction of a core; each goes
to the first open core where every resource still fits, else a new core. ``first-fit+traffic``: the same
order, but among the cores a slice fits in it joins the one it exchanges the most spikes with (ties: the
first). ``place.partition`` runs both and keeps the traffic-aware one if it uses no more cores.
``assign`` places every slice on a given core (the first fit's, for the packings that start from it).
Chips: cores in order of the first layer they hold, ``cores_per_chip`` at a time, so neighbouring layers
share a chip.
"""

from __future__ import annotations

import numpy as np

from . import tuning
from .state import CoreState
from .strategies import Strategy, register


def affinity(w, i: int, core_of: np.ndarray, n_open: int) -> np.ndarray:
    """Traffic between item ``i`` and each open core (``w``: symmetric CSR traffic; ``core_of``: -1 unplaced)."""
    lo, hi = w.indptr[i], w.indptr[i + 1]
    nb, wt = w.indices[lo:hi], w.data[lo:hi]
    cores = core_of[nb]
    keep = cores >= 0
    return np.bincount(cores[keep], weights=wt[keep], minlength=n_open)[:n_open]


@register
class FirstFit(Strategy):
    """First-fit decreasing over resource vectors (see the module doc), without traffic."""

    name = "first-fit"
    traffic = False

    def run(self, state: CoreState) -> None:
        keys = state.unplaced()
        vec = np.array([state.vec[k] for k in keys]).reshape(len(keys), len(state.cap))
        frac = state.frac(vec)
        top = frac.max(1) if len(keys) else np.zeros(0)
        order = sorted(range(len(keys)), key=lambda i: (-top[i], i))
        cap = state.cap
        # the smallest amount of each resource any slice from position k on needs: a core with less room than
        # that in some resource can take none of them and is dropped from the scan (same result, less work)
        least = np.minimum.accumulate(vec[order][::-1], axis=0)[::-1] if order else vec[:0]
        live = np.zeros(0, dtype=np.int64)
        dom = np.argmax(frac, axis=1) if len(keys) else np.zeros(0, dtype=np.int64)  # compared first
        w = state.edges if self.traffic else None
        for k, i in enumerate(order):
            load = state.load
            if k % tuning.PRUNE_EVERY == 0 and live.size:
                live = live[np.all(cap - load[live] >= least[k], axis=1)]
            r = dom[i]
            room = cap - vec[i]  # integer resources: load <= cap - v exactly when load + v <= cap
            ok = live[load[live, r] <= room[r]]
            ok = ok[(load[ok] <= room).all(axis=1)]
            if ok.size == 0:
                best = state.n_open
                live = np.append(live, best)
            else:
                best = int(ok[0])
                if w is not None and ok.size > 1:
                    aff = affinity(w, state.origin[keys[i]], state.origin_core, state.n_open)[ok]
                    if aff.max() > 0:
                        best = int(ok[np.argmax(aff)])
            state.place(keys[i], best)


@register
class FirstFitTraffic(FirstFit):
    """:class:`FirstFit` that, among the cores a slice fits, picks the one it exchanges the most spikes with
    (the state's ``edges``)."""

    name = "first-fit+traffic"
    traffic = True


@register
class Assign(Strategy):
    """Every unplaced slice on a given core, in the order of the cores, then of the slices (the first fit's
    packing, found once, as the start of the packings that rearrange it)."""

    name = "assign"

    def __init__(self, cores: list[int]):
        self.cores = cores  # per origin

    def run(self, state: CoreState) -> None:
        keys = state.unplaced()
        for i in sorted(range(len(keys)), key=lambda i: (self.cores[state.origin[keys[i]]], i)):
            state.place(keys[i], self.cores[state.origin[keys[i]]])


def assign_chips(core_first_layer: list[int], cores_per_chip: int) -> list[int]:
    """Chip of every core: cores sorted by the topological position of their first layer, filled in order."""
    order = sorted(range(len(core_first_layer)), key=lambda c: (core_first_layer[c], c))
    chip = [0] * len(core_first_layer)
    for pos, c in enumerate(order):
        chip[c] = pos // cores_per_chip
    return chip


def renumber(core_of: list[int], first_layer_of_item: list[int]) -> list[int]:
    """Cores renumbered by the topological position of their first slice (stable, dense 0..n-1)."""
    first: dict[int, int] = {}
    for i, c in enumerate(core_of):
        first[c] = min(first.get(c, 1 << 30), first_layer_of_item[i])
    order = sorted(first, key=lambda c: (first[c], c))
    new = {c: k for k, c in enumerate(order)}
    return [new[c] for c in core_of]
