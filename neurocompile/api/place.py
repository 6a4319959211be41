"""Placement for ``compile``: the partitioner on a hardware profile, fed with firing rates that the reference
simulator measures in a forked worker beside the split, then the independent validator."""

from __future__ import annotations

import functools

from ..targets import load_ref
from ..targets.builtin import FIRING_RATES


def place(int_graph, profile, x_rates, timesteps: int, progress=None):
    """Partition ``int_graph`` onto ``profile`` (firing rates from intsim on ``x_rates``; none: one spike per
    unit and step) and check the result with the independent validator; ``progress``: callable(str) for step
    messages. Returns the :class:`~neurocompile.partition.Placement` and the firing rates (None without
    ``x_rates``), which the build's energy estimate reuses.

    Raises
    ------
    PartitionError
        The network does not fit the profile (naming the layer, the resource and the numbers).
    """
    say = progress or (lambda _msg: None)
    from ..partition import partition, validate, workers

    rates, source = None, "uniform (--rate-samples 0): one spike per unit and step"
    if len(x_rates):  # measured beside the split (a forked worker on 2+ CPUs); the packings need them
        say(f"firing rates: intsim on {len(x_rates)} calibration images")
        rates = workers.start(functools.partial(_rates_one_thread, int_graph, x_rates, timesteps))
        source = f"intsim on {len(x_rates)} calibration images, T={timesteps}"
    try:
        placement = partition(int_graph, profile, rates, source, say)
    finally:
        if isinstance(rates, workers.Pending):
            rates.close()  # a placement that failed before the packings did not wait for them
    say(f"validating {placement.n_cores} cores")
    validate(int_graph, profile, placement)
    return placement, (rates.result() if isinstance(rates, workers.Pending) else rates)


def _rates_one_thread(int_graph, x_rates, timesteps: int):
    """intsim's firing rates; in a forked worker with torch on one thread (torch's OpenMP thread pool hangs
    after a fork; intsim's integer arithmetic gives the same rates on any number of threads)."""
    import multiprocessing

    import torch

    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    return load_ref(FIRING_RATES)(int_graph, x_rates, timesteps)
