"""What the weight ops (``Conv2d``, ``Linear``) share: normalisation of their rows and columns, quantisation of
their weights on one scale per layer, BatchNorm folding, exact integer products, their report row."""

from __future__ import annotations

import numpy as np
import torch

from ... import fixedpoint as fx
from ..names import describe
from ..units import scale_rows
from .base import Node


class WeightedOp(Node):
    """Mixin of the ops that hold ``weight`` (rows: output units or channels) and ``bias``."""

    weighted = True
    synaptic = True
    reported = True
    channel_unit = "absorb"

    def scale_columns(self, w: np.ndarray, u_in) -> np.ndarray:
        """Weights with input column c multiplied by the input unit ``u_in[c]`` (scalar, per channel or
        per feature)."""
        raise NotImplementedError

    def normalize(self, units, lt, in_shapes):
        self.weight = scale_rows(self.scale_columns(self.weight, units[0]), lt)
        if self.bias is not None:
            self.bias = scale_rows(self.bias, lt)
        return lt

    def input_unit(self, lt, idx, in_shapes, out_shape):
        return None  # the columns absorb any input unit

    def absorb_affine(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """Fold a per-output-channel affine map ``y * scale + shift`` (an eval-mode BatchNorm) into the op."""
        shape = (-1,) + (1,) * (self.weight.ndim - 1)
        self.weight = self.weight * scale.reshape(shape)
        self.bias = shift if self.bias is None else self.bias * scale + shift

    def q_unit(self, units) -> float:
        return units.unit(units.g.inputs(self.name)[0]) * units.weight_scale(self.name)

    def quantize(self, units) -> None:
        s_w, g = units.weight_scale(self.name), units.absorbed_gain(self.name)
        bits = units.q.weight_bits
        self.weight = fx.quantize(self.weight * g, s_w, bits)
        self.weight_scale, self.weight_bits, self.weight_exp = s_w, bits, 0

    def row_bound(self) -> int:
        """``max_o sum_i |W[o, i]|``: with inputs bounded by B, every partial sum of an output is bounded by
        this times B."""
        w = np.asarray(self.weight)
        return int(np.abs(w.reshape(w.shape[0], -1)).sum(1).max()) if w.size else 0

    def int_forward(self, xs, bounds):
        bound = self.row_bound() * bounds[0]
        dt = fx.exact_float(bound, describe(self))
        y = self.product(xs[0].to(dt), torch.as_tensor(np.asarray(self.weight), dtype=dt))
        y = fx.shift(y, self.weight_exp)
        bound = bound << self.weight_exp if self.weight_exp >= 0 else bound
        fx.exact_float(bound, describe(self))
        return y, bound

    def product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The op's linear map of ``x`` with weights ``w`` (no bias)."""
        raise NotImplementedError

    def indicator(self, ins):
        return self.product(ins[0], torch.as_tensor(np.asarray(self.weight) != 0, dtype=torch.float64))

    def report_fields(self) -> dict:
        return {}
