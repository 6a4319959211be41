"""Slow STCSNN block simulator written independently of intsim: Python ints, one sample, and the
current accumulator (CAB) computed step by step per source, ``acc += theta_k * (chain of spikes_k)``,
straight from docs/semantics.md (intsim instead decodes each train first and runs the chain once)."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Add, AvgPool2d, Conv2d, Encoder, Flatten, Graph, Linear, Output
from neurocompile.ir.chains import chains
from slowsim import _conv, _flat, _map2, _pool, _zeros_like


def _chain_value(graph: Graph, ch, values: dict):
    """The chain's ops on nested-list source values; returns the target's input."""
    val = dict(values)
    for n in ch.ops:
        ins = graph.inputs(n.name)
        if isinstance(n, Conv2d):
            val[n.name] = _conv(val[ins[0]], n)
        elif isinstance(n, Linear):
            v = _flat(val[ins[0]])
            val[n.name] = [sum(int(w) * int(a) for w, a in zip(row, v)) for row in n.weight.tolist()]
        elif isinstance(n, AvgPool2d):
            val[n.name] = _pool(val[ins[0]], n)
        elif isinstance(n, Flatten):
            val[n.name] = _flat(val[ins[0]])
        elif isinstance(n, Add):
            tot = None
            for g, name in zip(n.gains or (1,) * len(ins), ins):
                term = _map2(lambda a, _b: int(g) * a, val[name], val[name])
                tot = term if tot is None else _map2(lambda a, b: a + b, tot, term)
            val[n.name] = tot
    return val[graph.inputs(ch.target.name)[0]]


def slow_blocks(graph: Graph, x_int: np.ndarray):
    """Returns (readout list, {encoder: spikes[k][...] (T steps)}) for ONE sample."""
    trains = {graph.input.name: ([1], [x_int.tolist()])}  # source -> (weights per step, values per step)
    spikes, readout = {}, None
    for ch in chains(graph):
        acc = None
        for src in ch.sources:
            weights, steps = trains[src]
            for w, s in zip(weights, steps):
                vals = {o: _zeros_like(trains[o][1][0]) for o in ch.sources}
                vals[src] = s
                cur = _chain_value(graph, ch, vals)
                term = _map2(lambda a, _b: int(w) * int(a), cur, cur)
                acc = term if acc is None else _map2(lambda a, b: a + b, acc, term)
        t = ch.target
        flat = [int(a) for a in _flat(acc)] if isinstance(acc, list) else [int(acc)]
        if isinstance(t, Output):
            b = [0] * len(flat) if t.bias is None else [int(a) for a in t.bias]
            readout = [a + c for a, c in zip(flat, b)]
            continue
        assert isinstance(t, Encoder)
        shape = np.asarray(acc, dtype=object).shape
        b = [int(a) for a in np.broadcast_to(np.asarray(0 if t.bias is None else t.bias), shape).ravel()]
        m = 2 ** (t.state_bits - 1) - 1
        v = []
        for a, bv in zip(flat, b):
            shifted = a >> t.load_shift if t.load_shift >= 0 else a * 2 ** (-t.load_shift)
            v.append(min(max(shifted + bv, -m), m))
        th = [int(k) for k in t.thresholds]
        steps = []
        for theta in th:
            s = [1 if vi >= theta else 0 for vi in v]
            v = [vi - theta * si for vi, si in zip(v, s)]
            steps.append(np.array(s, dtype=object).reshape(shape).tolist())
        trains[t.name] = (th, steps)
        spikes[t.name] = steps
    return readout, spikes
