"""Float reference executor: evaluates a graph as the ANN it stands for (analog activations).

Every op evaluates by its ``eval_float`` facet: populations as the rate an integrate-and-fire neuron
approaches (``Neurons.eval_float``: ``clip`` limits it to one spike per step, ``levels=T`` gives the spike
count of T steps started at ``delta`` thresholds, used to choose normalisation scales for a target T), a
max pool as max pooling, an STCSNN ``Encoder`` as its spike train's decoded value (``encode_decode``: the
float STCSNN is exact in one pass), the readout as ``I + bias``.
"""

from __future__ import annotations

import numpy as np
import torch

from .graph import Graph
from .ops import FloatContext
from .ops.encoder import encode_decode  # noqa: F401 - part of this module's API

__all__ = ["run_ann", "encode_decode"]


def _t(a, dtype) -> torch.Tensor | None:
    return None if a is None else torch.as_tensor(np.asarray(a), dtype=dtype)


def run_ann(
    graph: Graph,
    x: np.ndarray | torch.Tensor,
    record: bool = False,
    clip: bool = False,
    dtype: torch.dtype = torch.float32,
    batch_size: int = 512,
    levels: int | None = None,
    delta: float = 0.0,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Evaluate ``graph`` on ``x`` (N, *input shape). Returns (output (N, F), {node: activation} if record)."""
    x = torch.as_tensor(np.asarray(x), dtype=dtype)
    outs, recs = [], {}
    order = graph.topo()
    inputs = {n.name: graph.inputs(n.name) for n in order}
    params = {n.name: {k: _t(v, dtype) for k, v in n.arrays().items()} for n in order}
    for start in range(0, len(x), batch_size):
        vals: dict[str, torch.Tensor] = {}
        ctx = FloatContext(x[start: start + batch_size], clip, levels, delta)
        with torch.no_grad():
            for n in order:
                vals[n.name] = n.eval_float([vals[p] for p in inputs[n.name]], params[n.name], ctx)
        outs.append(vals[graph.output.name])
        if record:
            for k, v in vals.items():
                recs.setdefault(k, []).append(v)
    out = torch.cat(outs).numpy()
    return out, ({k: torch.cat(v).numpy() for k, v in recs.items()} if record else {})
