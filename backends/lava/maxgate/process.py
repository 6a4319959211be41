"""``MaxCountGate``: max pooling of spike counts, wired directly to its source (no synapse, no delay).

Per step, for every output window over inputs ``i`` (see ``neurocompile.fixedpoint.max_count_gate``)::

    counts_i += a_in_i                      # this step's spikes (binary, graded) or input values
    M         = max_i counts_i
    s_out     = M - maxima;  maxima = M      # the output's spike count is the largest input count

``a_in`` takes the source's ``s_out`` on a direct wire (received in the same step, reference §1), so the
gate adds no delay; ``s_out`` is an int32 payload (0/1 for binary sources, signed values otherwise) that
the next ``Sparse`` reads with ``num_message_bits`` 0 (binary) or > 0 (graded).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


def pooled_shape(in_shape: tuple[int, ...], kernel_size: tuple[int, int], stride: tuple[int, int]) -> tuple[int, ...]:
    """(..., C, Ho, Wo) of a floor-mode, unpadded pool of (..., C, H, W)."""
    *lead, h, w = in_shape
    return (*lead, (h - kernel_size[0]) // stride[0] + 1, (w - kernel_size[1]) // stride[1] + 1)


class MaxCountGate(AbstractProcess):
    """Max-count gate over ``in_shape`` = (copies, C, H, W) (samples side by side); ports are flat vectors."""

    def __init__(self, *, in_shape: tuple[int, ...], kernel_size: tuple[int, int], stride: tuple[int, int],
                 name: str | None = None):
        in_shape, kernel_size, stride = tuple(map(int, in_shape)), tuple(map(int, kernel_size)), tuple(map(int, stride))
        out_shape = pooled_shape(in_shape, kernel_size, stride)
        super().__init__(in_shape=in_shape, kernel_size=kernel_size, stride=stride, name=name, log_config=None)
        n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        self.a_in = InPort(shape=(n_in,))
        self.s_out = OutPort(shape=(n_out,))
        self.counts = Var(shape=(n_in,), init=0)  # running count per input neuron
        self.maxima = Var(shape=(n_out,), init=0)  # largest count per window after the previous step
