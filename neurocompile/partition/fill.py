"""Core-by-core filling (strategy ``fill``): a packing that mixes slices needing much of one resource with
slices needing much of another.

Cores are filled one at a time. A core takes, in carving's order (coarse slices first,
:func:`.cuts.coarse_first`), every whole slice that still fits within the core's *share* of every resource;
when none does, the largest piece that fits is cut off the first slice whose smallest piece fits
(:func:`.cuts.find_cut`, output axons exact); the core is closed when not even a smallest piece fits. The
share of resource r is the limit times min(1, (1 + slack) x F_r / F) for the resources pieces divide
(:data:`.cuts.DIVISIBLE`; the others get their limit), F_r the fractional cores the slices still to place
need of r (their total over the limit) and F the largest of those F_r: a resource that does not bind is
spread over the cores instead of filling the first ones, so the neurons of an early convolution share cores
with the synapse memory of a deep one rather than each using cores of their own. Shares are recomputed
whenever a core is opened; a core that cannot take even a smallest piece within its shares takes one within
the limits. The placer fills once per slack in ``tuning.SLACKS``, not above ``tuning.FILL_MAX_SLICES``
slices.
"""

from __future__ import annotations

import numpy as np

from . import tuning
from .cuts import DIVISIBLE, coarse_first, find_cut, grain
from .resources import OUT, RESOURCES
from .state import CoreState, Key
from .strategies import Strategy, register


@register
class Fill(Strategy):
    """Filling core after core within shares of ``slack`` (see the module doc)."""

    name = "fill"

    def __init__(self, slack: float = tuning.SLACKS[0]):
        self.slack = slack

    def applies(self, slices: int) -> bool:
        return slices <= tuning.FILL_MAX_SLICES

    def run(self, state: CoreState) -> None:
        self.state = s = state
        self.failures = 0  # cuts that failed though the smallest piece fitted (bounded: tuning.MAX_FAILURES)
        self.keys: list[Key] = coarse_first(s, s.unplaced())  # the slices still to place (rests replace them)
        self.row = {k: i for i, k in enumerate(self.keys)}
        self.V = np.array([s.vec[k] for k in self.keys]).reshape(len(self.keys), -1)
        self.G = np.array([self._grain(k) for k in self.keys]).reshape(len(self.keys), -1)
        self.alive = np.ones(len(self.keys), dtype=bool)
        self.nocut = np.zeros(len(self.keys), dtype=bool)
        self.shared = s.finite & np.isin(np.array(RESOURCES), DIVISIBLE)
        core = s.n_open - 1
        while self.alive.any():
            core += 1
            s.grow(core)
            share = self._share()
            while True:
                ok = self.alive & np.all(s.load[core] + self.V <= share, axis=1)
                if ok.any():
                    self._take(int(np.argmax(ok)), core)
                    continue
                if self._carve(core, share):
                    continue
                if not np.any(s.load[core]) and np.any(share < s.cap):
                    share = s.cap.copy()  # nothing fits the shares of an empty core: use the limits
                    continue
                if not np.any(s.load[core]):  # not even an empty core takes it (output axons grew): placed
                    self._take(int(np.argmax(self.alive)), core)  # whole, the limit check refuses this packing
                break

    def _grain(self, key: Key) -> np.ndarray:
        g = grain(self.state, key[0], key[1], self.state.vec[key])
        return np.full(len(self.state.cap), np.inf) if g is None else g

    def _share(self) -> np.ndarray:
        s = self.state
        need = s.frac(self.V[self.alive].sum(0))
        top = float(need[self.shared].max(initial=0.0))
        share = s.cap.copy()
        if top > 0:
            share[self.shared] *= np.minimum(1.0, (1 + self.slack) * need[self.shared] / top)
        return share

    def _sync(self, key: Key, more: int) -> None:
        """A feeding (unplaced) slice needs ``more`` output axons: copy its resources into the matrices; its
        smallest piece's output axons grow by at most as much (not recounted: thousands of feeders)."""
        i = self.row.get(key)
        if i is not None and self.alive[i]:
            self.V[i] = self.state.vec[key]
            self.G[i, OUT] = min(self.G[i, OUT] + more, self.V[i, OUT])

    def _take(self, i: int, core: int) -> None:
        self.alive[i] = False
        self.state.place(self.keys[i], core)

    def _carve(self, core: int, room: np.ndarray) -> bool:
        """Cut a piece fitting ``room`` off one of the first slices whose smallest piece fits; True if done."""
        s = self.state
        free = room - s.load[core]
        cand = np.nonzero(self.alive & ~self.nocut & np.all(self.G <= free, axis=1))[0]
        for i in cand[:tuning.MAX_TRIES]:
            if self.failures >= tuning.MAX_FAILURES:
                return False
            key = self.keys[i]
            cut = find_cut(s, key[0], key[1], core, np.minimum(free, s.cap - s.load[core]))
            if cut is None:  # its smallest piece fits, so its feeders' output axons or its own forbid cuts
                self.nocut[i] = True
                self.failures += 1
                continue
            rest = s.cut(key, cut, core)
            self.keys[i], self.row[rest] = rest, i
            del self.row[key]
            self.V[i], self.G[i] = s.vec[rest], self._grain(rest)
            for fkey, more in cut.feeders:
                self._sync(fkey, more)
            return True
        return False
