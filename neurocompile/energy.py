"""Energy per sample: operation counts of an integer network times the energy per operation of each target
profile (``targets/energy.py``; docs/semantics.md, "Energy").

Counts per sample (:func:`counts_from_run` from a simulation, :func:`counts_from_rates` from the firing rates
the build measures on calibration images):

* ``synops``: SynOps as intsim counts them (spikes x the emitting neuron's fan-out, docs/semantics.md "Costs");
* ``input_ops``: the analog input, delivered on every step after the first synaptic delay: its non-zero
  integer values x their fan-out x those steps;
* ``neuron_updates``: every neuron of every population, the readout included, once per simulated step;
* ``spikes``: spike events of the populations and spiking max-pool gates;
* ``macs``: the ANN's multiply-accumulates.

An SNN profile's energy is ``(synops + input_ops) x synop + neuron_updates x neuron_update + spikes x spike``;
an ANN reference's ``macs x mac``.
"""

from __future__ import annotations

import numpy as np

from .ir import Graph
from .ir.cost import ann_macs, fanout, neuron_counts
from .ir.timing import run_steps
from .results import quantize_input
from .targets.energy import ANN_REFERENCES, EnergySpec

#: keys of the counts, in the order reports list them
COUNT_KEYS = ("synops", "input_ops", "neuron_updates", "spikes", "macs")


def input_ops(graph: Graph, x: np.ndarray, steps: int, fan: dict | None = None) -> float:
    """Mean over the samples ``x`` of the input's synaptic operations in a run of ``steps`` simulated steps."""
    if not len(x):
        return 0.0
    fan = fanout(graph) if fan is None else fan
    x_int = quantize_input(graph, x)
    per_step = ((x_int != 0) * fan[graph.input.name][None]).reshape(len(x_int), -1).sum(1)
    delivered = max(0, steps - int(graph.meta.get("synapse_delay", 0)))
    return float(np.mean(per_step)) * delivered


def counts_from_run(graph: Graph, x: np.ndarray, synops: float, spikes: float, steps: int) -> dict:
    """Counts per sample of a simulation of ``graph`` on ``x``: its mean SynOps and spike events per sample,
    ``steps`` simulated steps."""
    return _counts(graph, synops, input_ops(graph, x, steps), spikes, steps)


def counts_from_rates(graph: Graph, rates: dict[str, np.ndarray], x: np.ndarray, timesteps: int) -> dict:
    """Counts per sample estimated from per-unit firing rates (spike events per simulated step, intsim's
    ``firing_rates`` on ``x``) of a run of ``timesteps`` integration steps."""
    steps = run_steps(graph, timesteps)
    fan = fanout(graph)
    spikes = sum(float(np.sum(r)) for r in rates.values()) * steps
    synops = sum(float(np.sum(np.asarray(r) * fan[k])) for k, r in rates.items() if k in fan) * steps
    return _counts(graph, synops, input_ops(graph, x, steps, fan), spikes, steps)


def _counts(graph: Graph, synops: float, inputs: float, spikes: float, steps: int) -> dict:
    return {"synops": float(synops), "input_ops": float(inputs),
            "neuron_updates": int(sum(neuron_counts(graph).values())) * int(steps), "spikes": float(spikes),
            "macs": int(sum(ann_macs(graph).values()))}


def energy_uj(spec: EnergySpec, counts: dict) -> dict:
    """Energy per sample in microjoules under ``spec``: ``total`` and the part of each kind of operation
    that ``spec`` counts (``synops`` includes the input's operations)."""
    parts = {}
    if spec.synop_pj is not None:
        parts["synops"] = (counts["synops"] + counts["input_ops"]) * spec.synop_pj * 1e-6
    if spec.neuron_update_pj is not None:
        parts["neuron_updates"] = counts["neuron_updates"] * spec.neuron_update_pj * 1e-6
    if spec.spike_pj is not None:
        parts["spikes"] = counts["spikes"] * spec.spike_pj * 1e-6
    if spec.mac_pj is not None:
        parts["macs"] = counts["macs"] * spec.mac_pj * 1e-6
    return {"total": sum(parts.values()), **parts}


def specs_for(profile=None) -> dict[str, EnergySpec]:
    """The energy figures an estimate is given for: the profile's when it has some, else every built-in
    profile's; then the ANN references."""
    from .targets.profiles import BUILTIN

    if profile is not None and profile.energy is not None:
        specs = {profile.name: profile.energy}
    else:
        specs = {name: p.energy for name, p in BUILTIN.items() if p.energy is not None}
    return {**specs, **ANN_REFERENCES}


def estimate(counts: dict, profile=None, basis: str = "") -> dict:
    """The ``energy`` document of a report or a simulation: ``basis`` (where the counts come from),
    ``counts`` per sample and, per profile (:func:`specs_for`), ``uj_per_sample`` (total and by kind)."""
    return {"basis": basis, "counts": {k: counts[k] for k in COUNT_KEYS},
            "uj_per_sample": {name: energy_uj(spec, counts) for name, spec in specs_for(profile).items()}}


def summary(doc: dict) -> str:
    """``loihi1 12.3 uJ, ..., ANN fp32 45 nm 5.6 uJ``: the totals of an ``energy`` document on one line."""
    return ", ".join(f"{name} {_uj(e['total'])}" for name, e in doc["uj_per_sample"].items())


def _uj(v: float) -> str:
    return f"{v:.3g} uJ"
