"""Core-by-core filling with carving: a packing that mixes slices needing much of one resource with slices
needing much of another.

Cores are filled one at a time. A core takes, in the carver's order (coarse slices first), every whole slice
that still fits within the core's *share* of every resource; when none does, the largest piece that fits is
carved off the first slice whose smallest piece fits (``carve.Carver.try_carve``, output axons exact); the
core is closed when not even a smallest piece fits. The share of resource r is the limit times
min(1, (1 + slack) x F_r / F) for the resources pieces divide (neurons, synapse memory, parameter memory;
the others get their limit), F_r the fractional cores the slices still to place need of r (their total
over the limit) and F the largest of those F_r: a resource that does not bind is spread over the cores
instead of filling the first ones, so the neurons of an early convolution share cores with the synapse
memory of a deep one rather than each using cores of their own. Shares are recomputed whenever a core is
opened; a core that cannot take even a smallest piece within its shares takes one within the limits.
"""

from __future__ import annotations

import numpy as np

from .carve import MAX_FAILURES, Carver, coarse_first
from .connectivity import Box
from .resources import OUT, RESOURCES, ResourceModel
from .empty import empty_cores

#: a resource that does not bind may fill this much more than its even share of each core; the placer
#: fills once per value and keeps the packing with the fewest cores (no one value is best for every network:
#: ResNet-18 on loihi2 needs 225 cores with 0.15 and 213 with 0.2, a MobileNet-like CNN 44 and 45)
SLACKS = (0.15, 0.2)
#: resources given shares: those a slice's pieces divide (axons are per source unit or pixel, so a piece
#: of a few channels may need as many as the whole slice)
SHARED = ("neurons", "synapse_words", "param_bits")
#: networks split into more slices than this are not packed this way (its scans over every slice per step
#: cost a minute at ten thousand slices, where carving into open cores does as well)
FILL_MAX_SLICES = 3000
#: slices whose smallest piece fits that are tried for a cut before a core is closed; a slice whose cut
#: fails though its smallest piece fits (output axons: its own, or its feeders') is not cut again; after
#: MAX_FAILURES (carve.py) such failures no slice is cut any more (bounded time on thousands of slices)
MAX_TRIES = 8


class _Filler(Carver):
    def __init__(self, model: ResourceModel, items, cons, edges, slack: float):
        super().__init__(model, items, cons, edges)
        self.slack = slack
        self.keys: list[tuple[str, Box]] = coarse_first(self, items)
        self.row = {k: i for i, k in enumerate(self.keys)}
        self.V = np.array([self.vec[k] for k in self.keys]).reshape(len(self.keys), -1)
        self.G = np.array([self._grain(k) for k in self.keys]).reshape(len(self.keys), -1)
        self.alive = np.ones(len(self.keys), dtype=bool)
        self.nocut = np.zeros(len(self.keys), dtype=bool)
        self.shared = self.finite & np.isin(np.array(RESOURCES), SHARED)

    def _grain(self, key) -> np.ndarray:
        g = self.grain(key[0], key[1], self.vec[key])
        return np.full(len(self.cap), np.inf) if g is None else g

    def _share(self) -> np.ndarray:
        need = self.frac(self.V[self.alive].sum(0))
        top = float(need[self.shared].max(initial=0.0))
        share = self.cap.copy()
        if top > 0:
            share[self.shared] *= np.minimum(1.0, (1 + self.slack) * need[self.shared] / top)
        return share

    def _sync(self, key, more: int) -> None:
        """A feeding (unplaced) slice needs ``more`` output axons: copy its resources into the matrices; its
        smallest piece's output axons grow by at most as much (not recounted: thousands of feeders)."""
        i = self.row.get(key)
        if i is not None and self.alive[i]:
            self.V[i] = self.vec[key]
            self.G[i, OUT] = min(self.G[i, OUT] + more, self.V[i, OUT])

    def _take(self, i: int, core: int) -> None:
        key = self.keys[i]
        self.alive[i] = False
        self.place(key, self.vec[key], core)

    def _carve(self, core: int, room: np.ndarray) -> bool:
        """Cut a piece fitting ``room`` off one of the first slices whose smallest piece fits; True if done."""
        free = room - self.load[core]
        cand = np.nonzero(self.alive & ~self.nocut & np.all(self.G <= free, axis=1))[0]
        for i in cand[:MAX_TRIES]:
            if self.failures >= MAX_FAILURES:
                return False
            key = self.keys[i]
            res = self.try_carve(key[0], key[1], core, np.minimum(free, self.cap - self.load[core]))
            if res is None:  # its smallest piece fits, so its feeders' output axons or its own forbid cuts
                self.nocut[i] = True
                self.failures += 1
                continue
            feeders = res[3]
            rest = self.cut(key, res, core)
            self.keys[i], self.row[rest] = rest, i
            del self.row[key]
            self.V[i], self.G[i] = self.vec[rest], self._grain(rest)
            for fkey, more in feeders:
                self._sync(fkey, more)
            return True
        return False

    def run_fill(self) -> list[tuple[str, Box, int, int]]:
        core = -1
        while self.alive.any():
            core += 1
            self.grow(core)
            share = self._share()
            while True:
                ok = self.alive & np.all(self.load[core] + self.V <= share, axis=1)
                if ok.any():
                    self._take(int(np.argmax(ok)), core)
                    continue
                if self._carve(core, share):
                    continue
                if not np.any(self.load[core]) and np.any(share < self.cap):
                    share = self.cap.copy()  # nothing fits the shares of an empty core: use the limits
                    continue
                if not np.any(self.load[core]):  # not even an empty core takes it (output axons grew): placed
                    self._take(int(np.argmax(self.alive)), core)  # whole, the limit check refuses this packing
                break
        return [(k[0], k[1], self.origin[k], c) for k, c in self.core_of.items()]


def fill_pack(model: ResourceModel, items: list[tuple[str, Box, dict, int]], cons,
              edges=None, slack: float = SLACKS[0]) -> list[tuple[str, Box, int, int]]:
    """Like :func:`carve.carve_pack` (emptying cores after), filling core after core (see the module doc)
    with shares of ``slack``."""
    f = _Filler(model, items, cons, edges, slack)
    f.run_fill()
    return empty_cores(f)
