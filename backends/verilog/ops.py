"""What the FPGA core does with each op: an ``OpTable`` of the ops it runs, and how.

The core (``hdl_templates/nc_core.v.tmpl``) time-multiplexes integrate-and-fire neurons and readout
accumulators, its gate engine (``hdl_templates/nc_gate.v.tmpl``, ``gates.py``) the max-count gates placed on
it; synaptic ops need no entry (every chain is composed into integer matrices, ``ir.matrices``,
and stored as synapse lists). An entry says whether the op's units send values on the source bus (a global
source id each), checks what the RTL cannot run, and gives the neuron parameters of a placed slice. An op
without an entry is refused with a message naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from neurocompile.errors import ConversionError
from neurocompile.ir import Encoder, Input, MaxPool2d, Neurons, OpTable, Output
from neurocompile.ir.names import describe, layer

KIND_SUBTRACT, KIND_ZERO, KIND_READOUT = 0, 1, 2
KIND_NAMES = {KIND_SUBTRACT: "if-subtract", KIND_ZERO: "if-zero", KIND_READOUT: "readout"}


@dataclass(frozen=True)
class CoreOp:
    """``source``: the op's units send values (input pixels, spikes); ``check(node, graph)``: raise
    ConversionError for what the RTL cannot run; ``params(node, shape, units)``: (kind, threshold, bias,
    v_init) per unit of a placed slice (``units``: flat indices of the slice's units)."""

    source: bool = False
    check: Callable | None = None
    params: Callable | None = None


FPGA_OPS = OpTable("fpga")


def per_unit(arr, shape, default=0) -> np.ndarray:
    """A scalar / broadcastable parameter as one int64 per unit (C order)."""
    if arr is None:
        return np.full(int(np.prod(shape)), default, dtype=np.int64)
    return np.broadcast_to(np.asarray(arr, dtype=np.int64), shape).ravel()


def _refuse(what: str):
    def check(n, graph):
        raise ConversionError(f"{layer(n)}: {what} not supported by the fpga target yet (RTL has IF "
                              "neurons, max-pool gates and readouts); use a rate-coded method, or "
                              "--target intsim / loihi2-sim")
    return check


def _check_gate(n: MaxPool2d, graph) -> None:
    src = graph.node(graph.inputs(n.name)[0])
    while src.gate:
        src = graph.node(graph.inputs(src.name)[0])
    if src.analog:
        raise ConversionError(f"{layer(n)}: max pooling of the analog input {describe(src)} is not supported by the "
                              "fpga target (its gate engines count binary spikes; the input sends pixel values); "
                              "pool after the first ReLU, or use --target intsim / loihi2-sim")


def _check_neurons(n: Neurons, graph) -> None:
    widths = [m.state_bits for m in graph.nodes_of(Neurons)]
    if n.graded:
        raise ConversionError(f"{layer(n)}: buffered / multi-bit neurons not supported by the "
                              "fpga target (RTL spikes are binary)")
    if n.state_shift or n.input_wrap:
        raise ConversionError(f"{layer(n)}: state_shift {n.state_shift} / input_wrap "
                              f"{n.input_wrap} not supported by the fpga target")
    if n.state_bits != widths[0]:
        raise ConversionError(f"{layer(n)}: state of {n.state_bits} bits, but {widths[0]} elsewhere; "
                              "the fpga target has one state width")
    if n.reset not in ("subtract", "zero"):
        raise ConversionError(f"{layer(n)}: reset {n.reset!r} not supported by the fpga target")


def _neuron_params(n: Neurons, shape, units):
    return (np.full(units.size, KIND_ZERO if n.reset == "zero" else KIND_SUBTRACT),
            per_unit(n.threshold, shape)[units], per_unit(n.bias, shape)[units], per_unit(n.v_init, shape)[units])


def _readout_params(n: Output, shape, units):
    return (np.full(units.size, KIND_READOUT), np.zeros(units.size, np.int64), per_unit(n.bias, shape)[units],
            np.zeros(units.size, np.int64))


FPGA_OPS.register(Input)(CoreOp(source=True))
FPGA_OPS.register(Neurons)(CoreOp(source=True, check=_check_neurons, params=_neuron_params))
FPGA_OPS.register(Output)(CoreOp(params=_readout_params))
FPGA_OPS.register(MaxPool2d)(CoreOp(source=True, check=_check_gate))  # runs in a gate engine (gates.py)
FPGA_OPS.register(Encoder)(CoreOp(check=_refuse("STCSNN encoder")))


def core_op(n) -> CoreOp:
    """The entry of a non-synaptic op; ConversionError naming the layer when the core cannot run it."""
    entry = FPGA_OPS.find(n)
    if entry is None:
        raise ConversionError(f"{layer(n)}: op {n.op} is not supported by the fpga target")
    return entry
