"""Normalisation scales (lambda) that are one number per layer or one per channel.

A population's scale lambda is stored in ``graph.meta["lambda"]`` as a float (layer-wise) or a list of
floats, one per channel (channel-wise normalisation, Kim et al. 2020 "Spiking-YOLO": each channel of a
feature map gets its own percentile, so channels with small activations still fire at useful rates).
A per-channel unit travels through pooling (per channel) and Flatten (repeated over H x W) and is
absorbed by the next weight op's columns; it may not reach an Add directly (its gains are scalars) or
a population directly (Lava has one threshold per population). A MaxPool2d gate passes a per-channel
unit on unchanged (max commutes with a positive scale per channel). :func:`channelwise_ok` says which
populations can be channel-wise; the others keep one scale.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Neurons
from ..ir.chains import chains
from ..ir.units import as_unit, uniform  # noqa: F401 - part of this module's API (calibration tables)


def _reaches_unweighted(graph: Graph, name: str) -> bool:
    """True if some path from ``name`` reaches an op that needs one scale (an Add, a population, the readout,
    any op not known to keep a per-channel unit) without crossing a weight op that absorbs it (the walk
    continues through pooling, Flatten and max-count gates: ``channel_unit`` "keep")."""
    stack = list(graph.consumers(name))
    while stack:
        n = graph.node(stack.pop())
        if n.channel_unit == "absorb":
            continue
        if n.channel_unit != "keep":
            return True
        stack.extend(graph.consumers(n.name))
    return False


def _absorbed(graph: Graph, name: str, target: str) -> bool:
    """True if every path from op ``name`` to the chain's ``target`` crosses a weight op (it absorbs any unit)."""
    cons = graph.consumers(name)
    return bool(cons) and all(c != target and (graph.node(c).weighted or _absorbed(graph, c, target)) for c in cons)


def channelwise_ok(graph: Graph) -> set[str]:
    """Populations that may take one scale per channel: (C, H, W) feature maps of plain (unclipped) ReLUs
    whose spikes reach every Add and every population only through a weight op, and whose own input
    chain has no Add with an unweighted input (nor a Concat with one and no weight op after it)."""
    shapes = graph.infer_shapes()
    bad = set()
    for ch in chains(graph):
        for op in ch.ops:
            if any(graph.node(i).channel_unit != "absorb" for i in graph.inputs(op.name)) and (
                    op.channel_unit == "scalar" or (op.free_unit and not _absorbed(graph, op.name, ch.target.name))):
                bad.add(ch.target.name)
    return {n.name for n in graph.nodes_of(Neurons)
            if len(shapes[n.name]) == 3 and n.clip is None and n.name not in bad
            and not _reaches_unweighted(graph, n.name)}


def per_channel_percentiles(act: np.ndarray, ps: list[float], layer: np.ndarray, floor: float) -> np.ndarray:
    """(len(ps), C) percentiles of each channel's positive activations (act: (N, C, H, W)). A channel that
    is never active takes the layer's value; none goes below ``floor`` x the layer's value (a nearly
    silent channel would otherwise blow its incoming weights up and cost every other channel weight bits)."""
    c = act.shape[1]
    flat = np.moveaxis(act, 1, 0).reshape(c, -1)
    out = np.empty((len(ps), c))
    for k in range(c):
        pos = flat[k][flat[k] > 0]
        out[:, k] = np.percentile(pos, ps) if pos.size else layer
    return np.maximum(out, floor * np.asarray(layer)[:, None])
