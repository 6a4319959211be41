"""The op registry: the base :class:`Node` every IR op derives from, :func:`register_op`, and
:class:`OpTable`, the per-op tables backends keep their emitters in.

An op is one class in one module of this package: its fields (a small dataclass), its *roles* (class
flags that say where it may stand in a graph: a spike source, a synaptic op, a chain target, a placed
layer...) and its *facets*, the methods every stage of the compiler calls instead of testing types:

=====================  ===========================================================================
facet                  used by
=====================  ===========================================================================
``infer_shape``        ``Graph.infer_shapes`` / ``verify`` (and ``check`` for parameter sanity)
``eval_float``         the float (ANN) evaluator ``ir.ann`` and the float SNN ``ir.snn``
``indicator``          SynOps fan-out (``ir.cost``): the op on 0/1 inputs with its non-zero pattern
``macs``               ANN multiply-accumulates (``ir.cost``)
``int_forward``        intsim: the exact integer result of a synaptic op and its bound
``int_map``            the op as an integer matrix per input (``ir.matrices``: Lava, FPGA tables)
``structure``          the 0/1 connectivity per input (the partitioner's resource model)
``window``             the op as a sliding window, for the partitioner's convolution-like queries
``normalize``          data-based normalisation (``passes.convert.Normalize``)
``q_unit`` ...         the quantiser's integer units, bounds and rounding (``quant.quantize``)
``param_words``        neuron parameter memory of a placed layer (``partition.resources``)
``report_fields``      the op's row in the compile report
=====================  ===========================================================================

Defaults here are those of an op that passes its input on unchanged (the common case for a new
parameter-free op); an op overrides what differs. Backends register an emitter per op in an
:class:`OpTable` of their own; lookup walks the class's MRO, so a subclass inherits its parent's emitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ...errors import GraphError
from ..names import layer

#: every registered op: op name -> node class
OPS: dict[str, type["Node"]] = {}


def register_op(cls: type["Node"]) -> type["Node"]:
    """Class decorator: add ``cls`` to :data:`OPS` under ``cls.op``; a second op of the same name raises."""
    name = cls.op
    if not name or name == Node.op:
        raise ValueError(f"{cls.__name__}: set the class attribute `op` to the op's name before registering it")
    if name in OPS and OPS[name] is not cls:
        raise ValueError(f"op {name!r} is already registered by {OPS[name].__module__}.{OPS[name].__qualname__}")
    OPS[name] = cls
    return cls


@dataclass(frozen=True)
class Window:
    """A synaptic op as a sliding window over a (C, H, W) input, for the partitioner's convolution queries.

    ``mask``: ``kind`` ``"full"`` (O, I, kh, kw), which input channels and taps feed each output channel;
    ``"diag"`` (C, kh, kw), channel c feeds channel c only (pooling).
    """

    kind: str
    mask: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.mask.shape[-2:])


@dataclass(frozen=True)
class FloatContext:
    """Settings of a float evaluation (``ir.ann.run_ann``): the input batch ``x``; ``clip``: populations
    limited to one spike per step; ``levels``: populations as the spike count of T = levels steps started at
    ``delta`` thresholds (see ``Neurons.eval_float``)."""

    x: object = None
    clip: bool = False
    levels: int | None = None
    delta: float = 0.0


#: ``Node.window`` of an op that passes one input on unchanged (an Add input): no stage of its own
PASS = "pass"


@dataclass(eq=False)
class Node:
    """Base class of every IR op. ``name`` is unique in a graph and names the layer in every message."""

    name: str
    #: the module path the node came from in the source model (for error messages), or "".
    source: str = field(default="", kw_only=True)
    #: the type of that module as the user wrote it (``Conv2d``); for a functional call the function after
    #: the enclosing module's type, if any (``BasicBlock, relu()``, ``relu()``); "" if unknown (old bundles)
    module: str = field(default="", kw_only=True)

    op: ClassVar[str] = "node"
    #: names of numpy-array fields (serialised to the .npz side file)
    array_fields: ClassVar[tuple[str, ...]] = ()
    #: number of inputs (None = one or more)
    arity: ClassVar[int | None] = 1

    # ---- roles -------------------------------------------------------------------------------------
    #: emits the spikes (or analog values) a synaptic chain starts from
    spike_source: ClassVar[bool] = False
    #: a synaptic chain ends in it (its input is the chain's sum)
    chain_target: ClassVar[bool] = False
    #: a linear map of its inputs inside a synaptic chain
    synaptic: ClassVar[bool] = False
    #: holds a weight array (its rows are output units / channels, its columns inputs)
    weighted: ClassVar[bool] = False
    #: reads a spike source directly, with no synapse and no delay (the max-count gate)
    gate: ClassVar[bool] = False
    #: a max-count gate may read it (it sends spike counts: the input, rate-coded populations, gates)
    gateable: ClassVar[bool] = False
    #: its units are placed on cores
    placed: ClassVar[bool] = False
    #: gets a row in the compile report
    reported: ClassVar[bool] = False
    #: the network's readout: accumulates its input; no consumers
    readout: ClassVar[bool] = False
    #: sends analog values rather than spikes (the network input)
    analog: ClassVar[bool] = False
    #: an element-wise, monotone non-decreasing activation (ANN view): max pooling commutes with it
    commutes_with_max: ClassVar[bool] = False
    #: combines its inputs with gains (an Add sums them, a Concat sets them side by side); weight ops that
    #: feed only it share its unit (the gain in their weights)
    sums_inputs: ClassVar[bool] = False
    #: a population that runs block by block (STCSNN encoders: a network of them has block timing)
    block_coded: ClassVar[bool] = False
    #: how a per-channel normalisation unit crosses it: "absorb" (weight columns), "keep" (per channel
    #: again on the other side), "scalar" (needs one number: anything unknown is treated so)
    channel_unit: ClassVar[str] = "scalar"
    #: its ``normalize`` takes ``lt=None`` where a weight op between it and the chain target absorbs any unit
    free_unit: ClassVar[bool] = False

    # ---- serialisation -----------------------------------------------------------------------------
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

    @property
    def label(self) -> str:
        """How messages name the node: ``layer features.0 (Conv2d) [features_0]`` for a node that knows
        the user's module (``ir.names.layer``), ``node NAME (op)`` for one built without it."""
        return layer(self) if self.source or self.module else f"node {self.name} ({self.op})"

    # ---- structure ---------------------------------------------------------------------------------
    def infer_shape(self, ins: list[tuple[int, ...]]) -> tuple[int, ...]:
        """Per-sample output shape from the input shapes; GraphError naming the node on a mismatch."""
        return ins[0]

    def check(self, graph) -> None:
        """Parameter and placement checks beyond shapes (``Graph.verify``); GraphError naming the node."""

    @classmethod
    def check_graph(cls, graph, nodes: list["Node"]) -> None:
        """Checks that involve every node of this op at once (called once per op present in the graph)."""

    def commutes_with_affine(self) -> bool:
        """True if a per-channel affine map ``x * s[c] + t[c]`` on the op's input gives the same result after
        the op (each output is a weighted mean of inputs of its own channel: average pooling without
        padding), so a BatchNorm after the op may move in front of it."""
        return False

    # ---- float evaluation --------------------------------------------------------------------------
    def eval_float(self, ins: list, p: dict, ctx) -> "torch.Tensor":  # noqa: F821
        """The op on float tensors (batch first). ``p``: the node's arrays as tensors; ``ctx``: the
        evaluation settings (``ir.ann.FloatContext``)."""
        return ins[0]

    def indicator(self, ins: list) -> "torch.Tensor":  # noqa: F821
        """The op on float64 0/1 inputs with every non-zero weight as 1 (SynOps fan-out through it)."""
        return self.eval_float(ins, {}, FloatContext())

    def macs(self, out_shape: tuple[int, ...]) -> int:
        """ANN multiply-accumulates per sample (the conversion papers count conv and linear layers only)."""
        return 0

    # ---- integer IR --------------------------------------------------------------------------------
    def int_forward(self, xs: list, bounds: list[int]) -> tuple["torch.Tensor", int]:  # noqa: F821
        """Integer result of a synaptic op on tensors (leading dims batch x steps flattened into one) that
        hold exact integers, and a bound of its magnitude. Exactness is the op's to keep: a float type
        only where the bound allows (``fixedpoint.exact_float``)."""
        return xs[0], bounds[0]

    def int_map(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], idx: int):
        """The op for its input ``idx`` as an integer matrix (out units x in units, scipy CSR) or an integer
        gain of the identity (an int)."""
        return 1

    def structure(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], idx: int):
        """0/1 connectivity (out units x in units, CSR int8) for input ``idx``: which input units reach
        which output units (a weight that is zero is no connection)."""
        a = self.int_map(in_shape, out_shape, idx)
        n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        if not sp.issparse(a):
            return sp.identity(n_in, dtype=np.int8, format="csr") if a else sp.csr_matrix((n_out, n_in), dtype=np.int8)
        m = (abs(a) != 0).astype(np.int8).tocsr()
        m.eliminate_zeros()
        return m

    def window(self, in_shape: tuple[int, ...], idx: int):
        """The op as a :class:`Window` over input ``idx``, :data:`PASS` if that input passes unchanged, or
        None if it is no sliding window (the partitioner then uses an explicit matrix)."""
        return None

    # ---- conversion ----------------------------------------------------------------------------------
    def normalize(self, units: list, lt, in_shapes: list[tuple[int, ...]]):
        """Rescale the op for data-based normalisation. ``units``: each input's unit (original value =
        normalised value x unit; a float, or an array per channel / feature); ``lt``: the unit of the chain's
        target. Returns the unit of the op's output."""
        return units[0]

    def input_unit(self, lt, idx: int, in_shapes: list[tuple[int, ...]], out_shape):
        """The unit input ``idx`` must have for the op's output to have unit ``lt``; None: any unit (the op
        absorbs it, as a weight op's columns do)."""
        return lt

    def normalize_target(self, u_in, lt) -> None:
        """Chain targets: take the chain's normalised input (unit ``u_in``) with the target's own scale ``lt``."""
        if getattr(self, "bias", None) is not None:
            self.bias = self.bias / u_in

    # ---- quantisation (``quant.quantize._Units`` is passed as ``units``) -----------------------------
    def q_unit(self, units) -> float:
        """Integers per normalised float unit of the op's output."""
        return units.unit(units.g.inputs(self.name)[0])

    def int_bound(self, units) -> float:
        """A bound of the op's integer output magnitude that needs no weights (inf: none known)."""
        return math.inf

    def own_divisor(self, units, i: str) -> int:
        """Summing ops (``sums_inputs``): weight op ``i``, which feeds only this op, takes the unit of this op's
        output divided by the returned integer k and gets the integer gain k here (1: it takes the unit)."""
        return 1

    def cap_factor(self) -> float | None:
        """How much the integer unit grows from the op's input to its output when the op sits between a
        weight op and the population it feeds (None: the walk stops, no cap)."""
        return None

    def q_caps(self, units, mult: float) -> list[float] | None:
        """A population's limits on the integer unit of the input that reaches it (grown by ``mult`` on the
        way from the weight op); None for ops that are not such a limit (the quantiser's walk goes on)."""
        return None

    def quantize(self, units) -> None:
        """Turn the op's float parameters into integers (units, scales and caps already worked out)."""

    # ---- placement, reports ------------------------------------------------------------------------
    def param_words(self) -> tuple[int, int]:
        """Neuron parameter memory of a placed layer: (words per unit, words per slice)."""
        return 1, 0

    def report_fields(self) -> dict:
        """Op-specific entries of the op's row in the compile report (after the common ones)."""
        return {}

    def report_threshold(self):
        """The threshold the report shows (None: none)."""
        return None


def broadcast_check(n: Node, key: str, value, shape: tuple[int, ...]) -> None:
    """GraphError naming ``n`` if array field ``key`` does not broadcast to ``shape``."""
    if value is None:
        return
    try:
        np.broadcast_to(np.asarray(value), shape)
    except ValueError:
        raise GraphError(f"{n.label}: {key} shape {np.shape(value)} does not broadcast to {shape}") from None


def conv_out(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Output length of a convolution / pooling window along one axis (floor mode)."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


class OpTable:
    """A backend's per-op table (e.g. its emitters): ``@table.register(Conv2d)`` on a function, lookup by a
    node or op class walking the MRO (a subclass inherits its parent's entry). A second entry for the same
    class raises; :meth:`missing` lists the registered ops without one."""

    def __init__(self, name: str):
        self.name = name
        self._fns: dict[type, object] = {}

    def register(self, *classes: type):
        def deco(fn):
            for cls in classes:
                if cls in self._fns:
                    raise ValueError(f"{self.name}: {cls.op} already has an entry")
                self._fns[cls] = fn
            return fn
        return deco

    def find(self, node_or_cls):
        """The entry for a node (or op class), or None."""
        cls = node_or_cls if isinstance(node_or_cls, type) else type(node_or_cls)
        for k in cls.__mro__:
            if k in self._fns:
                return self._fns[k]
        return None

    def __contains__(self, node_or_cls) -> bool:
        return self.find(node_or_cls) is not None

    def missing(self, ops=None) -> list[str]:
        """Names of the ops (default: every registered op) this table has no entry for."""
        return [name for name, cls in (ops or OPS).items() if self.find(cls) is None]
