"""Graph rewrites that keep the network's function exactly and make it fit the chain model (``ir.chains``).

:func:`split_linear_fanout`: every synaptic chain must be a tree that ends in one chain target (a
population, an encoder or the readout), so a linear op (``synaptic`` and no ``spike_source``: conv,
linear, pool, flatten, add, ...) may have only one consumer. A model's linear signal often has several (a
MobileNetV2 projection conv feeds the next block and the residual add; a pool feeds a ReLU and a skip add).
The rewrite gives each consumer its own copy of the op, from the last op to the first, so an op upstream
sees the copies as consumers and is copied in turn, up to the spike sources. A copy is the same op with
the same parameters, inputs and ``source`` (module path) under a new name; every later stage treats it as
an op of its own (the quantiser rounds it on its own units), so the function of the network and the
integer contract are unchanged.

Diamonds of linear ops multiply the copies (each path from a spike source to a chain target through an op
needs its own copy of it); :data:`MAX_COPIES` bounds the copies of one op, a ConversionError naming the
layer and the numbers beyond it.
"""

from __future__ import annotations

import copy

from ..errors import ConversionError
from .graph import Graph
from .names import layer

#: the most copies one op may get from :func:`split_linear_fanout` (its own node included)
MAX_COPIES = 64


def _linear(node) -> bool:
    """Ops the rewrite copies: linear maps inside a chain (not the spike sources chains start from)."""
    return node.synaptic and not node.spike_source


def copies_needed(graph: Graph) -> dict[str, int]:
    """For every linear op, the number of copies (itself included) that gives each consumer its own: the sum
    over its consumers of their own copies (a consumer that is no linear op counts once)."""
    need: dict[str, int] = {}
    for n in reversed(graph.topo()):
        if _linear(n):
            need[n.name] = sum(need.get(c, 1) for c in graph.consumers(n.name))
    return need


def _fresh(graph: Graph, base: str) -> str:
    k = 1
    while f"{base}_copy{k}" in graph:
        k += 1
    return f"{base}_copy{k}"


def split_linear_fanout(graph: Graph, limit: int = MAX_COPIES) -> dict[str, list[str]]:
    """Copy every linear op with several consumers so that each copy feeds one (in place).

    Returns ``{op name: [names of its new copies]}`` for the ops that were copied. Raises ConversionError
    naming the layer (and its module path) if an op would need more than ``limit`` copies; the graph is then
    left unchanged.
    """
    need = copies_needed(graph)
    worst = max(need, key=lambda k: (need[k], k), default=None)
    if worst is not None and need[worst] > limit:
        raise ConversionError(
            f"{layer(graph.node(worst))}: its linear output reaches {need[worst]} neuron populations / outputs through "
            f"paths of linear ops (no activation between), which needs {need[worst]} copies of it, more than the "
            f"limit of {limit}; put an activation on the shared signal or reduce the linear fan-out")
    made: dict[str, list[str]] = {}
    for n in reversed(graph.topo()):
        consumers = graph.consumers(n.name)
        if not _linear(n) or len(consumers) < 2:
            continue
        inputs = graph.inputs(n.name)
        for c in consumers[1:]:
            dup = copy.deepcopy(n)
            dup.name = _fresh(graph, n.name)
            graph.add(dup, inputs)
            graph.replace_input(c, n.name, dup.name)
            made.setdefault(n.name, []).append(dup.name)
    return made
