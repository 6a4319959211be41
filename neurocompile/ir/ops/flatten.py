"""``Flatten``: (C, H, W) to (C*H*W,) in C-order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..units import flatten_unit
from .base import Node, register_op


@register_op
@dataclass(eq=False)
class Flatten(Node):
    """Flatten (C, H, W) to (C*H*W,) in C-order, as ``torch.flatten(x, 1)``."""

    op: ClassVar[str] = "flatten"
    synaptic: ClassVar[bool] = True
    channel_unit: ClassVar[str] = "keep"

    def infer_shape(self, ins):
        return (int(np.prod(ins[0])),)

    def eval_float(self, ins, p, ctx):
        return torch.flatten(ins[0], 1)

    def int_forward(self, xs, bounds):
        return xs[0].reshape(xs[0].shape[0], -1), bounds[0]

    def normalize(self, units, lt, in_shapes):
        return flatten_unit(units[0], in_shapes[0])

    def int_bound(self, units):
        return units.int_bound(units.g.inputs(self.name)[0])

    def cap_factor(self):
        return 1.0
