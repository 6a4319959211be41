"""Running independent jobs side by side (the packings; the plain and the traffic-aware first fit; the
validator's recount; the firing rates beside the split, :func:`start`): in forked worker processes (on
Linux, not from a daemonic process) when there are several, more than one CPU and enough slices to pay for
the fork (``tuning.MIN_SLICES``). The jobs only read what they share (the resource model, the base
slices); each worker fills its own caches, and the results come back in job order, so the choice between
them is the same as when they run one after another."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys

from . import tuning

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
    if workers < 2 or slices < tuning.MIN_SLICES or not _can_fork():
        return [job() for job in jobs]
    _JOBS = list(jobs)  # forked workers inherit the callables; only their index is sent
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
            return list(ex.map(_run, range(len(jobs))))
    finally:
        _JOBS = []


class Pending:
    """A job started by :func:`start`: :meth:`result` waits for it (or runs it here, when it was not
    forked); :meth:`close` abandons it (its worker is stopped)."""

    def __init__(self, job, proc=None, conn=None):
        self._job, self._proc, self._conn = job, proc, conn

    def result(self):
        if self._proc is None:
            value = self._job()
            self._job = lambda: value  # asked again: the same result, not a second run
            return value
        try:
            ok, value = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"worker process for {self._job} ended without a result "
                               f"(exit code {self._proc.exitcode})") from None
        finally:
            self._proc.join()
            self._conn.close()
            self._proc = None
        if not ok:
            raise value
        self._job = lambda: value  # asked again: the same result, not a second run
        return value

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.join()
            self._conn.close()
            self._proc = None


def _send(job, conn) -> None:
    try:
        conn.send((True, job()))
    except BaseException as e:  # noqa: BLE001 - handed to the parent, raised there
        conn.send((False, e))
    finally:
        conn.close()


def start(job) -> Pending:
    """Start the callable ``job`` in a forked worker while this process goes on (when there is more than one
    CPU and forking is safe); otherwise it runs here when its result is asked for."""
    if cpus() < 2 or not _can_fork():
        return Pending(job)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_send, args=(job, send), daemon=True)
    proc.start()
    send.close()
    return Pending(job, proc, recv)
