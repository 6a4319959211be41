"""Packing slices onto cores and cores onto chips.

Cores first: first-fit decreasing over resource vectors (slices sorted by their largest fraction of a
core; each goes to the first open core where every resource still fits, else a new core). Traffic second:
the same order, but among the cores a slice fits in it joins the one it exchanges the most spikes with
(ties: the first). The traffic-aware packing is kept only if it uses no more cores than plain first fit.
Chips: cores in order of the first layer they hold, ``cores_per_chip`` at a time, so neighbouring layers
share a chip.
"""

from __future__ import annotations

import functools

import numpy as np

from . import workers
from .resources import RESOURCES


def _vectors(items: list[dict[str, int]], limits: dict[str, int | None]) -> tuple[np.ndarray, np.ndarray]:
    cap = np.array([np.inf if limits[r] is None else float(limits[r]) for r in RESOURCES])
    vec = np.array([[float(it[r]) for r in RESOURCES] for it in items]).reshape(len(items), len(RESOURCES))
    return vec, cap


def affinity(w, i: int, core_of: np.ndarray, n_open: int) -> np.ndarray:
    """Traffic between item ``i`` and each open core (``w``: symmetric CSR traffic; ``core_of``: -1 unplaced)."""
    lo, hi = w.indptr[i], w.indptr[i + 1]
    nb, wt = w.indices[lo:hi], w.data[lo:hi]
    cores = core_of[nb]
    keep = cores >= 0
    return np.bincount(cores[keep], weights=wt[keep], minlength=n_open)[:n_open]


def _first_fit(vec, cap, order, w) -> list[int]:
    core_of = np.full(len(vec), -1, dtype=np.int64)
    load = np.zeros((len(vec), len(cap)))
    # the smallest amount of each resource any item from position k on needs: a core with less room than
    # that in some resource can take none of them and is dropped from the scan (same result, less work)
    least = np.minimum.accumulate(vec[order][::-1], axis=0)[::-1] if len(order) else vec[:0]
    live = np.zeros(0, dtype=np.int64)
    # the resource each item needs most of is compared first, the others only on the cores where it fits
    dom = np.argmax(np.where(np.isfinite(cap), vec / np.where(np.isfinite(cap), cap, 1.0), 0.0), axis=1) \
        if len(vec) else np.zeros(0, dtype=np.int64)
    n_open = 0
    for k, i in enumerate(order):
        if k % PRUNE_EVERY == 0 and live.size:
            live = live[np.all(cap - load[live] >= least[k], axis=1)]
        r = dom[i]
        room = cap - vec[i]  # integer resources: load <= cap - v exactly when load + v <= cap
        ok = live[load[live, r] <= room[r]]
        ok = ok[(load[ok] <= room).all(axis=1)]
        if ok.size == 0:
            best, n_open = n_open, n_open + 1
            live = np.append(live, best)
        else:
            best = int(ok[0])
            if w is not None and ok.size > 1:
                aff = affinity(w, i, core_of, n_open)[ok]
                if aff.max() > 0:
                    best = int(ok[np.argmax(aff)])
        load[best] += vec[i]
        core_of[i] = best
    return core_of.tolist()


#: how often (items) the first-fit scan drops cores that no remaining item fits
PRUNE_EVERY = 32


def pack(items: list[dict[str, int]], limits: dict[str, int | None], traffic=None) -> list[int]:
    """Core index of every item (resource dicts); cores numbered in order of opening. ``traffic``: sparse
    (n, n) matrix of spikes per step between items (direction ignored)."""
    if not items:
        return []
    vec, cap = _vectors(items, limits)
    frac = np.where(np.isfinite(cap), vec / np.where(np.isfinite(cap), cap, 1.0), 0.0).max(1)
    order = sorted(range(len(items)), key=lambda i: (-frac[i], i))
    if traffic is None or traffic.nnz == 0:
        return _first_fit(vec, cap, order, None)
    # the plain and the traffic-aware first fit side by side (forked workers where that helps)
    plain, aware = workers.run_all([functools.partial(_first_fit, vec, cap, order, w)
                                    for w in (None, (traffic + traffic.T).tocsr())], len(items))
    return aware if max(aware) <= max(plain) else plain


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
