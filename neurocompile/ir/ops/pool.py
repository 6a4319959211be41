"""What the pooling ops (``AvgPool2d``, ``MaxPool2d``) share: window geometry, shape, connectivity."""

from __future__ import annotations

import numpy as np

from ...errors import GraphError
from ...fixedpoint import pool_out
from ..matrices import window_matrix
from .base import Node, Window


class PoolOp(Node):
    """Mixin of the per-channel pooling windows (``kernel_size``, ``stride``, ``padding`` and ``ceil_mode`` where
    the op has them). Windows are placed as PyTorch places them (``fixedpoint.pool_out``): ``padding`` pixels on
    each side, and in ``ceil_mode`` extra windows that hang over the bottom / right edge; taps outside the input
    connect nothing. PyTorch's rule ``padding <= kernel / 2`` keeps a real element in every window."""

    channel_unit = "keep"

    @property
    def pad(self) -> tuple[int, int]:
        return tuple(int(p) for p in getattr(self, "padding", (0, 0)))

    @property
    def ceil(self) -> bool:
        return bool(getattr(self, "ceil_mode", False))

    def infer_shape(self, ins):
        x = ins[0]
        if len(x) != 3:
            raise GraphError(f"{self.label}: expects (C, H, W) input, got {x}")
        self.check_padding()
        if min(*self.kernel_size, *self.stride) < 1:
            raise GraphError(f"{self.label}: kernel {tuple(self.kernel_size)} / stride {tuple(self.stride)} must be >= 1")
        if any(p < 0 or 2 * p > k for p, k in zip(self.pad, self.kernel_size)):
            raise GraphError(f"{self.label}: padding {self.pad} must be >= 0 and at most half the kernel "
                             f"{tuple(self.kernel_size)} (else a window could hold padding only)")
        h = pool_out(x[1], self.kernel_size[0], self.stride[0], self.pad[0], self.ceil)
        w = pool_out(x[2], self.kernel_size[1], self.stride[1], self.pad[1], self.ceil)
        if h < 1 or w < 1:
            raise GraphError(f"{self.label}: output size {h}x{w} from input {x}")
        return (x[0], h, w)

    def check_padding(self) -> None:
        """GraphError if the op's padding / ceil mode is not supported."""

    def taps(self, channels: int) -> np.ndarray:
        """(C, C, kh, kw) identity over channels: every tap of channel c feeds channel c."""
        kh, kw = self.kernel_size
        mask = np.zeros((channels, channels, kh, kw), dtype=bool)
        mask[np.arange(channels), np.arange(channels)] = True
        return mask

    def structure(self, in_shape, out_shape, idx):
        return window_matrix(self.taps(in_shape[0]).astype(np.int8), in_shape, out_shape, self.stride, self.pad)

    def window(self, in_shape, idx):
        kh, kw = self.kernel_size
        return Window("diag", np.ones((in_shape[0], kh, kw), dtype=bool), tuple(self.stride), self.pad)

    def int_bound_in(self, units) -> float:
        return units.int_bound(units.g.inputs(self.name)[0])
