"""Float time-stepped simulation of a converted (float SNN) graph, vectorised over batch and time.

The float counterpart of intsim for graphs before quantisation: each synaptic chain runs once on all
T steps x N samples, then integrate-and-fire neurons (threshold, bias, initial potential, reset
``subtract`` / ``zero``, spike when ``v >= threshold``; buffered / multi-bit neurons follow
``fixedpoint.if_graded_update_``) loop over T; MaxPool2d gates follow ``fixedpoint.max_count_gate``
(on the constant input: its max pool); no synapse delay. Used to choose
conversion parameters for a target T and to diagnose where accuracy is lost; the integer contract is
intsim's, not this.
"""

from __future__ import annotations

import numpy as np
import torch

from .chains import chains, spike_origin
from .graph import Graph
from .ops import FloatContext


def simulate_float(graph: Graph, x: np.ndarray, timesteps: int, batch_size: int | None = None,
                   given: dict[str, torch.Tensor] | None = None, keep: tuple[str, ...] = ()
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Returns (readout (N, F) = output input summed over T steps, {population: spike rate per neuron (N, ...)}).

    ``given``: spike trains (T, N, ...) of some populations for all of ``x``, used instead of simulating
    them; chains needed only to produce them are skipped (a search that changes one layer reuses what
    lies before it). ``keep``: populations whose spike trains (T, N, ...; bool unless graded) are
    returned in the rates dict under ``"<name>@trains"``. ``batch_size`` (default: as many samples as keep
    one (T, N, neurons) float tensor of the largest layer near 256 MB, at most 256) bounds the memory; each
    intermediate is freed after its last use.
    """
    given = given or {}
    chs = _needed(graph, chains(graph), given)
    if batch_size is None:
        biggest = max(int(np.prod(s)) for s in graph.infer_shapes().values())
        batch_size = int(max(1, min(256, (1 << 26) // max(1, timesteps * biggest))))
    last = _last_use(graph, chs)
    params = {n.name: {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in n.arrays().items()}
              for n in graph.topo()}
    outs, rates, trains = [], {}, {}
    ctx = FloatContext()
    ch_index = {c.target.name: i for i, c in enumerate(chs)}
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[start:start + batch_size]), dtype=torch.float32)
            n = len(xb)
            vals = {graph.input.name: xb[None]}  # (1 or T, N, ...)
            for ch in chs:
                if ch.target.name in given:
                    vals[ch.target.name] = given[ch.target.name][:, start:start + n].to(torch.float32)
                    continue
                for s in ch.sources:
                    _gate(graph, s, vals)
                for op in ch.ops:
                    ins = [vals[i] for i in graph.inputs(op.name)]
                    lead = max(v.shape[0] for v in ins)
                    flat = [v.expand(lead, *v.shape[1:]).reshape(lead * n, *v.shape[2:]) for v in ins]
                    y = op.eval_float(flat, params[op.name], ctx)
                    vals[op.name] = y.reshape(lead, n, *y.shape[1:])
                cur = vals[graph.inputs(ch.target.name)[0]]
                p = params[ch.target.name]
                tg = ch.target
                if tg.readout:
                    acc = cur.expand(timesteps, *cur.shape[1:]).sum(0)
                    del cur
                    outs.append(acc + timesteps * p["bias"] if "bias" in p else acc)
                    continue
                s_all = tg.float_run(cur, p, timesteps)
                del cur
                vals[ch.target.name] = s_all
                rates.setdefault(ch.target.name, []).append(s_all.mean(0))
                if ch.target.name in keep:
                    dt = torch.int8 if tg.graded else torch.bool
                    trains.setdefault(ch.target.name, []).append(s_all.to(dt))
                for k in [op.name for op in ch.ops] + [k for k, i in last.items() if i == ch_index[ch.target.name]]:
                    vals.pop(k, None)
    out = {k: torch.cat(v).numpy() for k, v in rates.items()}
    out.update({f"{k}@trains": torch.cat(v, 1) for k, v in trains.items()})
    return torch.cat(outs).numpy(), out


def _last_use(graph: Graph, chs: list) -> dict[str, int]:
    """Index of the last chain that reads each source (or, through max-pool gates, their inputs)."""
    last = {}
    for i, ch in enumerate(chs):
        for s in ch.sources:
            while True:
                last[s] = i
                if not graph.node(s).gate:
                    break
                s = graph.inputs(s)[0]
    last.pop(graph.input.name, None)
    return last


def _needed(graph: Graph, chs: list, given: dict) -> list:
    """The chains to run: the readout's, and every chain producing a source of a chain that runs (through
    max-pool gates, their origin), unless that source is given (then it is served from ``given``)."""
    if not given:
        return chs
    need, run = {graph.output.name}, []
    for ch in reversed(chs):
        if ch.target.name in need:
            run.append(ch)
            if ch.target.name not in given:
                need.update(spike_origin(graph, s).name for s in ch.sources)
    return run[::-1]


def _gate(graph: Graph, name: str, vals: dict[str, torch.Tensor]) -> None:
    """Put the output of gate ``name`` (and of the gates it reads) into ``vals``; other sources are there."""
    n = graph.node(name)
    if name in vals or not n.gate:
        return
    src = graph.inputs(name)[0]
    _gate(graph, src, vals)
    x = vals[src]
    if x.shape[0] == 1:  # the constant input: the gate passes its max pool on every step
        vals[name] = n.gate_values(x)
    else:
        vals[name] = n.gate_train(x)[0]
