"""Torch inside Lava's ProcessModels, which run in processes Lava forks from the caller.

After the parent has run a parallel torch op, its OpenMP thread pool exists in the parent only; a forked
child that enters a parallel region (any op on more than 32 768 elements, torch's grain size: a
population times the Lava batch) waits forever for those threads (the CLI hung this way whenever the
ANN ran before a Lava simulation of graded or max-gate populations). Every ProcessModel that computes
with torch calls :func:`single_threaded` when Lava builds it in the child: torch then runs its ops
inline, never entering a parallel region. The populations are small per step, so nothing is lost.
"""

from __future__ import annotations

import torch


def single_threaded() -> None:
    """Make torch in this (forked) process run every op on the calling thread."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
