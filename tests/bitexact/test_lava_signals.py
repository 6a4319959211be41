"""SIGINT / SIGTERM during a Lava run stop it and leave no process behind (backends/lava/guard.py).

Each test starts a run in a subprocess (the CLI, or a script calling ``neurocompile.simulate``), waits until
Lava's processes exist and the run is under way, sends the signal, and checks the exit status, stderr, and
that no process that ever descended from the subprocess is still alive. The negative control shows that the
check sees the leftovers of a parent that dies without stopping its children (what a Lava run did before).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.lava, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NEUROCOMPILE = [sys.executable, "-c", "from neurocompile.cli import main; main()"]


@pytest.fixture(scope="module")
def lava_bundle(tmp_path_factory):
    import neurocompile as nc

    out = tmp_path_factory.mktemp("sig") / "digits_lava"
    nc.compile(str(ROOT / "examples" / "digits_cnn.pt2"), method="rueckauer",
                   target="loihi2-sim", calib="digits", calib_samples=100,
               out=out, progress=False)
    return out


def _tree(pid: int) -> dict[int, float]:
    """{pid: create_time} of the live descendants of ``pid``."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for k in kids:
        try:
            out[k.pid] = k.create_time()
        except psutil.NoSuchProcess:
            pass
    return out


def _alive(seen: dict[int, float]) -> list[int]:
    """The processes of ``seen`` (pid: create_time) still running (a reused pid or a zombie does not count)."""
    left = []
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def _signal_when_running(cmd: list[str], sig: int, least: int, cwd=None,
                         settle: float = 10.0) -> tuple[int, str, dict[int, float]]:
    """Start ``cmd``, wait until it has had at least ``least`` descendants at three polls in a row (Lava's
    processes exist: the run is being started or under way), send ``sig``; return (exit status, stderr
    once the descendants have ended or ``settle`` seconds have passed, every descendant seen)."""
    # stderr to a file, not a pipe: leftover children holding the pipe would keep communicate() waiting
    errf = tempfile.TemporaryFile("w+")
    # SIGINT's default action in the child, whatever the caller's (a shell without job control starts
    # background jobs with SIGINT ignored, and an ignored SIGINT stays ignored across exec)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, cwd=cwd, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen, polls, deadline = {}, 0, time.monotonic() + 240
    try:
        while time.monotonic() < deadline and p.poll() is None:
            now = _tree(p.pid)
            seen.update(now)
            polls = polls + 1 if len(now) >= least else 0
            if polls >= 3:
                break
            time.sleep(0.1)
        assert p.poll() is None, "the run ended before it was signalled"
        assert len(seen) >= least, f"only {len(seen)} processes seen"
        p.send_signal(sig)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        _gone(seen, settle)  # what the descendants print as they end (the resource tracker's leak warning) counts
        errf.seek(0)
        err = errf.read()
        errf.close()
    return p.returncode, err, seen


def _gone(seen: dict[int, float], within: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := _alive(seen)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# a run of 50 batches of 8 samples: Lava's processes exist for most of it (each batch starts them again)
CLI_ARGS = ["simulate", "--backend", "lava", "--dataset", "digits", "--limit", "400", "--batch-size", "8",
            "--no-progress"]
LEAST = 8  # the digits CNN runs as ~20 Lava processes, plus the shared-memory server


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_signal_stops_lava_and_leaves_nothing(lava_bundle, sig, code):
    rc, err, seen = _signal_when_running(NEUROCOMPILE + [CLI_ARGS[0], str(lava_bundle)] + CLI_ARGS[1:], sig, LEAST)
    assert rc == code, err
    assert err.strip().splitlines() == [f"neurocompile: interrupted by {signal.Signals(sig).name}; stopped"], err
    assert not _gone(seen), f"{len(_alive(seen))} of {len(seen)} processes left"


LIBRARY = textwrap.dedent("""
    import sys
    import neurocompile as nc
    nc.simulate(sys.argv[1], "digits", backend="lava", limit=400, batch_size=8, progress=False)
    print("finished")
""")


def test_library_sigterm_ends_process_and_leaves_nothing(lava_bundle):
    """SIGTERM's default action in a script: the process ends by SIGTERM, after the guard killed Lava's."""
    rc, err, seen = _signal_when_running([sys.executable, "-c", LIBRARY, str(lava_bundle)], signal.SIGTERM, LEAST)
    assert rc == -signal.SIGTERM, err
    assert not _gone(seen), f"{len(_alive(seen))} of {len(seen)} processes left"


def test_library_sigint_raises_keyboardinterrupt_and_leaves_nothing(lava_bundle):
    rc, err, seen = _signal_when_running([sys.executable, "-c", LIBRARY, str(lava_bundle)], signal.SIGINT, LEAST)
    # Python ends a process whose KeyboardInterrupt nobody caught by SIGINT, as a shell expects
    assert rc == -signal.SIGINT and err.strip().endswith("KeyboardInterrupt"), err
    assert err.count("Traceback") == 1, err  # the parent's only: Lava's children ignore SIGINT
    assert not _gone(seen), f"{len(_alive(seen))} of {len(seen)} processes left"


ORPHANS = textwrap.dedent("""
    import multiprocessing as mp, time
    if __name__ == "__main__":
        mp.set_start_method("fork")
        kids = [mp.Process(target=time.sleep, args=(120,)) for _ in range(10)]
        for k in kids:
            k.start()
        time.sleep(120)
""")


def test_negative_control_check_sees_orphans():
    """A parent killed by SIGTERM with forked children that do not watch it (Lava's, before the guard): the
    check must report them."""
    rc, _, seen = _signal_when_running([sys.executable, "-c", ORPHANS], signal.SIGTERM, 10,
                                       settle=0.5)
    left = _gone(seen, within=2.0)
    try:
        assert rc == -signal.SIGTERM
        assert len(left) == 10
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)
