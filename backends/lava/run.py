"""Run a loihi2-sim bundle in Lava's fixed-point simulator and read back spikes, voltages and readout."""

from __future__ import annotations

import time

import numpy as np

from neurocompile.ir import Graph
from neurocompile.ir.chains import chains, spike_dtype
from neurocompile.ir.matrices import chain_matrices
from neurocompile.ir.timing import check_block_timesteps, is_block_graph, run_steps
from neurocompile.results import RunResult, quantize_input, spike_mismatches, spike_stats

from .blocks import LAVA_OFFSET, lava_steps
from .guard import run_guarded
from .network import build, run_config


def _run_batch(graph: Graph, x_int: np.ndarray, steps: int, T: int, limits, record_voltage: bool, perturb,
               timings: dict):
    from lava.magma.core.run_conditions import RunSteps

    blocks = is_block_graph(graph)
    lava_n = lava_steps(graph) if blocks else steps
    clock = _Clock(timings)
    net = build(graph, x_int, lava_n, limits, record_voltage, perturb)
    clock("build")
    n = len(x_int)
    shapes = graph.infer_shapes()
    anchor = net.ring

    # compiled here, not in the guarded worker: the compiler forks nothing, and a worker still compiling after
    # a signal would spoil the interrupted process's exit status (guard.py)
    executable = anchor.compile(run_config())

    def body():
        anchor.create_runtime(executable=executable)
        clock("start")
        timings["processes"] = len(anchor.runtime._messaging_infrastructure.actors)
        anchor.run(condition=RunSteps(num_steps=lava_n, blocking=False))
        spikes, readout = net.receive(lava_n)  # as the run goes: the Extractors' channels hold a few steps
        anchor.wait()
        volts = {k: _data(m, lava_n) for k, m in net.v_mon.items()}
        clock("run")
        anchor.stop()
        clock("stop")
        return spikes, volts, readout

    # a signal or an error kills the run's processes (Lava's own stop would wait for answers from them)
    spikes, volts, readout = run_guarded(anchor, body)
    if blocks:  # contract step c is Lava step c + 2 (monitor row c + 1); the readout is sent once, bias once
        rows = slice(LAVA_OFFSET - 1, LAVA_OFFSET - 1 + steps)
        spikes = {k: v[rows].reshape(steps, n, *shapes[k]).astype(bool) for k, v in spikes.items()}
        volts = {k: v[rows].reshape(steps, n, *shapes[k]).astype(np.int64) for k, v in volts.items()}
        acc = readout.reshape(lava_n, n, -1).astype(np.int64).sum(0)
        acc = graph.output.with_bias(acc, 1)
        return acc, spikes, volts
    # binary populations as bool, graded ones (HPC: signed, multi-bit) as their values, as intsim records them
    spikes = {k: v.reshape(steps, n, *shapes[k]) for k, v in spikes.items()}
    spikes = {k: v.astype(spike_dtype(graph, k)) for k, v in spikes.items()}
    volts = {k: v.reshape(steps, n, *shapes[k]).astype(np.int64) for k, v in volts.items()}
    out = graph.output
    acc = readout.reshape(steps, n, -1)[steps - T:].astype(np.int64).sum(0)
    acc = out.with_bias(acc, T)
    return acc, spikes, volts


class _Clock:
    """Adds the seconds since the last call to ``timings[phase]`` (what ``lava_speed.py`` prints)."""

    def __init__(self, timings: dict):
        self.timings, self.t = timings, time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.t
        self.t = now


def _data(monitor, steps: int) -> np.ndarray:
    (proc,) = monitor.get_data().values()
    (arr,) = proc.values()
    arr = np.asarray(arr)
    return arr.reshape(steps, -1)


def simulate_lava(graph: Graph, x: np.ndarray, timesteps: int, *, limits, record_voltage: bool = False,
                  batch_size: int = 32, perturb=None, progress=None, timings: dict | None = None) -> RunResult:
    """Run ``x`` through Lava (``Loihi2SimCfg(select_tag="fixed_pt")``), ``batch_size`` samples per Lava
    run (side by side), with the target's arithmetic ``limits`` (:class:`~neurocompile.targets.ArithmeticLimits`).
    Returns a ``RunResult`` (as intsim's) with every population's spikes. ``timings``, if given, receives the
    seconds of each phase summed over the runs (``build``: the process graph; ``start``: Lava's compiler and
    its processes; ``run``; ``stop``) and ``processes``, the OS processes Lava started for one run."""
    timings = {} if timings is None else timings
    x_int = quantize_input(graph, x)
    if is_block_graph(graph):
        check_block_timesteps(graph, timesteps)
    steps = run_steps(graph, timesteps)
    parts = []
    for start in range(0, len(x_int), batch_size):
        parts.append(_run_batch(graph, x_int[start:start + batch_size], steps, timesteps, limits, record_voltage,
                                perturb, timings))
        if progress:
            progress(min(batch_size, len(x_int) - start))
    readout = np.concatenate([p[0] for p in parts])
    spikes = {k: np.concatenate([p[1][k] for p in parts], axis=1) for k in parts[0][1]}
    volts = {k: np.concatenate([p[2][k] for p in parts], axis=1) for k in parts[0][2]}
    counts, synops = spike_stats(graph, spikes, len(x_int))
    return RunResult(readout, timesteps, steps, counts, synops, spikes, volts)


#: samples per Lava run at most, and synapses (matrix entries, all samples) per run at most: each sample adds its
#: own copy of every matrix (block diagonal), held by the parent and again by each Sparse process
MAX_BATCH = 32
MAX_BATCH_SYNAPSES = 32_000_000


def default_batch(graph: Graph) -> int:
    """Samples per Lava run when the caller does not say: as many as fit ``MAX_BATCH_SYNAPSES`` (a run's fixed
    cost, starting Lava's processes and its per-step synchronisation, is shared by the samples side by side),
    at most ``MAX_BATCH``, at least 1."""
    per_sample = sum(m.nnz for ch in chains(graph) for m in chain_matrices(graph, ch).values())
    return max(1, min(MAX_BATCH, MAX_BATCH_SYNAPSES // max(per_sample, 1)))


def simulate_bundle(graph: Graph, x: np.ndarray, timesteps: int, *, limits, record: bool = True,
                    batch_size: int | None = None, progress=None) -> RunResult:
    """The ``lava`` simulator of the target registry: :func:`simulate_lava` with :func:`default_batch` samples
    per Lava run by default; every population's spikes are kept whatever ``record`` says (the pipeline compares them with
    intsim), and ``wall`` is the seconds of the Lava run."""
    from . import require_lava

    require_lava()
    t0 = time.perf_counter()
    res = simulate_lava(graph, x, timesteps, limits=limits, batch_size=batch_size or default_batch(graph),
                        progress=progress)
    res.wall = time.perf_counter() - t0
    return res


__all__ = ["simulate_bundle", "simulate_lava", "spike_mismatches"]
