"""Running independent jobs side by side (the packings and the naive placement's sizing; the validator's
recount): in forked worker processes (on Linux, not from a daemonic process) when there are several, more
than one CPU and enough slices to pay for the fork. The jobs only read what they share (the resource model,
the base slices); each worker fills its own caches, and the results come back in job order, so the choice
between them is the same as when they run one after another."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys

#: packings of fewer slices than this run in this process (forking costs more than they take)
MIN_SLICES = 100

_JOBS: list = []


def _run(i: int):
    return _JOBS[i]()


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _can_fork() -> bool:
    """Forking is safe here: Linux (macOS frameworks break in forked children) and not a daemonic process
    (which may not have children, e.g. a multiprocessing pool's worker)."""
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def run_all(jobs: list, slices: int) -> list:
    """The results of the callables ``jobs`` in order; forked workers (as many as CPUs, at most one per job)
    when that may help (see the module doc), else one after another here."""
    global _JOBS
    workers = min(len(jobs), cpus())
    if workers < 2 or slices < MIN_SLICES or not _can_fork():
        return [job() for job in jobs]
    _JOBS = list(jobs)  # forked workers inherit the callables; only their index is sent
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
            return list(ex.map(_run, range(len(jobs))))
    finally:
        _JOBS = []
