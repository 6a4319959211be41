"""``Linear``: a fully connected layer on an (F,) vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch.nn.functional as F

from ...errors import GraphError
from .base import register_op
from .weighted import WeightedOp


@register_op
@dataclass(eq=False)
class Linear(WeightedOp):
    """Fully connected layer. ``weight``: (O, I); ``bias``: (O,) or None."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    weight_scale: float | None = None
    weight_exp: int = 0
    weight_bits: int | None = None

    op: ClassVar[str] = "linear"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")

    def infer_shape(self, ins):
        x = ins[0]
        if len(x) != 1 or x[0] != self.weight.shape[1]:
            raise GraphError(f"{self.label}: input {x} does not match weight {self.weight.shape}")
        if self.bias is not None and np.shape(self.bias) != (self.weight.shape[0],):
            raise GraphError(f"{self.label}: bias shape {np.shape(self.bias)} != ({self.weight.shape[0]},)")
        return (self.weight.shape[0],)

    def eval_float(self, ins, p, ctx):
        return F.linear(ins[0], p["weight"], p.get("bias"))

    def product(self, x, w):
        return x @ w.T

    def macs(self, out_shape):
        return int(self.weight.shape[0] * self.weight.shape[1])

    def int_map(self, in_shape, out_shape, idx):
        return sp.csr_matrix(np.asarray(self.weight, dtype=np.int64))

    def structure(self, in_shape, out_shape, idx):
        return sp.csr_matrix((np.asarray(self.weight) != 0).astype(np.int8))

    def scale_columns(self, w, u_in):
        if np.isscalar(u_in):
            return w * float(u_in)
        return w * np.asarray(u_in, dtype=np.float64).reshape(-1)[None, :]
