"""backends/lava/guard.py without Lava: which forks the guard touches (the signal tests in
tests/bitexact/test_lava_signals.py run real Lava runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

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
    run.aborted = True  # as abort() leaves it; abort() itself would also stop this worker (tested below)
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


def test_abort_stops_a_worker_running_python():
    """After an abort, the worker gets SystemExit at its next bytecode (Lava's compiler would go on forking)."""
    seen = {}

    def worker_body():
        try:
            while True:
                time.sleep(0.01)
        except BaseException as e:  # noqa: B036 - what the guard's worker does with it
            seen["error"] = type(e)

    worker = threading.Thread(target=worker_body, daemon=True)
    worker.start()
    old = list(guard._aborted)
    try:
        guard.LavaRun(None, worker).abort()
        worker.join(10)
        assert not worker.is_alive() and seen["error"] is SystemExit
    finally:
        guard._aborted[:] = old


def test_negative_control_an_unaborted_worker_runs_on():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, args=(30,), daemon=True)
    worker.start()
    guard.LavaRun(None, worker)  # made, not aborted
    worker.join(0.5)
    assert worker.is_alive()
    stop.set()


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
