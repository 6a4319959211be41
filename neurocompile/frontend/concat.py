"""Move per-channel ops from the output of a Concat onto its inputs, so they reach their producers.

A BatchNorm and a max pool act on each channel alone, so on a concatenation they equal the concatenation
of the same op on each input's channel range (exact, no arithmetic changes)::

    cat(a, b) -> BN           ==>   cat(BN[:Ca](a), BN[Ca:](b))    each part then folds into its producer
    cat(a, b) -> maxpool      ==>   cat(maxpool(a), maxpool(b))    each pool then reads a spike source

(DenseNet's BN after the dense concat; GoogLeNet's pool branch and SqueezeNet's pools read concats of ReLU
outputs.) The rewritten Concat replaces the old one for that reader; the old one goes if nothing else reads it.
"""

from __future__ import annotations

import dataclasses

from ..ir import Concat, Graph, MaxPool2d
from .fold import PendingBatchNorm


def _free(graph: Graph, base: str) -> str:
    name, k = base, 0
    while name in graph:
        k += 1
        name = f"{base}_{k}"
    return name


def _distribute(graph: Graph, op, cat: Concat, part) -> None:
    """Replace ``cat -> op`` by ``cat(part(op, input, start, stop) for each input)``; ``part`` builds the
    per-input copy of ``op`` for channels [start, stop)."""
    ins = graph.inputs(cat.name)
    parts = []
    for k, (src, start, size) in enumerate(zip(ins, cat.offsets(), cat.sizes)):
        node = part(dataclasses.replace(op, name=_free(graph, f"{op.name}_{k}")), start, start + size)
        graph.add(node, [src])
        parts.append(node.name)
    new = dataclasses.replace(cat, name=_free(graph, f"{cat.name}_{op.name}"))
    graph.add(new, parts)
    for c in graph.consumers(op.name):
        graph.replace_input(c, op.name, new.name)
    graph.remove(op.name)
    if not graph.consumers(cat.name):
        graph.remove(cat.name)


def _bn_part(bn: PendingBatchNorm, start: int, stop: int) -> PendingBatchNorm:
    for key in ("gamma", "beta", "mean", "var"):
        setattr(bn, key, getattr(bn, key)[start:stop].copy())
    return bn


def through_concats(graph: Graph) -> None:
    """Distribute every max pool and BatchNorm that reads a Concat over the Concat's inputs (repeated until
    none does, so nested concats and a pool followed by a BatchNorm are handled too)."""
    while True:
        cats = {c.name: c for c in graph.nodes_of(Concat)}
        todo = [(n, part) for cls, part in ((MaxPool2d, _same), (PendingBatchNorm, _bn_part))
                for n in graph.nodes_of(cls) if graph.inputs(n.name)[0] in cats]
        if not todo:
            return
        op, part = todo[0]
        _distribute(graph, op, cats[graph.inputs(op.name)[0]], part)


def _same(pool: MaxPool2d, start: int, stop: int) -> MaxPool2d:
    return pool
