"""Structural connectivity of every (source, placed layer) pair, queried per slice of the layer.

A *placed layer* is a node whose units live on cores: a neuron population (Neurons, Encoder), the readout
(Output) and the MaxPool2d gates. Its *connections* are the synaptic chain feeding it, one per source
(``ir.chains``); a gate has one connection, to what it pools, with no weights.

Two implementations answer the same queries for a *box* of the layer (a range per axis of its shape):

* :class:`ConvConn` for paths made of convolutions, average pools and Add inputs (every conv layer of a
  CNN): the path is composed into one structural kernel over *composite taps* (a tap per op on the path)
  and, per axis, a table of the source index each (output index, composite tap) reaches (-1 where some op
  on the way reads padding). Queries cost O(kernel) per distinct row / column pattern, not per synapse.
* :class:`MatrixConn` for everything else (Flatten, Linear, a source reaching the layer by two paths): an
  explicit sparse 0/1 matrix (layer units x source units) of the composed chain.

Synapse counts are structural: a weight that is zero in the integer IR is not a synapse. ``ConvConn``
counts one synapse per (source unit, composite tap, target unit); that equals the number of distinct
(source, target) pairs unless two taps of the path meet the same pair (pools with overlapping windows
before a conv), where it is an upper bound. ``MatrixConn`` counts distinct pairs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import QuantizationError
from ..fixedpoint import signed_width
from ..ir import Graph
from ..ir.chains import chains
from ..ir.matrices import chain_matrices
from ..ir.ops import PASS
from .tuning import DIRECT_MAX, DIRECT_SOURCES, GRID_FACTOR, MAX_TAPS, OVERLAP_BATCH, SHAPE_CACHE

Box = tuple[tuple[int, int], ...]  #: one [lo, hi) range per axis of a layer's shape


@dataclass
class Query:
    """What one box of a layer receives over one connection."""

    units: int  # distinct source units (neurons) connected
    pixels: int  # distinct source pixels connected (= units for vector sources)
    unit_syn: np.ndarray  # synapse counts of connected source units (one entry per group of units) ...
    unit_mult: np.ndarray  # ... and how many units the entry stands for
    set_syn: np.ndarray | None  # ConvConn: size of each distinct weight set (shared storage); else None
    kernel_syn: int = 0  # ConvConn: synapses of the kernel part the box uses (its channels, every tap in use)


@dataclass
class _TapCounts:
    """What a ConvConn box's counts are, apart from how many source pixels each pattern group stands for: per
    group (row pattern, column pattern) its connected channels ``per`` (Ky, Kx) and whether it has any
    (``used``); the synapse counts of its connected (group, source channel) pairs and of its used groups;
    the kernel's synapses in use; the used groups (row pattern ``k``, column pattern ``m``) and their
    connected-channel masks ``nz`` (Ky, Kx, I), whose ids (``ids``, for overlaps) are made when first
    asked for."""

    per: np.ndarray
    used: np.ndarray
    unit_syn: np.ndarray
    set_syn: np.ndarray
    kernel: int
    k: np.ndarray
    m: np.ndarray
    nz: np.ndarray
    ids: np.ndarray | None = None


def box_size(box: Box) -> int:
    return math.prod(hi - lo for lo, hi in box)


def full_box(shape: tuple[int, ...]) -> Box:
    return tuple((0, int(s)) for s in shape)


def box_index(box: Box) -> tuple[slice, ...]:
    return tuple(slice(lo, hi) for lo, hi in box)


class Conn:
    source: str
    target: str
    src_shape: tuple[int, ...]
    dst_shape: tuple[int, ...]
    weight_bits: int  # width of a stored weight (0: a gate, no synapse memory)
    conv_like = False

    def query(self, box: Box) -> Query:
        raise NotImplementedError

    def fanin_mask(self, box: Box) -> np.ndarray:
        """Boolean mask over the source's shape: units connected to some unit of ``box``."""
        raise NotImplementedError

    def overlap_many(self, boxes: list[Box], src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        """``overlap`` summed over several boxes of the layer (the output axons of each source box)."""
        return sum((self.overlap(b, src_boxes, pixel) for b in boxes), np.zeros(len(src_boxes), np.int64))

    def counter(self, boxes: list[Box], pixel: bool = False):
        """A function source box -> :meth:`overlap_many` of ``boxes`` for that one box (for many queries
        against the same boxes)."""
        def count(box: Box) -> int:
            return int(self.overlap_many(boxes, np.asarray([box], dtype=np.int64).reshape(1, -1, 2), pixel)[0])
        return count

    def overlap_matrix(self, boxes: list[Box], src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        """(len(boxes), S) matrix of ``overlap`` for every box of the layer."""
        return np.stack([self.overlap(b, src_boxes, pixel) for b in boxes]) if boxes else \
            np.zeros((0, len(src_boxes)), np.int64)

    def overlap(self, box: Box, src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        """For each source box (array (S, ndim, 2)), how many of its units (``pixel``: pixels with some unit)
        feed ``box``."""
        mask = self.fanin_mask(box)
        if pixel:
            return np.array([mask[box_index(tuple(map(tuple, b)))].any(0).sum() for b in src_boxes], dtype=np.int64)
        return box_sums(integral(mask), src_boxes).round().astype(np.int64)


@dataclass
class _Stage:
    stride: int
    offset: int  # -padding
    taps: np.ndarray  # input offset of each tap (k * dilation)
    size_in: int


def _axis_table(stages: list[_Stage], out_size: int) -> np.ndarray:
    """(out_size, T) source index reached from each output index through each composite tap, -1 if the path
    crosses padding; composite tap index has the stage nearest the target most significant."""
    sizes = [len(s.taps) for s in stages]
    t = np.arange(int(np.prod(sizes)) if sizes else 1)
    digits, rem = [], t
    for k in sizes:
        digits.append(rem % k)
        rem = rem // k
    p = np.repeat(np.arange(out_size)[:, None], len(t), axis=1)
    valid = np.ones_like(p, dtype=bool)
    for st, d in zip(reversed(stages), reversed(digits)):
        p = p * st.stride + st.offset + st.taps[d][None, :]
        valid &= (p >= 0) & (p < st.size_in)
    return np.where(valid, p, -1)


def _patterns(table: np.ndarray, lo: int, hi: int, size_in: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Distinct non-empty tap sets of the source indices that output range [lo, hi) reaches:
    [(tap indices, source indices having exactly that set)]."""
    bits = np.zeros(size_in, dtype=np.int64)
    sub = table[lo:hi]
    for t in range(sub.shape[1]):
        col = sub[:, t]
        np.bitwise_or.at(bits, col[col >= 0], np.int64(1) << t)
    out = []
    for b in np.unique(bits[bits != 0]):
        taps = np.array([t for t in range(sub.shape[1]) if (int(b) >> t) & 1])
        out.append((taps, np.nonzero(bits == b)[0]))
    return out


def _compose(a: tuple[str, np.ndarray], b: tuple[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """Channel/tap mask of op ``b`` applied after ``a``; 'diag' masks are (C, Ty, Tx) (channel-preserving),
    'full' masks (O, I, Ty, Tx). New composite tap = tap_b * T_a + tap_a."""
    (ka, ma), (kb, mb) = a, b
    if ka == "diag" and kb == "diag":
        m = mb[:, :, None, :, None] & ma[:, None, :, None, :]
        return "diag", m.reshape(m.shape[0], m.shape[1] * m.shape[2], m.shape[3] * m.shape[4])
    if ka == "full" and kb == "diag":
        m = mb[:, None, :, None, :, None] & ma[:, :, None, :, None, :]
    elif ka == "diag" and kb == "full":
        m = mb[:, :, :, None, :, None] & ma[None, :, None, :, None, :]
    else:
        m = np.einsum("omyx,miab->oiyaxb", mb.astype(np.float32), ma.astype(np.float32)) > 0
    o, i, y1, y2, x1, x2 = m.shape
    return "full", m.reshape(o, i, y1 * y2, x1 * x2)


class _Groups:
    """Stacked pattern groups of one or more boxes of a ConvConn's target: connected-channel mask ids (G,),
    row and column prefix counts (G, H+1), (G, W+1), and the box of each group (``seg``, sorted; None: all
    of one box)."""

    def __init__(self, ids, py, px, seg=None, n_seg: int = 1):
        self.ids, self.py, self.px, self.n_seg = ids, py, px, n_seg
        self.seg = np.zeros(len(ids), np.int64) if seg is None else np.asarray(seg, np.int64)

    def seg_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """(first group of each box that has groups, that box)."""
        starts = np.flatnonzero(np.r_[True, self.seg[1:] != self.seg[:-1]])
        return starts, self.seg[starts]

    def pairs(self):
        """The set-up of the grouped computation: (masks used U, mask row of each (box, mask) pair, box of
        each pair, first pair of each box, (pairs x G) 0/1 matrix of the groups of each pair)."""
        u, uinv = np.unique(self.ids, return_inverse=True)
        pair, pinv = np.unique(self.seg * len(u) + uinv.reshape(-1), return_inverse=True)  # box-major
        one = sp.csc_matrix((np.ones(len(self.ids), np.int64), (pinv.reshape(-1), np.arange(len(self.ids)))),
                            shape=(len(pair), len(self.ids)))
        box_of = pair // len(u)
        starts = np.flatnonzero(np.r_[True, box_of[1:] != box_of[:-1]])
        return u, pair % len(u), box_of, starts, one


class ConvConn(Conn):
    conv_like = True

    def __init__(self, source, target, src_shape, dst_shape, ops_masks, stages_y, stages_x, weight_bits):
        self.source, self.target = source, target
        self.src_shape, self.dst_shape = tuple(src_shape), tuple(dst_shape)
        self.weight_bits = weight_bits
        kind, mask = ops_masks
        self.kind, self.mask = kind, mask
        self.ty = _axis_table(stages_y, dst_shape[1])
        self.tx = _axis_table(stages_x, dst_shape[2])
        self._cum = None
        self._pat: dict = {}
        self._pre: dict = {}
        self._stack: dict = {}
        self._chan_ids: dict[bytes, int] = {}  # connected-channel mask -> id (groups often share one)
        self._chan_rows: list[np.ndarray] = []  # prefix counts of each mask, (I + 1,)
        self._chan_pre = np.zeros((0, self.src_shape[0] + 1), np.int64)
        self._shape_ids: dict[tuple, int] = {}  # tap pattern matrix -> id (see _by_taps)
        self._by_shape: dict[tuple, _TapCounts] = {}

    def _pattern(self, axis: int, lo: int, hi: int):
        key = (axis, lo, hi)
        if key not in self._pat:
            table = self.ty if axis == 1 else self.tx
            self._pat[key] = _patterns(table, lo, hi, self.src_shape[axis])
        return self._pat[key]

    def _counts(self, c0: int, c1: int) -> np.ndarray:
        """(I, Ty, Tx) synapse counts per source channel and composite tap for output channels [c0, c1), as
        float64 (exact: small integers; the matrix products that use them are in float64)."""
        if self.kind == "diag":
            out = np.zeros(self.mask.shape)
            out[c0:c1] = self.mask[c0:c1]
            return out
        if c1 - c0 <= 8:
            return self.mask[c0:c1].sum(0, dtype=np.float64)
        if self._cum is None:
            dt = np.int16 if self.mask.shape[0] < 32767 else np.int32
            self._cum = np.concatenate([np.zeros((1, *self.mask.shape[1:]), dt), np.cumsum(self.mask, 0, dtype=dt)])
        return np.subtract(self._cum[c1], self._cum[c0], dtype=np.float64)

    def _tap_matrix(self, axis: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the row (``axis`` 1) or column (2) patterns of [lo, hi): a patterns x taps 0/1 matrix, the
        source indices per pattern and, per pattern, prefix counts of its source indices (patterns, size + 1)."""
        key = ("m", axis, lo, hi)
        if key not in self._pat:
            pats = self._pattern(axis, lo, hi)
            taps = (self.ty if axis == 1 else self.tx).shape[1]
            a = np.zeros((len(pats), taps))
            pre = np.zeros((len(pats), self.src_shape[axis] + 1), np.int64)
            for k, (t, idx) in enumerate(pats):
                a[k, t] = 1.0
                pre[k, 1 + idx] = 1
            np.cumsum(pre, axis=1, out=pre)
            self._pat[key] = (a, np.array([len(idx) for _, idx in pats], dtype=np.int64), pre)
            self._pat[("id",) + key[1:]] = self._shape_ids.setdefault((a.shape, a.tobytes()), len(self._shape_ids))
        return self._pat[key]

    def _by_taps(self, box: Box) -> tuple["_TapCounts", tuple, tuple]:
        """What ``box``'s counts are, cached per channel range and row / column tap patterns (boxes whose rows
        and columns reach the source through the same taps, such as a tile's translates away from the map's
        edges, share it; bounded: cleared when it holds ``SHAPE_CACHE`` entries), with the box's row and
        column tap matrices (:meth:`_tap_matrix`)."""
        (c0, c1), (h0, h1), (w0, w1) = box
        ty, tx = self._tap_matrix(1, h0, h1), self._tap_matrix(2, w0, w1)
        key = (c0, c1, self._pat[("id", 1, h0, h1)], self._pat[("id", 2, w0, w1)])
        hit = self._by_shape.get(key)
        if hit is None:
            if len(self._by_shape) >= SHAPE_CACHE:
                self._by_shape.clear()
            hit = self._by_shape[key] = self._tap_counts(box)
        return hit, ty, tx

    def _tap_counts(self, box: Box) -> "_TapCounts":
        n, cnt, (ay, _, _), (ax, _, _) = self._pattern_counts(box)
        nz = n > 0
        per = nz.sum(-1)  # (Ky, Kx) connected channels of each group
        used = per > 0
        taps_y, taps_x = ay.any(0), ax.any(0)
        kernel = int(cnt.sum(0)[taps_y][:, taps_x].sum()) if taps_y.any() and taps_x.any() else 0
        k, m = np.nonzero(used)
        return _TapCounts(per, used, n[nz], n.sum(-1)[used].astype(np.int64), kernel, k, m, nz)

    def _ids(self, t: "_TapCounts") -> np.ndarray:
        """The connected-channel mask id of each used group of ``t`` (made once)."""
        if t.ids is None:
            t.ids = np.array([self._chan_id(t.nz[a, b]) for a, b in zip(t.k.tolist(), t.m.tolist())], dtype=np.int64)
        return t.ids

    def _pattern_counts(self, box: Box):
        """Synapse counts per (row pattern, column pattern, source channel) (Ky, Kx, I) of ``box`` (a pattern
        group: the source pixels whose rows and columns share a tap set), with the count tensor and the row
        and column tap matrices."""
        (c0, c1), (h0, h1), (w0, w1) = box
        cnt = self._counts(c0, c1)  # (I, Ty, Tx)
        ty, tx = self._tap_matrix(1, h0, h1), self._tap_matrix(2, w0, w1)
        i, t_y, t_x = cnt.shape  # two plain matrix products (a batched one is slower for these sizes)
        k_y, k_x = len(ty[0]), len(tx[0])  # patterns (0 where no source row or column reaches the box)
        cols = (cnt.reshape(i * t_y, t_x) @ tx[0].T).reshape(i, t_y, k_x)
        n = ty[0] @ cols.transpose(1, 0, 2).reshape(t_y, i * k_x)  # (Ky, I * Kx)
        n = n.astype(np.int64).reshape(k_y, i, k_x).transpose(0, 2, 1)  # exact: sums of small integers
        return n, cnt, ty, tx

    def query(self, box: Box) -> Query:
        t, (_, my, _), (_, mx, _) = self._by_taps(box)
        m = np.outer(my, mx)  # source pixels of each group
        return Query(int((m * t.per).sum()), int(m[t.used].sum()), t.unit_syn, np.repeat(m.ravel(), t.per.ravel()),
                     t.set_syn, t.kernel)

    def _chan_id(self, ch: np.ndarray) -> int:
        key = np.packbits(ch).tobytes()
        i = self._chan_ids.get(key)
        if i is None:
            i = self._chan_ids[key] = len(self._chan_rows)
            self._chan_rows.append(np.concatenate([[0], np.cumsum(ch, dtype=np.int64)]))
        return i

    def _chan_prefix(self) -> np.ndarray:
        """(U, I + 1) prefix counts of every connected-channel mask seen so far (row = mask id)."""
        if len(self._chan_pre) != len(self._chan_rows):
            self._chan_pre = np.stack(self._chan_rows)
        return self._chan_pre

    def _prefix(self, box: Box):
        """Per pattern group of ``box`` (stacked, row pattern major, groups with no connected channel left
        out): the id of its connected-channel mask (G,), prefix counts of its rows (G, H+1) and of its
        columns (G, W+1); cached per box (a consumer's slices are queried again for every split of their
        source)."""
        hit = self._pre.get(box)
        if hit is None:
            t, (_, _, pre_y), (_, _, pre_x) = self._by_taps(box)
            if len(self._pre) > 4096:
                self._pre.clear()
            hit = self._pre[box] = (self._ids(t), pre_y[t.k], pre_x[t.m])
        return hit

    def overlap(self, box: Box, src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        """Exact, from the row / column pattern groups (disjoint in pixels): per group, connected channels in
        the source box's channel range x its rows x its columns."""
        return self._overlap(_Groups(*self._prefix(box)), src_boxes, pixel)[0]

    def _stacked(self, boxes: list[Box], pixel: bool):
        """What a source box's overlap with all of ``boxes`` is read from (the last list asked for is kept):
        ``pixel``, :meth:`_pixel_reach` of their stacked pattern groups; else the integral image of how many
        of them each source unit feeds."""
        key = (tuple(boxes), pixel)
        if key not in self._stack:
            parts = [self._prefix(b) for b in boxes]
            self._stack.clear()
            stacked = _Groups(*(np.concatenate([p[k] for p in parts]) for k in range(3)))
            self._stack[key] = self._pixel_reach(stacked) if pixel else integral(self._reach(stacked))
        return self._stack[key]

    def overlap_many(self, boxes: list[Box], src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        if not pixel:  # connected units summed over the boxes: one count per source unit, box sums of it
            return box_sums(self._stacked(boxes, False), src_boxes).round().astype(np.int64)
        # per channel mask: does it meet the source box's channels, times the box sum of its pixel reach
        pc, reach = self._stacked(boxes, True)
        b = np.asarray(src_boxes, dtype=np.int64).reshape(-1, 3, 2)
        meets = (pc[:, b[:, 0, 1]] - pc[:, b[:, 0, 0]]) > 0  # (U, S)
        r0, r1, c0, c1 = b[:, 1, 0], b[:, 1, 1], b[:, 2, 0], b[:, 2, 1]
        area = reach[:, r1, c1] - reach[:, r0, c1] - reach[:, r1, c0] + reach[:, r0, c0]  # (U, S)
        return (meets * area).sum(0).round().astype(np.int64)

    def counter(self, boxes: list[Box], pixel: bool = False):
        if not pixel:
            return super().counter(boxes, pixel)
        pc, reach = self._stacked(boxes, True)
        pcs, reaches = pc.tolist(), [r.tolist() for r in reach]

        def count(box: Box) -> int:  # as overlap_many's pixel branch, for one box in plain arithmetic
            (a0, a1), (r0, r1), (c0, c1) = box
            total = 0.0
            for p, r in zip(pcs, reaches):
                if p[a1] > p[a0]:
                    total += r[r1][c1] - r[r0][c1] - r[r1][c0] + r[r0][c0]
            return int(round(total))
        return count

    def _pixel_reach(self, st: "_Groups"):
        """(prefix counts of each channel mask used (U, I+1), integral images (U, H+1, W+1) of how many of the
        stacked groups with that mask reach each source pixel): the pattern groups of a box are disjoint in
        source pixels, so a source box's pixel overlap with all the boxes is, per mask meeting its channels,
        the box sum of that mask's reach."""
        u, uinv = np.unique(st.ids, return_inverse=True)
        order = np.argsort(uinv.reshape(-1), kind="stable")  # the groups of each mask, contiguous
        bounds = np.searchsorted(uinv.reshape(-1)[order], np.arange(len(u) + 1))
        ys, xs = (np.diff(p[order], axis=1).astype(np.float64) for p in (st.py, st.px))
        _, h, w = self.src_shape
        reach = np.zeros((len(u), h + 1, w + 1))
        for k in range(len(u)):
            g = slice(bounds[k], bounds[k + 1])
            reach[k] = integral(ys[g].T @ xs[g])
        return self._chan_prefix()[u], reach

    def _reach(self, st: "_Groups") -> np.ndarray:
        """How many of the stacked pattern groups reach each source unit: sum over the groups of connected
        channels x rows x columns (outer products), as matrix products in batches (exact in float64)."""
        # groups that reach the same rows and columns (a tile's groups in each of its channel slices) are summed
        # first: per such class, the connected channels of its groups' masks
        first, cls = _same_rows(np.concatenate([st.py, st.px], axis=1))
        u, uinv = np.unique(st.ids, return_inverse=True)
        masks = sp.csr_matrix((np.ones(len(st.ids)), (cls, uinv.reshape(-1))), shape=(len(first), len(u)))
        ch = np.asarray(masks @ np.diff(self._chan_prefix()[u], axis=1).astype(np.float64))
        ys, xs = (np.diff(p[first], axis=1).astype(np.float64) for p in (st.py, st.px))
        i, h, w = self.src_shape
        out = np.zeros((i, h * w))
        step = max(1, 4_000_000 // max(1, h * w))
        for g in range(0, len(ch), step):
            yx = (ys[g:g + step, :, None] * xs[g:g + step, None, :]).reshape(-1, h * w)
            out += ch[g:g + step].T @ yx
        return out.reshape(i, h, w)

    def overlap_matrix(self, boxes: list[Box], src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        out = np.zeros((len(boxes), len(src_boxes)), np.int64)
        step = max(1, OVERLAP_BATCH // max(1, len(src_boxes)))  # boxes per batch: (boxes x S) bounded
        for i in range(0, len(boxes), step):
            parts = [self._prefix(b) for b in boxes[i:i + step]]
            seg = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
            st = _Groups(*(np.concatenate([p[k] for p in parts]) for k in range(3)), seg, len(parts))
            out[i:i + len(parts)] = self._overlap(st, src_boxes, pixel)
        return out

    def _overlap(self, st: "_Groups", src_boxes: np.ndarray, pixel: bool) -> np.ndarray:
        """(boxes, S): for each source box, the sum over the pattern groups g of each box of g's connected
        channels in the source box's channel range (``pixel``: 1 if any) x its rows in the row range x its
        columns in the column range.

        A box's groups mostly share their connected-channel mask (a convolution connects every input channel
        unless weights are zero), so for many source boxes channel counts are taken once per mask (U x S), row
        and column counts once per distinct row range and column range of the source boxes (G x R, G x X), and the
        row x column products of the groups of each (box, mask) pair are summed before being spread over the
        source boxes: P x S work for P pairs instead of G x S for G groups (about ten groups per box)."""
        b = np.asarray(src_boxes, dtype=np.int64).reshape(-1, 3, 2)
        n_src, n_g = len(b), len(st.ids)
        out = np.zeros((st.n_seg, n_src), np.int64)
        if n_g == 0 or n_src == 0:
            return out
        chan = self._chan_prefix()
        if n_src <= DIRECT_SOURCES or n_g * n_src <= DIRECT_MAX:  # per group and source box, no set-up
            starts, boxes = st.seg_starts()
            step = max(1, OVERLAP_BATCH // n_g)
            for j in range(0, n_src, step):
                bb = b[j:j + step]
                nc = chan[st.ids[:, None], bb[None, :, 0, 1]] - chan[st.ids[:, None], bb[None, :, 0, 0]]
                if pixel:
                    nc = (nc > 0).astype(np.int64)
                prod = nc * (st.py[:, bb[:, 1, 1]] - st.py[:, bb[:, 1, 0]]) * \
                    (st.px[:, bb[:, 2, 1]] - st.px[:, bb[:, 2, 0]])
                out[boxes, j:j + step] = np.add.reduceat(prod, starts, axis=0)
            return out
        u, pair_u, box_of, starts, one = st.pairs()
        pc = chan[u]
        nc = pc[:, b[:, 0, 1]] - pc[:, b[:, 0, 0]]  # (U, S)
        if pixel:
            nc = (nc > 0).astype(np.int64)
        rr, rinv = np.unique(b[:, 1, :], axis=0, return_inverse=True)
        xx, xinv = np.unique(b[:, 2, :], axis=0, return_inverse=True)
        rinv, xinv = rinv.reshape(-1), xinv.reshape(-1)
        ny = st.py[:, rr[:, 1]] - st.py[:, rr[:, 0]]  # (G, R)
        nx = st.px[:, xx[:, 1]] - st.px[:, xx[:, 0]]  # (G, X)
        n_r, n_x = len(rr), len(xx)
        if n_r * n_x <= GRID_FACTOR * n_src:  # per pair, its groups' row x column counts on the range grid
            q = np.zeros((len(pair_u), n_r * n_x), np.int64)
            step = max(1, OVERLAP_BATCH // (n_r * n_x))
            for g in range(0, n_g, step):
                q += one[:, g:g + step] @ (ny[g:g + step, :, None] * nx[g:g + step, None, :]).reshape(-1, n_r * n_x)
            spatial = q[:, rinv * n_x + xinv]  # (P, S)
        else:  # source ranges too varied for a grid: per group and source box, summed per pair
            spatial = np.zeros((len(pair_u), n_src), np.int64)
            step = max(1, OVERLAP_BATCH // n_src)
            for g in range(0, n_g, step):
                spatial += one[:, g:g + step] @ (ny[g:g + step][:, rinv] * nx[g:g + step][:, xinv])
        out[box_of[starts]] = np.add.reduceat(nc[pair_u] * spatial, starts, axis=0)
        return out

    def fanin_mask(self, box: Box) -> np.ndarray:
        mask = np.zeros(self.src_shape, dtype=bool)
        n = self._pattern_counts(box)[0]
        (_, _), (h0, h1), (w0, w1) = box
        for k, (_, ys) in enumerate(self._pattern(1, h0, h1)):
            for m, (_, xs) in enumerate(self._pattern(2, w0, w1)):
                ch = np.nonzero(n[k, m] > 0)[0]
                if ch.size:
                    mask[np.ix_(ch, ys, xs)] = True
        return mask


class MatrixConn(Conn):
    def __init__(self, source, target, src_shape, dst_shape, matrix: sp.csr_matrix, weight_bits):
        self.source, self.target = source, target
        self.src_shape, self.dst_shape = tuple(src_shape), tuple(dst_shape)
        self.m = matrix.tocsr()
        self.weight_bits = weight_bits
        self._ii: dict = {}
        self._stack: dict = {}

    def _integral(self, box: Box) -> np.ndarray:
        hit = self._ii.get(box)
        if hit is None:
            if len(self._ii) > 4096:
                self._ii.clear()
            hit = self._ii[box] = integral(self.fanin_mask(box))
        return hit

    def overlap(self, box: Box, src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        if pixel:
            return super().overlap(box, src_boxes, pixel)
        return box_sums(self._integral(box), src_boxes).round().astype(np.int64)

    def overlap_many(self, boxes: list[Box], src_boxes: np.ndarray, pixel: bool = False) -> np.ndarray:
        if pixel:
            return super().overlap_many(boxes, src_boxes, pixel)
        key = tuple(boxes)
        if key not in self._stack:
            self._stack.clear()
            self._stack[key] = sum(self._integral(b) for b in boxes)
        return box_sums(self._stack[key], src_boxes).round().astype(np.int64)

    def _rows(self, box: Box) -> sp.csr_matrix:
        idx = np.arange(int(np.prod(self.dst_shape))).reshape(self.dst_shape)[box_index(box)].reshape(-1)
        return self.m[idx]

    def query(self, box: Box) -> Query:
        per = np.bincount(self._rows(box).indices, minlength=self.m.shape[1])
        nz = per[per > 0]
        vals, counts = np.unique(nz, return_counts=True)
        return Query(int(nz.size), int(nz.size), vals.astype(np.int64), counts.astype(np.int64), None)

    def fanin_mask(self, box: Box) -> np.ndarray:
        mask = np.zeros(self.m.shape[1], dtype=bool)
        mask[self._rows(box).indices] = True
        return mask.reshape(self.src_shape)


@functools.lru_cache(maxsize=None)
def _row_hash_weights(n: int) -> np.ndarray:
    w = np.random.default_rng(0).integers(1, 1 << 62, size=n, dtype=np.int64)
    w.setflags(write=False)  # shared by every caller
    return w


def _same_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classes of equal rows of the integer matrix ``a``: (first row of each class, class of every row), from
    a hash of each row (every row then compared with its class's first: on a collision, each row is its own
    class)."""
    weights = _row_hash_weights(a.shape[1])
    _, first, cls = np.unique(a.astype(np.int64) @ weights, return_index=True, return_inverse=True)
    cls = cls.reshape(-1)
    if not np.array_equal(a[first][cls], a):
        return np.arange(len(a)), np.arange(len(a))
    return first, cls


def integral(a: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Integral image (zero-padded cumulative sums over every axis)."""
    out = np.zeros(tuple(n + 1 for n in a.shape), dtype=dtype)
    out[(slice(1, None),) * a.ndim] = a
    for ax in range(a.ndim):
        np.cumsum(out, axis=ax, out=out)
    return out


def box_sums(ii: np.ndarray, boxes) -> np.ndarray:
    """Sums of the array whose integral image is ``ii`` over each box (inclusion-exclusion, vectorised)."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, ii.ndim, 2)
    total = np.zeros(len(b))
    for corner in range(1 << ii.ndim):
        sign, idx = 1, []
        for ax in range(ii.ndim):
            low = (corner >> ax) & 1
            sign = -sign if low else sign
            idx.append(b[:, ax, 0] if low else b[:, ax, 1])
        total += sign * ii[tuple(idx)]
    return total


# ----------------------------------------------------------------------------------------------- building
def _path(graph: Graph, ops: list, source: str) -> list | None:
    """Ops of the chain on the way from ``source`` to the target, in order, with the input index each reads
    from the path; None if the source reaches some op by two inputs (not a single path)."""
    names = {o.name for o in ops}
    reach, path = {source}, []
    for op in ops:  # topological order
        ins = [i for i, n in enumerate(graph.inputs(op.name)) if n in reach]
        if not ins:
            continue
        if len(ins) > 1:
            return None
        reach.add(op.name)
        path.append((op, ins[0]))
    return [p for p in path if p[0].name in names]


def _conv_conn(graph, shapes, source, target, path, wbits) -> ConvConn | None:
    """The path's ops composed into one structural kernel (each op's ``window`` facet); None if some op on
    it is no sliding window or the composite taps exceed MAX_TAPS."""
    src = shapes[source]
    if len(src) != 3 or len(shapes[target]) != 3:
        return None
    mask = ("diag", np.ones((src[0], 1, 1), dtype=bool))
    sy, sx = [], []
    for op, idx in path:
        in_shape = shapes[graph.inputs(op.name)[idx]]
        win = op.window(in_shape, idx)
        if win is PASS:
            continue
        if win is None:
            return None
        (kh, kw), (s0, s1), (p0, p1), (d0, d1) = win.kernel, win.stride, win.padding, win.dilation
        sy.append(_Stage(s0, -p0, np.arange(kh) * d0, in_shape[1]))
        sx.append(_Stage(s1, -p1, np.arange(kw) * d1, in_shape[2]))
        mask = _compose(mask, (win.kind, win.mask))
        if mask[1].shape[-2] > MAX_TAPS or mask[1].shape[-1] > MAX_TAPS:
            return None
    return ConvConn(source, target, src, shapes[target], mask, sy, sx, wbits)


def _matrix_conn(graph, shapes, source, target, ops, wbits) -> MatrixConn:
    """Compose the chain's structural matrices (each op's ``structure`` facet) from ``source`` (paths
    summed, then made 0/1)."""
    n_src = int(np.prod(shapes[source]))
    val = {source: sp.identity(n_src, dtype=np.int32, format="csr")}
    for op in ops:
        acc = None
        for idx, name in enumerate(graph.inputs(op.name)):
            if name in val:
                term = op.structure(shapes[name], shapes[op.name], idx).astype(np.int32) @ val[name]
                acc = term if acc is None else acc + term
        if acc is not None:
            acc = acc.tocsr()
            acc.eliminate_zeros()
            acc.data[:] = 1
            val[op.name] = acc
    last = graph.inputs(target)[0]
    m = val.get(last, sp.csr_matrix((int(np.prod(shapes[target])), n_src), dtype=np.int32))
    return MatrixConn(source, target, shapes[source], shapes[target], m, wbits)


def _weight_bits(graph: Graph, ops, chain=None) -> int:
    bits = [int(o.weight_bits) for o in ops if getattr(o, "weight_bits", None)]
    wb = max(bits) if bits else int(graph.meta.get("options", {}).get("weight_bits", 8))
    if chain is not None and bits and _weights_in_series(graph, ops):
        # the targets store the composed matrix, whose entries are sums of products of weights
        try:
            mats = chain_matrices(graph, chain).values()
        except QuantizationError:  # weight_exp != 0: no composed integer matrix to measure
            return wb
        amax = max((int(abs(m).max()) if m.nnz else 0 for m in mats), default=0)
        wb = max(wb, signed_width(-amax, amax))
    return wb


def _weights_in_series(graph: Graph, ops) -> bool:
    """True if a weight op of the chain reaches another weight op of the chain (e.g. conv -> add -> conv)."""
    names = {op.name for op in ops}
    after: set[str] = set()  # ops with a weight op after them
    for op in reversed(ops):
        if any(c in names and (graph.node(c).weighted or c in after) for c in graph.consumers(op.name)):
            if op.weighted:
                return True
            after.add(op.name)
    return False


def placed_layers(graph: Graph) -> list[str]:
    """Names of the nodes whose units are placed on cores, in topological order."""
    return [n.name for n in graph.topo() if n.placed]


def build_conns(graph: Graph) -> dict[str, list[Conn]]:
    """Every placed layer's incoming connections (one per source)."""
    shapes = graph.infer_shapes()
    out: dict[str, list[Conn]] = {}
    for n in [n for n in graph.topo() if n.gate]:
        src = graph.inputs(n.name)[0]
        c = _conv_conn(graph, shapes, src, n.name, [(n, 0)], 0)
        out[n.name] = [c if c is not None else _matrix_conn_gate(graph, shapes, src, n)]
    for ch in chains(graph):
        wbits = _weight_bits(graph, ch.ops, ch)
        conns = []
        for src in ch.sources:
            path = _path(graph, ch.ops, src)
            c = _conv_conn(graph, shapes, src, ch.target.name, path, wbits) if path is not None else None
            conns.append(c if c is not None else _matrix_conn(graph, shapes, src, ch.target.name, ch.ops, wbits))
        out[ch.target.name] = conns
    return out


def _matrix_conn_gate(graph, shapes, src, gate) -> MatrixConn:
    m = gate.structure(shapes[src], shapes[gate.name], 0)
    return MatrixConn(src, gate.name, shapes[src], shapes[gate.name], m, 0)
