"""``Neurons``: a population of integrate-and-fire neurons (ANN view: a ReLU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ... import fixedpoint as fx
from ...errors import GraphError, QuantizationError
from ..names import layer
from ..units import uniform
from .base import Node, broadcast_check, register_op

RESET_MODES = ("subtract", "zero")


@dataclass
class IntState:
    """A population's integer state during a run (intsim): membrane ``v``, HPC buffer ``held`` (graded
    populations), threshold and bias broadcast to the population, all in the exact type ``dtype``."""

    v: torch.Tensor
    held: torch.Tensor | None
    threshold: torch.Tensor
    bias: torch.Tensor
    dtype: torch.dtype


@register_op
@dataclass(eq=False)
class Neurons(Node):
    """A population of integrate-and-fire neurons, one per element of its input.

    ANN view (float IR before conversion): ReLU.  SNN view, per timestep t (see docs/semantics.md)::

        v[t] = sat(v[t-1] + wrap(I[t] << state_shift) + bias)   (wrap only if input_wrap is set)
        s[t] = v[t] > threshold
        v[t] -= threshold * s[t]    (reset "subtract")   or   v[t] = 0 where s[t]  (reset "zero")

    With ``buffered`` (HPC's buffered non-leaky IF) a neuron whose potential falls below 0 while its net
    spike count is positive emits a negative spike; with ``spike_max`` > 1 a spike carries a power-of-two
    magnitude up to ``spike_max`` (``fixedpoint.if_graded_update_``).
    """

    #: firing threshold, state units; shape () or broadcastable to the population shape
    threshold: np.ndarray | None = None
    #: constant input added every step, state units; None or population shape
    bias: np.ndarray | None = None
    #: initial membrane potential, state units; None (=0), shape () or population shape
    v_init: np.ndarray | None = None
    reset: str = "subtract"
    #: integer IR: state width in bits (saturating, symmetric +-(2^(bits-1)-1)); None in float IR
    state_bits: int | None = None
    #: integer IR: synaptic input is shifted left by this before entering v (Lava uses 6)
    state_shift: int = 0
    #: integer IR: if set, the shifted input wraps once at this width as Lava's LIF current u (24)
    input_wrap: int | None = None
    #: integer IR: integer state units per unit of normalised potential (for reports)
    scale: float | None = None
    #: ANN view only: activation clipped at this value (a trained QReLU / clamp(0, clip)); None = plain ReLU
    clip: float | None = None
    #: HPC buffered neuron: negative spikes take back earlier ones when v falls below 0
    buffered: bool = False
    #: largest spike magnitude (power of two); 1 = binary spikes
    spike_max: int = 1

    op: ClassVar[str] = "neurons"
    array_fields: ClassVar[tuple[str, ...]] = ("threshold", "bias", "v_init")
    spike_source: ClassVar[bool] = True
    chain_target: ClassVar[bool] = True
    gateable: ClassVar[bool] = True
    placed: ClassVar[bool] = True
    reported: ClassVar[bool] = True
    commutes_with_max: ClassVar[bool] = True  # ReLU / clamp(0, lambda)

    @property
    def graded(self) -> bool:
        """Spikes other than 0/1 (negative or multi-bit)."""
        return self.buffered or self.spike_max > 1

    @property
    def spike_dtype(self) -> np.dtype:
        """Type of recorded spikes: bool for binary populations, the signed values otherwise."""
        if not self.graded:
            return np.dtype(bool)
        return np.dtype(np.int8 if self.spike_max < 128 else np.int32)

    @property
    def payload_bits(self) -> int:
        """Bits one spike carries: 0 for binary spikes, else the signed magnitude up to ``spike_max``."""
        return int(self.spike_max).bit_length() + 1 if self.graded else 0

    # ---- structure
    def check(self, graph):
        if self.reset not in RESET_MODES:
            raise GraphError(f"{self.label}: reset {self.reset!r} not in {RESET_MODES}")
        if self.spike_max < 1 or self.spike_max & (self.spike_max - 1):
            raise GraphError(f"{self.label}: spike_max {self.spike_max} is not a power of two >= 1")

    def infer_shape(self, ins):
        x = ins[0]
        for key in ("threshold", "bias", "v_init"):
            broadcast_check(self, key, getattr(self, key), x)
        if self.threshold is not None and np.any(np.asarray(self.threshold) <= 0):
            raise GraphError(f"{self.label}: threshold must be > 0, min is {np.min(self.threshold)}")
        return x

    # ---- float views
    def eval_float(self, ins, p, ctx):
        """``relu((I + bias) / threshold)`` (threshold 1 and bias 0 when unset): the rate an IF neuron with
        reset by subtraction approaches; ``ctx.clip`` limits it to one spike per step; ``ctx.levels = T``:
        the spike count after T steps of a constant input started at ``ctx.delta`` thresholds,
        ``clip(floor(T z + delta), 0, T) / T``; a trained clip level ``clip`` caps the ReLU."""
        v = ins[0]
        if "bias" in p:
            v = v + p["bias"]
        if "threshold" in p:
            v = v / p["threshold"]
        if ctx.levels:
            return torch.floor(v * ctx.levels + ctx.delta).clamp(0, ctx.levels) / ctx.levels
        if ctx.clip:
            return v.clamp(0, 1)
        return torch.relu(v) if self.clip is None else v.clamp(0, float(self.clip))

    def float_run(self, inp: torch.Tensor, p: dict, timesteps: int) -> torch.Tensor:
        """Spikes (T, N, ...) of the float SNN (``ir.snn``) for the input ``inp`` (1 or T, N, ...): IF
        neurons with threshold, bias, initial potential and reset, spike when ``v >= threshold``; buffered /
        multi-bit populations follow the integer contract's rule on floats."""
        th = p.get("threshold", torch.tensor(1.0))
        drive = inp + p["bias"] if "bias" in p else inp
        v = torch.zeros(inp.shape[1:]) + (p["v_init"] if "v_init" in p else 0.0)
        s_all = torch.empty((timesteps, *inp.shape[1:]))
        held = torch.zeros_like(v) if self.graded else None
        for t in range(timesteps):
            d = drive[0] if drive.shape[0] == 1 else drive[t]
            if held is not None:
                fx.if_graded_update_(v, held, d, th, self.reset, None, self.spike_max, self.buffered, out=s_all[t])
                continue
            v += d
            s = v >= th
            s_all[t] = s
            if self.reset == "zero":
                v.masked_fill_(s, 0.0)
            else:
                v -= th * s
        return s_all

    # ---- integer run (intsim)
    def int_init(self, n: int, shape: tuple[int, ...], in_bound: int) -> IntState:
        """The state before step 1 for ``n`` samples, in the narrowest type exact for an input of magnitude
        <= ``in_bound`` (``fixedpoint.state_dtype``)."""
        th = torch.as_tensor(np.broadcast_to(self.threshold, shape).copy(), dtype=torch.int64)
        bias = torch.as_tensor(np.broadcast_to(0 if self.bias is None else self.bias, shape).copy(), dtype=torch.int64)
        # |every intermediate| <= max_drive (+ the state bound): pick the narrowest exact type for it
        max_drive = (in_bound << self.state_shift) + (int(bias.abs().max()) if bias.numel() else 0)
        dt = fx.state_dtype(self.state_bits, max_drive, self.spike_max * (int(th.max()) if th.numel() else 0))
        v = torch.zeros((n, *shape), dtype=dt)
        if self.v_init is not None:
            v += torch.as_tensor(np.broadcast_to(self.v_init, shape).copy(), dtype=dt)
        held = torch.zeros((n, *shape), dtype=dt) if self.graded else None  # HPC buffer: net spikes so far
        return IntState(v, held, th.to(dt), bias.to(dt), dt)

    def int_drive(self, st: IntState, inp: torch.Tensor) -> torch.Tensor:
        """The per-step drive ``wrap(I << state_shift) + bias`` of an input (T or 1, N, ...)."""
        return fx.if_drive(inp.to(st.dtype), st.bias, self.state_shift, self.input_wrap)

    def int_step(self, st: IntState, drive: torch.Tensor, out: torch.Tensor) -> None:
        """One step in place on ``st``; the spikes (0/1, or signed powers of two) go into ``out``."""
        if st.held is None:
            fx.if_update_(st.v, drive, st.threshold, self.reset, self.state_bits, out=out)
        else:
            fx.if_graded_update_(st.v, st.held, drive, st.threshold, self.reset, self.state_bits, self.spike_max,
                                 self.buffered, out=out)

    def rate(self, spikes: np.ndarray, timesteps: int, depth: int) -> np.ndarray:
        """Spikes per step of each neuron over a run's recorded spikes (steps, N, ...) -> (N, ...)."""
        return spikes.sum(0) / timesteps

    # ---- conversion
    def normalize_target(self, u_in, lt):
        self.threshold = np.asarray(uniform(np.asarray(lt) / np.asarray(u_in)), dtype=np.float64)
        if self.bias is not None:
            self.bias = self.bias / u_in
        if self.clip is not None:
            self.clip = float(self.clip) / float(lt)

    # ---- quantisation
    def q_unit(self, units):
        return 1.0  # a spike is one normalised unit

    def int_bound(self, units):
        return float(self.spike_max)

    def q_caps(self, units, mult: float) -> list[float]:
        """Upper limits of the integer unit reaching this population (times ``mult`` on the way): threshold
        <= 2^(S-3) (two bits of state headroom); with a bias mantissa / exponent format, the largest bias."""
        q, sh = units.q, 1 << units.q.state_shift
        caps = [(1 << (q.state_bits - 3)) / (float(np.max(self.threshold)) * sh * mult)]
        if q.bias_mant_bits and self.bias is not None and np.any(self.bias != 0):
            caps.append(fx.qmax(q.bias_mant_bits) * (1 << q.bias_exp_max)
                        / (float(np.max(np.abs(self.bias))) * sh * mult))
        return caps

    def quantize(self, units):
        q, graph = units.q, units.g
        u_state = units.unit(graph.inputs(self.name)[0]) * (1 << q.state_shift)
        # threshold on the input's grid, then shifted: a multiple of 2^state_shift (Lava: vth << 6)
        th = fx.round_half_away(np.asarray(self.threshold) * u_state / (1 << q.state_shift)) << q.state_shift
        if np.any(th < 1):  # threshold below one input LSB: the finest the integer grid can express
            lo = float(np.min(self.threshold)) * u_state / (1 << q.state_shift)
            graph.meta.setdefault("notes", []).append(
                f"{layer(self)}: threshold {lo:.3g} input LSBs rounds to 0; clamped to 1 LSB "
                f"(too few weight bits for this layer's dynamic range)")
            th = np.maximum(th, 1 << q.state_shift)
        if not fx.fits(th, q.state_bits):
            raise QuantizationError(
                f"{layer(self)}: integer threshold {int(th.max())} exceeds {q.state_bits}-bit state; "
                "use fewer weight/input bits or a wider state")
        if self.v_init is not None:  # a fraction of the float threshold -> the same fraction of the integer one
            frac = np.asarray(self.v_init, dtype=np.float64) / np.asarray(self.threshold, dtype=np.float64)
            self.v_init = fx.round_half_away(frac * th)
        self.threshold = th
        self.bias = None if self.bias is None else fx.round_half_away(self.bias * u_state)
        if self.bias is not None and q.bias_mant_bits:
            self.bias = fx.round_mant_exp(self.bias, q.bias_mant_bits, q.bias_exp_max)
        self.input_wrap = q.input_wrap
        self.state_bits, self.state_shift, self.scale = q.state_bits, q.state_shift, u_state

    # ---- placement, report
    def param_words(self):
        per_unit = 1 + (self.bias is not None) + (self.v_init is not None and bool(np.any(np.asarray(self.v_init))))
        return per_unit, 1

    def report_threshold(self):
        if self.threshold is None:
            return None
        a = np.asarray(self.threshold)
        if a.size == 0:
            return None
        flat = a.reshape(-1)
        if np.all(flat == flat[0]):
            return flat[0]
        return list(np.squeeze(a).reshape(-1))

    def report_fields(self):
        return {"reset": self.reset, "neuron": "buffered" if self.buffered else "if", "spike_max": int(self.spike_max)}
