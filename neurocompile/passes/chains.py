"""Synaptic chains: the linear ops (conv, linear, pool, flatten, add) between spike sources
(Input, Neurons or Encoder) and one target (Neurons, Encoder or Output)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import SOURCE_TYPES, TARGET_TYPES, Graph, Node
from ..ir.ann import _eval
from ..ir.nodes import SYNAPSE_OPS


@dataclass
class Chain:
    target: Node  # Neurons, Encoder or Output
    ops: list[Node]  # linear ops in topological order (may be empty only if target reads a source)
    sources: list[str]  # names of Input / Neurons / Encoder nodes feeding the chain


def chain_of(graph: Graph, target: Node) -> Chain:
    ops, sources, seen = [], [], set()
    stack = list(graph.inputs(target.name))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        n = graph.node(name)
        if isinstance(n, SOURCE_TYPES):
            sources.append(name)
        elif n.op in SYNAPSE_OPS:
            ops.append(n)
            stack.extend(graph.inputs(name))
        else:
            raise ConversionError(f"node {name} ({n.op}) cannot feed {target.name}")
    order = {n.name: i for i, n in enumerate(graph.topo())}
    ops.sort(key=lambda n: order[n.name])
    for op in ops:
        outside = [c for c in graph.consumers(op.name) if c != target.name and c not in {o.name for o in ops}]
        if outside:
            raise ConversionError(
                f"layer {op.name}: output feeds both {target.name} and {outside[0]}; "
                "a synaptic op may feed only one neuron population"
            )
    return Chain(target, ops, sorted(sources, key=order.get))


def chains(graph: Graph) -> list[Chain]:
    return [chain_of(graph, n) for n in graph.topo() if isinstance(n, TARGET_TYPES)]


def eval_chain(graph: Graph, chain: Chain, source_values: dict[str, torch.Tensor]) -> torch.Tensor:
    """Evaluate the chain's ops (float) on given source values; returns the target's input."""
    vals = dict(source_values)
    for op in chain.ops:
        p = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in op.arrays().items()}
        vals[op.name] = _eval(op, [vals[i] for i in graph.inputs(op.name)], None, p, False)
    return vals[graph.inputs(chain.target.name)[0]]
