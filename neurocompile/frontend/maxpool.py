"""Put every MaxPool2d on a spike source, as the SNN's max-count gate needs (``ir.ops.MaxPool2d``).

A max pool lowered from the model may sit on a pre-activation: ``conv -> [BN] -> maxpool -> relu`` is a
common pattern. Max pooling is monotone, so it commutes exactly with an activation that is monotone and
element-wise (``relu(max(x)) = max(relu(x))``, also for ``clamp(0, lam)``) and with a per-channel affine
map of non-negative scale (an eval-mode BatchNorm with ``gamma / sqrt(var + eps) >= 0``)::

    conv -> maxpool -> BN -> relu   ==>   conv -> BN -> maxpool -> relu     (move_batchnorms, before folding)
    conv -> maxpool -> relu         ==>   conv -> relu -> maxpool            (place_maxpools, after folding)

Both hold for padded and ceil-mode pools: each window's max is over the same non-empty set of real elements
(PyTorch pads with -inf), and a monotone non-decreasing map commutes with a max over any non-empty set; after
the ReLU the values are >= 0, so the pool equals its zero-padded form, which is what the gate computes.

A max pool that cannot be moved onto a spike source this way (its only reader is not an activation, e.g.
``conv -> maxpool -> conv``) is a ConversionError naming the layer.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConversionError
from ..ir import Graph
from ..ir.names import describe, describe_of, layer
from .fold import PendingBatchNorm, bn_scale


def _swap(graph: Graph, first: str, second: str) -> None:
    """``a -> first -> second -> consumers`` becomes ``a -> second -> first -> consumers`` (``first`` must be
    ``second``'s only input and ``second`` ``first``'s only consumer)."""
    (a,) = graph.inputs(first)
    after = graph.consumers(second)
    graph.replace_input(second, first, a)
    graph.replace_input(first, a, second)
    for c in after:
        graph.replace_input(c, second, first)


def _root(graph: Graph, name: str):
    """The first node before a run of max pools ending at ``name`` (``name`` itself if it is no pool)."""
    n = graph.node(name)
    while n.gate:
        n = graph.node(graph.inputs(n.name)[0])
    return n


def _layer(n) -> str:
    return layer(n)


def move_batchnorms(graph: Graph) -> None:
    """Move each BatchNorm that reads a run of max pools (which it alone reads) on the output of a Conv2d /
    Linear in front of the pools, so it folds into that layer. Raises ConversionError if a channel's scale
    is negative (max pooling would become min pooling)."""
    for bn in graph.nodes_of(PendingBatchNorm):
        while True:
            (src,) = graph.inputs(bn.name)
            pool = graph.node(src)
            if not pool.gate or not _root(graph, src).weighted:
                break
            if graph.consumers(src) != [bn.name]:
                raise ConversionError(f"{bn.where}: BatchNorm after max pool {describe(pool)} cannot be folded: the pool's "
                                      f"output is also used by {', '.join(describe_of(graph, c) for c in graph.consumers(src) if c != bn.name)}")
            scale = bn_scale(bn)
            if np.any(scale < 0):
                i = int(np.argmin(scale))
                raise ConversionError(
                    f"{bn.where}: BatchNorm after max pool {describe(pool)} has a negative scale in channel {i} "
                    f"(gamma / sqrt(var + eps) = {scale[i]:.4g}); max pooling commutes only with a non-negative "
                    "scale, so it cannot be folded exactly; put the BatchNorm before the max pool")
            _swap(graph, src, bn.name)


def place_maxpools(graph: Graph) -> None:
    """Commute every max pool that does not read a spike source with the activation (Neurons) that is its
    only reader, until it reads one. Raises ConversionError naming the pool if that is not possible."""
    for pool in reversed([n for n in graph.topo() if n.gate]):  # the last pool of a run first
        while not _root(graph, pool.name).gateable:
            (src,) = graph.inputs(pool.name)
            readers = graph.consumers(pool.name)
            nxt = graph.node(readers[0]) if len(readers) == 1 else None
            if nxt is None or not nxt.commutes_with_max:
                prev = graph.node(src)
                what = "several layers" if len(readers) > 1 else describe(nxt)
                raise ConversionError(
                    f"{_layer(pool)}: max pooling of {describe(prev)}, which is not a spike source, feeding "
                    f"{what}: the spiking max pool (max-count gate) acts on spikes, so it must follow a ReLU / "
                    "clamp, or be the only input of one (conv -> maxpool -> relu is commuted to "
                    "conv -> relu -> maxpool)")
            _swap(graph, pool.name, nxt.name)
