"""Cost figures of a graph: ANN multiply-accumulates, synapse counts and per-neuron fan-out.

* ANN MACs per sample: for Conv2d, output elements x (in_channels/groups x kh x kw); for Linear, in x out.
  Pooling, Add and bias additions are not counted (the usual convention of the conversion papers).
* Synapses of a layer: the number of non-zero weights times the positions they are applied at (for a
  convolution: non-zero weights actually reaching an in-bounds input, summed over output positions).
* Fan-out of a source neuron: the synaptic operations one of its spikes costs on the target, i.e. the
  non-zero entries in its column of the chain's composed integer matrix (``ir.matrices.chain_matrices``:
  what Lava's ``Sparse`` processes, the FPGA's synapse lists and the partitioner hold). Back-to-back linear
  ops (a conv into a conv, a conv into a pool, two branches of a residual add) are executed as that one
  matrix, so a spike costs one operation per target neuron it reaches, not one per path through the ops.
  SynOps of a run = sum over spikes of the emitting neuron's fan-out.
* Where every source neuron reaches each target neuron along at most one path (no op after the first one
  that spreads a unit to several merges units again, one route through any add), the number of paths
  equals those non-zeros; such a chain is counted by propagating 0/1 indicators (cheap, no matrix), any
  other chain from its composed matrix.
* A MaxPool2d gate is a source of its own: its output neurons have the fan-out of the chain they feed,
  and its spikes (not those of the population it pools) are what SynOps counts there. The gate itself
  is no synapse: a population read only by gates has fan-out 0 (its spikes cost comparisons in the
  gate, not synaptic operations), one read by gates and a chain has the chain's fan-out only.
"""

from __future__ import annotations

import numpy as np
import torch

from .chains import chains
from .matrices import chain_matrices
from .graph import Graph


def ann_macs(graph: Graph) -> dict[str, int]:
    """ANN multiply-accumulates per sample of every op that has some (``macs`` facet)."""
    shapes = graph.infer_shapes()
    out = {}
    for n in graph.topo():
        m = n.macs(shapes[n.name])
        if m:
            out[n.name] = int(m)
    return out


def fanout(graph: Graph) -> dict[str, np.ndarray]:
    """Per-neuron fan-out (float64 array of the node's shape) of every spike source (Input / Neurons /
    MaxPool2d gate / Encoder): the non-zeros of its columns in the composed matrices of the chains it feeds."""
    shapes = graph.infer_shapes()
    fan = {n.name: np.zeros(shapes[n.name]) for n in graph.topo() if n.spike_source}
    for ch in chains(graph):
        if _single_paths(graph, ch, shapes):
            for src in ch.sources:
                fan[src] += _paths(graph, ch, shapes, src)
        else:
            for src, m in chain_matrices(graph, ch).items():
                fan[src] += np.diff(m.tocsc().indptr).reshape(shapes[src])
    return fan


def _paths(graph: Graph, ch, shapes, src: str) -> np.ndarray:
    """Number of synaptic paths from each neuron of ``src`` to the chain's target (0/1 indicators through
    the ops, differentiated)."""
    vals = {s: torch.zeros((1, *shapes[s]), dtype=torch.float64) for s in ch.sources}
    x = torch.ones((1, *shapes[src]), dtype=torch.float64, requires_grad=True)
    vals[src] = x
    for op in ch.ops:
        vals[op.name] = op.indicator([vals[i] for i in graph.inputs(op.name)])
    last = graph.inputs(ch.target.name)[0]
    if last == src:
        return np.ones(shapes[src])
    (g,) = torch.autograd.grad(vals[last].sum(), x, allow_unused=True)
    return np.zeros(shapes[src]) if g is None else g[0].numpy()


def _single_paths(graph: Graph, ch, shapes) -> bool:
    """True if every source neuron reaches each target neuron along at most one path, so that counting
    paths counts the composed matrix's non-zeros: one route from each source through the ops, and after
    the first op on it that sends a unit to several units, only ops that give each unit one input unit."""
    kind = {}  # (op, input index) -> (spreads, merges)
    for op in ch.ops:
        for idx, i in enumerate(graph.inputs(op.name)):
            ins = [torch.zeros((1, *shapes[j]), dtype=torch.float64) for j in graph.inputs(op.name)]
            ins[idx] = torch.ones((1, *shapes[i]), dtype=torch.float64, requires_grad=True)
            y = op.indicator(ins)
            (g,) = torch.autograd.grad(y.sum(), ins[idx], allow_unused=True)
            kind[op.name, idx] = (g is not None and float(g.max()) > 1, float(y.detach().max()) > 1)
    for src in ch.sources:
        # state per node reached from src: number of routes, and whether a spreading op is behind it
        routes, spread = {src: 1}, {src: False}
        for op in ch.ops:
            ins = [(idx, i) for idx, i in enumerate(graph.inputs(op.name)) if i in routes]
            if not ins:
                continue
            routes[op.name] = sum(routes[i] for _, i in ins)
            if routes[op.name] > 1:
                return False
            (idx, i), = ins
            spreads, merges = kind[op.name, idx]
            if spread[i] and merges:
                return False
            spread[op.name] = spread[i] or spreads
    return True


def synapse_counts(graph: Graph) -> dict[str, int]:
    """Synapses per weight layer (non-zero weights x positions where they connect in-bounds inputs)."""
    shapes = graph.infer_shapes()
    out = {}
    for n in graph.topo():
        if n.weighted:
            src = graph.inputs(n.name)[0]
            x = torch.ones((1, *shapes[src]), dtype=torch.float64)
            out[n.name] = int(n.indicator([x]).sum().item())
    return out


def neuron_counts(graph: Graph) -> dict[str, int]:
    shapes = graph.infer_shapes()
    return {n.name: int(np.prod(shapes[n.name])) for n in graph.topo() if n.chain_target}
