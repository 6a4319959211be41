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

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from neurocompile import fixedpoint as fx
from neurocompile.errors import QuantizationError
from neurocompile.ir import Add, AvgPool2d, Conv2d, Encoder, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output
from neurocompile.ir.cost import ann_macs, fanout
from neurocompile.passes.chains import chains, spike_dtype, spiking_gates

from .blocks import block_run_steps, check_block_timesteps, is_block_graph, run_blocks
from .placed import PlacedInputs, masked

EXACT_F32 = 1 << 24
EXACT_F64 = 1 << 53


@dataclass
class SimResult:
    readout: np.ndarray  # (N, F) int64: output input accumulated over the T integration steps
    timesteps: int  # integration steps at the output (T)
    run_steps: int  # simulated steps (T + pipeline latency)
    spike_counts: dict[str, np.ndarray]  # layer -> (N,) spikes per sample over the run
    synops: np.ndarray  # (N,) synaptic operations per sample
    # layer -> (run_steps, N, *shape): bool, or int8 spike values for graded populations (buffered / multi-bit);
    # populations and the MaxPool2d gates on their spikes (``spike_counts`` / ``synops`` count both)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    voltages: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (run_steps, N, *shape) int64

    @property
    def predictions(self) -> np.ndarray:
        return self.readout.argmax(1)


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


def _exact_float(bound: int, where: str) -> torch.dtype:
    """The narrowest float type in which every integer of magnitude <= bound (and every partial sum
    bounded by it) is exact."""
    if bound <= EXACT_F32:
        return torch.float32
    if bound <= EXACT_F64:
        return torch.float64
    raise QuantizationError(f"layer {where}: accumulator bound {bound} exceeds 2^53; cannot simulate exactly")


def _apply(op, ins: list[_Sig], steps: int) -> _Sig:
    const = all(s.const for s in ins)
    if const and len({s.start for s in ins}) == 1:
        xs, start = [s.data for s in ins], ins[0].start
    else:
        xs, const, start = [s.full(steps) for s in ins], False, 0
    x, bound = xs[0], ins[0].bound
    lead = x.shape[:2]
    if isinstance(op, (Conv2d, Linear)):
        w = np.asarray(op.weight)
        rows = int(np.abs(w.reshape(w.shape[0], -1)).sum(1).max()) if w.size else 0
        bound = rows * bound  # |partial sums| <= max_o sum_i |W[o,i]| * max|x|
        dt = _exact_float(bound, op.name)
        xf = x.reshape(-1, *x.shape[2:]).to(dt)
        wt = torch.as_tensor(w, dtype=dt)
        if isinstance(op, Conv2d):
            y = F.conv2d(xf, wt, None, op.stride, op.padding, op.dilation, op.groups)
        else:
            y = xf @ wt.T
        y = fx.shift(y, op.weight_exp)
        bound = bound << op.weight_exp if op.weight_exp >= 0 else bound
        _exact_float(bound, op.name)
    elif isinstance(op, AvgPool2d):
        if op.divisor != 1:
            raise QuantizationError(f"layer {op.name}: integer IR needs a sum pool (divisor 1), has {op.divisor}")
        bound = op.kernel_size[0] * op.kernel_size[1] * bound
        xf = x.reshape(-1, *x.shape[2:]).to(_exact_float(bound, op.name))
        y = F.avg_pool2d(xf, op.kernel_size, op.stride, divisor_override=1)
    elif isinstance(op, Flatten):
        y = x.reshape(x.shape[0] * x.shape[1], -1)
    elif isinstance(op, Add):
        gains = [int(g) for g in (op.gains or (1,) * len(xs))]
        bound = sum(abs(g) * s.bound for g, s in zip(gains, ins))
        dt = _exact_float(bound, op.name)
        y = sum(g * v.to(dt) for g, v in zip(gains, xs))
        y = y.reshape(-1, *y.shape[2:])
    else:
        raise TypeError(f"layer {op.name}: not a synaptic op ({op.op})")
    return _Sig(y.reshape(*lead, *y.shape[1:]), const, bound, start)


def _gate(op: MaxPool2d, inp: _Sig) -> _Sig:
    """The max-count gate on a source signal (no delay): a constant input's max pool, or the gate rule on
    the spike train in int64 (exact; each output is bounded by the input's bound)."""
    if inp.const:
        return _Sig(fx.window_max(inp.data, op.kernel_size, op.stride), True, inp.bound, inp.start)
    out, _, _ = fx.max_count_gate(inp.data.to(torch.int64), op.kernel_size, op.stride)
    return _Sig(out.to(torch.float32), False, inp.bound)


def chain_depths(graph: Graph) -> dict[str, int]:
    """Depth of each spike source / target: Input 0, a gate that of its input (no delay), a target one
    more than its deepest source."""
    st = {graph.input.name: 0}
    targets = {ch.target.name: ch for ch in chains(graph)}
    for n in graph.topo():
        if isinstance(n, MaxPool2d):
            st[n.name] = st[graph.inputs(n.name)[0]]
        elif n.name in targets:
            st[n.name] = 1 + max(st[s] for s in targets[n.name].sources)
    return st


def latency(graph: Graph) -> int:
    """Steps before the readout receives its first input: ``synapse_delay`` x chains on the longest
    input-to-readout path (the input itself crosses one chain, as a RingBuffer -> Dense in Lava)."""
    d = int(graph.meta.get("synapse_delay", 0))
    return d * chain_depths(graph)[graph.output.name]


def run_steps(graph: Graph, timesteps: int) -> int:
    """Simulated steps: T + latency for rate-coded graphs; (depth of the readout - 1) x T block steps for
    STCSNN graphs (each block's spike train follows the previous block's)."""
    if is_block_graph(graph):
        return block_run_steps(graph, chain_depths(graph))
    return timesteps + latency(graph)


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
        if isinstance(t, Output):
            acc = inp.full(steps)[steps - T :].to(torch.int64).sum(0)
            if t.bias is not None:
                acc = acc + T * torch.as_tensor(t.bias, dtype=torch.int64)
            readout = acc
            continue
        n = x_int.shape[0]
        shape = inp.data.shape[2:]
        th = torch.as_tensor(np.broadcast_to(t.threshold, shape).copy(), dtype=torch.int64)
        bias = torch.as_tensor(np.broadcast_to(0 if t.bias is None else t.bias, shape).copy(), dtype=torch.int64)
        # |every intermediate| <= max_drive (+ the state bound): pick the narrowest exact type for it
        max_drive = (inp.bound << t.state_shift) + (int(bias.abs().max()) if bias.numel() else 0)
        dt = fx.state_dtype(t.state_bits, max_drive, t.spike_max * (int(th.max()) if th.numel() else 0))
        drive = fx.if_drive(inp.data.to(dt), bias.to(dt), t.state_shift, t.input_wrap)  # (T or 1, N, ...)
        idle = bias.to(dt).expand(n, *shape)  # drive before a constant input starts (bias only)
        th = th.to(dt)
        v = torch.zeros((n, *shape), dtype=dt)
        if t.v_init is not None:
            v += torch.as_tensor(np.broadcast_to(t.v_init, shape).copy(), dtype=dt)
        buf = ws.get(t.name)  # spike buffers are reused across batches (no fresh pages to fault in)
        if buf is None or buf.shape[1] < n:
            buf = ws[t.name] = torch.empty((steps, n, *shape), dtype=torch.float32)
        s_all = buf[:, :n]  # spike values (0/1, or signed powers of two if graded), every step written below
        v_all = torch.zeros((steps, n, *shape), dtype=torch.int64) if t.name in record_v else None
        held = torch.zeros((n, *shape), dtype=dt) if t.graded else None  # HPC buffer: net spikes so far
        for step in range(steps):
            if inp.const:
                cur = drive[0] if step >= inp.start else idle
            else:
                cur = drive[step]
            if held is None:
                fx.if_update_(v, cur, th, t.reset, t.state_bits, out=s_all[step])
            else:
                fx.if_graded_update_(v, held, cur, th, t.reset, t.state_bits, t.spike_max, t.buffered,
                                     out=s_all[step])
            if v_all is not None:
                v_all[step] = v
        sigs[t.name] = _Sig(s_all, False, t.spike_max)
        _count(s_all, t.name, fan, counts, synops, spikes if t.name in record else None, t.spike_dtype)
        if v_all is not None:
            volts[t.name] = v_all.numpy()
    return readout.numpy(), counts, synops.numpy(), spikes, volts


def _gate_into(graph: Graph, name: str, sigs: dict[str, _Sig], placed=None) -> None:
    """Compute gate ``name`` (and the gates it reads) into ``sigs``; other sources are there already."""
    n = graph.node(name)
    if name in sigs or not isinstance(n, MaxPool2d):
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


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    inp: Input = graph.input
    if inp.scale is None:
        raise QuantizationError(f"graph {graph.name}: input {inp.name} has no integer scale; quantise the graph first")
    return fx.quantize(x, inp.scale, inp.bits, inp.signed)


def simulate(graph: Graph, x: np.ndarray, timesteps: int, record: bool | list[str] = False,
             record_voltage: bool | list[str] = False, batch_size: int | None = None, progress=None,
             placement=None) -> SimResult:
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
    pops = [n.name for n in graph.nodes_of(Encoder if blocks else Neurons)]
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
    return SimResult(readout, timesteps, steps, counts, synops, spikes, volts)


def macs_per_sample(graph: Graph) -> int:
    return int(sum(ann_macs(graph).values()))


def spike_mismatches(a: SimResult, b: SimResult) -> int:
    """Number of differing spikes (bits, or graded values) over all layers, samples and steps of two runs
    that recorded the same layers (e.g. intsim and Lava or the RTL simulation)."""
    if set(a.spikes) != set(b.spikes):
        raise ValueError(f"recorded layers differ: {sorted(a.spikes)} vs {sorted(b.spikes)}")
    return int(sum(np.count_nonzero(a.spikes[k] != b.spikes[k]) for k in a.spikes))


def spike_stats(graph: Graph, spikes: dict[str, np.ndarray], n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``(counts, synops)`` of recorded spikes ``{layer: (steps, n, ...)}`` from another backend, counted as
    intsim counts them: one event per non-zero spike (a graded spike is one event), SynOps = events x fan-out."""
    fan = fanout(graph)
    counts, synops = {}, np.zeros(n, dtype=np.float64)
    for k, v in spikes.items():
        per = (v != 0).sum(0).reshape(n, -1).astype(np.float64)
        counts[k] = per.sum(1).astype(np.int64)
        synops += (per * fan[k].reshape(1, -1)).sum(1)
    return counts, synops
