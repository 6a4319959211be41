"""intsim for STCSNN graphs (``Encoder`` populations): block-by-block integer simulation.

Each chain into an encoder (or the readout) is evaluated once, on the *decoded* values of its sources:
an encoder's spike train decodes to ``q = sum_k thresholds[k] s_k`` and the analog input counts once.
The accumulator block (CAB) of the contract computes ``sum_k thresholds[k] (M s_k)`` step by step; in
integers that equals ``M q`` exactly (distributivity, no rounding before the load shift), which is how
this module computes it (the Lava backend accumulates step by step, and the bit-exact suite compares
the two). Timing (docs/semantics.md): an encoder at depth d (Input 0; a target one deeper than its
deepest source) fires in steps ``[(d - 1) T, d T)``; the readout is ready after ``(D - 1) T`` steps.
"""

from __future__ import annotations

import numpy as np
import torch

from neurocompile.errors import GraphError
from neurocompile.ir import Graph
from neurocompile.ir.chains import chains
from neurocompile.ir.names import layer

from .placed import masked


def run_blocks(graph: Graph, x_int: np.ndarray, steps: int, depth: dict[str, int], record: set, record_v: set,
               fan: dict, apply_op, signal, placed=None):
    """One batch. ``apply_op`` / ``signal`` are intsim's exact op evaluator and signal type (constant
    signals of one step); ``placed``: per-slice evaluation (``placed.PlacedInputs``). Returns (readout,
    counts, synops, spikes, voltages) as intsim's ``_run_batch``."""
    n = x_int.shape[0]
    x_t = torch.as_tensor(x_int)[None]
    sigs = {graph.input.name: signal(x_t, True, int(x_t.abs().max()) if x_t.numel() else 0)}
    counts, spikes, volts = {}, {}, {}
    synops = torch.zeros(n, dtype=torch.float64)
    readout = None
    for ch in chains(graph):
        def evaluate(masks, ch=ch):
            vals = {s: masked(sigs[s], masks[s], signal) if masks else sigs[s] for s in ch.sources}
            for op in ch.ops:
                vals[op.name] = apply_op(op, [vals[i] for i in graph.inputs(op.name)], 1)
            return vals[graph.inputs(ch.target.name)[0]]
        inp = placed.assemble(ch.target.name, evaluate, signal) if placed is not None and ch.target.name in placed \
            else evaluate(None)
        acc = inp.data[0].to(torch.int64)  # exact: the bound was checked
        t = ch.target
        if t.readout:
            readout = t.with_bias(acc, 1)
            continue
        if not t.block_coded:
            raise GraphError(f"{layer(t)}: a {t.op} in a network of STCSNN encoders")
        shape = acc.shape[1:]
        s_all, q, v_tr, v = t.int_encode(acc, t.name in record_v)
        T, start = s_all.shape[0], (depth[t.name] - 1) * s_all.shape[0]
        if v_tr is not None:
            v_all = torch.zeros((steps, n, *shape), dtype=torch.int64)
            v_all[start:start + T] = v_tr
            v_all[start + T:] = v  # the residue stays after the train
            volts[t.name] = v_all.numpy()
        th = np.asarray(t.thresholds, dtype=np.int64)
        sigs[t.name] = signal(q[None], True, int(th.sum()))
        per_neuron = s_all.sum(0).to(torch.float64)
        counts[t.name] = per_neuron.reshape(n, -1).sum(1, dtype=torch.int64).numpy()
        synops += (per_neuron * torch.as_tensor(fan[t.name])).reshape(n, -1).sum(1)
        if t.name in record:
            full = np.zeros((steps, n, *shape), dtype=bool)
            full[start:start + T] = s_all.numpy()
            spikes[t.name] = full
    return readout.numpy(), counts, synops.numpy(), spikes, volts
