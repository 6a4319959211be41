"""``MaxPool2d``: max pooling; in the SNN the max-count gate, a spike source of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F

from ... import fixedpoint as fx
from ...errors import GraphError
from ..names import describe
from .base import register_op
from .pool import PoolOp


@register_op
@dataclass(eq=False)
class MaxPool2d(PoolOp):
    """Max pooling (dilation 1); in the SNN a *spike source*, the max-count gate.

    ANN view: ``y = max`` over each ``kernel_size`` window, placed as ``torch.nn.functional.max_pool2d``
    places them with ``padding`` and ``ceil_mode``; the max is over the window's real elements (PyTorch's
    -inf padding; zero padding gives the same on the non-negative counts of spikes). SNN view: it reads a
    spike source directly (the Input, a Neurons population or another MaxPool2d; ``Graph.verify`` checks
    this) and, per output window over its real inputs ``i`` with cumulative spike counts
    ``c_i(t) = sum_{tau <= t} s_i(tau)``, emits::

        M(t)     = max_i c_i(t)          (M = 0 before step 1)
        s_out(t) = M(t) - M(t - 1)

    (``fixedpoint.max_count_gate``): after every step the output's spike count is exactly the largest input
    count. No delay, no parameters; binary spikes in give binary spikes out, graded spikes (buffered /
    multi-bit) give signed values bounded by the input's ``spike_max``; on the constant analog input it is
    the max pool of the integer input every step. Its unit is its input's unit.
    """

    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)  # pixels on each side (H, W), at most half the kernel
    ceil_mode: bool = False  # PyTorch's ceil mode: extra windows over the bottom / right edge

    op: ClassVar[str] = "maxpool2d"
    spike_source: ClassVar[bool] = True
    gate: ClassVar[bool] = True
    gateable: ClassVar[bool] = True
    placed: ClassVar[bool] = True
    reported: ClassVar[bool] = True

    def check(self, graph):
        src = graph.node(graph.inputs(self.name)[0])
        if not src.gateable:
            raise GraphError(f"{self.label}: reads {src.op} {describe(src)}; a max pool (the max-count "
                             "gate) must read a spike source: the Input, a Neurons population or a MaxPool2d")

    def eval_float(self, ins, p, ctx):  # also with ``levels``: the max of the (already quantised) input
        return F.max_pool2d(ins[0], self.kernel_size, self.stride, self.pad, ceil_mode=self.ceil)

    def gate_values(self, x):
        """The gate on a constant input (the analog frame): its max pool, every step."""
        return fx.window_max(x, self.kernel_size, self.stride, self.pad, self.ceil)

    def gate_train(self, spikes, counts=None, maxima=None):
        """The gate on a spike train (steps, ..., C, H, W): ``fixedpoint.max_count_gate``."""
        return fx.max_count_gate(spikes, self.kernel_size, self.stride, counts, maxima, self.pad, self.ceil)

    def int_bound(self, units):  # a gate's step output is bounded by its input's
        return self.int_bound_in(units)

    def report_fields(self):  # a max-count gate: no neurons of its own, no parameters
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.pad),
                "ceil_mode": self.ceil}
