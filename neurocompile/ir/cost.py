"""Cost figures of a graph: ANN multiply-accumulates, synapse counts and per-neuron fan-out.

* ANN MACs per sample: for Conv2d, output elements x (in_channels/groups x kh x kw); for Linear, in x out.
  Pooling, Add and bias additions are not counted (the usual convention of the conversion papers).
* Synapses of a layer: the number of non-zero weights times the positions they are applied at (for a
  convolution: non-zero weights actually reaching an in-bounds input, summed over output positions).
* Fan-out of a source neuron: the number of synaptic paths from it to neurons of the chain it feeds,
  counted through pooling / flatten / add with the non-zero pattern of the weights. SynOps of a run =
  sum over spikes of the emitting neuron's fan-out.
* A MaxPool2d gate is a source of its own: its output neurons have the fan-out of the chain they feed,
  and its spikes (not those of the population it pools) are what SynOps counts there. The gate itself
  is no synapse: a population read only by gates has fan-out 0 (its spikes cost comparisons in the
  gate, not synaptic operations), one read by gates and a chain has the chain's fan-out only.
"""

from __future__ import annotations

import numpy as np
import torch

from .chains import chains
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
    MaxPool2d gate / Encoder)."""
    shapes = graph.infer_shapes()
    fan = {n.name: np.zeros(shapes[n.name]) for n in graph.topo() if n.spike_source}
    for ch in chains(graph):
        for src in ch.sources:
            vals = {s: torch.zeros((1, *shapes[s]), dtype=torch.float64) for s in ch.sources}
            x = torch.ones((1, *shapes[src]), dtype=torch.float64, requires_grad=True)
            vals[src] = x
            for op in ch.ops:
                vals[op.name] = op.indicator([vals[i] for i in graph.inputs(op.name)])
            last = graph.inputs(ch.target.name)[0]
            if last == src:
                fan[src] += 1.0
                continue
            (g,) = torch.autograd.grad(vals[last].sum(), x, allow_unused=True)
            if g is not None:
                fan[src] += g[0].numpy()
    return fan


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
