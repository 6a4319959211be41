"""Float reference executor: evaluates a graph as the ANN it stands for (analog activations).

``Neurons`` evaluate as ``relu((I + bias) / threshold)`` (threshold 1 and bias 0 when unset), i.e. the
firing rate an integrate-and-fire neuron with reset by subtraction approaches; ``clip=True`` also
limits it to one spike per step (``min(., 1)``). With ``levels=T`` they evaluate as the spike count of
such a neuron after T steps of a constant input, started at ``delta`` thresholds:
``clip(floor(T * z + delta), 0, T) / T`` with ``z = (I + bias) / threshold`` (the rate an SNN can
express in T steps; used to choose normalisation scales for a target T). ``MaxPool2d`` is max pooling (the
spike count its gate passes on is the largest input count). An STCSNN ``Encoder`` evaluates as its spike
train's decoded value (``encode_decode``): the float STCSNN is exact in one pass. ``Output`` returns
``I + bias``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .graph import Graph
from .nodes import Add, AvgPool2d, Conv2d, Encoder, Flatten, Input, Linear, MaxPool2d, Neurons, Output


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
        for n in order:
            ins = [vals[p] for p in inputs[n.name]]
            vals[n.name] = _eval(n, ins, x[start : start + batch_size], params[n.name], clip, levels, delta)
        outs.append(vals[graph.output.name])
        if record:
            for k, v in vals.items():
                recs.setdefault(k, []).append(v)
    out = torch.cat(outs).numpy()
    return out, ({k: torch.cat(v).numpy() for k, v in recs.items()} if record else {})


def _eval(n, ins, xb, p, clip, levels=None, delta=0.0) -> torch.Tensor:
    with torch.no_grad():
        if isinstance(n, Input):
            return xb
        if isinstance(n, Conv2d):
            return F.conv2d(ins[0], p["weight"], p.get("bias"), n.stride, n.padding, n.dilation, n.groups)
        if isinstance(n, Linear):
            return F.linear(ins[0], p["weight"], p.get("bias"))
        if isinstance(n, AvgPool2d):
            k = n.kernel_size[0] * n.kernel_size[1]
            return F.avg_pool2d(ins[0], n.kernel_size, n.stride) * (k / n.divisor)
        if isinstance(n, MaxPool2d):  # also with ``levels``: the max of the (already quantised) input
            return F.max_pool2d(ins[0], n.kernel_size, n.stride)
        if isinstance(n, Flatten):
            return torch.flatten(ins[0], 1)
        if isinstance(n, Add):
            gains = n.gains or (1,) * len(ins)
            return sum(float(g) * v for g, v in zip(gains, ins))
        if isinstance(n, Neurons):
            v = ins[0]
            if "bias" in p:
                v = v + p["bias"]
            if "threshold" in p:
                v = v / p["threshold"]
            if levels:
                return torch.floor(v * levels + delta).clamp(0, levels) / levels
            if clip:
                return v.clamp(0, 1)
            return torch.relu(v) if n.clip is None else v.clamp(0, float(n.clip))
        if isinstance(n, Encoder):
            v = ins[0] + p["bias"] if "bias" in p else ins[0]
            return encode_decode(v, p["thresholds"])
        if isinstance(n, Output):
            return ins[0] + p["bias"] if "bias" in p else ins[0]
    raise TypeError(f"node {n.name}: cannot evaluate op {n.op}")


def encode_decode(v: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """STCSNN block on floats: load ``v``, fire ``s_k = v >= thresholds[k]`` and subtract, k = 0 .. T-1;
    returns ``sum_k thresholds[k] * s_k`` (the value the next block's accumulator decodes)."""
    v = v.clone()
    q = torch.zeros_like(v)
    for th in thresholds.reshape(-1):
        s = (v >= th).to(v.dtype)
        v -= th * s
        q += th * s
    return q
