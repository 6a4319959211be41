"""Stop a Lava run cleanly on SIGINT / SIGTERM and leave no process behind.

Lava 0.10.0's runtime (``MultiProcessing`` message infrastructure) forks one OS process per Lava process and
one per runtime service, plus a ``SharedMemoryManager`` server that owns the channels' shared memory. None of
them is a daemon and none watches its parent: a parent killed by SIGTERM (Python's default action: die at
once, no ``finally``) left every one of them blocked on its channels for ever, and a Ctrl-C reached each of
them as a KeyboardInterrupt with its own traceback.

:func:`run_guarded` wraps one Lava run:

* every process forked while the run is built ignores SIGINT (a Ctrl-C reaches the whole foreground group;
  the parent stops the children) and gets SIGKILL from the kernel when the parent dies, whatever kills it
  (``PR_SET_PDEATHSIG``: the watchdog for a parent killed by SIGKILL or crashing);
* SIGINT / SIGTERM in the parent kill the run's children (actors first, then the shared-memory server is shut
  down so that it unlinks its segments; any segment it leaves — when the signal comes while Lava's own stop is
  shutting the server down — is unlinked by the guard, or the resource tracker would warn of a leak at exit)
  and then do what the previous handler would have done: Python's default SIGINT handler raises
  KeyboardInterrupt, a SIG_DFL SIGTERM ends the process with that signal, a caller's handler (the CLI's) is
  called;
* an exception that leaves the run (a signal's, or any other) kills the children the same way instead of
  asking Lava's runtime to stop, which waits for answers from processes that may be gone;
* at exit, after an abort, any Lava actor still alive (forked while the abort was under way, it missed it) is
  killed before multiprocessing's exit hook would wait for it for ever.

The worker should run no Lava compiler: compile in the calling thread and give the worker the executable
(``run.py``). The compiler re-executes Lava's modules, whose dataclasses are made by ``exec`` of a string,
and that resets CPython's record of an uncaught KeyboardInterrupt: a worker still compiling after an abort
made a Ctrl-C'd script exit with status 1 instead of by SIGINT. (Stopping the worker with an asynchronous
exception instead can leave a lock held, such as logging's, and hang the exit.)

Handlers can only be installed from the main thread; called from another thread, only the fork hook and the
exception path apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"run": None, "parent": None, "aborted": False}  # aborted: a run of this process was (exit sweep)


def _set_pdeathsig() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: only the handlers and the exception path remain
        return


def _after_fork_in_child() -> None:
    run = _state["run"]
    if run is None or threading.current_thread() is not run.worker:  # only the run's own forks
        return
    _state["run"] = None  # this process's own children (Lava forks none) are not the run's
    if run.aborted:  # forked by a worker that had not yet seen the abort
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited by the fork
    _set_pdeathsig()
    if os.getppid() != _state["parent"]:  # the parent died before prctl took effect
        os._exit(1)


os.register_at_fork(after_in_child=_after_fork_in_child)


class LavaRun:
    """The children of one guarded run (``before``: the parent's children that are not the run's), and the
    runtime once Lava has made it (``process``: the process whose ``run`` starts it)."""

    def __init__(self, process, worker: threading.Thread) -> None:
        self.process, self.worker = process, worker  # the thread whose forks are the run's
        self.before = {p.pid for p in mp.active_children()}
        self.aborted = False
        self.segments: set[str] = set()  # every shared-memory segment seen

    def _infra(self):
        return getattr(getattr(self.process, "runtime", None), "_messaging_infrastructure", None)

    def observe(self) -> None:
        """Remember the names of the run's shared-memory segments while Lava still lists them: its own stop
        empties the list before it shuts the server down, and a signal may come in between."""
        handles = getattr(getattr(self._infra(), "_smm", None), "_shared_memory_handles", None) or []
        self.segments.update(h._name for h in list(handles))

    def children(self) -> list:
        return [p for p in mp.active_children() if p.pid not in self.before]

    def abort(self) -> None:
        """Kill the run's processes (idempotent); Lava's runtime is left marked stopped."""
        if self.aborted:
            return
        self.aborted = True
        _state["aborted"] = True
        rt = getattr(self.process, "runtime", None)
        infra = self._infra()
        smm = getattr(infra, "_smm", None)
        self.observe()
        server = getattr(getattr(smm, "_manager", None), "_process", None)
        actors = list(getattr(infra, "actors", None) or [])
        for p in actors:
            _kill(p)
        for p in actors:
            _reap(p)
        with contextlib.suppress(Exception):  # the server unlinks the segments it made, then exits; not
            # infra.smm.shutdown(), which first closes the parent's mappings (numpy views may still hold them)
            smm._manager.shutdown()
        with contextlib.suppress(Exception):  # the call above returns at once if the worker's stop owns it
            mp.connection.wait([server.sentinel], 5)
        with contextlib.suppress(Exception):
            if rt is not None and rt._watchdog_manager is not None:
                rt._watchdog_manager.stop()
        for p in self.children():  # anything else forked for the run (a server that did not exit)
            _kill(p)
            _reap(p)
        self.observe()  # segments the worker made while the server was being stopped
        _unlink(sorted(self.segments))
        if rt is not None:
            rt._is_started = False  # Runtime.__del__ would otherwise ask the dead services to stop


def _sweep_at_exit() -> None:
    """Kill the Lava actors still alive after a run was aborted: one the worker forked while the abort was
    listing the run's children missed both (it waits on its channels for ever, and multiprocessing's exit hook
    would wait for it for ever). Run by that hook itself, before it joins the children (a finalizer with an
    exit priority); a few rounds, in case the worker is still forking. A caller's own processes are left."""
    if not _state["aborted"]:
        return
    from lava.magma.runtime.message_infrastructure.multiprocessing import SystemProcess

    for _ in range(3):
        lava = [p for p in mp.active_children() if isinstance(p, SystemProcess)]
        if not lava:
            return
        for p in lava:
            _kill(p)
        for p in lava:
            _reap(p)


def _unlink(names: list[str]) -> None:
    """Unlink the segments the server left and take every one off the resource tracker, which would otherwise
    warn of leaked shared memory when the process exits (a bare unregister of a name it no longer holds would
    make it print an error instead)."""
    from multiprocessing import resource_tracker

    try:
        from _posixshmem import shm_unlink
    except ImportError:  # not POSIX: no tracker either
        return
    for name in names:
        with contextlib.suppress(OSError):
            shm_unlink(name)
        # whether the server unlinked it and reached the tracker or was stopped between the two (its manager
        # terminates it after 1 s), registering first makes the unregister valid: the tracker ends without it
        with contextlib.suppress(Exception):
            resource_tracker.register(name, "shared_memory")
            resource_tracker.unregister(name, "shared_memory")


def _kill(p) -> None:
    with contextlib.suppress(Exception):
        if p.is_alive():
            p.kill()


def _reap(p) -> None:
    with contextlib.suppress(Exception):
        mp.Process.join(p, 5)  # Lava's SystemProcess.join takes no timeout


def _forget(run: LavaRun) -> None:
    """The run is over; an aborted one whose worker still runs stays known, so that a process the worker
    still forks exits at once (other threads' forks are never touched)."""
    if not (run.aborted and run.worker.is_alive()):
        _state["run"] = None


def _redeliver(signum: int, previous, frame) -> None:
    """Do what ``previous`` (the handler before the run's) does with ``signum``."""
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN: the run was not stopped for it (no handler is installed over an ignored signal)


def run_guarded(process, body):
    """Return ``body()`` (one Lava run of ``process``, the process whose ``run`` starts the runtime, which
    ``body`` stops itself when it finishes) so that a signal or an exception stops it and kills every process
    it started; see the module docstring.

    From the main thread, ``body`` runs in a worker thread while the main thread waits in short joins: Lava's
    parent waits for its services on a lock, and a signal that the kernel hands to one of Lava's port threads
    never wakes that wait, so the handler would only run when the run ends (if it ends)."""
    if threading.current_thread() is not threading.main_thread():
        run = LavaRun(process, threading.current_thread())
        _state.update(run=run, parent=os.getpid())
        try:
            return body()
        except BaseException:
            run.abort()
            raise
        finally:
            _state["run"] = None  # the body has returned: nothing of the run forks any more
    previous = {}

    def handler(signum, frame):
        run.abort()
        for s, h in previous.items():
            signal.signal(s, h)
        _redeliver(signum, previous[signum], frame)

    out = {}

    def work():
        try:
            out["value"] = body()
        except BaseException as e:  # handed to the main thread
            out["error"] = e

    worker = threading.Thread(target=work, name="neurocompile-lava-run", daemon=True)
    run = LavaRun(process, worker)
    for s in _SIGNALS:
        h = signal.getsignal(s)
        if h not in (signal.SIG_IGN, None):
            previous[s] = h
            signal.signal(s, handler)
    _state.update(run=run, parent=os.getpid())
    try:
        worker.start()
        while worker.is_alive():
            run.observe()
            worker.join(0.1)
        if "error" in out:
            raise out["error"]
        return out["value"]
    except BaseException:
        run.abort()  # a worker stuck on the dead runtime is a daemon: it does not keep the process alive
        raise
    finally:
        _forget(run)
        for s, h in previous.items():
            if signal.getsignal(s) is handler:
                signal.signal(s, h)


mp.util.Finalize(None, _sweep_at_exit, exitpriority=100)  # run by multiprocessing's exit hook, first
