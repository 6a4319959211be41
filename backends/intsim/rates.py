"""Per-unit firing rates measured by intsim, for the partitioner's traffic estimate."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Graph

from .sim import simulate


def firing_rates(graph: Graph, x: np.ndarray, timesteps: int) -> dict[str, np.ndarray]:
    """Spike events per simulated step of every unit of every population and spiking max-pool gate (a graded
    spike counts as one event), averaged over the samples ``x``; arrays of the layers' shapes."""
    sums: dict[str, np.ndarray] = {}
    steps = 0
    for i in range(0, len(x), 2):  # two samples at a time: every layer's spikes are recorded
        res = simulate(graph, x[i:i + 2], timesteps, record=True)
        steps += res.run_steps * len(x[i:i + 2])
        for k, v in res.spikes.items():
            sums[k] = sums.get(k, 0) + (v != 0).sum(axis=(0, 1), dtype=np.int64)
    return {k: v / max(1, steps) for k, v in sums.items()}
