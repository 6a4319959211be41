"""``Output``: the readout, which accumulates its input over the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ... import fixedpoint as fx
from ...errors import GraphError
from .base import Node, register_op


@register_op
@dataclass(eq=False)
class Output(Node):
    """Readout: accumulates its input over the run; prediction = argmax of the accumulated value."""

    #: constant added to the readout every step (same unit as the input); None or (F,)
    bias: np.ndarray | None = None
    #: integer IR: readout integer units per float (normalised) unit
    scale: float | None = None

    op: ClassVar[str] = "output"
    array_fields: ClassVar[tuple[str, ...]] = ("bias",)
    chain_target: ClassVar[bool] = True
    placed: ClassVar[bool] = True
    reported: ClassVar[bool] = True
    readout: ClassVar[bool] = True

    def infer_shape(self, ins):
        x = ins[0]
        if self.bias is not None and np.shape(self.bias) != x:
            raise GraphError(f"{self.label}: bias shape {np.shape(self.bias)} != {x}")
        return x

    def eval_float(self, ins, p, ctx):
        return ins[0] + p["bias"] if "bias" in p else ins[0]

    def with_bias(self, acc, times: int):
        """A readout sum ``acc`` (N, F) int64 plus ``times`` x the bias (the bias is added every step of the
        integration window; once in a block-coded network)."""
        if self.bias is None:
            return acc
        if isinstance(acc, torch.Tensor):
            return acc + times * torch.as_tensor(self.bias, dtype=torch.int64)
        return acc + times * np.asarray(self.bias, dtype=np.int64)

    def quantize(self, units):
        u_in = units.unit(units.g.inputs(self.name)[0])
        self.bias = None if self.bias is None else fx.round_half_away(self.bias * u_in)
        self.scale = u_in

    def param_words(self):
        return 1 + (self.bias is not None), 0
