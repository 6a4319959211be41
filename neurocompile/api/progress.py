"""Progress on stderr: numbered stage messages and tqdm bars, shown only when asked for."""

from __future__ import annotations

import sys
import time


class Stages:
    """Prints ``[i/n] what`` lines, and ``done in s`` when a stage ends, to stderr when ``enabled``."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.i, self.t0 = total, enabled, 0, None

    def __call__(self, what: str) -> None:
        self.done()
        self.i += 1
        self.t0 = time.perf_counter()
        self._say(f"[{self.i}/{self.total}] {what}")

    def note(self, what: str) -> None:
        """A sub-step of the current stage (indented, with the seconds since the stage began)."""
        self._say(f"      {what} ({time.perf_counter() - (self.t0 or time.perf_counter()):.1f} s)")

    def done(self) -> None:
        if self.t0 is not None:
            self._say(f"      done in {time.perf_counter() - self.t0:.1f} s")
        self.t0 = None

    def _say(self, line: str) -> None:
        if self.enabled:
            print(line, file=sys.stderr, flush=True)


def bar(total: int, unit: str, desc: str, enabled: bool):
    """A tqdm progress bar on stderr (``update(n)``), disabled unless ``enabled``; use it as a context manager."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=not enabled, leave=False, file=sys.stderr)
