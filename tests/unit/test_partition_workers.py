"""Packings side by side in forked workers (``partition.workers``): the same placement as one after
another, and the work really leaves the process."""

from __future__ import annotations

import os

import pytest

from test_partition_props import NETGEN, make_profile, netgen_graph
from neurocompile.partition import place, tuning, workers


def test_run_all_keeps_job_order_and_forks_when_it_may(monkeypatch):
    jobs = [lambda k=k: (k, os.getpid()) for k in range(3)]
    here = workers.run_all(jobs, slices=0)  # too few slices to pay for a fork
    assert [k for k, _ in here] == [0, 1, 2] and {p for _, p in here} == {os.getpid()}
    if workers.cpus() < 2:
        pytest.skip("one CPU: run_all stays in this process")
    there = workers.run_all(jobs, slices=tuning.MIN_SLICES)
    assert [k for k, _ in there] == [0, 1, 2]
    assert os.getpid() not in {p for _, p in there}  # negative control above: same jobs, this process
    monkeypatch.setattr(workers, "cpus", lambda: 1)
    assert {p for _, p in workers.run_all(jobs, slices=tuning.MIN_SLICES)} == {os.getpid()}


def test_run_all_raises_a_workers_error():
    def bad():
        raise ValueError("layer x: broken")
    with pytest.raises(ValueError, match="layer x: broken"):
        workers.run_all([lambda: 1, bad], slices=tuning.MIN_SLICES)
    with pytest.raises(ValueError, match="layer x: broken"):
        workers.run_all([lambda: 1, bad], slices=0)


def test_start_runs_a_job_beside_this_process(monkeypatch):
    """workers.start (the firing rates beside the split): the job's result, computed in a forked worker when
    there are two CPUs; its error raised here; close() stops a job whose result is not wanted."""
    import time
    if workers.cpus() < 2 or not workers._can_fork():
        pytest.skip("one CPU: start runs the job when its result is asked for")
    job = workers.start(lambda: (sum(range(10)), os.getpid()))
    value, pid = job.result()
    assert value == 45 and pid != os.getpid()
    assert job.result() == (45, pid)  # asked again: the same result, not a second run here

    def bad():
        raise ValueError("layer x: broken")
    with pytest.raises(ValueError, match="layer x: broken"):
        workers.start(bad).result()
    t = time.perf_counter()
    slow = workers.start(lambda: time.sleep(60))
    slow.close()
    assert time.perf_counter() - t < 30
    ran = []
    monkeypatch.setattr(workers, "cpus", lambda: 1)  # the control: one CPU, the job runs here, when asked
    job = workers.start(lambda: ran.append(os.getpid()) or 7)
    assert ran == [] and job.result() == 7 and ran == [os.getpid()]


@pytest.mark.parametrize("idx,base", [(2, "loihi1"), (0, "loihi2")])
def test_placement_is_the_same_in_workers_and_in_process(monkeypatch, idx, base):
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, {"neurons": 43, "input_axons": 470, "output_axons": 1014, "synapse_words": 1487})
    got = {}
    for where, least in (("process", 10 ** 9), ("workers", 0)):
        monkeypatch.setattr(tuning, "MIN_SLICES", least)
        p = place.partition(g, prof)
        got[where] = (p.strategy, p.lower_bound, p.layers,
                      [(s.layer, s.box, s.core, s.resources) for s in p.slices])
    assert got["process"][3] and got["process"] == got["workers"]
    # the second run did go to workers where it can: several packers (fill runs below 3000 slices), CPUs
    assert len(got["process"][3]) <= 3000 and (workers.cpus() < 2 or workers._can_fork())


def test_validator_recounts_in_workers_and_still_catches_a_wrong_figure(monkeypatch):
    """The validator's recount of every slice's resources is shared among forked workers: an untouched
    placement passes and one output axon too few is caught either way, and in workers the recount does
    not run in this process (negative control: in process it does)."""
    import copy

    from neurocompile.errors import PartitionError
    import importlib

    vmod = importlib.import_module("neurocompile.partition.validate")

    g = netgen_graph(NETGEN[2])
    prof = make_profile("loihi1", {"neurons": 43, "input_axons": 470, "output_axons": 1014, "synapse_words": 1487})
    pl = place.partition(g, prof)
    bad = copy.deepcopy(pl)
    s = max(bad.slices, key=lambda x: x.resources["output_axons"])
    assert s.resources["output_axons"] > 0
    s.resources["output_axons"] -= 1
    real, pids = vmod._recount, []
    monkeypatch.setattr(vmod, "_recount", lambda *a: pids.append(os.getpid()) or real(*a))
    for least in (10 ** 9, 0):
        monkeypatch.setattr(tuning, "MIN_SLICES", least)
        del pids[:]
        vmod.validate(g, prof, pl)
        with pytest.raises(PartitionError, match=rf"^layer {s.layer}\[slice \d+\]: placement records "
                                                 rf"{s.resources['output_axons']} output axons, the graph needs "
                                                 rf"{s.resources['output_axons'] + 1}$"):
            vmod.validate(g, prof, bad)
        forked = least == 0 and workers.cpus() > 1 and workers._can_fork()
        assert (pids == []) == forked, (least, pids)
