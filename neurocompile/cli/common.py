"""Helpers shared by the CLI commands: progress switches, stage messages, datasets, atomic JSON output."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

from ..errors import DatasetError

#: seed of the shuffle that picks the calibration subset (recorded in the bundle manifest)
CALIB_SEED = 0


def progress_option(f):
    """``--progress/--no-progress``: stage messages and progress bars on stderr (default: if it is a TTY)."""
    return click.option(
        "--progress/--no-progress", default=None,
        help="Show stage messages and progress bars on stderr [default: only when stderr is a terminal].",
    )(f)


def progress_enabled(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class Stages:
    """Prints ``[i/n] what ... (seconds)`` lines to stderr when enabled."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.i, self.t0 = total, enabled, 0, None

    def __call__(self, what: str) -> None:
        self.done()
        self.i += 1
        self.t0 = time.perf_counter()
        if self.enabled:
            click.echo(f"[{self.i}/{self.total}] {what}", err=True)

    def note(self, what: str) -> None:
        """A sub-step of the current stage (indented, with the seconds since the stage began)."""
        if self.enabled:
            click.echo(f"      {what} ({time.perf_counter() - (self.t0 or time.perf_counter()):.1f} s)", err=True)

    def done(self) -> None:
        if self.enabled and self.t0 is not None:
            click.echo(f"      done in {time.perf_counter() - self.t0:.1f} s", err=True)
        self.t0 = None


def load_dataset(name: str, split: str, expect_shape: tuple[int, ...], what: str) -> tuple[np.ndarray, np.ndarray]:
    """``datasets.load(name, split)`` checked against the model's per-sample input shape."""
    from .. import datasets

    x, y = datasets.load(name, split)
    if len(x) == 0:
        raise DatasetError(f"{what} {name!r} ({split} split) has no samples")
    if tuple(x.shape[1:]) != tuple(expect_shape):
        raise DatasetError(
            f"{what} {name!r} has per-sample shape {tuple(x.shape[1:])} but the model expects {tuple(expect_shape)}")
    return x, y


def calibration_subset(x: np.ndarray, n: int, seed: int = CALIB_SEED) -> np.ndarray:
    """The first ``n`` samples of ``x`` after a fixed-seed shuffle (all of them if ``n >= len(x)``)."""
    perm = np.random.default_rng(seed).permutation(len(x))
    return x[perm[:n]]


def write_json_atomic(obj, path: str | Path) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (``bundle.write_json_atomic``)."""
    from ..bundle import write_json_atomic as _write

    return _write(obj, path)
