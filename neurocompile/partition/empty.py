"""Emptying cores after a packing: move everything a core holds into the room other cores have left.

A packing built core by core leaves room behind: a core full of one layer's synapse memory has neurons to
spare, one full of an early layer's neurons has synapse memory to spare. :func:`empty_cores` takes the
cores one by one, the least used first, and tries to re-house each of their slices on the other cores:
whole where a slice fits (the core it fills best), else the largest piece that fits the core that could take
the largest share of it (``Carver.try_carve``: output axons exact, the feeders' included), until the rest
fits, at most ``MAX_CUTS`` pieces per core. A core is given up when all its slices found a place; otherwise
everything is put back as it was. At most ``EMPTY_ATTEMPTS`` cores are tried, and cores holding the same
layers as ``SKIP_AFTER`` cores that could not be emptied in a row are skipped (bounded, deterministic time).
"""

from __future__ import annotations

import numpy as np

from .connectivity import Box

#: cores tried at most (the least used first): an attempt costs tens of milliseconds where thousands of
#: slices feed each other through output axons
EMPTY_ATTEMPTS = 1000
#: cores tried for a piece of a slice, largest share first
PIECE_CORES = 4
#: pieces an attempt may cut (emptying a core into dozens of slivers costs more spike traffic, and time,
#: than the core saves)
MAX_CUTS = 12
#: cores holding the same layers as SKIP_AFTER cores that could not be emptied in a row are not tried
SKIP_AFTER = 3


class _Emptier:
    def __init__(self, carver):
        self.c = carver
        n = carver.n_open
        self.closed = np.zeros(n, dtype=bool)
        self.log: list[tuple] = []
        self.cuts = 0  # pieces cut in the current attempt

    # every change to the carver's state is journalled, so a core that cannot be emptied is put back
    # exactly (copying the state per attempt costs more than the attempt on thousands of slices)
    def _place(self, key, v, core: int) -> None:
        self.c.place(key, v, core)
        self.log.append(("place", key, core))

    def _cut(self, key, res, core: int):
        c = self.c
        self.cuts += 1
        self.log.append(("cut", key, res, core, c.vec[key]))
        return c.cut(key, res, core)

    def _undo(self) -> None:
        c = self.c
        while self.log:
            entry = self.log.pop()
            if entry[0] == "place":
                c.unplace(entry[1], entry[2])
            elif entry[0] == "cut":
                c.uncut(*entry[1:])
            else:  # "empty": the core's slices and load
                _, core, keys, load = entry
                for k in keys:
                    c.core_of[k] = core
                    c.members[core][k] = None
                c.load[core] = load
                self.closed[core] = False

    def _fits(self, v: np.ndarray) -> np.ndarray:
        c = self.c
        n = self.closed.size
        return ~self.closed & c.fitting(v, n)

    def _step(self, key):
        """Place unplaced ``key`` whole on the open core it fills best (the largest fraction of a core used
        after it; returns None), or carve the largest piece that fits off it for the core that could take the
        largest share of it (returns the rest's key); False if neither is possible."""
        c = self.c
        layer, box = key
        v = c.vec[key]
        ok = np.nonzero(self._fits(v))[0]
        if ok.size:
            after = c.frac(c.load[ok] + v).max(axis=1)
            self._place(key, v, int(ok[int(np.argmax(after))]))
            return None
        if self.cuts >= MAX_CUTS:
            return False
        grain = c.grain(layer, box, v)
        if grain is None:
            return False
        cand = np.nonzero(self._fits(grain))[0]
        share = c.shares(v, cand)
        for core in cand[np.argsort(-share, kind="stable")[:PIECE_CORES]].tolist():
            res = c.try_carve(layer, box, core)
            if res is not None:
                return self._cut(key, res, core)
        return False

    def _rehouse(self, key) -> bool:
        """Place ``key`` (unplaced) whole or in pieces on the open cores; False if some of it found no room."""
        while True:
            key = self._step(key)
            if key is None:
                return True
            if key is False:
                return False

    def _empty(self, core: int, keys: list) -> bool:
        c = self.c
        for k in keys:
            del c.core_of[k]
            del c.members[core][k]
        self.log.append(("empty", core, keys, c.load[core].copy()))
        c.load[core] = 0.0
        self.closed[core] = True
        keys = sorted(keys, key=lambda k: -float(np.max(c.frac(c.vec[k]))))
        return all(self._rehouse(k) for k in keys)

    def run(self, attempts: int) -> None:
        c = self.c
        n = self.closed.size
        order = np.argsort(c.frac(c.load[:n]).sum(axis=1), kind="stable")  # the least used first
        failed: dict[tuple, int] = {}  # per set of layers a core holds: attempts failed since the last success
        for core in order.tolist():
            if attempts <= 0:
                break
            if self.closed[core]:
                continue
            keys = list(c.members.get(core, ()))
            sig = tuple(sorted({k[0] for k in keys}))
            if failed.get(sig, 0) >= SKIP_AFTER:
                continue
            attempts -= 1
            self.log.clear()
            self.cuts = 0
            if self._empty(core, keys):
                failed[sig] = 0
            else:
                self._undo()
                failed[sig] = failed.get(sig, 0) + 1

    def result(self) -> list[tuple[str, Box, int, int]]:
        c = self.c
        keep = np.cumsum(~self.closed) - 1
        return [(k[0], k[1], c.origin[k], int(keep[at])) for k, at in c.core_of.items()]


def empty_cores(carver, attempts: int | None = None) -> list[tuple[str, Box, int, int]]:
    """Try to empty the cores of a finished packing (``carver``: a ``carve.Carver`` after its run; see the
    module doc); returns (layer, box, origin, core) for every piece, cores numbered without gaps."""
    e = _Emptier(carver)
    e.run(EMPTY_ATTEMPTS if attempts is None else attempts)
    return e.result()
