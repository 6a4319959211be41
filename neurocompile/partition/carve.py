"""First-fit decreasing with carving: when a slice fits no open core, cut from it the largest piece that fits
the open core that best fills with it, and go on with the rest.

Slices are sorted by the largest fraction of a core that their smallest piece needs (coarse slices first, so
that finely divisible ones come last and fill the gaps), then by their own largest fraction. Each goes,
whole, to an open core where it fits (the one it exchanges the most spikes with, else the first); if none
has room, a piece is carved off it along the first axis where one fits (channels, then rows, then columns;
ranges for vectors) for an open core where its smallest piece fits (one unit along an axis; where output
axons are limited, along the axis whose unit piece needs the least: with pixel axons a channel piece keeps
every pixel's output axons, a band of rows does not): among those that could take at least 5 % of the
slice (ratio free / needed over the resources), the best fit first (the one that could take the least: the
gaps left by coarse slices are filled), trying up to 4 cores (the best fit may have the room but not in the
resources a piece needs); the rest goes back to the front of the queue. A core receives at most two carved
pieces, so carving adds at most two slices per core. After 200 slices for which no cut was found carving
stops (bounded time on networks of thousands of slices).

Output axons are kept exact throughout: a piece's own output axons are counted against its consumers' current
slices, and cutting a slice in two adds, to every slice feeding it, the units that now feed both pieces; a cut
that would push any such slice (or the core it sits on) over the output-axon limit is not made. Where output
axons are not limited (FPGA profiles) they are not tracked while packing (the placement counts them after).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .connectivity import Box, box_size
from .empty import empty_cores
from .pack import affinity
from .resources import OUT, RESOURCES, ResourceModel

#: resources that grow with a piece's length (the others: per slice, or per source unit / pixel)
_SCALING = [RESOURCES.index(r) for r in ("neurons", "synapse_words", "param_bits")]
MAX_PIECES = 2  # carved pieces a core may receive
MIN_SHARE = 0.05  # carve only when the chosen core could take at least this share of the slice
#: open cores (best fit first) a slice tries to carve a piece for before it opens a core of its own
CARVE_CORES = 4
MAX_FAILURES = 200  # after this many cuts that found no piece, stop trying (bounded time on huge networks)
#: carving is not tried on more slices than this: its time grows with slices times open cores (VGG-16 on an
#: unbounded FPGA profile, 18,913 slices on 13,208 cores: 37 s for 12,455 cores, where emptying the first
#: fit's cores takes 9 s for 12,554)
CARVE_MAX_SLICES = 10_000


class Carver:
    def __init__(self, model: ResourceModel, items, cons, edges):
        self.model, self.cons, self.edges = model, cons, edges
        self.cap = np.array([np.inf if model.profile.limits[r] is None else float(model.profile.limits[r])
                             for r in RESOURCES])
        self.finite = np.isfinite(self.cap)
        self.boxes: dict[str, list[Box]] = {name: [] for name in model.layers}
        self._arr: dict[str, np.ndarray] = {}  # boxes of a layer as an (n, ndim, 2) array, until it is cut
        self._count: dict[str, dict] = {}  # output-axon counters toward a layer's slices, until it is cut
        self.vec: dict[tuple, np.ndarray] = {}
        self.origin: dict[tuple, int] = {}
        for layer, box, res, origin in items:
            self.boxes[layer].append(box)
            self.vec[(layer, box)] = np.array([float(res[r]) for r in RESOURCES])
            self.origin[(layer, box)] = origin
        self.core_of: dict[tuple, int] = {}
        self.members: dict[int, dict[tuple, None]] = {}  # per core its keys, in the order they came
        self.load = np.zeros((len(items) + 1, len(RESOURCES)))
        self.carved = np.zeros(len(items) + 1, dtype=np.int64)  # pieces carved into each core
        self.origin_core = np.full(len(items), -1, dtype=np.int64)  # core of (a piece of) each origin
        self.n_open = 0
        self.failures = 0

    def frac(self, v) -> np.ndarray:
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

    def _feeders(self, layer: str, old: Box, parts: tuple[Box, Box]):
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

    def _feeders_fit(self, feeders, core: int, piece_out: float) -> bool:
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

    def try_carve(self, layer: str, box: Box, core: int, free: np.ndarray | None = None):
        """Cut ``box`` into (piece fitting ``core``, rest); None if no cut fits. ``free``: the room to fit
        the piece in (default: what ``core`` has left)."""
        free = self.cap - self.load[core] if free is None else free
        for ax, (lo, hi) in enumerate(box):
            if hi - lo < 2:
                continue

            def cut(m):
                return box[:ax] + ((lo, lo + m),) + box[ax + 1:], box[:ax] + ((lo + m, hi),) + box[ax + 1:]

            def fits(m) -> bool:
                return bool(np.all(self.base(layer, cut(m)[0]) <= free))
            # the largest fitting length, first guessed in proportion to the box's resources (a piece's
            # resources roughly scale with its length): two probes when the guess is right, else bisection
            good, bad = 0, hi - lo
            whole = self.vec[(layer, box)] if (layer, box) in self.vec else None
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
                pv = self.vector(layer, piece)
                # the rest must fit an empty core too: synapse memory is not monotone in the box (a part of
                # a row has boundary variants of the kernel that the whole row does not), output axons are
                if np.all(pv <= free) and np.all(self.base(layer, rest) <= self.cap):
                    feeders = self._feeders(layer, box, (piece, rest))
                    if self._feeders_fit(feeders, core, pv[OUT]):
                        return piece, rest, pv, feeders
                good = good // 2
        return None

    def grain(self, layer: str, box: Box, v: np.ndarray, exact: bool = True) -> np.ndarray | None:
        """Resources of the smallest piece :meth:`try_carve` could cut (one unit along an axis of extent > 1);
        None if the box cannot be cut. Where output axons are not limited, along the first such axis (output
        axons in proportion to units); where they are, exact along every such axis, the one whose largest
        fraction of a core is least (a channel piece of a convolution keeps every pixel, so with pixel axons
        it needs the whole slice's output axons, and a band of rows may be the smallest piece)."""
        best, best_frac = None, np.inf
        for ax, (lo, hi) in enumerate(box):
            if hi - lo >= 2:
                sub = box[:ax] + ((lo, lo + 1),) + box[ax + 1:]
                if not (exact and self.finite[OUT]):
                    g = self.base(layer, sub)
                    g[OUT] = np.ceil(v[OUT] * box_size(sub) / box_size(box))
                    return g
                g = self.vector(layer, sub)
                f = float(np.max(self.frac(g)))
                if f < best_frac:
                    best, best_frac = g, f
        return best

    def cut(self, key, res, core: int) -> tuple:
        """Apply a cut found by :meth:`try_carve`: the piece goes to ``core``, the feeders' output axons grow;
        returns the key of the rest (still to place)."""
        layer, box = key
        piece, rest, pv, feeders = res
        for fkey, d in feeders:
            self.vec[fkey][OUT] += d
            if fkey in self.core_of:
                self.load[self.core_of[fkey], OUT] += d
        i = self.boxes[layer].index(box)
        self.boxes[layer][i:i + 1] = [piece, rest]
        self._arr.pop(layer, None)
        self._count.pop(layer, None)
        origin = self.origin.pop(key)
        del self.vec[key]
        self.vec[(layer, piece)], self.origin[(layer, piece)] = pv, origin
        self.vec[(layer, rest)], self.origin[(layer, rest)] = self.vector(layer, rest), origin
        self.place((layer, piece), pv, core)
        return layer, rest

    def uncut(self, key, res, core: int, v: np.ndarray) -> None:
        """Undo :meth:`cut` of ``key`` (``v``: its resources before the cut) once everything done after it
        has been undone: the piece leaves ``core``, the slice replaces its piece and rest, the feeders'
        output axons shrink back."""
        layer, box = key
        piece, rest, _, feeders = res
        self.unplace((layer, piece), core)
        origin = self.origin[(layer, piece)]
        for k in ((layer, piece), (layer, rest)):
            del self.vec[k], self.origin[k]
        self.vec[key], self.origin[key] = v, origin
        i = self.boxes[layer].index(piece)
        self.boxes[layer][i:i + 2] = [box]
        self._arr.pop(layer, None)
        self._count.pop(layer, None)
        for fkey, d in feeders:
            self.vec[fkey][OUT] -= d
            if fkey in self.core_of:
                self.load[self.core_of[fkey], OUT] -= d

    def grow(self, core: int) -> None:
        """Make room for ``core`` (more cores than slices when pieces are carved across cores)."""
        if core >= len(self.load):
            self.load = np.vstack([self.load, np.zeros_like(self.load)])
            self.carved = np.concatenate([self.carved, np.zeros_like(self.carved)])

    def place(self, key, v, core):
        self.grow(core)
        self.n_open = max(self.n_open, core + 1)
        self.load[core] += v
        self.core_of[key] = core
        self.members.setdefault(core, {})[key] = None
        self.origin_core[self.origin[key]] = core

    def unplace(self, key, core: int) -> None:
        """Undo :meth:`place` (``n_open`` and ``origin_core``, read only while packing, stay as they are)."""
        self.load[core] -= self.vec[key]
        del self.core_of[key]
        del self.members[core][key]

    def run(self, order) -> list[tuple[str, Box, int, int]]:
        queue = deque(order)
        while queue:
            key = queue.popleft()
            layer, box = key
            v = self.vec[key]
            ok = np.flatnonzero(self.fitting(v, self.n_open))
            if ok.size:
                core = int(ok[0])
                if self.edges is not None and ok.size > 1:
                    aff = affinity(self.edges, self.origin[key], self.origin_core, self.n_open)[ok]
                    if aff.max() > 0:
                        core = int(ok[int(np.argmax(aff))])
                self.place(key, v, core)
                continue
            grain = self.grain(layer, box, v)
            room = self.carved[:self.n_open] < MAX_PIECES
            if grain is not None:  # cores where the smallest piece of the slice fits
                room &= self.fitting(grain, self.n_open)
            open_ = np.nonzero(room)[0] if grain is not None else np.zeros(0, np.int64)
            done = False
            if open_.size:  # among them the best fit that could take MIN_SHARE of the slice (see the doc)
                share = self.shares(v, open_)
                enough = share >= MIN_SHARE
                rank = np.argsort(np.where(enough, share, np.inf), kind="stable")[:int(enough.sum())]
                res = None
                if self.failures < MAX_FAILURES and rank.size:
                    for core in open_[rank[:CARVE_CORES]].tolist():
                        res = self.try_carve(layer, box, core)
                        if res is not None:
                            break
                    self.failures += res is None
                if res is not None:
                    queue.appendleft(self.cut(key, res, core))
                    self.carved[core] += 1
                    done = True
            if not done:
                self.place(key, v, self.n_open)
        return [(k[0], k[1], self.origin[k], c) for k, c in self.core_of.items()]


def coarse_first(c: Carver, items) -> list[tuple[str, Box]]:
    """Keys of ``items`` sorted by the largest fraction of a core their smallest piece needs, then their own
    (coarse slices first, finely divisible ones last to fill the gaps)."""
    key = []
    for layer, box, _, _ in items:
        v = c.vec[(layer, box)]
        g = c.grain(layer, box, v, exact=False)
        key.append((-float(np.max(c.frac(v if g is None else g))), -float(np.max(c.frac(v)))))
    order = sorted(range(len(items)), key=lambda i: (key[i], i))
    return [(items[i][0], items[i][1]) for i in order]


def carve_pack(model: ResourceModel, items: list[tuple[str, Box, dict, int]], cons,
               edges=None) -> list[tuple[str, Box, int, int]]:
    """Pack ``items`` (layer, box, resources with exact output axons, origin id 0..n-1) onto cores, then
    empty the cores others have room for (:func:`empty.empty_cores`); returns (layer, box, origin, core) for
    every piece. ``edges``: symmetric CSR traffic between origins."""
    c = Carver(model, items, cons, edges)
    c.run(coarse_first(c, items))
    return empty_cores(c)


def empty_pack(model: ResourceModel, items: list[tuple[str, Box, dict, int]], cons, edges=None, *,
               cores: list[int]) -> list[tuple[str, Box, int, int]]:
    """The first fit's packing (``cores``: each item's core there) with its cores emptied where the others
    have room (:func:`empty.empty_cores`), no carving before: the first fit leaves every slice whole, and
    the emptier cuts where a piece fills a gap (VGG-16 on ``loihi1``: 2,887 cores against carving's 2,909;
    VGG-11 on the unbounded FPGA profile 8,381 against 8,409, in an eighth of the time)."""
    c = Carver(model, items, cons, edges)
    for i in sorted(range(len(items)), key=lambda i: (cores[i], i)):
        key = (items[i][0], items[i][1])
        c.place(key, c.vec[key], cores[i])
    return empty_cores(c)
