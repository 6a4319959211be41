"""Splitting one placed layer into slices that each fit an empty core.

A split is a *chunk size per axis*: a (C, H, W) layer is cut into boxes of ``k`` channels x ``r`` rows x
``w`` columns (the last box along an axis takes the remainder), a vector layer into ranges of ``f`` units.
Its kind: ``whole`` (one slice), ``channels`` (full feature maps, groups of output channels), ``tiles``
(spatial tiles, which keep each slice's fan-in small when input axons are scarce) or ``ranges`` (vector
layers: neuron ranges).

:func:`choose_chunk` tries the most channels per slice that fit one core, and, for several channel-group
sizes, the tallest row band (full width) and the widest column band (full height) that fit, or where
neither fits the largest square tile and the longest one-row and one-column strips, then for each of those
tile sizes the most channels that fit it (a pixel's slice can hold 7 channels where powers of two stop at
4), each both as large as possible (full boxes plus a remainder) and balanced (equal boxes); a box fits
when every resource of an interior box, output axons included (given how the consumers are split), is
within the core's limits. It keeps the split that needs the fewest cores' worth of its binding resource
(:func:`_score`: output axons count too, those of every slice given the consumers' split, and it adds the
synapse memory the split makes its pixel-axon feeders repeat, :func:`feeder_cost`), then, among those
within 2 %, the least of all resources together, then the fewest slices (fewer output axons and spike
messages for the layers feeding this one; the packer cuts pieces off slices to fill cores), then the
smallest total fan-in. :func:`fitted_boxes` then cuts the layer box by box, each as long as fits.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PartitionError
from ..ir.names import layer_of
from . import tuning
from .connectivity import Box, full_box
from .resources import RESOURCE_TEXT, ResourceModel


def axis_chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(lo, min(size, lo + chunk)) for lo in range(0, size, chunk)]


def grid_boxes(shape: tuple[int, ...], chunk: tuple[int, ...]) -> list[Box]:
    """The boxes of a split, channel-major (C-order over the chunk grid)."""
    boxes: list[Box] = [()]
    for size, c in zip(shape, chunk):
        boxes = [b + (r,) for b in boxes for r in axis_chunks(size, c)]
    return boxes


def split_kind(shape: tuple[int, ...], chunk: tuple[int, ...]) -> str:
    if tuple(chunk) == tuple(shape):
        return "whole"
    if len(shape) != 3:
        return "ranges"
    return "channels" if chunk[1:] == tuple(shape[1:]) else "tiles"


def _centered(shape, chunk) -> Box:
    """A box of size ``chunk`` in the middle of the layer (interior boxes have the largest fan-in)."""
    return tuple(((s - c) // 2, (s - c) // 2 + c) for s, c in zip(shape, chunk))


class Fit:
    """Does a box of a given chunk size (placed in the middle of the layer) fit an empty core, output axons
    included when ``out_axons`` (box -> output axons, given the consumers' split) is set."""

    def __init__(self, model: ResourceModel, layer: str, ncap: int, out_axons=None):
        self.model, self.layer, self.ncap, self.out_axons = model, layer, ncap, out_axons
        self.shape = tuple(model.shapes[layer])
        self.out_cap = model.profile.core.output_axons
        self._memo: dict = {}

    def box_resources(self, box: Box) -> dict:
        res = dict(self.model.slice_resources(self.layer, box))
        if self.out_axons is not None:
            res["output_axons"] = int(self.out_axons(box))
        return res

    def box_fits(self, box: Box) -> bool:
        """Does this box fit an empty core (every resource, output axons when counted)?"""
        res = self.box_resources(box)
        return self.model.fits(res) is None and (self.out_cap is None or res["output_axons"] <= self.out_cap)

    def resources(self, chunk) -> dict:
        return self.box_resources(_centered(self.shape, chunk))

    def __call__(self, chunk) -> bool:
        chunk = tuple(chunk)
        if chunk not in self._memo:
            self._memo[chunk] = math.prod(chunk) <= self.ncap and self.box_fits(_centered(self.shape, chunk))
        return self._memo[chunk]


def _largest(lo: int, hi: int, ok) -> int:
    """Largest v in [lo, hi] with ok(v) (ok monotone decreasing), lo - 1 if none."""
    if hi < lo or not ok(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _balanced(size: int, c: int) -> int:
    return math.ceil(size / math.ceil(size / c))


def _axis_sizes(size: int, c: int) -> list[tuple[int, int]]:
    """(box length, how many) along one axis cut into chunks of ``c``."""
    n_full, rem = divmod(size, c)
    return [(c, n_full)] + ([(rem, 1)] if rem else [])


def _tile_sizes(shape, chunk) -> list[tuple[Box, int]]:
    """The distinct tiles of ``shape`` (spatial axes) cut into ``chunk`` (full tiles and the remainders), each
    as a box of its size in the middle of the map, with how many there are."""
    combos: list[tuple[tuple, int]] = [((), 1)]
    for size, c in zip(shape, chunk):
        combos = [(cs + (n,), m * k) for cs, m in combos for n, k in _axis_sizes(size, c)]
    return [(_centered(shape, cs), count) for cs, count in combos]


def _score(model, layer, shape, chunk, window: int, out_axons=None, feeders: bool = True) -> tuple:
    """(fractional cores, their sum over the resources, slices, total input axons) of a split. Fractional
    cores of a resource: the split's total over a core's limit; the largest over the resources is what the
    slices need however the packer mixes them with other layers' slices, and the sum says how much room
    they leave for those (a neuron-bound split that stores a kernel once per spatial tile fills synapse
    memory other layers could use). A split that duplicates synapse memory or rounds many short synapse
    lists up to whole words scores worse. Totals are measured on the same ``window`` first-axis units
    (channels, or a range of a vector) in the middle of the layer for every split, cut into the split's
    boxes there and scaled to the layer: units differ (one channel's kernel has more non-zero weights than
    another's), so comparing boxes at different places would rank the splits by their content. With
    ``out_axons`` (box -> output axons, given the consumers' split), on profiles whose weight sharing is in
    :data:`.tuning.OUT_AXONS_SCORED`, output axons count too, those of every slice (:func:`_total_out_axons`): a
    split whose every slice fills a core's output axons needs a core per slice, however little synapse
    memory it has."""
    lo = (shape[0] - window) // 2
    groups = [(a, min(a + chunk[0], lo + window)) for a in range(lo, lo + window, chunk[0])]
    scale = shape[0] / window
    combos = _tile_sizes(shape[1:], chunk[1:])
    total = dict.fromkeys(_SUMMED, 0.0)
    for rest, count in combos:
        for g in groups:
            res = model.slice_resources(layer, (g,) + rest)
            for r in _SUMMED:
                total[r] += scale * count * res[r]
    slices = math.ceil(shape[0] / chunk[0]) * sum(count for _, count in combos)
    if out_axons is not None and model.profile.synapses.conv_sharing in tuning.OUT_AXONS_SCORED:
        total["output_axons"] = _total_out_axons(shape, chunk, out_axons)
    lim = model.profile.limits
    fracs = [total[r] / lim[r] for r in _SUMMED if lim[r] is not None] or [0.0]
    extra = feeder_cost(model, layer, shape, chunk) if feeders else 0.0
    return max(fracs) + extra, sum(fracs) + extra, slices, total["input_axons"]


def _total_out_axons(shape, chunk, out_axons) -> int:
    """Output axons of all the slices of a split: every box of a vector layer; for a (C, H, W) layer the
    spatial tiles of the middle channel group, times the groups (with pixel axons a slice's output axons do
    not depend on its channels)."""
    if len(shape) != 3:
        return sum(out_axons(b) for b in grid_boxes(shape, chunk))
    k = min(chunk[0], shape[0])
    g = ((shape[0] - k) // 2, (shape[0] - k) // 2 + k)
    return math.ceil(shape[0] / chunk[0]) * sum(out_axons((g,) + t) for t in grid_boxes(shape[1:], chunk[1:]))


def feeder_cost(model, layer: str, shape, chunk) -> float:
    """Synapse memory (in cores) that a split of ``layer`` makes its pixel-axon feeders repeat: a feeder
    pixel needs one output axon per slice of ``layer`` it reaches (:func:`feeder_reach`), so a feeder slice
    holds only pixels whose counts add up to at most a core's output axons, and every spatial tile of the
    feeder stores its kernel again. Measured on the feeder cut into the tiles that need the fewest words
    among those whose every tile stays within the output axons (for each tile height, the widest such tile;
    all channels, each tile size measured in the middle of the map), minus the unsplit feeder's words;
    infinite if a feeder pixel reaches more slices than a core has output axons."""
    cap, words = model.profile.core.output_axons, model.profile.core.synapse_words
    if cap is None or not words:
        return 0.0
    cost = 0.0
    for conn in model.conns[layer]:
        src = conn.source
        fs = tuple(model.shapes.get(src, ()))
        if not model.pixel_mode(conn) or src not in model.layers or len(fs) != 3 or len(shape) != 3:
            continue
        reach = feeder_reach(conn, fs, shape, chunk)
        if reach.max() > cap:  # a feeder pixel would need more output axons than a core has
            return math.inf
        if reach.sum() <= cap:
            continue

        def worst(th: int, tw: int) -> int:  # the most output axons of a feeder tile of th x tw pixels
            rows = np.add.reduceat(reach, np.arange(0, fs[1], th), axis=0)
            return int(np.add.reduceat(rows, np.arange(0, fs[2], tw), axis=1).max())
        tiled = math.inf
        for th in range(1, fs[1] + 1):
            tw = _largest(1, fs[2], lambda v, th=th: worst(th, v) <= cap)
            if tw >= 1:
                tiled = min(tiled, _tiled_words(model, src, fs, th, tw))
        cost += (tiled - model.slice_resources(src, full_box(fs))["synapse_words"]) / words
    return cost


def feeder_reach(conn, src_shape, shape, chunk) -> np.ndarray:
    """(H, W) array: how many slices of a split of ``chunk`` each pixel of the feeder (``conn``'s source, of
    shape ``src_shape``) reaches, i.e. its output axons towards the layer: the tiles of the first channel
    group, times the groups (a pixel axon carries every channel)."""
    _, h, w = src_shape
    boxes = grid_boxes((min(chunk[0], shape[0]),) + tuple(shape[1:]), chunk)
    ys, xs = np.divmod(np.arange(h * w), w)
    pixels = np.stack([np.zeros_like(ys), np.full_like(ys, src_shape[0]), ys, ys + 1, xs, xs + 1], 1)
    return conn.overlap_many(boxes, pixels.reshape(-1, 3, 2), True).reshape(h, w) * math.ceil(shape[0] / chunk[0])


def _tiled_words(model, layer: str, shape, th: int, tw: int) -> int:
    """Synapse words of ``layer`` (all channels) cut into th x tw tiles (the last row and column of tiles
    take the remainders), each tile measured in the middle of the map."""
    return sum(n * model.slice_resources(layer, ((0, shape[0]),) + rest)["synapse_words"]
               for rest, n in _tile_sizes(shape[1:], (th, tw)))


#: resources whose split totals :func:`_score` compares (output axons: those of every slice, given the
#: consumers' split, where the profile limits them; populations count slices)
_SUMMED = ("neurons", "input_axons", "output_axons", "synapse_words", "param_bits")


def _best(model, layer, shape, cands, out_axons=None) -> tuple[int, ...]:
    """The split with the fewest fractional cores, then (within ``tuning.FRAC_TOLERANCE`` of the least) the smallest
    sum over the resources, then the fewest slices and the smallest fan-in. A feeder cost only adds to a
    split's own score, so it is not computed for a split whose own fractional cores already exceed the
    tolerance over the least found (cheapest own score first): that split could not be kept anyway."""
    window = max(ch[0] for ch in cands)
    own = {ch: _score(model, layer, shape, ch, window, out_axons, feeders=False) for ch in cands}
    scores: dict = {}
    least = math.inf  # the fewest fractional cores found, feeder costs included
    for ch in sorted(cands, key=lambda ch: (own[ch][0], ch)):
        if own[ch][0] > least * tuning.FRAC_TOLERANCE + 1e-12:
            break  # sorted: every split left scores worse on its own
        extra = feeder_cost(model, layer, shape, ch)
        scores[ch] = (own[ch][0] + extra, own[ch][1] + extra) + own[ch][2:]
        least = min(least, scores[ch][0])
    near = list(scores)
    for i in (0, 1):
        least = min(scores[ch][i] for ch in near)
        near = [ch for ch in near if scores[ch][i] <= least * tuning.FRAC_TOLERANCE + 1e-12]
    return min(near, key=lambda ch: (scores[ch][2:], tuple(-c for c in ch)))


def _channel_groups(c: int) -> list[int]:
    """Channel-group sizes to try besides the largest that fits: powers of two and C/n for small n."""
    ks = {1, c}
    k = 2
    while k < c:
        ks.add(k)
        k *= 2
    ks |= {math.ceil(c / n) for n in range(1, 9)}
    return sorted(ks)


def _candidates(model: ResourceModel, layer: str, fit: Fit) -> set[tuple[int, ...]]:
    shape = fit.shape
    cands = set()
    if len(shape) == 1:
        f = _largest(1, shape[0], lambda v: fit((v,)))
        return {(f,), (_balanced(shape[0], f),)}
    c, h, w = shape
    k_full = _largest(1, c, lambda v: fit((v, h, w)))
    extra = {k_full, _balanced(c, k_full)} if k_full >= 1 else set()
    for k in sorted(set(_channel_groups(c)) | extra):
        r = _largest(1, h, lambda v: fit((k, v, w)))
        if r >= 1:
            cands |= {(k, r, w), (k, _balanced(h, r), w)}
        col = _largest(1, w, lambda v: fit((k, h, v)))
        if col >= 1:
            cands |= {(k, h, col), (k, h, _balanced(w, col))}
        if r >= 1 or col >= 1:
            continue
        t = _largest(1, min(h, w), lambda v: fit((k, v, v)))
        if t >= 1:
            cands |= {(k, t, t), (k, _balanced(h, t), _balanced(w, t))}
        for th, tw in ((1, None), (None, 1)):  # one-row and one-column strips, as long as fits
            n = _largest(1, w if tw is None else h, lambda v: fit((k, th or v, tw or v)))
            if n > max(t, 1):
                cands |= {(k, th or n, tw or n), (k, th or _balanced(h, n), tw or _balanced(w, n))}
    if not cands:  # only narrower-than-square tiles fit: parts of single rows
        cands = {(1, 1, _largest(1, w, lambda v: fit((1, 1, v))))}
    for r, t in {ch[1:] for ch in cands}:  # each tile size found with the most channels that fit it
        k = _largest(1, c, lambda v: fit((v, r, t)))
        cands |= {(k, r, t), (_balanced(c, k), r, t)}
    return cands


def choose_chunk(model: ResourceModel, layer: str, ncap: int, out_axons=None, largest: bool = False
                 ) -> tuple[int, ...]:
    """The chunk size of ``layer``'s split with at most ``ncap`` neurons per slice (see the module doc);
    ``out_axons``: box -> its output axons, to keep them within the core's limit too. ``largest``: the
    candidate with the most units per slice instead (for :func:`place.layer_bound`)."""
    shape = tuple(model.shapes[layer])
    fit = Fit(model, layer, min(ncap, model.profile.core.neurons), out_axons)
    unit = (1,) * len(shape)
    if not fit(unit):
        raise single_unit_error(model, layer, fit.resources(unit))
    if fit(shape):
        return shape
    cands = _candidates(model, layer, fit)
    if largest:
        return max(cands, key=lambda ch: (math.prod(ch), ch))
    return _best(model, layer, shape, cands, out_axons)


def fitted_boxes(shape: tuple[int, ...], chunk: tuple[int, ...], fits) -> tuple[list[Box], Box | None]:
    """The split of ``chunk`` with every box checked: along the first axis the chunk cuts, in every cell of
    the other axes, each box takes the longest run of at most ``chunk`` units from where the previous one
    ended that ``fits(box)`` (units differ: a channel's kernel has more non-zero weights than another's, a
    border tile fewer taps). Returns (boxes in C order, None), or ([], box) with a box one unit long along
    that axis that does not fit."""
    cut = [a for a, (s, c) in enumerate(zip(shape, chunk)) if c < s]
    if not cut:
        whole = tuple((0, s) for s in shape)
        return ([whole], None) if fits(whole) else ([], whole)
    a = cut[0]
    cells = grid_boxes(shape, tuple(shape[a] if i == a else c for i, c in enumerate(chunk)))
    boxes = []
    for cell in cells:
        def along(lo: int, hi: int, cell=cell) -> Box:
            return cell[:a] + ((lo, hi),) + cell[a + 1:]
        lo = 0
        while lo < shape[a]:
            n = min(chunk[a], shape[a] - lo)
            if not fits(along(lo, lo + n)):
                n = _largest(1, n - 1, lambda v: fits(along(lo, lo + v)))
                if n < 1:
                    return [], along(lo, lo + 1)
            boxes.append(along(lo, lo + n))
            lo += n
    return sorted(boxes), None


def single_unit_error(model: ResourceModel, layer: str, res: dict, what: str = "") -> PartitionError:
    """The error for a layer whose single unit does not fit a core."""
    prof = model.profile
    r = model.fits(res, skip=()) or "output_axons"
    lim = prof.limits[r]
    hint = {"input_axons": "reduce fan-in or use a target with more axons",
            "output_axons": "reduce fan-out or use a target with more output axons",
            "synapse_words": "reduce fan-in or weight bits, or use a target with more synapse memory",
            "param_bits": "use a target with more neuron memory",
            "neurons": "use a target with more neurons per core",
            "populations": "use a target with more neuron configurations per core"}[r]
    noun = {"input_axons": "neuron fan-in", "output_axons": "neuron fan-out",
            "synapse_words": "one neuron's synapses"}.get(r, "one neuron")
    return PartitionError(f"{layer_of(model.graph, layer)}: {noun} {res[r]} > {lim} {RESOURCE_TEXT[r]} per core on {prof.name}"
                          f"{what}; no split can fix this — {hint}")
