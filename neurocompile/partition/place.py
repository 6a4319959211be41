"""Partitioning an integer graph onto a profile's cores: :func:`partition`, :func:`naive_boxes`,
:func:`lower_bound`.

1. Split every placed layer (``split.choose_chunk``, then ``split.fitted_boxes``), consumers before their
   sources: a slice's output axons depend on how the layers it feeds are split, so every box is checked
   with them, and a layer whose single units along the cut axis do not fit is split again, with fewer
   neurons per slice.
2. Resources of every slice, output axons and spike traffic between slices (per-unit firing rates, e.g.
   measured by intsim on calibration images; uniform if none are given).
3. Pack slices onto cores (``pack.pack``: fewest cores, then least inter-core traffic; then
   ``carve.carve_pack``, ``carve.empty_pack`` (the first fit itself) and ``fill.fill_pack`` once per
   ``fill.SLACKS`` value, each followed by ``empty.empty_cores``, kept when they need fewer cores), cores
   onto chips.
4. The naive placement (each layer on cores of its own, equal chunks, as nengo-loihi's block splitter) is
   sized too, beside the packings of step 3 (all side by side in forked processes on several CPUs,
   ``workers.run_all``); if it needs fewer cores, its slices are packed instead, so the result never uses
   more cores than the naive placement.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import PartitionError
from ..ir import Graph
from .connectivity import Box, box_size, full_box
from .carve import CARVE_MAX_SLICES, carve_pack, empty_pack
from .fill import FILL_MAX_SLICES, SLACKS as FILL_SLACKS, fill_pack
from .pack import assign_chips, pack, renumber
from .placement import PlacedSlice, Placement
from ..targets.profiles import HardwareProfile
from .resources import RESOURCES, ResourceModel, consumers, out_axons_of, output_axons
from . import workers
from .split import Fit, choose_chunk, fitted_boxes, grid_boxes, single_unit_error, split_kind


def _bad_slice(model: ResourceModel, layer: str, boxes: list[Box]):
    for b in boxes:
        res = model.slice_resources(layer, b)
        if model.fits(res) is not None:
            return b, res
    return None


def _shrink(ncap: int, neurons: int, ratio: float) -> int:
    return min(ncap - 1, neurons - 1, max(1, int(neurons / max(ratio, 1.0 + 1e-9))))


def _split_layer(model, layer, done, cons) -> tuple[list[Box], dict]:
    shape = tuple(model.shapes[layer])
    out_cap = model.profile.core.output_axons
    count = out_axons_of(model, layer, done, cons) if out_cap is not None and cons.get(layer) else None
    fit = Fit(model, layer, model.profile.core.neurons, count)
    ncap = model.profile.core.neurons
    while True:
        chunk = choose_chunk(model, layer, ncap, count)
        boxes, bad = fitted_boxes(shape, chunk, fit.box_fits)
        if bad is None:
            return boxes, {"kind": split_kind(shape, chunk), "chunk": list(chunk), "slices": len(boxes)}
        if box_size(bad) == 1:
            raise single_unit_error(model, layer, fit.box_resources(bad))
        ncap = _shrink(ncap, math.prod(chunk), 2.0)


#: the naive placement is sized up to this many times the cores of the split slices' first fit (which the
#: packings kept can only improve on; the naive sizing runs beside them), but not beyond
#: NAIVE_CORES cores unless that is less than NAIVE_FLOOR times them (enough to show it is not smaller),
#: then reported as "more than" that many cores: each probe of a layer cut into thousands of chunks counts
#: output axons against thousands of consumer chunks, minutes for a competitor that has lost already
NAIVE_LIMIT = 8
NAIVE_CORES = 2000
NAIVE_FLOOR = 1


def naive_limit(cores: int) -> int:
    """Cores up to which the naive placement is sized for a placement of ``cores`` cores."""
    return round(max(NAIVE_FLOOR * cores, min(NAIVE_LIMIT * cores, NAIVE_CORES)))


#: the naive placement's chunk count n is bisected to within n / NAIVE_PRECISION
NAIVE_PRECISION = 16


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
        while n - lo > max(1, n // NAIVE_PRECISION):
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


def _bounds(model: ResourceModel, cons) -> dict:
    """:func:`lower_bound` with :func:`layer_bound` in it (key ``layer_bound``)."""
    bound = lower_bound(model, cons)
    bound["layer_bound"] = layer_bound(model)
    return bound


def _slices(model, boxes, rates, cons, traffic: bool = True, memo: dict | None = None):
    """Slices with every resource, and the traffic between them: a sparse (n, n) matrix, spikes per step from
    slice i to slice j (None without ``traffic``: output axons only, much cheaper for thousands of slices).
    ``memo``: a layer's output axons and traffic kept per its slices and its consumers' slices (the same
    ``rates`` on every call), so packings that leave most layers as they were recount only the others."""
    slices, first = [], {}
    for layer in model.layers:
        first[layer] = len(slices)
        slices += [PlacedSlice(layer, b, dict(model.slice_resources(layer, b))) for b in boxes[layer]]
    rows, cols, vals = [], [], []
    for layer in model.layers:
        key = (layer, traffic, tuple(boxes[layer]), tuple(tuple(boxes[dst]) for dst, _ in cons.get(layer, [])))
        hit = memo.get(key) if memo is not None else None
        if hit is None:
            hit = output_axons(model, layer, boxes[layer], boxes, rates, cons, traffic=traffic)
            if memo is not None:
                memo[key] = hit
        ax, flows = hit
        for k, a in enumerate(ax):
            slices[first[layer] + k].resources["output_axons"] = int(a)
        for dst, d, s_, v in flows:
            rows.append(first[layer] + s_)
            cols.append(first[dst] + d)
            vals.append(v)
    if not traffic:
        return slices, None
    n = len(slices)
    cat = (lambda xs: np.concatenate(xs)) if rows else (lambda xs: np.zeros(0))
    edges = sp.csr_matrix((cat(vals), (cat(rows).astype(np.int64), cat(cols).astype(np.int64))), shape=(n, n))
    return slices, edges


def _within_limits(model, slices: list[PlacedSlice]) -> bool:
    load: dict[int, dict[str, int]] = {}
    for s in slices:
        acc = load.setdefault(s.core, dict.fromkeys(RESOURCES, 0))
        for r in RESOURCES:
            acc[r] += s.resources[r]
    lim = model.profile.limits
    return all(lim[r] is None or acc[r] <= lim[r] for acc in load.values() for r in RESOURCES)


def _pack_plain(model, boxes, rates, cons, memo: dict | None = None):
    slices, edges = _slices(model, boxes, rates, cons, memo=memo)
    core_of = pack([s.resources for s in slices], model.profile.limits, edges)
    for s, c in zip(slices, core_of):
        s.core = c
    return slices, edges


def _pack_carving(model, boxes, rates, cons, base, base_edges, packer=carve_pack, traffic: bool = False,
                  memo: dict | None = None):
    """Pack the slices ``base`` with ``packer`` (carve_pack, empty_pack or fill_pack): (slices, their
    traffic matrix if ``traffic`` else None); None if the exact output axons then break a core's limit."""
    pieces = packer(model, [(s.layer, s.box, s.resources, i) for i, s in enumerate(base)], cons,
                    (base_edges + base_edges.T).tocsr())
    order = {name: i for i, name in enumerate(model.layers)}
    pieces.sort(key=lambda p: (order[p[0]], p[1]))
    new_boxes = {name: [] for name in model.layers}
    for layer, box, _, _ in pieces:
        new_boxes[layer].append(box)
    slices, edges = _slices(model, new_boxes, rates, cons, traffic=traffic, memo=memo)
    for s, p in zip(slices, pieces):
        s.core = p[3]
    return (slices, edges) if _within_limits(model, slices) else None


def _naive(model, cons, limit: int) -> tuple[dict | None, int | None]:
    """(naive boxes or None if they do not fit, None) or (None, N) when sizing stopped above N cores."""
    try:
        return naive_boxes(model, cons, limit=limit), None
    except NaiveLimit as e:
        return None, int(e.args[0])


def _finish(model, slices):
    pos = {name: i for i, name in enumerate(model.layers)}
    core_of = renumber([s.core for s in slices], [pos[s.layer] for s in slices])
    for s, c in zip(slices, core_of):
        s.core = c
    return slices


def _too_big(graph, profile, n_cores: int, bound: bool = False) -> PartitionError:
    have = profile.chip.max_chips * profile.chip.cores_per_chip
    return PartitionError(f"network {graph.name}: needs {'at least ' if bound else ''}{n_cores} cores > {have} "
                          f"cores on {profile.name} ({profile.chip.max_chips} chip(s) x "
                          f"{profile.chip.cores_per_chip}); use a larger device or a smaller network")


def partition(graph: Graph, profile: HardwareProfile, rates: dict[str, np.ndarray] | workers.Pending | None = None,
              rates_source: str = "uniform (no firing rates given)", progress=None) -> Placement:
    """Place ``graph`` (integer IR) on ``profile``; raises PartitionError when no placement exists.
    ``rates``: per-unit firing rates of each layer (spikes per step), or a :class:`workers.Pending` job giving
    them (waited for after the split, which runs meanwhile); None: one spike per unit and step.
    ``progress``: optional callable(str) told about each step (for stage messages)."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    model = ResourceModel(graph, profile)
    cons = consumers(model)
    bound = None
    if profile.chip.max_chips is not None:  # a network the device cannot hold fails before the split
        bound = _bounds(model, cons)
        if bound["cores"] > profile.chip.max_chips * profile.chip.cores_per_chip:
            raise _too_big(graph, profile, bound["cores"], bound=True)
    boxes, layers = {}, {}
    for k, layer in enumerate(reversed(model.layers)):
        say(f"splitting {layer} ({k + 1}/{len(model.layers)})")
        boxes[layer], layers[layer] = _split_layer(model, layer, boxes, cons)
    if isinstance(rates, workers.Pending):  # measured beside the split
        rates = rates.result()
    say(f"packing {sum(len(b) for b in boxes.values())} slices")
    memo: dict = {}  # output axons and traffic per layer (see _slices), shared with the packings' workers
    slices, edges = _pack_plain(model, boxes, rates, cons, memo)
    strategy = "split+pack"
    base, base_edges = slices, edges
    packers = [("split+empty", "", functools.partial(empty_pack, cores=[s.core for s in base]))]
    if len(base) <= CARVE_MAX_SLICES:
        packers.insert(0, ("split+carve", "", carve_pack))
    if len(base) <= FILL_MAX_SLICES:
        packers += [("split+fill", f" (slack {slack})", functools.partial(fill_pack, slack=slack))
                    for slack in FILL_SLACKS]
    say("packing: " + ", ".join(name + detail for name, detail, _ in packers) + "; naive placement for comparison")
    jobs = [functools.partial(_pack_carving, model, boxes, rates, cons, base, base_edges, packer, True, memo)
            for _, _, packer in packers]
    # the naive placement is sized beside the packings, up to the limit the first fit's cores set (the packings
    # can only need fewer)
    jobs.append(functools.partial(_naive, model, cons, naive_limit(max(s.core for s in slices) + 1)))
    if bound is None:  # without a device limit the bounds are only reported: worked out beside the packings
        jobs.append(functools.partial(_bounds, model, cons))
    done = workers.run_all(jobs, len(base))
    if bound is None:
        bound = done.pop()
    *results, (naive, naive_more_than) = done
    for (name, _, _), carved in zip(packers, results):
        if carved is not None and max(s.core for s in carved[0]) < max(s.core for s in slices):
            slices, edges = carved
            strategy = name
            for layer in model.layers:
                layers[layer]["slices"] = sum(s.layer == layer for s in slices)
    naive_cores = sum(len(b) for b in naive.values()) if naive is not None else None
    if naive_cores is not None and max(s.core for s in slices) + 1 > naive_cores:
        strategy = "naive+pack"
        slices, edges = _pack_plain(model, naive, rates, cons)
        layers = {k: {"kind": "naive", "chunk": None, "slices": len(v)} for k, v in naive.items()}
    slices = _finish(model, slices)
    for layer in model.layers:  # what the layer's synapse memory would be as one slice (its split's cost)
        layers[layer]["unsplit_synapse_words"] = model.slice_resources(
            layer, full_box(model.shapes[layer]))["synapse_words"]
    n_cores = max(s.core for s in slices) + 1 if slices else 0
    pos = {name: i for i, name in enumerate(model.layers)}
    first = [1 << 30] * n_cores
    for s in slices:
        first[s.core] = min(first[s.core], pos[s.layer])
    chips = assign_chips(first, profile.chip.cores_per_chip)
    n_chips = max(chips) + 1 if chips else 0
    if profile.chip.max_chips is not None and n_chips > profile.chip.max_chips:
        raise _too_big(graph, profile, n_cores)
    core_of = np.array([s.core for s in slices], dtype=np.int64)
    chip_of = np.asarray(chips, dtype=np.int64)[core_of]
    t = edges.tocoo()
    total = float(t.data.sum())
    inter_core = float(t.data[core_of[t.row] != core_of[t.col]].sum())
    inter_chip = float(t.data[chip_of[t.row] != chip_of[t.col]].sum())
    traffic_doc = {"unit": "spikes per timestep per sample", "rates": rates_source, "total": round(total, 4),
                   "inter_core": round(inter_core, 4), "inter_chip": round(inter_chip, 4)}
    return Placement(profile.name, profile.family, dict(profile.limits), slices, chips, bound,
                     naive_cores, {k: layers[k] for k in model.layers}, traffic_doc, strategy,
                     time.perf_counter() - t0, naive_more_than)

