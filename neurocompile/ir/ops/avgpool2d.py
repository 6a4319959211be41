"""``AvgPool2d``: average pooling; in the integer IR a sum pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch.nn.functional as F

from ... import fixedpoint as fx
from ...errors import QuantizationError
from ..names import describe, layer
from ..matrices import window_matrix
from .base import register_op
from .pool import PoolOp


@register_op
@dataclass(eq=False)
class AvgPool2d(PoolOp):
    """Average pooling (floor mode) with zero padding counted in the divisor (PyTorch's default
    ``count_include_pad=True``: every window divides by k^2). In the integer IR it is a *sum* pool over
    the zero-padded input: the 1/k^2 is folded into the scale of whatever consumes it (``divisor`` records
    k^2 for the float value)."""

    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)  # zero pixels on each side (H, W), at most half the kernel
    #: 1 in the integer IR (sum pooling); kh*kw in the float IR (true average)
    divisor: int = 0

    op: ClassVar[str] = "avgpool2d"
    synaptic: ClassVar[bool] = True

    def __post_init__(self):
        if not self.divisor:
            self.divisor = int(self.kernel_size[0] * self.kernel_size[1])

    def commutes_with_affine(self):
        return self.pad == (0, 0)  # zero padding would average in zeros that no shift moves

    def eval_float(self, ins, p, ctx):
        k = self.kernel_size[0] * self.kernel_size[1]
        return F.avg_pool2d(ins[0], self.kernel_size, self.stride, self.pad) * (k / self.divisor)

    def indicator(self, ins):
        return F.avg_pool2d(ins[0], self.kernel_size, self.stride, self.pad, divisor_override=1)

    def _sum_pool(self) -> None:
        if self.divisor != 1:
            raise QuantizationError(f"{layer(self)}: integer IR needs a sum pool (divisor 1), has {self.divisor}")

    def int_forward(self, xs, bounds):
        self._sum_pool()
        bound = self.kernel_size[0] * self.kernel_size[1] * bounds[0]
        x = xs[0].to(fx.exact_float(bound, describe(self)))
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.pad, divisor_override=1), bound

    def int_map(self, in_shape, out_shape, idx):
        if self.divisor != 1:
            raise QuantizationError(f"{layer(self)}: expected an integer sum pool (divisor 1), got {self.divisor}")
        return window_matrix(self.taps(in_shape[0]).astype(np.int64), in_shape, out_shape, self.stride, self.pad)

    # ---- quantisation: the integer sum is divisor x the average
    def q_unit(self, units):
        return units.unit(units.g.inputs(self.name)[0]) * self.divisor

    def int_bound(self, units):
        return self.divisor * self.int_bound_in(units)

    def cap_factor(self):
        return self.divisor

    def quantize(self, units):
        self.divisor = 1  # integer sum pool; its 1/k^2 lives in the unit of what it feeds
