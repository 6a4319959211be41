"""``Conv2d``: 2-D convolution (zero padding, stride, dilation, groups)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch.nn.functional as F

from ...errors import GraphError
from ..matrices import window_matrix
from .base import Window, conv_out, register_op
from .weighted import WeightedOp


@register_op
@dataclass(eq=False)
class Conv2d(WeightedOp):
    """2-D convolution. ``weight``: (O, I/groups, kh, kw); ``bias``: (O,) or None (same unit as output)."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)  # zero padding, pixels on each side (H, W)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    #: integer IR: float weight = weight / weight_scale; the sum is shifted by weight_exp (floor).
    weight_scale: float | None = None
    weight_exp: int = 0
    weight_bits: int | None = None

    op: ClassVar[str] = "conv2d"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer_shape(self, ins):
        x = ins[0]
        if len(x) != 3:
            raise GraphError(f"{self.label}: expects (C, H, W) input, got {x}")
        o, ipg, kh, kw = self.weight.shape
        if x[0] != ipg * self.groups or o % self.groups:
            raise GraphError(f"{self.label}: {x[0]} input channels, weight {self.weight.shape} with groups={self.groups}")
        if self.bias is not None and np.shape(self.bias) != (o,):
            raise GraphError(f"{self.label}: bias shape {np.shape(self.bias)} != ({o},)")
        h = conv_out(x[1], kh, self.stride[0], self.padding[0], self.dilation[0])
        w = conv_out(x[2], kw, self.stride[1], self.padding[1], self.dilation[1])
        if h < 1 or w < 1:
            raise GraphError(f"{self.label}: output size {h}x{w} from input {x}")
        return (o, h, w)

    def eval_float(self, ins, p, ctx):
        return F.conv2d(ins[0], p["weight"], p.get("bias"), self.stride, self.padding, self.dilation, self.groups)

    def product(self, x, w):
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, self.groups)

    def macs(self, out_shape):
        o, ipg, kh, kw = self.weight.shape
        return int(np.prod(out_shape)) * ipg * kh * kw

    def full_kernel(self, values: np.ndarray | None = None) -> np.ndarray:
        """The grouped kernel as a dense (O, I, kh, kw) array (zero between groups); ``values`` default the
        weights."""
        w = np.asarray(self.weight if values is None else values)
        o, ipg, kh, kw = w.shape
        g, opg = self.groups, o // self.groups
        full = np.zeros((o, ipg * g, kh, kw), dtype=w.dtype)
        for k in range(g):
            full[k * opg:(k + 1) * opg, k * ipg:(k + 1) * ipg] = w[k * opg:(k + 1) * opg]
        return full

    def int_map(self, in_shape, out_shape, idx):
        return window_matrix(self.full_kernel(np.asarray(self.weight, dtype=np.int64)), in_shape, out_shape,
                             self.stride, self.padding, self.dilation)

    def structure(self, in_shape, out_shape, idx):
        return window_matrix(self.full_kernel(np.asarray(self.weight) != 0).astype(np.int8), in_shape, out_shape,
                             self.stride, self.padding, self.dilation)

    def window(self, in_shape, idx):
        return Window("full", self.full_kernel(np.asarray(self.weight) != 0), tuple(self.stride),
                      tuple(self.padding), tuple(self.dilation))

    def scale_columns(self, w, u_in):
        if np.isscalar(u_in):
            return w * float(u_in)
        u = np.asarray(u_in, dtype=np.float64).reshape(-1)
        O, ipg = w.shape[:2]
        opg = O // self.groups
        cin = (np.arange(O)[:, None] // opg) * ipg + np.arange(ipg)[None, :]
        return w * u[cin][:, :, None, None]
