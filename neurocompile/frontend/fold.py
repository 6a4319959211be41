"""BatchNorm folding and dead-node removal on the freshly lowered graph.

Lowering emits a front-end-private ``PendingBatchNorm`` node for every eval-mode BatchNorm; ``fold_batchnorms``
merges each into the Conv2d / Linear that feeds it (using that BatchNorm's own ``eps``)::

    s  = gamma / sqrt(running_var + eps)
    w' = w * s            (per output channel)
    b' = (b - running_mean) * s + beta

A BatchNorm behind average pools (without padding) on such a layer's output is moved in front of them
first (a per-channel affine map commutes with a per-channel mean). A BatchNorm that still has no such
producer (it reads the network input, a ReLU as in pre-activation "BN-ReLU-conv" blocks, a max pool, an
add...) becomes the same per-channel affine map as a weight op of its own, exactly: a 1x1 depthwise
``Conv2d`` (groups = C, weight ``s``, bias ``beta - mean * s``) on a (C, H, W) signal, a ``Linear`` with the
diagonal weight ``diag(s)`` on an (F,) vector. No PendingBatchNorm survives.

A PendingBatchNorm is a linear map (``synaptic``), so ``ir.rewrite.split_linear_fanout``, which runs
before folding, copies it, and the layer that feeds it, when its output has several consumers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ConversionError
from ..ir import Conv2d, Graph, Linear, Node
from ..ir.names import describe


@dataclass(eq=False)
class PendingBatchNorm(Node):
    """Eval-mode BatchNorm ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` over channel axis 0.

    Exists only inside the front end, between lowering and :func:`fold_batchnorms`.
    """

    gamma: np.ndarray = None  # (C,) scale, 1 for affine=False
    beta: np.ndarray = None  # (C,) shift, 0 for affine=False
    mean: np.ndarray = None  # (C,) running mean, input units
    var: np.ndarray = None  # (C,) running variance, input units squared
    eps: float = 1e-5  # added to var, input units squared
    where: str = ""  # "<module path> (<type>, <op>)" for messages

    op: ClassVar[str] = "batch_norm"
    synaptic: ClassVar[bool] = True  # an affine map: copied by ir.rewrite.split_linear_fanout like a conv
    array_fields: ClassVar[tuple[str, ...]] = ("gamma", "beta", "mean", "var")


def fold_batchnorms(graph: Graph) -> None:
    """Fold every PendingBatchNorm into its producer in place, or make it a per-channel weight op."""
    shapes = graph.infer_shapes()
    for bn in graph.nodes_of(PendingBatchNorm):
        _move_in_front_of_pools(graph, bn)
        (src,) = graph.inputs(bn.name)
        prev = graph.node(src)
        scale = bn_scale(bn)
        shift = bn.beta - bn.mean * scale
        if not prev.weighted or graph.consumers(src) != [bn.name]:
            graph.replace_node(affine_op(bn, scale, shift, shapes[src]))
            continue
        if len(scale) != prev.weight.shape[0]:
            raise ConversionError(
                f"{bn.where}: BatchNorm has {len(scale)} channels, {describe(prev)} has {prev.weight.shape[0]}"
            )
        prev.absorb_affine(scale, shift)
        graph.remove(bn.name, rewire_to=src)


def _move_in_front_of_pools(graph: Graph, bn: PendingBatchNorm) -> None:
    """``conv -> avgpool -> BN`` becomes ``conv -> BN -> avgpool`` (exact: the pool's outputs are per-channel
    means), through a run of such pools, when that puts the BN on a weight op's output that it alone reads."""
    from .maxpool import _swap  # noqa: PLC0415 - maxpool imports this module

    run, reader, cur = [], bn.name, graph.inputs(bn.name)[0]
    while graph.consumers(cur) == [reader]:
        n = graph.node(cur)
        if n.weighted:
            for pool in run:  # the pool nearest the BN first
                _swap(graph, pool, bn.name)
            return
        if not n.commutes_with_affine():
            return
        run.append(cur)
        reader, cur = cur, graph.inputs(cur)[0]


def affine_op(bn: PendingBatchNorm, scale: np.ndarray, shift: np.ndarray, shape: tuple[int, ...]) -> Node:
    """The BatchNorm ``y = x * scale + shift`` (per channel) as a weight op named like it: a 1x1 depthwise
    Conv2d on a (C, H, W) signal, a diagonal Linear on an (F,) vector."""
    c = len(scale)
    if len(shape) == 3 and shape[0] == c:
        return Conv2d(bn.name, source=bn.source, module=bn.module, weight=scale.reshape(c, 1, 1, 1).copy(),
                      bias=shift.copy(), groups=c)
    if shape == (c,):
        return Linear(bn.name, source=bn.source, module=bn.module, weight=np.diag(scale), bias=shift.copy())
    raise ConversionError(f"{bn.where}: BatchNorm of {c} channels on a signal of shape {shape}; expected ({c}, H, W) "
                          f"or ({c},)")


def bn_scale(bn: PendingBatchNorm) -> np.ndarray:
    """Per-channel scale ``gamma / sqrt(running_var + eps)``; ConversionError if ``var + eps <= 0``."""
    den = bn.var + bn.eps
    if np.any(den <= 0):
        i = int(np.argmin(den))
        raise ConversionError(
            f"{bn.where}: running_var + eps must be > 0, channel {i} has {bn.var[i]!r} + {bn.eps!r}"
        )
    return bn.gamma / np.sqrt(den)


def prune_dead(graph: Graph) -> list[str]:
    """Remove nodes whose result reaches no Output; returns their names. The Input must stay used."""
    removed = []
    while True:
        dead = [n.name for n in graph.topo() if not n.readout and not graph.consumers(n.name)]
        if not dead:
            return removed
        for name in dead:
            if graph.node(name).analog:
                raise ConversionError(f"graph {graph.name}: the output does not depend on the input")
            graph.remove(name)
            removed.append(name)
