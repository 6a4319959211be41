"""Independent check of a placement: every unit placed exactly once, every core within every limit.

Nothing the placer computed is trusted: each slice's resources are recomputed from the integer IR with a
fresh :class:`~.resources.ResourceModel`, output axons from the slices as placed, and compared with the
figures the placement records (a mismatch means the placement does not describe this graph). The recount
is shared among forked workers where :mod:`.workers` allows (every other slice's own resources, every other
layer's output axons each), with the same result as in this process.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from ..errors import PartitionError
from ..ir import Graph
from ..ir.names import layer_of
from . import tuning, workers
from .connectivity import box_index
from .placement import Placement
from ..targets.profiles import HardwareProfile
from .resources import RESOURCE_TEXT, RESOURCES, ResourceModel, consumers, output_axons


def _names(placement: Placement) -> list[str]:
    """``layer[slice k]`` for every slice (k counts the layer's slices in placement order)."""
    seen: Counter = Counter()
    out = []
    for s in placement.slices:
        out.append(f"{s.layer}[slice {seen[s.layer]}]")
        seen[s.layer] += 1
    return out


def _recount(model: ResourceModel, slices, boxes: dict, by_layer: dict, k: int, parts: int) -> tuple[dict, dict]:
    """The ``k``-th of ``parts`` shares of the recount: the resources but output axons of the ``k``-th of
    ``parts`` runs of the slices sorted by layer and box (slices of a layer next to each other share counts
    of the same channels and tap patterns), by slice index, and the output axons of every ``parts``-th
    layer's slices (from the slices as placed), by slice index."""
    cons = consumers(model)
    order = sorted(range(len(slices)), key=lambda i: (slices[i].layer, slices[i].box))
    mine = order[k * len(order) // parts:(k + 1) * len(order) // parts]
    res = {i: model.slice_resources(slices[i].layer, slices[i].box) for i in mine}
    out = {}
    for layer in model.layers[k::parts]:
        ax, _ = output_axons(model, layer, boxes[layer], boxes, None, cons)
        out.update(zip(by_layer[layer], ax.tolist()))
    return res, out


def validate(graph: Graph, profile: HardwareProfile, placement: Placement) -> None:
    """Raise PartitionError naming the layer slice / core, the resource and the numbers on any violation."""
    model = ResourceModel(graph, profile)
    names = _names(placement)
    by_layer: dict[str, list[int]] = {}
    for i, s in enumerate(placement.slices):
        if s.layer not in model.shapes or s.layer not in model.layers:
            raise PartitionError(f"placement: slice {names[i]} names no placed layer of graph {graph.name}")
        by_layer.setdefault(s.layer, []).append(i)
    for layer in model.layers:
        cover = np.zeros(model.shapes[layer], dtype=np.int64)
        for i in by_layer.get(layer, []):
            box = placement.slices[i].box
            if len(box) != cover.ndim or any(not 0 <= lo < hi <= n for (lo, hi), n in zip(box, cover.shape)):
                raise PartitionError(f"layer {names[i]}: box {list(map(list, box))} is outside shape {cover.shape}")
            cover[box_index(box)] += 1
        if not np.all(cover == 1):
            raise PartitionError(f"{layer_of(graph, layer)}: placement leaves {int((cover == 0).sum())} units unplaced and "
                                 f"places {int((cover > 1).sum())} more than once")
    boxes = {layer: [placement.slices[i].box for i in by_layer[layer]] for layer in model.layers}
    n_parts = tuning.VALIDATE_PARTS
    parts = workers.run_all([functools.partial(_recount, model, placement.slices, boxes, by_layer, k, n_parts)
                             for k in range(n_parts)], len(placement.slices))
    actual: list = [None] * len(placement.slices)
    for res, _ in parts:
        for i, r in res.items():
            actual[i] = dict(r)
    for _, out in parts:
        for i, n in out.items():
            actual[i]["output_axons"] = int(n)
    for i, (s, res) in enumerate(zip(placement.slices, actual)):
        for r in RESOURCES:
            if s.resources.get(r) != res[r]:
                raise PartitionError(f"layer {names[i]}: placement records {s.resources.get(r)} {RESOURCE_TEXT[r]}, "
                                     f"the graph needs {res[r]}")
    n_cores = placement.n_cores
    if any(not 0 <= s.core < n_cores for s in placement.slices):
        raise PartitionError(f"placement: a slice is on a core outside 0..{n_cores - 1}")
    limits = profile.limits
    on_core: list[list[int]] = [[] for _ in range(n_cores)]
    for i, s in enumerate(placement.slices):
        on_core[s.core].append(i)
    for c, members in enumerate(on_core):
        for r in RESOURCES:
            used = sum(actual[i][r] for i in members)
            if limits[r] is not None and used > limits[r]:
                what = ", ".join(names[i] for i in members[:4]) + (" ..." if len(members) > 4 else "")
                raise PartitionError(f"core {c} (chip {placement.chip_of_core[c]}; {what}): {RESOURCE_TEXT[r]} "
                                     f"{used} > {limits[r]} per core on {profile.name}")
    per_chip = Counter(placement.chip_of_core)
    for chip, n in per_chip.items():
        if n > profile.chip.cores_per_chip:
            raise PartitionError(f"chip {chip}: {n} cores > {profile.chip.cores_per_chip} per chip on {profile.name}")
    if profile.chip.max_chips is not None and placement.n_chips > profile.chip.max_chips:
        raise PartitionError(f"placement uses {placement.n_chips} chips > {profile.chip.max_chips} on {profile.name}")
