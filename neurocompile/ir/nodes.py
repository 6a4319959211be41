"""Typed IR nodes.

Nodes are small dataclasses (``eq=False``: identity, not value, equality). Arrays are numpy; in the
float IR they are float64, in the integer IR int64. Per-sample shapes exclude the batch dimension:
``(C, H, W)`` for feature maps, ``(F,)`` for vectors.

Edges carry the ordered inputs of a node; a node's data never refers to other nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

RESET_MODES = ("subtract", "zero")


@dataclass(eq=False)
class Node:
    """Base class. ``name`` is unique in a graph and names the layer in every message."""

    name: str
    #: the module path the node came from in the source model (for error messages), or "".
    source: str = field(default="", kw_only=True)

    op: ClassVar[str] = "node"
    #: names of numpy-array fields (serialised to the .npz side file)
    array_fields: ClassVar[tuple[str, ...]] = ()
    #: number of inputs (None = one or more)
    arity: ClassVar[int | None] = 1

    def attrs(self) -> dict:
        """Non-array fields as JSON-ready values."""
        out = {}
        for f in fields(self):
            if f.name in ("name",) or f.name in self.array_fields:
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.array_fields if getattr(self, k) is not None}


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


@dataclass(eq=False)
class Conv2d(Node):
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


@dataclass(eq=False)
class Linear(Node):
    """Fully connected layer. ``weight``: (O, I); ``bias``: (O,) or None."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    weight_scale: float | None = None
    weight_exp: int = 0
    weight_bits: int | None = None

    op: ClassVar[str] = "linear"
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")


@dataclass(eq=False)
class AvgPool2d(Node):
    """Average pooling (no padding, floor mode). In the integer IR it is a *sum* pool: the 1/k^2 is
    folded into the scale of whatever consumes it (``divisor`` records k^2 for the float value)."""

    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    #: 1 in the integer IR (sum pooling); kh*kw in the float IR (true average)
    divisor: int = 0

    op: ClassVar[str] = "avgpool2d"

    def __post_init__(self):
        if not self.divisor:
            self.divisor = int(self.kernel_size[0] * self.kernel_size[1])


@dataclass(eq=False)
class MaxPool2d(Node):
    """Max pooling (no padding, floor mode, dilation 1); in the SNN a *spike source*, the max-count gate.

    ANN view: ``y = max`` over each ``kernel_size`` window. SNN view: it reads a spike source directly (the
    Input, a Neurons population or another MaxPool2d; ``Graph.verify`` checks this) and, per output window
    over inputs ``i`` with cumulative spike counts ``c_i(t) = sum_{tau <= t} s_i(tau)``, emits::

        M(t)     = max_i c_i(t)          (M = 0 before step 1)
        s_out(t) = M(t) - M(t - 1)

    (``fixedpoint.max_count_gate``): after every step the output's spike count is exactly the largest input
    count. No delay, no parameters; binary spikes in give binary spikes out, graded spikes (buffered /
    multi-bit) give signed values bounded by the input's ``spike_max``; on the constant analog input it is
    the max pool of the integer input every step. Its unit is its input's unit.
    """

    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)  # pixels on each side (H, W); only (0, 0) is supported

    op: ClassVar[str] = "maxpool2d"


@dataclass(eq=False)
class Flatten(Node):
    """Flatten (C, H, W) to (C*H*W,) in C-order, as ``torch.flatten(x, 1)``."""

    op: ClassVar[str] = "flatten"


@dataclass(eq=False)
class Add(Node):
    """Element-wise sum of two or more inputs, ``y = sum_i gains[i] * x_i`` (inputs ordered by edge)."""

    gains: tuple[float, ...] | None = None  # None = all ones; integers in the integer IR

    op: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None


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
    array_fields: ClassVar[tuple[str, ...]] = ("threshold", "bias", "v_init")


@dataclass(eq=False)
class Encoder(Node):
    """STCSNN spike-train encoding block (STEB): an IF population with a decaying threshold that encodes
    one value per neuron into a spike train of T = len(thresholds) steps.

    Its input is the value accumulated by the current accumulator block (CAB) over the spike trains of
    its sources (each source's step k weighted by that source's ``thresholds[k]``; an analog Input counts
    once). The value is loaded once as the membrane potential, then for k = 0 .. T-1::

        v_0 = sat(shift(acc, -load_shift) + bias)        (float IR: v_0 = acc + bias)
        s_k = v_k >= thresholds[k]
        v_{k+1} = v_k - thresholds[k] * s_k

    Consumers see the decoded value ``q = sum_k thresholds[k] * s_k`` (in the block's state units): the
    block is a clipped, quantised ReLU of its input. ``thresholds[k]`` is ``V_th0 * 2^(-k / tau)``
    rounded to the state grid. A network with encoders runs block by block: docs/semantics.md.
    """

    #: (T,) thresholds of steps 0 .. T-1, state units, > 0
    thresholds: np.ndarray | None = None
    #: added once when the input is loaded, state units; None or population shape
    bias: np.ndarray | None = None
    #: integer IR: state width in bits (saturating at load); None in float IR
    state_bits: int | None = None
    #: integer IR: the accumulated input is shifted right by this (left if negative) when loaded
    load_shift: int = 0
    #: threshold time constant in steps: thresholds[k] ~ 2^(-k / tau)
    tau: float = 2.0
    #: integer IR: integer state units per unit of normalised potential (for reports)
    scale: float | None = None

    op: ClassVar[str] = "encoder"
    array_fields: ClassVar[tuple[str, ...]] = ("thresholds", "bias")

    @property
    def timesteps(self) -> int:
        return int(np.asarray(self.thresholds).size)


@dataclass(eq=False)
class Output(Node):
    """Readout: accumulates its input over the run; prediction = argmax of the accumulated value."""

    #: constant added to the readout every step (same unit as the input); None or (F,)
    bias: np.ndarray | None = None
    #: integer IR: readout integer units per float (normalised) unit
    scale: float | None = None

    op: ClassVar[str] = "output"
    array_fields: ClassVar[tuple[str, ...]] = ("bias",)


NODE_TYPES: dict[str, type[Node]] = {
    cls.op: cls for cls in (Input, Conv2d, Linear, AvgPool2d, MaxPool2d, Flatten, Add, Neurons, Encoder, Output)
}
#: what a MaxPool2d gate may read (spike counts): the input, rate-coded populations, other gates
GATE_SOURCE_OPS = ("input", "neurons", "maxpool2d")
#: nodes whose output is a spike train (or the analog input) that synaptic chains start from
SOURCE_TYPES = (Input, Neurons, MaxPool2d, Encoder)
SOURCE_OPS = tuple(c.op for c in SOURCE_TYPES)
#: nodes a synaptic chain ends in
TARGET_TYPES = (Neurons, Encoder, Output)
#: ops that are linear maps of their input (synaptic ops); biases aside
SYNAPSE_OPS = ("conv2d", "linear", "avgpool2d", "flatten", "add")
