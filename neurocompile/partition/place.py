"""Partitioning an integer graph onto a profile's cores: :func:`partition`.

1. Split every placed layer (``split.choose_chunk``, then ``split.fitted_boxes``), consumers before their
   sources: a slice's output axons depend on how the layers it feeds are split, so every box is checked
   with them, and a layer whose single units along the cut axis do not fit is split again, with fewer
   neurons per slice.
2. Resources of every slice, output axons and spike traffic between slices (per-unit firing rates, e.g.
   measured by intsim on calibration images; uniform if none are given).
3. Pack the slices onto cores: the first fit, plain and traffic-aware (strategies ``first-fit`` and
   ``first-fit+traffic``, :mod:`.pack`; the traffic-aware one kept if it needs no more cores), then the
   packings of :func:`packings` (each a list of strategies run on one :class:`~.state.CoreState`,
   :mod:`.strategies`), kept when they need fewer cores than the best before them; all side by side in
   forked processes on several CPUs (``workers.run_all``).
4. The guard: beside the packings, the naive placement (``bounds.naive_boxes``) is sized as far as it could
   need fewer cores than the first fit; if it needs fewer than the packing kept, its chunks are packed
   instead (``naive+pack``), so no placement uses more cores than the naive one.
5. Cores onto chips (``pack.assign_chips``).
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import scipy.sparse as sp

from ..errors import PartitionError
from ..ir import Graph
from . import carve, empty, fill, pack, tuning, workers  # noqa: F401 - carve, empty, fill, pack register their strategies
from .bounds import NaiveLimit, naive_boxes, report_bounds
from .connectivity import Box, box_size, full_box
from .pack import assign_chips, renumber
from .placement import PlacedSlice, Placement
from ..targets.profiles import HardwareProfile
from .resources import RESOURCES, ResourceModel, consumers, out_axons_of, output_axons
from .split import Fit, choose_chunk, fitted_boxes, single_unit_error, split_kind
from .strategies import Packing, strategy


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


def packings(first_fit: list[int]) -> list[Packing]:
    """The packings tried after the first fit, in this order (a later one is kept only if it needs fewer
    cores than every one before it): carving, the first fit's own cores (``first_fit``: the core of each
    slice) and filling once per ``tuning.SLACKS`` value, each followed by emptying the least used cores.
    Each :class:`~.strategies.Packing` says with ``applies`` whether it is tried on a given number of
    slices."""
    return [Packing("split+carve", (strategy("carve"), strategy("empty"))),
            Packing("split+empty", (strategy("assign", cores=first_fit), strategy("empty"))),
            *(Packing("split+fill", (strategy("fill", slack=s), strategy("empty")), f" (slack {s})")
              for s in tuning.SLACKS)]


def _cores(packing: Packing, model, items, cons, sym) -> list[int]:
    """The core of every item (by origin) in ``packing`` of ``items`` (what a worker sends back)."""
    core_of = [0] * len(items)
    for _, _, origin, core in packing.run(model, items, cons, sym):
        core_of[origin] = core
    return core_of


def _first_fit(model, boxes, rates, cons, memo: dict | None = None):
    """The split slices on the cores of the first fit: plain and traffic-aware side by side (forked workers
    where that helps), the traffic-aware one kept if it needs no more cores; (slices, their traffic matrix,
    the same made symmetric, for the packings)."""
    slices, edges = _slices(model, boxes, rates, cons, memo=memo)
    sym = (edges + edges.T).tocsr()
    if not slices:
        return slices, edges, sym
    items = [(s.layer, s.box, s.resources, i) for i, s in enumerate(slices)]
    fits = [Packing("split+pack", (strategy("first-fit"),))]
    if edges.nnz:
        fits.append(Packing("split+pack", (strategy("first-fit+traffic"),)))
    cores = workers.run_all([functools.partial(_cores, p, model, items, cons, sym) for p in fits], len(items))
    best = cores[-1] if max(cores[-1]) <= max(cores[0]) else cores[0]
    for s, c in zip(slices, best):
        s.core = c
    return slices, edges, sym


def _pack(model, boxes, rates, cons, base, sym_edges, packing: Packing, traffic: bool = False,
          memo: dict | None = None):
    """Pack the slices ``base`` with ``packing`` (``sym_edges``: their traffic, symmetric): (slices, their
    traffic matrix if ``traffic`` else None); None if the exact output axons then break a core's limit."""
    pieces = packing.run(model, [(s.layer, s.box, s.resources, i) for i, s in enumerate(base)], cons, sym_edges)
    order = {name: i for i, name in enumerate(model.layers)}
    pieces.sort(key=lambda p: (order[p[0]], p[1]))
    new_boxes = {name: [] for name in model.layers}
    for layer, box, _, _ in pieces:
        new_boxes[layer].append(box)
    slices, edges = _slices(model, new_boxes, rates, cons, traffic=traffic, memo=memo)
    for s, p in zip(slices, pieces):
        s.core = p[3]
    return (slices, edges) if _within_limits(model, slices) else None


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




def _naive_below(model, cons, cores: int) -> dict | None:
    """The naive placement's chunks if it needs fewer than ``cores`` cores, else None (its sizing stops as
    soon as it cannot: :func:`.bounds.naive_boxes`)."""
    try:
        return naive_boxes(model, cons, limit=cores - 1)
    except NaiveLimit:
        return None


def _best(model, boxes, rates, cons, layers: dict, say, bound: dict | None):
    """Step 3 (see the module doc): the first fit, then :func:`packings`, the naive guard and, when ``bound``
    is None, the bounds beside them; (slices, traffic matrix, name of the packing kept, layers, bounds)."""
    say(f"packing {sum(len(b) for b in boxes.values())} slices")
    memo: dict = {}  # output axons and traffic per layer (see _slices), shared with the packings' workers
    slices, edges, sym = _first_fit(model, boxes, rates, cons, memo)
    name, base = "split+pack", slices
    tried = [p for p in packings([s.core for s in base]) if p.applies(len(base))]
    say("packing: " + ", ".join(p.name + p.detail for p in tried) + "; the naive placement if it may need fewer")
    jobs = [functools.partial(_pack, model, boxes, rates, cons, base, sym, p, True, memo) for p in tried]
    # the guard: the packings can only need fewer cores than the first fit, so the naive placement is sized
    # only as far as it could need fewer than that
    jobs.append(functools.partial(_naive_below, model, cons, max(s.core for s in base) + 1))
    if bound is None:  # without a device limit the bounds are only reported: worked out beside the packings
        jobs.append(functools.partial(report_bounds, model, cons))
    done = workers.run_all(jobs, len(base))
    if bound is None:
        bound = done.pop()
    naive = done.pop()
    for p, packed in zip(tried, done):
        if packed is not None and max(s.core for s in packed[0]) < max(s.core for s in slices):
            (slices, edges), name = packed, p.name
            for layer in model.layers:
                layers[layer]["slices"] = sum(s.layer == layer for s in slices)
    if naive is not None and sum(len(b) for b in naive.values()) < max(s.core for s in slices) + 1:
        name = "naive+pack"  # never more cores than the naive placement (docs/partition.md, step 4)
        slices, edges, _ = _first_fit(model, naive, rates, cons)
        layers = {k: {"kind": "naive", "chunk": None, "slices": len(v)} for k, v in naive.items()}
    return slices, edges, name, layers, bound


def _traffic(slices, edges, chips: list[int], rates_source: str) -> dict:
    """placement.json's ``traffic``: spikes per step between slices, cores and chips."""
    core_of = np.array([s.core for s in slices], dtype=np.int64)
    chip_of = np.asarray(chips, dtype=np.int64)[core_of]
    t = edges.tocoo()
    return {"unit": "spikes per timestep per sample", "rates": rates_source, "total": round(float(t.data.sum()), 4),
            "inter_core": round(float(t.data[core_of[t.row] != core_of[t.col]].sum()), 4),
            "inter_chip": round(float(t.data[chip_of[t.row] != chip_of[t.col]].sum()), 4)}


def partition(graph: Graph, profile: HardwareProfile, rates: dict[str, np.ndarray] | workers.Pending | None = None,
              rates_source: str = "uniform (no firing rates given)", progress=None) -> Placement:
    """Place ``graph`` (integer IR) on ``profile`` (see the module doc).

    Parameters
    ----------
    graph : Graph
        The integer IR.
    profile : HardwareProfile
        Cores, chips and their limits.
    rates : dict or workers.Pending, optional
        Per-unit firing rates of each layer (spikes per step), or a :class:`workers.Pending` job giving them
        (waited for after the split, which runs meanwhile); None: one spike per unit and step.
    rates_source : str
        Where the rates came from (recorded in ``traffic``).
    progress : callable, optional
        Told about each step (for stage messages).

    Returns
    -------
    Placement

    Raises
    ------
    PartitionError
        When no placement exists: a unit no core can hold, or more cores than the device has (naming the
        layer or the network, the resource and the numbers).
    """
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    model = ResourceModel(graph, profile)
    cons = consumers(model)
    bound = None
    if profile.chip.max_chips is not None:  # a network the device cannot hold fails before the split
        bound = report_bounds(model, cons)
        if bound["cores"] > profile.chip.max_chips * profile.chip.cores_per_chip:
            raise _too_big(graph, profile, bound["cores"], bound=True)
    boxes, layers = {}, {}
    for k, layer in enumerate(reversed(model.layers)):
        say(f"splitting {layer} ({k + 1}/{len(model.layers)})")
        boxes[layer], layers[layer] = _split_layer(model, layer, boxes, cons)
    if isinstance(rates, workers.Pending):  # measured beside the split
        rates = rates.result()
    slices, edges, kept, layers, bound = _best(model, boxes, rates, cons, layers, say, bound)
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
    if profile.chip.max_chips is not None and (max(chips) + 1 if chips else 0) > profile.chip.max_chips:
        raise _too_big(graph, profile, n_cores)
    return Placement(profile.name, profile.family, dict(profile.limits), slices, chips, bound,
                     layers={k: layers[k] for k in model.layers}, traffic=_traffic(slices, edges, chips, rates_source),
                     strategy=kept, seconds=time.perf_counter() - t0)
