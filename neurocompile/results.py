"""What one simulator run returns, whichever backend ran it (intsim, Lava, the RTL simulation), and the
comparisons between runs: :class:`RunResult`, :func:`spike_mismatches`, :func:`spike_stats`, and
:func:`quantize_input`, the integer input every backend feeds the network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import fixedpoint as fx
from .errors import QuantizationError
from .ir import Graph
from .ir.cost import fanout


@dataclass
class RunResult:
    readout: np.ndarray  # (N, F) int64: output input accumulated over the T integration steps
    timesteps: int  # integration steps at the output (T)
    run_steps: int  # simulated steps (T + pipeline latency)
    spike_counts: dict[str, np.ndarray]  # layer -> (N,) spikes per sample over the run
    synops: np.ndarray  # (N,) synaptic operations per sample
    # layer -> (run_steps, N, *shape): bool, or int8 spike values for graded populations (buffered / multi-bit);
    # populations and the max-count gates on their spikes (``spike_counts`` / ``synops`` count both)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    voltages: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (run_steps, N, *shape) int64

    @property
    def predictions(self) -> np.ndarray:
        return self.readout.argmax(1)


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The integer input of ``graph`` for float samples ``x``: ``clip(round(x * scale))`` in the input's format."""
    inp = graph.input
    if inp.scale is None:
        raise QuantizationError(f"graph {graph.name}: input {inp.name} has no integer scale; quantise the graph first")
    return fx.quantize(x, inp.scale, inp.bits, inp.signed)


def spike_mismatches(a: RunResult, b: RunResult) -> int:
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
