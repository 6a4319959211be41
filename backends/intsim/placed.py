"""Placed simulation: every slice of a placed layer computes its input from only the source units its placement
says it receives (its fan-in mask), as the slice would on its own core.

``simulate(..., placement=p)`` uses :class:`PlacedInputs` for every chain target and MaxPool2d gate that the
placement covers: for each slice the sources are masked to the slice's fan-in, the chain (or gate) is
evaluated, and the slice's box of the result is kept; the boxes tile the layer. If a placement missed a
connected source unit, the slice's input would differ and so would the spikes: a placed and an unplaced
simulation agree exactly only when every slice receives everything it needs.
"""

from __future__ import annotations

import torch

from neurocompile.errors import GraphError
from neurocompile.ir import Graph
from neurocompile.ir.names import layer_of
from neurocompile.partition.connectivity import box_index, build_conns
from neurocompile.partition.placement import Placement


class PlacedInputs:
    def __init__(self, graph: Graph, placement: Placement):
        conns = build_conns(graph)
        shapes = graph.infer_shapes()
        self.slices: dict[str, list] = {}
        for s in placement.slices:
            if s.layer not in conns:
                raise GraphError(f"placement: layer {s.layer} is not a placed layer of graph {graph.name}")
            masks = {c.source: torch.as_tensor(c.fanin_mask(s.box)) for c in conns[s.layer]}
            self.slices.setdefault(s.layer, []).append((s.box, masks))
        cover = {name: torch.zeros(tuple(shapes[name]), dtype=torch.int64) for name in self.slices}
        for name, items in self.slices.items():
            for box, _ in items:
                cover[name][box_index(box)] += 1
            if not bool(torch.all(cover[name] == 1)):
                raise GraphError(f"placement: the slices of {layer_of(graph, name)} do not tile it exactly once")

    def __contains__(self, name: str) -> bool:
        return name in self.slices

    def assemble(self, name: str, evaluate, signal_type):
        """Evaluate layer ``name`` slice by slice. ``evaluate(masks)`` -> the layer's full-shape signal computed
        from sources masked by ``masks`` ({source: bool mask}); returns the signal made of each slice's box."""
        out, first = None, None
        for box, masks in self.slices[name]:
            sig = evaluate(masks)
            if out is None:
                first, out = sig, torch.zeros_like(sig.data)
            elif sig.const != first.const or sig.start != first.start or sig.bound != first.bound:
                raise GraphError(f"{layer_of(graph, name)}: slices disagree on the kind of signal")
            idx = (slice(None), slice(None)) + box_index(box)
            out[idx] = sig.data[idx]
        return signal_type(out, first.const, first.bound, first.start)


def masked(sig, mask: torch.Tensor, signal_type):
    """``sig`` with the source units outside ``mask`` set to 0 (same kind of signal, same bound)."""
    data = sig.data * mask.to(sig.data.dtype) if sig.data.dtype != torch.bool else sig.data & mask
    return signal_type(data, sig.const, sig.bound, sig.start)
