"""Synaptic chains: the linear ops (conv, linear, pool, flatten, add) between spike sources
(Input, Neurons, a MaxPool2d gate or an STCSNN Encoder) and one target (Neurons, Encoder or Output).

A ``MaxPool2d`` (the max-count gate, ``ir.nodes.MaxPool2d``) is a source, not a chain op: it reads its
source directly, without a synapse and without delay. :func:`spike_origin` follows a run of gates back to
the Input or population whose kind of signal (analog, binary, graded) it passes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import SOURCE_TYPES, TARGET_TYPES, Encoder, Graph, Input, MaxPool2d, Neurons, Node
from ..ir.ann import _eval
from ..ir.nodes import SYNAPSE_OPS


@dataclass
class Chain:
    target: Node  # Neurons, Encoder or Output
    ops: list[Node]  # linear ops in topological order (may be empty only if target reads a source)
    sources: list[str]  # names of the Input / Neurons / MaxPool2d / Encoder nodes feeding the chain


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


def spike_origin(graph: Graph, name: str) -> Node:
    """The Input or Neurons node a spike source's signal comes from: itself, or, for a MaxPool2d gate, the
    source at the start of its run of gates (the gate's output is of the same kind: analog values for the
    Input, binary or graded spikes bounded by ``spike_max`` for a population)."""
    n = graph.node(name)
    while isinstance(n, MaxPool2d):
        n = graph.node(graph.inputs(n.name)[0])
    return n


def spiking_gates(graph: Graph) -> list[MaxPool2d]:
    """The MaxPool2d gates that pass on spikes of a population (not the analog input), topological order."""
    return [n for n in graph.nodes_of(MaxPool2d) if isinstance(spike_origin(graph, n.name), Neurons)]


def spike_dtype(graph: Graph, name: str) -> np.dtype:
    """Type of the recorded spikes of a population or gate: bool if binary, the signed values otherwise
    (a gate on graded spikes sends any integer within +-spike_max, which fits the population's type)."""
    origin = spike_origin(graph, name)
    if isinstance(origin, Input):
        return np.dtype(np.int32)
    if isinstance(origin, Encoder):
        return np.dtype(bool)
    return origin.spike_dtype


def eval_chain(graph: Graph, chain: Chain, source_values: dict[str, torch.Tensor]) -> torch.Tensor:
    """Evaluate the chain's ops (float) on given source values; returns the target's input."""
    vals = dict(source_values)
    for op in chain.ops:
        p = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in op.arrays().items()}
        vals[op.name] = _eval(op, [vals[i] for i in graph.inputs(op.name)], None, p, False)
    return vals[graph.inputs(chain.target.name)[0]]
