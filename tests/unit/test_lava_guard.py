"""backends/lava/guard.py without Lava: which forks the guard touches (the signal tests in
tests/bitexact/test_lava_signals.py run real Lava runs)."""

from __future__ import annotations

import os
import threading

from neurocompile.backends.lava import guard


def _fork_status() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_only_the_runs_worker_forks_are_touched_after_an_abort():
    release = threading.Event()
    codes = {}

    def worker_body():
        release.wait(30)
        codes["worker"] = _fork_status()

    worker = threading.Thread(target=worker_body, daemon=True)
    worker.start()
    run = guard.LavaRun(None, worker)
    run.abort()  # no runtime yet: nothing to kill, but the run is aborted
    old = dict(guard._state)
    guard._state.update(run=run, parent=os.getpid())
    try:
        guard._forget(run)
        assert guard._state["run"] is run  # its worker still runs: its forks must still exit at once
        assert _fork_status() == 0  # a fork of another thread (here the main one) is left alone
        release.set()
        worker.join(30)
        assert codes["worker"] == 1  # the aborted run's worker forked: the child exited at once
        guard._forget(run)
        assert guard._state["run"] is None  # the worker is gone: the run is forgotten
    finally:
        release.set()
        guard._state.update(old)


def test_a_finished_run_is_forgotten():
    run = guard.LavaRun(None, threading.current_thread())
    guard._forget(run)
    assert guard._state["run"] is None
    assert _fork_status() == 0
