"""Splitting one placed layer into slices that each fit an empty core.

A split is a *chunk size per axis*: a (C, H, W) layer is cut into boxes of ``k`` channels x ``r`` rows x
``w`` columns (the last box along an axis takes the remainder), a vector layer into ranges of ``f`` units.
Its kind: ``whole`` (one slice), ``channels`` (full feature maps, groups of output channels), ``tiles``
(spatial tiles, which keep each slice's fan-in small when input axons are scarce) or ``ranges`` (vector
layers: neuron ranges).

:func:`choose_chunk` tries the most channels per slice that fit one core, and, for several channel-group
sizes, the tallest row band (full width) and the largest square tile that fit, each both as large as
possible (full boxes plus a remainder) and balanced (equal boxes); a box fits when every resource of an
interior box, output axons included (given how the consumers are split), is within the core's limits. It
keeps the split with the fewest slices (fewer slices mean fewer output axons and spike messages for the
layers feeding this one; the packer cuts pieces off slices to fill cores), then the smallest total fan-in.
"""

from __future__ import annotations

import math

from ..errors import PartitionError
from .connectivity import Box
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


class _Fit:
    """Does a box of a given chunk size (placed in the middle of the layer) fit an empty core, output axons
    included when ``out_axons`` (box -> output axons, given the consumers' split) is set."""

    def __init__(self, model: ResourceModel, layer: str, ncap: int, out_axons=None):
        self.model, self.layer, self.ncap, self.out_axons = model, layer, ncap, out_axons
        self.shape = tuple(model.shapes[layer])
        self.out_cap = model.profile.core.output_axons
        self._memo: dict = {}

    def resources(self, chunk) -> dict:
        box = _centered(self.shape, chunk)
        res = dict(self.model.slice_resources(self.layer, box))
        if self.out_axons is not None:
            res["output_axons"] = int(self.out_axons(box))
        return res

    def __call__(self, chunk) -> bool:
        chunk = tuple(chunk)
        if chunk not in self._memo:
            ok = math.prod(chunk) <= self.ncap
            if ok:
                res = self.resources(chunk)
                ok = self.model.fits(res) is None and (self.out_cap is None or res["output_axons"] <= self.out_cap)
            self._memo[chunk] = ok
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


def _score(model, layer, shape, chunk) -> tuple:
    """(slices, total input axons, chunk) of a split: fewest slices first (the packer cuts pieces off slices
    to fill cores, so large slices lose nothing), then the smallest fan-in."""
    slices, axons = 0, 0
    per_axis = []
    for size, c in zip(shape, chunk):
        n_full, rem = divmod(size, c)
        per_axis.append([(c, n_full)] + ([(rem, 1)] if rem else []))
    combos = [((), 1)]
    for opts in per_axis:
        combos = [(cs + (c,), m * k) for cs, m in combos for c, k in opts]
    for cs, count in combos:
        slices += count
        axons += count * model.slice_resources(layer, _centered(shape, cs))["input_axons"]
    return slices, axons, tuple(-c for c in chunk)


def _channel_groups(c: int) -> list[int]:
    """Channel-group sizes to try besides the largest that fits: powers of two and C/n for small n."""
    ks = {1, c}
    k = 2
    while k < c:
        ks.add(k)
        k *= 2
    ks |= {math.ceil(c / n) for n in range(1, 9)}
    return sorted(ks)


def choose_chunk(model: ResourceModel, layer: str, ncap: int, out_axons=None) -> tuple[int, ...]:
    """The chunk size of ``layer``'s split with at most ``ncap`` neurons per slice (see the module doc);
    ``out_axons``: box -> its output axons, to keep them within the core's limit too."""
    shape = tuple(model.shapes[layer])
    fit = _Fit(model, layer, min(ncap, model.profile.core.neurons), out_axons)
    unit = (1,) * len(shape)
    if not fit(unit):
        raise single_unit_error(model, layer, fit.resources(unit))
    if fit(shape):
        return shape
    cands = set()
    if len(shape) == 1:
        f = _largest(1, shape[0], lambda v: fit((v,)))
        cands |= {(f,), (_balanced(shape[0], f),)}
    else:
        c, h, w = shape
        k_full = _largest(1, c, lambda v: fit((v, h, w)))
        extra = {k_full, _balanced(c, k_full)} if k_full >= 1 else set()
        for k in sorted(set(_channel_groups(c)) | extra):
            r = _largest(1, h, lambda v: fit((k, v, w)))
            if r >= 1:
                cands |= {(k, r, w), (k, _balanced(h, r), w)}
                continue
            t = _largest(1, min(h, w), lambda v: fit((k, v, v)))
            if t >= 1:
                cands |= {(k, t, t), (k, _balanced(h, t), _balanced(w, t))}
        if not cands:  # only narrower-than-square tiles fit: parts of single rows
            cands = {(1, 1, _largest(1, w, lambda v: fit((1, 1, v))))}
    return min(cands, key=lambda ch: _score(model, layer, shape, ch))


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
    return PartitionError(f"layer {layer}: {noun} {res[r]} > {lim} {RESOURCE_TEXT[r]} per core on {prof.name}"
                          f"{what}; no split can fix this — {hint}")
