"""What placements are compared with: the resource lower bound, the layer bound and the naive placement.

:func:`lower_bound` (max over resources of the total over the unsplit layers / a core's limit) and
:func:`layer_bound` (the most cores one layer needs at the largest slice of it that fits a core) bound every
placement from below; ``place.partition`` reports both. :func:`naive_boxes` is the naive placement (each
layer on cores of its own, cut into equal chunks, as nengo-loihi's block splitter), which every placement
``partition`` returns must not exceed (checked by the property tests, measured by
``benchmarks/partition.py``).
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
    """Cores up to which ``benchmarks/partition.py`` sizes the naive placement to compare it with a placement
    of ``cores`` cores (``tuning.NAIVE_LIMIT``, ``NAIVE_CORES``, ``NAIVE_FLOOR``)."""
    return round(max(tuning.NAIVE_FLOOR * cores, min(tuning.NAIVE_LIMIT * cores, tuning.NAIVE_CORES)))


class NaiveLimit(Exception):
    """The naive placement needs more than the ``limit`` given to :func:`naive_boxes` (search stopped)."""


def _whole(model: ResourceModel, layer: str, boxes: dict, cons) -> dict:
    """Resources of ``layer`` as one slice, output axons against the consumers' ``boxes``."""
    shape = tuple(model.shapes[layer])
    whole = dict(model.slice_resources(layer, full_box(shape)))
    if cons.get(layer) and model.profile.limits["output_axons"] is not None:
        whole["output_axons"] = int(output_axons(model, layer, [full_box(shape)], boxes, None, cons)[0][0])
    return whole


def _start(model: ResourceModel, whole: dict) -> int:
    """The naive chunk count a layer's sizing starts from: the largest ratio of its resources to a core's."""
    lim = model.profile.limits
    return max(math.ceil(whole[r] / lim[r]) for r in RESOURCES if lim[r] is not None and r != "populations")


def _chunks(shape: tuple[int, ...], n: int) -> int:
    """Chunks of ``shape`` cut for ``n`` (``len(grid_boxes(shape, _equal_chunk(shape, n)))``), which never
    decreases as ``n`` grows."""
    return math.prod(-(-d // k) for d, k in zip(shape, _equal_chunk(shape, n)))


def naive_floor(model: ResourceModel, cons=None) -> dict[str, int]:
    """Per layer, chunks its naive placement needs at least: those of the count its sizing starts from with
    output axons against unsplit consumers (its sizing counts them against the consumers' chunks, which only
    adds output axons, starts there or above and only raises the count, and chunks never decrease with the
    count)."""
    cons = cons if cons is not None else consumers(model)
    unsplit = {name: [full_box(model.shapes[name])] for name in model.layers}
    return {layer: _chunks(tuple(model.shapes[layer]), _start(model, _whole(model, layer, unsplit, cons)))
            for layer in model.layers}


def naive_boxes(model: ResourceModel, cons=None, limit: int | None = None) -> dict[str, list[Box]] | None:
    """The naive placement: each layer on cores of its own, cut into n equal chunks (channels first, then
    rows, then columns; vectors: ranges).

    n starts at the largest ratio of the whole layer's resources to a core's and is raised until every chunk
    fits (doubling, then bisection down to within n / ``tuning.NAIVE_PRECISION``: each probe of a layer cut
    into thousands of chunks costs seconds). Layers are sized consumers first (a chunk's output axons count
    against its consumers' chunks).

    Parameters
    ----------
    model : ResourceModel
    cons : dict, optional
        Each layer's consumers (``resources.consumers``; worked out if not given).
    limit : int, optional
        Raise :class:`NaiveLimit` if the naive placement needs more than ``limit`` chunks, as soon as the
        chunks counted so far plus :func:`naive_floor` of the layers still to size exceed it (a naive placement
        of thousands of single-unit chunks costs minutes to size; one that does not fit at all may stop so
        too, before a layer that does not fit is reached); without it, size every layer.

    Returns
    -------
    dict or None
        Each layer's chunks; None if even single-unit chunks of some layer do not fit (a unit's output axons
        to the naive chunks of its consumers, say).
    """
    cons = cons if cons is not None else consumers(model)
    floor = naive_floor(model, cons) if limit is not None else {}
    out: dict[str, list[Box]] = {}
    total, rest = 0, sum(floor.values())

    def over(chunks: int) -> None:
        if limit is not None and total + chunks + rest > limit:
            raise NaiveLimit(limit)
    lim = model.profile.limits
    for layer in reversed(model.layers):
        rest -= floor.get(layer, 0)
        shape = tuple(model.shapes[layer])
        n = _start(model, _whole(model, layer, out, cons))
        size = math.prod(shape)

        def fits(k: int):
            boxes = grid_boxes(shape, _equal_chunk(shape, k))
            ok = _bad_slice(model, layer, boxes) is None
            if ok and lim["output_axons"] is not None and cons.get(layer):
                ok = int(output_axons(model, layer, boxes, out, None, cons)[0].max()) <= lim["output_axons"]
            return boxes if ok else None

        over(_chunks(shape, n))
        boxes, lo = fits(n), n  # grow n by doubling, then bisect between the last failure and the first fit
        while boxes is None and n < size:
            lo, n = n, min(size, 2 * n)
            over(_chunks(shape, lo + 1))
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
        over(0)
    return out


def naive_cores(model: ResourceModel, cons=None, limit: int | None = None) -> tuple[int | None, int | None]:
    """(chunks of the naive placement or None if it does not fit, None), or (None, ``limit``) when its sizing
    stopped above ``limit`` (:func:`naive_boxes`)."""
    try:
        boxes = naive_boxes(model, cons, limit)
    except NaiveLimit:
        return None, limit
    return (None if boxes is None else sum(len(b) for b in boxes.values())), None


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
