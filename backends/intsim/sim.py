"""Reference integer simulator of the integer IR (the contract of docs/semantics.md).

Vectorised over batch *and* time: the graph is processed chain by chain; each chain's synaptic ops
run once on all T steps x N samples stacked as one batch, then the neuron recurrence loops over T
with element-wise integer ops over (N, neurons). Convolutions and matrix products run in float BLAS
only when a bound proves the result exact: with ``B = max_o sum_i |W[o, i]| * max|x|`` every partial
sum is an integer of magnitude <= B, so float32 is exact for B <= 2^24 and float64 for B <= 2^53;
above that the simulator refuses (``QuantizationError``) rather than round. MaxPool2d gates
(``fixedpoint.max_count_gate``) run on whole spike trains in int64 (cumulative counts, window max,
difference); on the constant input a gate is the max pool of the integer input. Gates add no delay.
"""

from __future__ import annotations

import numpy as np
import torch

from neurocompile.ir import Graph
from neurocompile.ir.chains import chains, spike_dtype, spiking_gates
from neurocompile.ir.cost import ann_macs, fanout
from neurocompile.ir.timing import chain_depths, check_block_timesteps, is_block_graph, run_steps
from neurocompile.results import RunResult, quantize_input

from .blocks import run_blocks
from .placed import PlacedInputs, masked


class _Sig:
    """A signal over time: ``data`` (T or 1, N, ...) holding exact integers (bool spikes, int64 input, or
    float32/float64 within their exact range); ``bound`` >= max |value|. A constant signal (first dim 1)
    holds from step ``start`` on and is 0 before."""

    def __init__(self, data: torch.Tensor, const: bool, bound: int, start: int = 0):
        self.data, self.const, self.bound, self.start = data, const, int(bound), start

    def full(self, steps: int) -> torch.Tensor:
        if not self.const:
            return self.data
        out = self.data.expand(steps, *self.data.shape[1:]).clone()
        out[: self.start] = 0
        return out


def _delayed(sig: _Sig, d: int) -> _Sig:
    if d == 0:
        return sig
    if sig.const:
        return _Sig(sig.data, True, sig.bound, sig.start + d)
    z = torch.zeros_like(sig.data[:d])
    return _Sig(torch.cat([z, sig.data[:-d]]), False, sig.bound)


def _apply(op, ins: list[_Sig], steps: int) -> _Sig:
    """A synaptic op on signals (its ``int_forward`` facet on the samples x steps stacked as one batch)."""
    const = all(s.const for s in ins)
    if const and len({s.start for s in ins}) == 1:
        xs, start = [s.data for s in ins], ins[0].start
    else:
        xs, const, start = [s.full(steps) for s in ins], False, 0
    lead = xs[0].shape[:2]
    y, bound = op.int_forward([x.reshape(-1, *x.shape[2:]) for x in xs], [s.bound for s in ins])
    return _Sig(y.reshape(*lead, *y.shape[1:]), const, bound, start)


def _gate(op, inp: _Sig) -> _Sig:
    """The max-count gate on a source signal (no delay): a constant input's max pool, or the gate rule on
    the spike train in int64 (exact; each output is bounded by the input's bound)."""
    if inp.const:
        return _Sig(op.gate_values(inp.data), True, inp.bound, inp.start)
    out, _, _ = op.gate_train(inp.data.to(torch.int64))
    return _Sig(out.to(torch.float32), False, inp.bound)


def _chain_input(graph, ch, sigs, steps, suffix="@d"):
    """The target's input signal from the chain's sources ``sigs[source + suffix]``."""
    vals = {s + suffix: sigs[s + suffix] for s in ch.sources}
    for op in ch.ops:
        vals[op.name] = _apply(op, [vals[i + suffix] if i in ch.sources else vals[i] for i in graph.inputs(op.name)],
                               steps)
    last = graph.inputs(ch.target.name)[0]
    return vals[last + suffix if last in ch.sources else last]


def _placed_chain_input(graph, ch, sigs, steps, placed, suffix="@d"):
    def evaluate(masks):
        local = {s + suffix: masked(sigs[s + suffix], masks[s], _Sig) for s in ch.sources}
        return _chain_input(graph, ch, local, steps, suffix)
    return placed.assemble(ch.target.name, evaluate, _Sig)


def _run_batch(graph, x_int, T, steps, record, record_v, fan, ws, placed=None):
    d = int(graph.meta.get("synapse_delay", 0))
    x_t = torch.as_tensor(x_int)[None]
    sigs: dict[str, _Sig] = {graph.input.name: _Sig(x_t, True, int(x_t.abs().max()) if x_t.numel() else 0)}
    counts, spikes, volts, synops = {}, {}, {}, torch.zeros(x_int.shape[0], dtype=torch.float64)
    readout = None
    gates = [g.name for g in spiking_gates(graph)]
    for ch in chains(graph):
        for s in ch.sources:
            _gate_into(graph, s, sigs, placed)
            sigs[s + "@d"] = _delayed(sigs[s], d)
        for g in gates:  # gates on spikes, once each (also those only another gate reads)
            if g in sigs and g not in counts:
                _count(sigs[g].data, g, fan, counts, synops, spikes if g in record else None, spike_dtype(graph, g))
        if placed is not None and ch.target.name in placed:
            inp = _placed_chain_input(graph, ch, sigs, steps, placed)
        else:
            inp = _chain_input(graph, ch, sigs, steps)
        t = ch.target
        if t.readout:
            readout = t.with_bias(inp.full(steps)[steps - T:].to(torch.int64).sum(0), T)
            continue
        n = x_int.shape[0]
        shape = inp.data.shape[2:]
        st = t.int_init(n, shape, inp.bound)
        drive = t.int_drive(st, inp.data)  # (T or 1, N, ...)
        idle = st.bias.expand(n, *shape)  # drive before a constant input starts (bias only)
        buf = ws.get(t.name)  # spike buffers are reused across batches (no fresh pages to fault in)
        if buf is None or buf.shape[1] < n:
            buf = ws[t.name] = torch.empty((steps, n, *shape), dtype=torch.float32)
        s_all = buf[:, :n]  # spike values (0/1, or signed powers of two if graded), every step written below
        v_all = torch.zeros((steps, n, *shape), dtype=torch.int64) if t.name in record_v else None
        for step in range(steps):
            if inp.const:
                cur = drive[0] if step >= inp.start else idle
            else:
                cur = drive[step]
            t.int_step(st, cur, s_all[step])
            if v_all is not None:
                v_all[step] = st.v
        sigs[t.name] = _Sig(s_all, False, t.spike_max)
        _count(s_all, t.name, fan, counts, synops, spikes if t.name in record else None, t.spike_dtype)
        if v_all is not None:
            volts[t.name] = v_all.numpy()
    return readout.numpy(), counts, synops.numpy(), spikes, volts


def _gate_into(graph: Graph, name: str, sigs: dict[str, _Sig], placed=None) -> None:
    """Compute gate ``name`` (and the gates it reads) into ``sigs``; other sources are there already."""
    n = graph.node(name)
    if name in sigs or not n.gate:
        return
    src = graph.inputs(name)[0]
    _gate_into(graph, src, sigs, placed)
    if placed is not None and name in placed:
        sigs[name] = placed.assemble(name, lambda masks: _gate(n, masked(sigs[src], masks[src], _Sig)), _Sig)
    else:
        sigs[name] = _gate(n, sigs[src])


def _count(s_all: torch.Tensor, name: str, fan, counts, synops, spikes, dtype) -> None:
    """Spike events per sample (a graded spike is one event; exact: < 2^24 steps), SynOps (events x fan-out)
    and, if ``spikes`` is a dict, the recorded spikes of population or gate ``name``."""
    n = s_all.shape[1]
    per_neuron = (s_all.sum(0) if dtype == np.dtype(bool) else (s_all != 0).sum(0)).to(torch.float64)
    counts[name] = per_neuron.reshape(n, -1).sum(1, dtype=torch.int64).numpy()
    synops += (per_neuron * torch.as_tensor(fan[name])).reshape(n, -1).sum(1)
    if spikes is not None:
        spikes[name] = s_all.numpy().astype(dtype)


def simulate(graph: Graph, x: np.ndarray, timesteps: int, record: bool | list[str] = False,
             record_voltage: bool | list[str] = False, batch_size: int | None = None, progress=None,
             placement=None) -> RunResult:
    """Run the integer graph on float inputs ``x`` (N, *input shape) for ``timesteps`` integration steps.

    ``record``: True (every population and every gate on their spikes) or a list of layer names whose
    spikes to keep; ``record_voltage`` likewise for the membrane state after each step (populations only).
    ``progress``: optional callable(n_done) for progress bars. ``placement``: a
    :class:`~neurocompile.partition.Placement` of ``graph``: each slice then computes its input from only
    its fan-in (``placed.py``), which must give the same result.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    shapes = graph.verify()
    blocks = is_block_graph(graph)
    if blocks:
        check_block_timesteps(graph, timesteps)
    pops = [n.name for n in graph.topo() if n.chain_target and not n.readout]
    rec = set(pops + [g.name for g in spiking_gates(graph)] if record is True else (record or []))
    rec_v = set(pops if record_voltage is True else (record_voltage or []))
    x_int = quantize_input(graph, x)
    steps = run_steps(graph, timesteps)
    depth = chain_depths(graph)
    fan = fanout(graph)
    if batch_size is None:
        biggest = max(int(np.prod(shapes[n.name])) for n in graph.topo())
        batch_size = int(max(1, min(512, (1 << 23) // max(1, steps * biggest))))  # cache-sized
    placed = PlacedInputs(graph, placement) if placement is not None else None
    parts, ws = [], {}
    for start in range(0, len(x_int), batch_size):
        xb = x_int[start : start + batch_size]
        if blocks:
            parts.append(run_blocks(graph, xb, steps, depth, rec, rec_v, fan, _apply, _Sig, placed))
        else:
            parts.append(_run_batch(graph, xb, timesteps, steps, rec, rec_v, fan, ws, placed))
        if progress:
            progress(min(batch_size, len(x_int) - start))
    readout = np.concatenate([p[0] for p in parts])
    counts = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    synops = np.concatenate([p[2] for p in parts])
    spikes = {k: np.concatenate([p[3][k] for p in parts], axis=1) for k in parts[0][3]}
    volts = {k: np.concatenate([p[4][k] for p in parts], axis=1) for k in parts[0][4]}
    return RunResult(readout, timesteps, steps, counts, synops, spikes, volts)


def macs_per_sample(graph: Graph) -> int:
    return int(sum(ann_macs(graph).values()))
