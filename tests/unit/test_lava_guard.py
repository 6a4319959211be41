"""backends/lava/guard.py without a Lava run: which forks the guard touches, the segments it clears from the
resource tracker, the actors its exit sweep kills (the signal tests in tests/bitexact/test_lava_signals.py run
real Lava runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

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


# A run whose segment the server unlinked but was stopped before telling the resource tracker, after Lava's
# own stop had already emptied its list of segments: the guard must still know the name, or the tracker warns
# of a leak at exit. The shared-memory manager is faked; the segment and the tracker are real.
LATE_SIGNAL = textwrap.dedent("""
    import sys
    from types import SimpleNamespace
    from multiprocessing.shared_memory import SharedMemory
    from _posixshmem import shm_unlink
    from neurocompile.backends.lava import guard

    seg = SharedMemory(create=True, size=64)  # registered with the resource tracker
    smm = SimpleNamespace(_shared_memory_handles=[seg], _manager=None)
    infra = SimpleNamespace(_smm=smm, actors=[])
    rt = SimpleNamespace(_messaging_infrastructure=infra, _watchdog_manager=None, _is_started=True)
    run = guard.LavaRun(SimpleNamespace(runtime=rt), None)
    if sys.argv[1] == "observed":
        run.observe()  # the guard's main thread saw the segment while the run went on
    seg.close()
    smm._shared_memory_handles.clear()  # Lava's stop: list emptied, then the server...
    shm_unlink(seg._name)  # ...unlinks the segment and is terminated before it unregisters it
    run.abort()
    print("done")
""")


def _late_signal(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LATE_SIGNAL, mode], capture_output=True, text=True,
                          timeout=60)


def test_segments_seen_during_the_run_are_cleared_from_the_tracker():
    r = _late_signal("observed")
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
    assert r.stderr == "", r.stderr


def test_negative_control_unobserved_segment_is_reported_leaked():
    r = _late_signal("unobserved")
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
    assert "leaked shared_memory" in r.stderr, r.stderr


def test_exit_sweep_kills_lava_actors_after_an_abort_and_leaves_other_children():
    """An actor forked while an abort listed the run's children survives the abort; multiprocessing's exit hook
    would join it for ever. The sweep (run by that hook) kills it; a caller's own process is left alone."""
    import multiprocessing as mp

    pytest.importorskip("lava")
    from lava.magma.runtime.message_infrastructure.multiprocessing import SystemProcess

    ctx = mp.get_context("fork")
    actor = SystemProcess(target=time.sleep, args=(60,))
    mine = ctx.Process(target=time.sleep, args=(60,))
    old = guard._state["aborted"]
    guard._state["aborted"] = False
    try:
        actor.start()
        mine.start()
        guard._sweep_at_exit()  # no aborted run: nothing is touched
        assert actor.is_alive() and mine.is_alive()
        guard.LavaRun(None, threading.current_thread()).abort()
        guard._sweep_at_exit()
        assert not actor.is_alive() and mine.is_alive()
    finally:
        guard._state["aborted"] = old
        for p in (actor, mine):
            if p.is_alive():
                p.kill()
            mp.Process.join(p, 5)
