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

from ..errors import ConversionError
from ..ir import Add, AvgPool2d, Conv2d, Flatten, Graph, Linear, MaxPool2d, Neurons, Output
from .chains import chains

WEIGHT_OPS = (Conv2d, Linear)


def as_unit(value, shape: tuple[int, ...]):
    """A stored lambda (float or per-channel list) as a float or an array broadcastable to ``shape``
    ((C, 1, 1) for a (C, H, W) feature map, (F,) for a vector)."""
    if np.isscalar(value):
        return float(value)
    a = np.asarray(value, dtype=np.float64)
    if len(shape) == 3:
        return a.reshape(-1, 1, 1)
    return a.reshape(shape)


def uniform(u):
    """A unit array whose entries are all equal, as that float; anything else unchanged."""
    if np.isscalar(u):
        return float(u)
    a = np.asarray(u)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else a


def _reaches_unweighted(graph: Graph, name: str) -> bool:
    """True if some path from ``name`` reaches an Add or a population/readout without a weight op (the walk
    continues through pooling, Flatten and MaxPool2d gates, which keep a per-channel unit per channel)."""
    stack = list(graph.consumers(name))
    while stack:
        n = graph.node(stack.pop())
        if isinstance(n, WEIGHT_OPS):
            continue
        if isinstance(n, (Add, Neurons, Output)):
            return True
        if not isinstance(n, (AvgPool2d, Flatten, MaxPool2d)):
            return True  # an op this walk does not know: keep one scale (safe)
        stack.extend(graph.consumers(n.name))
    return False


def channelwise_ok(graph: Graph) -> set[str]:
    """Populations that may take one scale per channel: (C, H, W) feature maps of plain (unclipped) ReLUs
    whose spikes reach every Add and every population only through a weight op, and whose own input
    chain has no Add with an unweighted input."""
    shapes = graph.infer_shapes()
    bad = set()
    for ch in chains(graph):
        for op in ch.ops:
            if isinstance(op, Add) and any(not isinstance(graph.node(i), WEIGHT_OPS) for i in graph.inputs(op.name)):
                bad.add(ch.target.name)
    return {n.name for n in graph.nodes_of(Neurons)
            if len(shapes[n.name]) == 3 and n.clip is None and n.name not in bad
            and not _reaches_unweighted(graph, n.name)}


def scale_columns(op, w: np.ndarray, u_in) -> np.ndarray:
    """Weights of ``op`` with input column c multiplied by the input unit u_in[c] (scalar or per channel /
    per feature)."""
    if np.isscalar(u_in):
        return w * float(u_in)
    u = np.asarray(u_in, dtype=np.float64).reshape(-1)
    if isinstance(op, Linear):
        return w * u[None, :]
    O, ipg = w.shape[:2]
    opg = O // op.groups
    cin = (np.arange(O)[:, None] // opg) * ipg + np.arange(ipg)[None, :]
    return w * u[cin][:, :, None, None]


def scale_rows(w: np.ndarray, lt) -> np.ndarray:
    """Weights divided by the output unit lt[o] (scalar or per output channel / feature)."""
    if np.isscalar(lt):
        return w / float(lt)
    lt = np.asarray(lt, dtype=np.float64).reshape(-1)
    return w / lt.reshape(-1, *([1] * (w.ndim - 1)))


def flatten_unit(u, in_shape: tuple[int, ...]):
    """Unit of Flatten's output: a per-channel unit repeated over each channel's H x W."""
    if np.isscalar(u):
        return u
    c, h, w = in_shape
    return np.repeat(np.asarray(u, dtype=np.float64).reshape(c), h * w)


def add_gain(g: float, u_in, lt, where: str) -> float:
    """Gain of one Add input in normalised units, ``g * u_in / lt``; must be one number."""
    r = uniform(np.asarray(u_in, dtype=np.float64) / np.asarray(lt, dtype=np.float64)) \
        if not (np.isscalar(u_in) and np.isscalar(lt)) else float(u_in) / float(lt)
    if not np.isscalar(r):
        raise ConversionError(f"layer {where}: per-channel scales reach an Add gain; use layer-wise normalisation")
    return float(g) * float(r)


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
