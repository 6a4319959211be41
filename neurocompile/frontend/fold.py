"""BatchNorm folding and dead-node removal on the freshly lowered graph.

Lowering emits a front-end-private ``PendingBatchNorm`` node for every eval-mode BatchNorm; ``fold_batchnorms``
merges each into the Conv2d / Linear that feeds it (using that BatchNorm's own ``eps``)::

    s  = gamma / sqrt(running_var + eps)
    w' = w * s            (per output channel)
    b' = (b - running_mean) * s + beta

and raises ConversionError for a BatchNorm that has no such producer. No PendingBatchNorm survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, Node
from ..ir.names import describe, describe_of


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
    array_fields: ClassVar[tuple[str, ...]] = ("gamma", "beta", "mean", "var")


def fold_batchnorms(graph: Graph) -> None:
    """Fold every PendingBatchNorm into its producer in place; raise ConversionError if one cannot be."""
    for bn in graph.nodes_of(PendingBatchNorm):
        (src,) = graph.inputs(bn.name)
        prev = graph.node(src)
        if not prev.weighted:
            what = "the network input" if prev.analog else describe(prev)
            raise ConversionError(
                f"{bn.where}: BatchNorm cannot be folded: its input is {what}; only a BatchNorm directly after "
                f"a Conv2d or Linear (whose output it alone consumes) is supported"
            )
        others = [c for c in graph.consumers(src) if c != bn.name]
        if others:
            raise ConversionError(
                f"{bn.where}: BatchNorm cannot be folded into {describe(prev)}: its output is also used by "
                f"{', '.join(describe_of(graph, c) for c in others)}"
            )
        scale = bn_scale(bn)
        shift = bn.beta - bn.mean * scale
        if len(scale) != prev.weight.shape[0]:
            raise ConversionError(
                f"{bn.where}: BatchNorm has {len(scale)} channels, {describe(prev)} has {prev.weight.shape[0]}"
            )
        prev.absorb_affine(scale, shift)
        graph.remove(bn.name, rewire_to=src)


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
