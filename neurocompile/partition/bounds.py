"""What placements are compared with: the resource lower bound, the layer bound and the naive placement.

:func:`lower_bound` (max over resources of the total over the unsplit layers / a core's limit) and
:func:`layer_bound` (the most cores one layer needs at the largest slice of it that fits a core) bound every
placement from below; ``place.partition`` reports both. :func:`naive_boxes` is the naive placement (each
layer on cores of its own, cut into equal chunks, as nengo-loihi's block splitter), which ``place.partition``
sizes beside its packings and packs instead when it needs fewer cores.
"""

from __future__ import annotations

import math

from . import tuning
from .connectivity import Box, full_box
from .resources import RESOURCES, ResourceModel, consumers, output_axons
from .split import choose_chunk, grid_boxes


def _bad_slice(model: ResourceModel, layer: str, boxes: list[Box]):
    for b in boxes:
        res = model.slice_resources(layer, b)
        if model.fits(res) is not None:
            return b, res
    return None


def naive_limit(cores: int) -> int:
    """Cores up to which the naive placement is sized for a placement of ``cores`` cores."""
    return round(max(tuning.NAIVE_FLOOR * cores, min(tuning.NAIVE_LIMIT * cores, tuning.NAIVE_CORES)))


class NaiveLimit(Exception):
    """The naive placement needs more than the ``limit`` given to :func:`naive_boxes` (search stopped)."""


def naive_boxes(model: ResourceModel, cons=None, limit: int | None = None) -> dict[str, list[Box]] | None:
    """Each layer cut into n equal chunks (channels first, then rows, then columns; vectors: ranges), n the
    largest ratio of the whole layer's resources to a core's, raised until every chunk fits (doubling, then
    bisection down to within 1/16 of n: each probe of a layer cut into thousands of chunks costs seconds);
    None if even single-unit chunks do not fit (a unit's output axons to the naive chunks of its
    consumers, say). With ``limit``, raises :class:`NaiveLimit` as soon as the cores counted so far exceed it
    (a naive placement of thousands of single-unit chunks costs minutes to size and is no competitor)."""
    cons = cons if cons is not None else consumers(model)
    out: dict[str, list[Box]] = {}
    total = 0

    def over(n: int) -> None:
        if limit is not None and total + n > limit:
            raise NaiveLimit(limit)
    lim = model.profile.limits
    for layer in reversed(model.layers):
        shape = tuple(model.shapes[layer])
        whole = dict(model.slice_resources(layer, full_box(shape)))
        if cons.get(layer) and lim["output_axons"] is not None:
            whole["output_axons"] = int(output_axons(model, layer, [full_box(shape)], out, None, cons)[0][0])
        n = max(math.ceil(whole[r] / lim[r]) for r in RESOURCES if lim[r] is not None and r != "populations")
        size = math.prod(shape)

        def fits(k: int):
            boxes = grid_boxes(shape, _equal_chunk(shape, k))
            ok = _bad_slice(model, layer, boxes) is None
            if ok and lim["output_axons"] is not None and cons.get(layer):
                ok = int(output_axons(model, layer, boxes, out, None, cons)[0].max()) <= lim["output_axons"]
            return boxes if ok else None

        over(n)
        boxes, lo = fits(n), n  # grow n by doubling, then bisect between the last failure and the first fit
        while boxes is None and n < size:
            lo, n = n, min(size, 2 * n)
            over(lo + 1)
            boxes = fits(n)
        if boxes is None:
            return None  # even single units do not fit (e.g. a unit's fan-out to the naive chunks)
        while n - lo > max(1, n // tuning.NAIVE_PRECISION):
            mid = (lo + n) // 2
            b = fits(mid)
            if b is None:
                lo = mid
            else:
                n, boxes = mid, b
        out[layer] = boxes
        total += len(boxes)
    return out


def _equal_chunk(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    if len(shape) == 1:
        return (math.ceil(shape[0] / n),)
    c, h, w = shape
    if n <= c:
        return (math.ceil(c / n), h, w)
    per = math.ceil(n / c)
    if per <= h:
        return (1, math.ceil(h / per), w)
    return (1, 1, math.ceil(w / math.ceil(per / h)))


def lower_bound(model: ResourceModel, cons=None) -> dict:
    """max over resources of ceil(total / per-core limit), totals over the unsplit layers."""
    cons = cons if cons is not None else consumers(model)
    whole = {name: [full_box(model.shapes[name])] for name in model.layers}
    totals = {r: 0 for r in RESOURCES}
    for name in model.layers:
        res = model.slice_resources(name, whole[name][0], lower=True)
        for r in RESOURCES:
            totals[r] += res[r]
        totals["output_axons"] += int(output_axons(model, name, whole[name], whole, None, cons)[0][0])
    lim = model.profile.limits
    per = {r: math.ceil(totals[r] / lim[r]) for r in RESOURCES if lim[r] is not None}
    best = max(per, key=lambda r: (per[r], r == "neurons"))
    return {"cores": int(per[best]), "resource": best, "per_resource": per, "totals": totals}


def layer_bound(model: ResourceModel) -> dict:
    """Cores each layer needs on its own if no core holds more of its units than the largest slice of it
    that fits an empty core (the split search without output axons), the largest over the layers. Tighter than
    :func:`lower_bound` where granularity rules: the per-axon lists of a dense layer round up to whole words,
    a convolution's kernel per output channel is indivisible synapse memory."""
    per = {}
    for layer in reversed(model.layers):  # readout first, like the split loop, so errors name the same layer
        shape = tuple(model.shapes[layer])
        biggest = choose_chunk(model, layer, model.profile.core.neurons, largest=True)
        per[layer] = math.ceil(math.prod(shape) / math.prod(biggest))
    worst = max(per, key=per.get)
    return {"cores": int(per[worst]), "layer": worst, "per_layer": per}


def report_bounds(model: ResourceModel, cons) -> dict:
    """:func:`lower_bound` with :func:`layer_bound` in it (key ``layer_bound``)."""
    bound = lower_bound(model, cons)
    bound["layer_bound"] = layer_bound(model)
    return bound
