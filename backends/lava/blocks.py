"""Lava process graph of an STCSNN integer IR (``Encoder`` populations), Lava imported by the caller.

Mapping (docs/semantics.md, "Lava target"): the input ``RingBuffer`` and one ``Sparse`` per (source,
target) pair as for rate-coded graphs; each ``Sparse`` feeds a ``SpikeAccumulator`` (the CAB of that
source: weights step k by the source encoder's ``thresholds[k]``, the analog input once), whose sum goes
on a direct (zero-delay) wire into the target ``STEncoder`` or, for the readout, to an Extractor.

Timing, Lava steps t = 1, 2, ...: the RingBuffer's value reaches the first Sparse's output at t = 2; an
encoder at depth d loads and fires its first spike at ``S_d = 2 + (d - 1) T`` and its last at
``S_d + T - 1``; the Sparse output of its step-k spike arrives at ``S_d + 1 + k``; each accumulator sends at
the load step of its target, so the readout is complete at ``S_D = 2 + (D - 1) T``. Contract step c
(docs/semantics.md) is Lava step c + 2.
"""

from __future__ import annotations

import numpy as np

from neurocompile.errors import QuantizationError
from neurocompile.ir import Encoder, Graph
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices
from neurocompile.ir.names import layer
from neurocompile.ir.timing import block_timesteps, chain_depths

from .conns import describe_sparse, sparse
from .emitters import LAVA_OPS, emitter

#: Lava step of contract step 0 (the first block's first spike)
LAVA_OFFSET = 2


def lava_steps(graph: Graph) -> int:
    """Lava steps until the readout's accumulator has sent its sum."""
    return LAVA_OFFSET + (chain_depths(graph)[graph.output.name] - 1) * block_timesteps(graph)


class STEncoderBlock:
    """``Encoder``: the project's ``STEncoder`` (loads its accumulator's sum at its block's first step and
    fires the train with the decaying thresholds)."""

    TYPE = "neurocompile.backends.lava.stc.process.STEncoder"

    def check(self, n: Encoder, graph, limits) -> None:
        if n.state_bits is None or n.state_bits > limits.state_bits:
            raise QuantizationError(f"{layer(n)}: encoder state of {n.state_bits} bits; Loihi keeps at most "
                                    f"{limits.state_bits} (build with --target loihi2-sim)")

    def build(self, t: Encoder, ctx, t_load: int):
        from .stc.process import STEncoder

        return STEncoder(shape=(ctx.n * ctx.size(t.name),), thresholds=t.thresholds, bias=ctx.tile(t.bias, t.name),
                         load_shift=t.load_shift, state_bits=t.state_bits, t_load=t_load, name=t.name)

    def describe(self, t: Encoder, ctx, t_load: int) -> dict:
        return {"name": t.name, "type": self.TYPE, "shape": [ctx.size(t.name)],
                "thresholds": np.asarray(t.thresholds).tolist(), "load_shift": int(t.load_shift),
                "state_bits": int(t.state_bits), "t_load": t_load}


LAVA_OPS.register(Encoder)(STEncoderBlock())


def _load_step(graph: Graph, name: str, d: dict[str, int], T: int) -> int:
    return LAVA_OFFSET + (d[name] - 1) * T


def _accumulator_window(graph: Graph, src: str, d: dict[str, int], T: int) -> tuple[np.ndarray, int]:
    """(weights per step, Lava step of the first accumulated input) of the CAB that reads ``src``."""
    n = graph.node(src)
    if n.analog:
        return np.ones(1, np.int64), LAVA_OFFSET  # the RingBuffer's first value, through one Sparse
    return np.asarray(n.thresholds, np.int64), _load_step(graph, src, d, T) + 1


def build_blocks(graph: Graph, x_int: np.ndarray, net, limits, record_voltage: bool = False, perturb=None):
    """Fill ``net`` (a ``network.LavaNet`` holding the RingBuffer) with the block processes for
    ``len(x_int)`` samples side by side; ``limits`` and ``perturb`` as in ``network.build`` (which checked the
    graph)."""
    from .emitters import Context
    from .stc.process import SpikeAccumulator

    n = len(x_int)
    ctx = Context(graph, n, graph.infer_shapes(), limits)
    d, steps = chain_depths(graph), lava_steps(graph)
    T = block_timesteps(graph)
    out_ports = {graph.input.name: net.ring.s_out}
    for ch in chains(graph):
        t = ch.target
        t_send = _load_step(graph, t.name, d, T)
        if not t.readout:
            if not t.block_coded:
                raise QuantizationError(f"{layer(t)}: a {t.op} in a network of STCSNN encoders")
            net.add_population(t.name, emitter(t).build(t, ctx, t_send), steps, record_voltage)
        for src, m in chain_matrices(graph, ch).items():
            conn = sparse(graph, t.name, src, m, n, limits, perturb)
            out_ports[src].connect(conn.s_in)
            weights, t_first = _accumulator_window(graph, src, d, T)
            cab = SpikeAccumulator(shape=(n * m.shape[0],), weights=weights, t_first=t_first, t_send=t_send,
                                   name=f"cab:{src}->{t.name}")
            conn.a_out.connect(cab.a_in)
            net.conns[(t.name, src)] = conn
            net.deliver(cab.s_out, t.name, t.readout, steps)
        if not t.readout:
            out_ports[t.name] = net.pops[t.name].s_out
    return net


def describe_blocks(graph: Graph, limits) -> tuple[list[dict], list[list[str]]]:
    """Processes and connections of the block graph for one sample (``lava/processes.json``)."""
    from .emitters import Context

    ctx = Context(graph, 1, graph.infer_shapes(), limits)
    d = chain_depths(graph)
    T = block_timesteps(graph)
    procs, conns = [], []
    for ch in chains(graph):
        t = ch.target
        t_send = _load_step(graph, t.name, d, T)
        for src, m in chain_matrices(graph, ch).items():
            name = f"{src}->{t.name}"
            weights, t_first = _accumulator_window(graph, src, d, T)
            procs.append(describe_sparse(graph, t.name, src, m, limits))
            procs.append({"name": f"cab:{name}", "type": "neurocompile.backends.lava.stc.process.SpikeAccumulator",
                          "shape": [int(m.shape[0])], "weights": weights.tolist(), "t_first": t_first,
                          "t_send": t_send})
            conns += [[f"{src}.s_out", f"{name}.s_in"], [f"{name}.a_out", f"cab:{name}.a_in"],
                      [f"cab:{name}.s_out", "host readout (Extractor)" if t.readout else f"{t.name}.a_in"]]
        if not t.readout:
            procs.append(emitter(t).describe(t, ctx, t_send))
    return procs, conns
