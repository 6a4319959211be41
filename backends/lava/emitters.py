"""The Lava processes of each op: an ``OpTable`` of the populations and gates the Lava target runs.

Synaptic ops need no entry: every chain is composed into one integer matrix per (source, target) pair
(``ir.matrices``) and held by a ``Sparse`` process (``conns.py``); the input is the ``RingBuffer`` and the
readout a set of Extractors (``network.py``). An entry checks that the op's integer parameters are exactly
representable with the target's arithmetic ``limits`` (``check``), builds the op's process for ``n`` samples
side by side (``build``) and describes it for ``lava/processes.json`` (``describe``). STCSNN encoders run in
block-coded networks (``blocks.py``). An op without an entry is refused with a message naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocompile import fixedpoint as fx
from neurocompile.errors import QuantizationError
from neurocompile.ir import MaxPool2d, Neurons, OpTable
from neurocompile.ir.chains import payload_bits
from neurocompile.ir.names import layer

LAVA_OPS = OpTable("lava")


@dataclass
class Context:
    """What an emitter needs: the graph, the samples side by side, shapes and the target's arithmetic limits."""

    graph: object
    n: int
    shapes: dict
    limits: object

    def size(self, name: str) -> int:
        return int(np.prod(self.shapes[name]))

    def tile(self, a, name: str) -> np.ndarray:
        """A parameter broadcast to layer ``name`` and repeated for every sample."""
        return np.tile(np.broadcast_to(np.asarray(0 if a is None else a), self.shapes[name]).reshape(-1), self.n)


def emitter(node):
    """The Lava entry of a population or gate; QuantizationError naming the layer when there is none."""
    entry = LAVA_OPS.find(node)
    if entry is None:
        raise QuantizationError(f"{layer(node)}: op {node.op} has no Lava process (target loihi2-sim)")
    return entry


class IFPopulation:
    """``Neurons``: Lava's own ``LIF`` (``du = 4095, dv = 0``) for reset ``zero``; the project's ``IFSubtract``
    for reset ``subtract``; the project's ``IFGraded`` for HPC's buffered / multi-bit neurons (either reset).
    ``vth = threshold >> state_shift``, bias as ``bias_mant << bias_exp``, initial ``v`` the initial potential."""

    def check(self, t: Neurons, graph, limits) -> None:
        where, sb, sh, vth_max = layer(t), limits.state_bits, limits.state_shift, limits.vth_max
        if t.state_bits != sb or t.state_shift != sh or t.input_wrap != limits.input_wrap:
            raise QuantizationError(f"{where}: state {t.state_bits} bits, shift {t.state_shift}, wrap {t.input_wrap};"
                                    f" Lava needs {sb}, {sh}, {limits.input_wrap} (build with --target loihi2-sim)")
        th = np.unique(np.asarray(t.threshold))
        if th.size != 1:
            raise QuantizationError(f"{where}: {th.size} distinct thresholds; Lava's vth is one per population")
        v = int(th[0])
        if v % (1 << sh) or not 0 < v >> sh <= vth_max:
            raise QuantizationError(f"{where}: threshold {v} is not vth << {sh} with 0 < vth <= {vth_max}")
        if t.bias is not None:
            fx.mant_exp(t.bias, limits.bias_mant_bits, limits.bias_exp_max)  # raises if not representable

    @staticmethod
    def process_type(t: Neurons) -> str:
        if t.graded:
            return "neurocompile.backends.lava.ifsub.process.IFGraded"
        if t.reset == "zero":
            return "lava.proc.lif.process.LIF"
        return "neurocompile.backends.lava.ifsub.process.IFSubtract"

    def _vth(self, t: Neurons, limits) -> int:
        return int(np.asarray(t.threshold).flat[0]) >> limits.state_shift

    def build(self, t: Neurons, ctx: Context):
        from lava.proc.lif.process import LIF

        from .ifsub.process import IFGraded, IFSubtract

        lim = ctx.limits
        mant, exp = fx.mant_exp(ctx.tile(t.bias, t.name), lim.bias_mant_bits, lim.bias_exp_max)
        kw = dict(shape=(ctx.n * ctx.size(t.name),), vth=self._vth(t, lim), bias_mant=mant, bias_exp=exp,
                  v=ctx.tile(t.v_init, t.name), name=t.name)
        if t.graded:
            return IFGraded(spike_max=t.spike_max, buffered=t.buffered, reset=t.reset, **kw)
        return LIF(du=4095, dv=0, u=0, **kw) if t.reset == "zero" else IFSubtract(**kw)

    def describe(self, t: Neurons, ctx: Context) -> dict:
        lim, shape = ctx.limits, ctx.shapes[t.name]
        bias = np.zeros(ctx.size(t.name), np.int64) if t.bias is None else np.broadcast_to(t.bias, shape)
        _, exp = fx.mant_exp(np.asarray(bias).reshape(-1), lim.bias_mant_bits, lim.bias_exp_max)
        return {"name": t.name, "shape": [ctx.size(t.name)], "type": self.process_type(t), "reset": t.reset,
                "buffered": t.buffered, "spike_max": t.spike_max, "du": 4095, "dv": 0, "vth": self._vth(t, lim),
                "bias_exp_max": int(exp.max()) if exp.size else 0,
                "v_init_nonzero": bool(t.v_init is not None and np.any(t.v_init))}


class MaxCountGate:
    """``MaxPool2d`` on spikes or on the input: the project's ``MaxCountGate`` with its source's ``s_out`` wired
    straight to its ``a_in`` (no synapse, no delay), graded when its origin is (the input, graded populations)."""

    TYPE = "neurocompile.backends.lava.maxgate.process.MaxCountGate"

    def check(self, g: MaxPool2d, graph, limits) -> None:
        pass

    def build(self, g: MaxPool2d, ctx: Context):
        from .maxgate.process import MaxCountGate as Process

        src = ctx.graph.inputs(g.name)[0]
        return Process(in_shape=(ctx.n, *ctx.shapes[src]), kernel_size=g.kernel_size, stride=g.stride,
                       padding=g.pad, ceil_mode=g.ceil, name=g.name)

    def describe(self, g: MaxPool2d, ctx: Context) -> dict:
        src = ctx.graph.inputs(g.name)[0]
        return {"name": g.name, "type": self.TYPE, "in_shape": list(ctx.shapes[src]), "shape": [ctx.size(g.name)],
                "kernel_size": list(g.kernel_size), "stride": list(g.stride), "padding": list(g.pad),
                "ceil_mode": g.ceil,
                "payload": "graded" if payload_bits(ctx.graph, g.name) else "binary"}


LAVA_OPS.register(Neurons)(IFPopulation())
LAVA_OPS.register(MaxPool2d)(MaxCountGate())
