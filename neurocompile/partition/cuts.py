"""Where a slice can be cut: the largest piece of it that fits a core's room, and its smallest piece.

Queries over a :class:`~.state.CoreState` that change nothing in it (its caches of output-axon counters
aside): :func:`find_cut` looks for a cut, :meth:`CoreState.cut <.state.CoreState.cut>` applies one. Boxes are
cut along their first axis where a piece fits (channels, then rows, then columns; ranges for vectors), the
piece from the low end.
"""

from __future__ import annotations

import numpy as np

from .connectivity import Box, box_size
from .resources import OUT, RESOURCES
from .state import CoreState, Cut, Key

#: resources that grow with a piece's length and that pieces divide (the others: per slice, or per source
#: unit or pixel, so a piece of a few channels may need as many as the whole slice)
DIVISIBLE = ("neurons", "synapse_words", "param_bits")
_SCALING = [RESOURCES.index(r) for r in DIVISIBLE]


def find_cut(state: CoreState, layer: str, box: Box, core: int, free: np.ndarray | None = None) -> Cut | None:
    """A cut of the unplaced slice ``(layer, box)`` into a piece fitting ``core`` and a rest, or None.

    Parameters
    ----------
    state : CoreState
        The packing.
    layer, box : str, Box
        The slice.
    core : int
        The core the piece is for: its own output axons and the feeders' extra ones (on their cores, this
        one included) must fit.
    free : numpy.ndarray, optional
        The room to fit the piece in (default: what ``core`` has left).

    Returns
    -------
    Cut or None
        The largest piece along the first axis where one fits whose rest fits an empty core (synapse memory
        is not monotone in the box: a part of a row has boundary variants of the kernel that the whole row
        does not, so a rest that fits no core would make the packing invalid).
    """
    free = state.cap - state.load[core] if free is None else free
    for ax, (lo, hi) in enumerate(box):
        if hi - lo < 2:
            continue

        def cut(m):
            return box[:ax] + ((lo, lo + m),) + box[ax + 1:], box[:ax] + ((lo + m, hi),) + box[ax + 1:]

        def fits(m) -> bool:
            return bool(np.all(state.base(layer, cut(m)[0]) <= free))
        # the largest fitting length, first guessed in proportion to the box's resources (a piece's
        # resources roughly scale with its length): two probes when the guess is right, else bisection
        good, bad = 0, hi - lo
        whole = state.vec.get((layer, box))
        if whole is not None:
            scaled = [free[r] / whole[r] for r in _SCALING if whole[r] > 0]
            if scaled:
                m0 = min(hi - lo - 1, max(1, int(min(scaled) * (hi - lo))))
                if not fits(m0):
                    bad = m0
                elif m0 + 1 < hi - lo and fits(m0 + 1):
                    good = m0 + 1  # the guess was short: bisect above it
                else:
                    good, bad = m0, m0 + 1
        while bad - good > 1:
            mid = (good + bad) // 2
            if fits(mid):
                good = mid
            else:
                bad = mid
        while good >= 1:  # output axons (not in the search above) may need a smaller piece
            piece, rest = cut(good)
            pv = state.vector(layer, piece)
            if np.all(pv <= free) and np.all(state.base(layer, rest) <= state.cap):
                feeders = state.feeders(layer, box, (piece, rest))
                if state.feeders_fit(feeders, core, pv[OUT]):
                    return Cut(piece, rest, pv, feeders)
            good = good // 2
    return None


def grain(state: CoreState, layer: str, box: Box, v: np.ndarray, exact: bool = True) -> np.ndarray | None:
    """Resources of the smallest piece :func:`find_cut` could cut (one unit along an axis of extent > 1);
    None if the box cannot be cut. Where output axons are not limited (or not ``exact``), along the first
    such axis (output axons in proportion to units); where they are, exact along every such axis, the one
    whose largest fraction of a core is least (a channel piece of a convolution keeps every pixel, so with
    pixel axons it needs the whole slice's output axons, and a band of rows may be the smallest piece)."""
    best, best_frac = None, np.inf
    for ax, (lo, hi) in enumerate(box):
        if hi - lo >= 2:
            sub = box[:ax] + ((lo, lo + 1),) + box[ax + 1:]
            if not (exact and state.finite[OUT]):
                g = state.base(layer, sub)
                g[OUT] = np.ceil(v[OUT] * box_size(sub) / box_size(box))
                return g
            g = state.vector(layer, sub)
            f = float(np.max(state.frac(g)))
            if f < best_frac:
                best, best_frac = g, f
    return best


def coarse_first(state: CoreState, keys: list[Key]) -> list[Key]:
    """``keys`` sorted by the largest fraction of a core their smallest piece needs, then their own (coarse
    slices first, finely divisible ones last to fill the gaps), then their order in ``keys``."""
    rank = []
    for layer, box in keys:
        v = state.vec[(layer, box)]
        g = grain(state, layer, box, v, exact=False)
        rank.append((-float(np.max(state.frac(v if g is None else g))), -float(np.max(state.frac(v)))))
    order = sorted(range(len(keys)), key=lambda i: (rank[i], i))
    return [keys[i] for i in order]
