"""The state of one packing of slices onto cores, and the only code that changes it.

A packing strategy (:mod:`.strategies`) reads a :class:`CoreState` and changes it through its operations
only: :meth:`~CoreState.place` a slice on a core, :meth:`~CoreState.unplace` it, :meth:`~CoreState.cut` a
slice into a piece (placed on a core) and a rest (to be placed), :meth:`~CoreState.close` a core (its slices
taken off, the core given up). While a :meth:`~CoreState.checkpoint` is open, each operation logs its
inverse to an undo journal; :meth:`~CoreState.rollback` undoes everything since the checkpoint, exactly
(as nextpnr's and PACMAN's placers do), and :meth:`~CoreState.commit` keeps it. A strategy writes no undo
code of its own: emptying a core that cannot be emptied is a rollback.

A slice is a key ``(layer, box)``; its resources are a vector in ``RESOURCES`` order (floats holding
integers, so loads are exact sums and a load minus what was added is the load before). Output axons are
exact where the profile limits them: a slice's are counted against its consumers' current slices, and
cutting a slice in two adds, to every slice feeding it, the units that now feed both pieces (:meth:`cut`
takes them from the :class:`Cut` that :func:`.cuts.find_cut` worked out). Where output axons are not
limited they are not tracked while packing (the placement counts them after).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .connectivity import Box
from .resources import OUT, RESOURCES, ResourceModel

Key = tuple[str, Box]  #: a slice: its layer and box


class Cut(NamedTuple):
    """A cut of a slice found by :func:`.cuts.find_cut`, applied by :meth:`CoreState.cut`."""

    piece: Box  # goes to the core the cut was found for
    rest: Box  # still to place
    vector: np.ndarray  # the piece's resources, output axons exact
    feeders: list  # [(feeding slice key, output axons it gains)]


class CoreState:
    """Slices, their resources and the cores they are on, for one packing (see the module doc).

    Parameters
    ----------
    model : ResourceModel
        The network's resource model on the profile.
    items : list of (layer, box, resources, origin)
        The slices to pack (unplaced at first): resources a dict per ``RESOURCES`` name with exact output
        axons; origin their index 0..n-1, which every piece cut from them keeps.
    cons : dict
        Each layer's consumers (``resources.consumers``).
    edges : scipy.sparse.csr_matrix, optional
        Symmetric traffic between origins (spikes per step), for strategies that place by affinity.
    """

    def __init__(self, model: ResourceModel, items, cons, edges=None):
        self.model, self.cons, self.edges = model, cons, edges
        self.cap = np.array([np.inf if model.profile.limits[r] is None else float(model.profile.limits[r])
                             for r in RESOURCES])
        self.finite = np.isfinite(self.cap)
        self.boxes: dict[str, list[Box]] = {name: [] for name in model.layers}
        self._arr: dict[str, np.ndarray] = {}  # boxes of a layer as an (n, ndim, 2) array, until it is cut
        self._count: dict[str, dict] = {}  # output-axon counters toward a layer's slices, until it is cut
        self.vec: dict[Key, np.ndarray] = {}
        self.origin: dict[Key, int] = {}
        for layer, box, res, origin in items:
            self.boxes[layer].append(box)
            self.vec[(layer, box)] = np.array([float(res[r]) for r in RESOURCES])
            self.origin[(layer, box)] = origin
        self.core_of: dict[Key, int] = {}
        self.members: dict[int, dict[Key, None]] = {}  # per core its keys, in the order they came
        self.load = np.zeros((len(items) + 1, len(RESOURCES)))
        self.carved = np.zeros(len(items) + 1, dtype=np.int64)  # pieces cut for each core
        self.closed = np.zeros(len(items) + 1, dtype=bool)  # cores given up
        self.origin_core = np.full(len(items), -1, dtype=np.int64)  # core of (a piece of) each origin
        self.n_open = 0  # cores 0..n_open-1 have been opened
        self._journal: list[tuple] = []  # (inverse operation, its arguments), the latest last
        self._marks: list[int] = []  # journal lengths at the open checkpoints

    # ------------------------------------------------------------------------------------------ queries

    def unplaced(self) -> list[Key]:
        """Slices on no core, in the order they came (items first, then rests of cuts)."""
        return [k for k in self.vec if k not in self.core_of]

    def frac(self, v) -> np.ndarray:
        """``v`` (a vector, or rows of them) as fractions of a core's limits (0 where there is none)."""
        return np.where(self.finite, v / np.where(self.finite, self.cap, 1.0), 0.0)

    def shares(self, v: np.ndarray, cores: np.ndarray) -> np.ndarray:
        """For each of ``cores``, the share of a slice needing ``v`` that its free room could take (free /
        needed, the least over the resources)."""
        free = self.cap[None, :] - self.load[cores]
        return np.where(v > 0, free / np.where(v > 0, v, 1.0), np.inf).min(axis=1)

    def fitting(self, v: np.ndarray, n: int) -> np.ndarray:
        """Of cores 0..n-1, a boolean mask of those where ``v`` fits (the resource ``v`` needs most of is
        compared first, on every core; the others only where that one fits: most cores of a packing of
        thousands are full in some resource)."""
        r = int(np.argmax(self.frac(v)))
        room = self.cap - v  # loads are sums of integers: load <= cap - v exactly when load + v <= cap
        ok = self.load[:n, r] <= room[r]
        idx = np.flatnonzero(ok)
        if idx.size:
            ok[idx] = (self.load[idx] <= room).all(axis=1)
        return ok

    def base(self, layer: str, box: Box) -> np.ndarray:
        """A box's resources as a vector (RESOURCES order), output axons 0."""
        return np.array([float(x) for x in self.model.slice_resources(layer, box).values()])

    def vector(self, layer: str, box: Box) -> np.ndarray:
        """Exact resources of a (new) piece, output axons against the consumers' current slices."""
        v = self.base(layer, box)
        if not self.finite[OUT]:  # output axons not limited: recorded later, not needed for the packing
            return v
        v[OUT] = sum(self._counter(d, c)(box) for d, c in self.cons.get(layer, []))
        return v

    def _counter(self, dst: str, conn):
        """Output axons of a box of ``conn``'s source toward ``dst``'s current slices."""
        counts = self._count.setdefault(dst, {})
        hit = counts.get(id(conn))
        if hit is None:
            hit = counts[id(conn)] = conn.counter(self.boxes[dst], self.model.pixel_mode(conn))
        return hit

    def feeders(self, layer: str, old: Box, parts: tuple[Box, Box]) -> list:
        """[(feeding slice key, extra output axons)] when ``old`` is replaced by ``parts``."""
        out = []
        if not self.finite[OUT]:
            return out
        for conn in self.model.conns[layer]:
            src = conn.source
            if src not in self.boxes or not self.boxes[src]:
                continue
            arr = self._arr.get(src)
            if arr is None:
                arr = self._arr[src] = np.asarray(self.boxes[src], dtype=np.int64).reshape(len(self.boxes[src]), -1, 2)
            pixel = self.model.pixel_mode(conn)
            delta = sum(conn.overlap(p, arr, pixel) for p in parts) - conn.overlap(old, arr, pixel)
            out += [((src, self.boxes[src][i]), int(delta[i])) for i in np.nonzero(delta > 0)[0]]
        return out

    def feeders_fit(self, feeders: list, core: int, piece_out: float) -> bool:
        """Do the feeders' extra output axons fit, on their cores together with the piece's own output axons
        on ``core`` (a feeder may sit on the core that takes the piece)?"""
        extra: dict = {core: piece_out}
        for key, d in feeders:
            at = self.core_of.get(key)
            if at is None:
                if self.vec[key][OUT] + d > self.cap[OUT]:
                    return False
            else:
                extra[at] = extra.get(at, 0) + d
        return all(self.load[c, OUT] + d <= self.cap[OUT] for c, d in extra.items())

    def pieces(self) -> list[tuple[str, Box, int, int]]:
        """(layer, box, origin, core) of every placed slice, the cores given up left out of the numbering."""
        keep = np.cumsum(~self.closed[:self.n_open]) - 1
        return [(k[0], k[1], self.origin[k], int(keep[at])) for k, at in self.core_of.items()]

    # ---------------------------------------------------------------------------------------- operations

    def grow(self, core: int) -> None:
        """Make room for ``core`` (more cores than slices when pieces are cut across cores); changes nothing
        a strategy can see, so it is not journalled."""
        while core >= len(self.load):
            self.load = np.vstack([self.load, np.zeros_like(self.load)])
            self.carved = np.concatenate([self.carved, np.zeros_like(self.carved)])
            self.closed = np.concatenate([self.closed, np.zeros_like(self.closed)])

    def place(self, key: Key, core: int) -> None:
        """Put the unplaced slice ``key`` on ``core`` (opened if it is new)."""
        if key in self.core_of:
            raise ValueError(f"slice {key[0]}{list(key[1])} is on core {self.core_of[key]} already")
        self.grow(core)
        o = self.origin[key]
        if self._marks:
            self._journal.append((self._unplace, key, self.n_open, int(self.origin_core[o])))
        self.n_open = max(self.n_open, core + 1)
        self.load[core] += self.vec[key]
        self.core_of[key] = core
        self.members.setdefault(core, {})[key] = None
        self.origin_core[o] = core

    def _unplace(self, key: Key, n_open: int, origin_core: int) -> None:
        """Undo :meth:`place`."""
        core = self.core_of.pop(key)
        self.load[core] -= self.vec[key]
        del self.members[core][key]
        self.n_open, self.origin_core[self.origin[key]] = n_open, origin_core

    def unplace(self, key: Key) -> None:
        """Take the slice ``key`` off its core."""
        core = self.core_of[key]
        if self._marks:
            self._journal.append((self._replace, key, core, tuple(self.members[core])))
        self.load[core] -= self.vec[key]
        del self.core_of[key], self.members[core][key]

    def _replace(self, key: Key, core: int, order: tuple) -> None:
        """Undo :meth:`unplace` (the core's slices in their order before)."""
        self.load[core] += self.vec[key]
        self.core_of[key] = core
        self.members[core] = dict.fromkeys(order)

    def cut(self, key: Key, cut: Cut, core: int) -> Key:
        """Apply ``cut`` (found by :func:`.cuts.find_cut` for ``core``) to the unplaced slice ``key``: its
        piece goes to ``core``, the feeders' output axons grow; returns the key of the rest (unplaced)."""
        if key in self.core_of:
            raise ValueError(f"slice {key[0]}{list(key[1])} is on core {self.core_of[key]}: unplace it to cut it")
        layer, box = key
        for fkey, d in cut.feeders:
            self.vec[fkey][OUT] += d
            if fkey in self.core_of:
                self.load[self.core_of[fkey], OUT] += d
        i = self.boxes[layer].index(box)
        self.boxes[layer][i:i + 1] = [cut.piece, cut.rest]
        self._arr.pop(layer, None)
        self._count.pop(layer, None)
        origin = self.origin.pop(key)
        v = self.vec.pop(key)
        if self._marks:
            self._journal.append((self._uncut, key, cut, core, v))
        self.vec[(layer, cut.piece)], self.origin[(layer, cut.piece)] = cut.vector, origin
        self.vec[(layer, cut.rest)], self.origin[(layer, cut.rest)] = self.vector(layer, cut.rest), origin
        self.carved[core] += 1
        self.place((layer, cut.piece), core)
        return layer, cut.rest

    def _uncut(self, key: Key, cut: Cut, core: int, v: np.ndarray) -> None:
        """Undo :meth:`cut` (its piece's placing is undone before, from its own journal entry): the slice
        ``key`` (resources ``v``) replaces its piece and rest, the feeders' output axons shrink back."""
        layer, box = key
        del self.vec[(layer, cut.piece)], self.vec[(layer, cut.rest)], self.origin[(layer, cut.rest)]
        self.vec[key], self.origin[key] = v, self.origin.pop((layer, cut.piece))
        i = self.boxes[layer].index(cut.piece)
        self.boxes[layer][i:i + 2] = [box]
        self._arr.pop(layer, None)
        self._count.pop(layer, None)
        self.carved[core] -= 1
        for fkey, d in cut.feeders:
            self.vec[fkey][OUT] -= d
            if fkey in self.core_of:
                self.load[self.core_of[fkey], OUT] -= d

    def close(self, core: int) -> list[Key]:
        """Give ``core`` up: its slices (returned, in the order they came) are taken off it, and nothing can
        be placed on it (:meth:`open_fitting`) until the close is rolled back."""
        keys = list(self.members.get(core, ()))
        if self._marks:
            self._journal.append((self._reopen, core, keys, self.load[core].copy()))
        for k in keys:
            del self.core_of[k], self.members[core][k]
        self.load[core] = 0.0
        self.closed[core] = True
        return keys

    def _reopen(self, core: int, keys: list[Key], load: np.ndarray) -> None:
        """Undo :meth:`close`."""
        for k in keys:
            self.core_of[k] = core
            self.members[core][k] = None
        self.load[core] = load
        self.closed[core] = False

    def open_fitting(self, v: np.ndarray, n: int) -> np.ndarray:
        """:meth:`fitting` without the cores given up."""
        return ~self.closed[:n] & self.fitting(v, n)

    # ------------------------------------------------------------------------------------------- journal

    def checkpoint(self) -> None:
        """Start journalling (checkpoints nest): the operations from here on can be rolled back."""
        self._marks.append(len(self._journal))

    def rollback(self) -> None:
        """Undo every operation since the last open checkpoint, latest first, and close that checkpoint."""
        mark = self._pop_mark()
        while len(self._journal) > mark:
            undo, *args = self._journal.pop()
            undo(*args)

    def commit(self) -> None:
        """Keep the operations since the last open checkpoint and close it (an enclosing checkpoint can still
        roll them back)."""
        self._pop_mark()
        if not self._marks:
            self._journal.clear()

    def _pop_mark(self) -> int:
        if not self._marks:
            raise RuntimeError("rollback / commit with no open checkpoint")
        return self._marks.pop()
