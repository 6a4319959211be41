"""``Input``: the network input, an analog frame presented every timestep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...fixedpoint import qmax
from .base import Node, register_op


@register_op
@dataclass(eq=False)
class Input(Node):
    """Network input: an analog frame, presented every timestep."""

    shape: tuple[int, ...] = ()  # per-sample shape, e.g. (1, 28, 28)
    #: integer IR only: input integer = clip(round(x * scale), 0 or -qmax, qmax) with `bits` bits.
    scale: float | None = None  # integer units per input unit (None in the float IR)
    bits: int | None = None  # width of the integer input value, including sign if signed
    signed: bool = False  # whether negative input values are representable

    op: ClassVar[str] = "input"
    arity: ClassVar[int | None] = 0
    spike_source: ClassVar[bool] = True
    gateable: ClassVar[bool] = True
    analog: ClassVar[bool] = True

    def infer_shape(self, ins):
        return tuple(int(s) for s in self.shape)

    def eval_float(self, ins, p, ctx):
        return ctx.x

    @property
    def spike_dtype(self) -> np.dtype:
        """Type of its recorded values (the integer input)."""
        return np.dtype(np.int32)

    @property
    def payload_bits(self) -> int:
        """Bits one message of this source carries: the integer input value."""
        return int(self.bits)

    # ---- quantisation
    def set_range(self, lo: float, hi: float, bits: int) -> None:
        """The integer input format for calibration values in [lo, hi]: ``bits`` wide, signed if lo < 0,
        ``scale = qmax / max|x|``."""
        signed = lo < 0
        amax = max(abs(lo), abs(hi)) or 1.0
        self.bits, self.signed = bits, signed
        self.scale = qmax(bits, signed) / amax

    def q_unit(self, units) -> float:
        return self.scale

    def int_bound(self, units) -> float:
        return float(qmax(units.q.input_bits, self.signed))
