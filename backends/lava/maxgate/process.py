"""``MaxCountGate``: max pooling of spike counts, wired directly to its source (no synapse, no delay).

Per step, for every output window over inputs ``i`` (see ``neurocompile.fixedpoint.max_count_gate``)::

    counts_i += a_in_i                      # this step's spikes (binary, graded) or input values
    M         = max_i counts_i              # over the window's real inputs (padding / ceil_mode overhang: none)
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

from neurocompile import fixedpoint as fx


def pooled_shape(in_shape: tuple[int, ...], kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int] = (0, 0), ceil_mode: bool = False) -> tuple[int, ...]:
    """(..., C, Ho, Wo) of the pool of (..., C, H, W), PyTorch's output size (``fixedpoint.pool_out``)."""
    *lead, h, w = in_shape
    return (*lead, *(fx.pool_out(n, k, s, p, ceil_mode) for n, k, s, p in zip((h, w), kernel_size, stride, padding)))


class MaxCountGate(AbstractProcess):
    """Max-count gate over ``in_shape`` = (copies, C, H, W) (samples side by side); ports are flat vectors."""

    def __init__(self, *, in_shape: tuple[int, ...], kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int] = (0, 0), ceil_mode: bool = False, name: str | None = None):
        in_shape, kernel_size, stride = tuple(map(int, in_shape)), tuple(map(int, kernel_size)), tuple(map(int, stride))
        padding, ceil_mode = tuple(map(int, padding)), bool(ceil_mode)
        out_shape = pooled_shape(in_shape, kernel_size, stride, padding, ceil_mode)
        super().__init__(in_shape=in_shape, kernel_size=kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, name=name, log_config=None)
        n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        self.a_in = InPort(shape=(n_in,))
        self.s_out = OutPort(shape=(n_out,))
        self.counts = Var(shape=(n_in,), init=0)  # running count per input neuron
        self.maxima = Var(shape=(n_out,), init=0)  # largest count per window after the previous step
