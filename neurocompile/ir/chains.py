"""Synaptic chains: the linear ops (``synaptic``: conv, linear, pool, flatten, add) between spike sources
(``spike_source``: the Input, a population, a max-count gate, an STCSNN encoder) and one ``chain_target``
(a population, an encoder or the readout).

A max-count gate (``gate``: ``MaxPool2d``) is a source, not a chain op: it reads its source directly,
without a synapse and without delay. :func:`spike_origin` follows a run of gates back to the Input or
population whose kind of signal (analog, binary, graded) it passes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConversionError
from .graph import Graph
from .names import describe, describe_of, layer
from .ops import FloatContext, Node


@dataclass
class Chain:
    target: Node  # a chain target (population, encoder or readout)
    ops: list[Node]  # synaptic ops in topological order (may be empty only if the target reads a source)
    sources: list[str]  # names of the spike sources feeding the chain


def chain_of(graph: Graph, target: Node) -> Chain:
    ops, sources, seen = [], [], set()
    stack = list(graph.inputs(target.name))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        n = graph.node(name)
        if n.spike_source:
            sources.append(name)
        elif n.synaptic:
            ops.append(n)
            stack.extend(graph.inputs(name))
        else:
            raise ConversionError(f"{layer(n)} cannot feed {describe(target)}")
    order = {n.name: i for i, n in enumerate(graph.topo())}
    ops.sort(key=lambda n: order[n.name])
    for op in ops:
        outside = [c for c in graph.consumers(op.name) if c != target.name and c not in {o.name for o in ops}]
        if outside:
            # invariant: the front end's ir.rewrite.split_linear_fanout gives each consumer its own copy
            raise ConversionError(
                f"{layer(op)}: output feeds both {describe(target)} and {describe_of(graph, outside[0])}; "
                "a synaptic op may feed only one neuron population (a graph built without the front end must copy "
                "such ops first: neurocompile.ir.rewrite.split_linear_fanout)"
            )
    return Chain(target, ops, sorted(sources, key=order.get))


def chains(graph: Graph) -> list[Chain]:
    return [chain_of(graph, n) for n in graph.topo() if n.chain_target]


def spike_origin(graph: Graph, name: str) -> Node:
    """The Input or population a spike source's signal comes from: itself, or, for a max-count gate, the
    source at the start of its run of gates (the gate's output is of the same kind: analog values for the
    Input, binary or graded spikes bounded by ``spike_max`` for a population)."""
    n = graph.node(name)
    while n.gate:
        n = graph.node(graph.inputs(n.name)[0])
    return n


def spiking_gates(graph: Graph) -> list[Node]:
    """The gates that pass on spikes of a population (not the analog input), topological order."""
    return [n for n in graph.topo() if n.gate and not spike_origin(graph, n.name).analog]


def spike_dtype(graph: Graph, name: str) -> np.dtype:
    """Type of the recorded spikes of a population or gate: bool if binary, the signed values otherwise
    (a gate on graded spikes sends any integer within +-spike_max, which fits the population's type); the
    integer input's values for a gate on the input."""
    return spike_origin(graph, name).spike_dtype


def payload_bits(graph: Graph, name: str) -> int:
    """Bits one message of a spike source carries (0: binary spikes): the origin's (``payload_bits``)."""
    return int(spike_origin(graph, name).payload_bits)


def eval_chain(graph: Graph, chain: Chain, source_values: dict[str, torch.Tensor]) -> torch.Tensor:
    """Evaluate the chain's ops (float) on given source values; returns the target's input."""
    vals = dict(source_values)
    ctx = FloatContext()
    for op in chain.ops:
        p = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in op.arrays().items()}
        vals[op.name] = op.eval_float([vals[i] for i in graph.inputs(op.name)], p, ctx)
    return vals[graph.inputs(chain.target.name)[0]]
