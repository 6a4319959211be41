"""Build a Lava process graph from a loihi2-sim integer IR (Lava imported lazily by the caller).

Mapping (docs/semantics.md, "Lava target"):

* Input: ``RingBuffer`` of the integer input (graded payload), one column (constant over time).
* Each (source, target) pair of a synaptic chain: one ``Sparse`` process holding the chain's composed
  integer matrix ``M`` as ``M << k`` with ``weight_exp = -k``, ``k = w + 1 - bits(M)`` for the target's
  ``w``-bit weights (``limits.max_weight_bits``): even values within [-2^w, 2^w - 2] survive Lava's clip and
  LSB truncation unchanged, and the floor shift of the sum is exact.
  Graded (``num_message_bits = input bits``) from the input and from graded populations (signed
  spikes), binary from the other spiking populations.
* Populations and max-count gates: the process of their op's entry in ``emitters.LAVA_OPS`` (Lava's
  ``LIF`` / the project's ``IFSubtract`` and ``IFGraded`` for ``Neurons``, the project's ``MaxCountGate``
  for ``MaxPool2d``, wired straight to its source's ``s_out``: no synapse, no delay); a gate's ``s_out``
  feeds the ``Sparse`` processes of the chains it is a source of, graded (``num_message_bits`` > 0) when
  it pools the input or a graded population, binary otherwise.
* A batch of N samples runs as N independent copies side by side (block-diagonal matrices, tiled
  parameters): one Lava run per batch, no state to reset between samples.
* Spikes and the readout leave through Lava's ``Extractor`` (``LavaNet``), ``Sparse`` runs on the project's
  ``PySparseModelProduct`` (``run_config``; ``sparse/models.py``).

The numbers of Lava's fixed-point arithmetic (state width, shift, vth and bias formats, weight width) are the
target's :class:`~neurocompile.targets.ArithmeticLimits`, which every function here receives as ``limits``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurocompile.errors import QuantizationError
from neurocompile.ir import Graph, Input
from neurocompile.ir.chains import chains, spike_origin
from neurocompile.ir.matrices import chain_matrices
from neurocompile.ir.timing import is_block_graph

from .blocks import build_blocks, describe_blocks
from .conns import describe_sparse, sparse
from .emitters import Context, emitter

#: the limits the Lava mapping reads (``ArithmeticLimits`` fields)
NEEDS = ("max_weight_bits", "state_bits", "state_shift", "synapse_delay", "input_wrap", "bias_mant_bits",
         "bias_exp_max", "vth_max")
PROCESSES_JSON = "lava/processes.json"


def check_lava_graph(graph: Graph, limits) -> None:
    """Raise QuantizationError naming the layer if the integer IR is not exactly representable in Lava with
    the target's arithmetic ``limits`` (each population's and gate's entry checks its own parameters)."""
    limits.require(*NEEDS, who="the Lava backend")
    if not is_block_graph(graph) and int(graph.meta.get("synapse_delay", 0)) != limits.synapse_delay:
        raise QuantizationError(f"graph {graph.name}: Lava needs synapse_delay {limits.synapse_delay}; build with "
                                "--target loihi2-sim")  # STCSNN: block timing, no synapse delay in the contract
    for n in graph.topo():
        if not (n.synaptic or n.readout or n.analog):
            emitter(n).check(n, graph, limits)


#: steps an Extractor's channel holds before its process waits for the host to read (the host reads as the run
#: goes, so a few suffice)
EXTRACT_BUFFER = 8


@dataclass
class LavaNet:
    """The processes of one batch, by IR node name, plus the processes that read them out.

    Spikes and readout leave through Lava's ``Extractor`` (one vector per step over a channel, read while the
    run goes on), not through ``Monitor``: Lava 0.10.0 reads a Monitor's record as a Var, one channel message
    per element, which took most of a ResNet-20 run. Voltages, recorded for diagnosis only, keep Monitors."""

    ring: object
    pops: dict[str, object] = field(default_factory=dict)
    gates: dict[str, object] = field(default_factory=dict)
    conns: dict[tuple[str, str], object] = field(default_factory=dict)
    spike_out: dict[str, object] = field(default_factory=dict)
    v_mon: dict[str, object] = field(default_factory=dict)
    readout_out: list[object] = field(default_factory=list)

    def record_spikes(self, name: str, port) -> None:
        """Read what ``port`` (a population's or gate's ``s_out``) sends at every step, as layer ``name``."""
        self.spike_out[name] = _extractor(port)

    def add_population(self, name: str, pop, steps: int, record_voltage: bool) -> None:
        """Keep ``pop`` and record its spikes (and its ``v`` with ``record_voltage``) for ``steps`` steps."""
        from lava.proc.monitor.process import Monitor

        self.pops[name] = pop
        self.record_spikes(name, pop.s_out)
        if record_voltage:
            self.v_mon[name] = Monitor()
            self.v_mon[name].probe(pop.v, steps)

    def deliver(self, port, target: str, is_readout: bool, steps: int) -> None:
        """Wire ``port`` into population ``target``'s ``a_in``, or read it as part of the readout."""
        if is_readout:
            self.readout_out.append(_extractor(port))
        else:
            port.connect(self.pops[target].a_in)

    def receive(self, steps: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Spikes by layer and the summed readout, each ``(steps, size)`` int64, read step by step from a
        run started with ``blocking=False`` (every Extractor gets its step-t vector when the whole network has
        done step t, so reading them in step order never waits on a full channel)."""
        spikes = {k: np.empty((steps, int(np.prod(e.in_port.shape))), np.int64) for k, e in self.spike_out.items()}
        readout = None
        for t in range(steps):
            for k, e in self.spike_out.items():
                spikes[k][t] = e.receive().reshape(-1)
            row = sum(np.asarray(e.receive(), np.int64).reshape(-1) for e in self.readout_out)
            if readout is None:
                readout = np.zeros((steps, row.size), np.int64)
            readout[t] = row
        return spikes, readout


def run_config():
    """``Loihi2SimCfg(select_tag="fixed_pt")``, with Lava's Extractor on its (untagged) Loihi-protocol model
    and ``Sparse`` on the project's ``PySparseModelProduct`` (``sparse/models.py``: Lava's arithmetic, faster)."""
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
    from lava.proc.sparse.process import Sparse

    from .sparse.models import PySparseModelProduct

    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={Extractor: PyLoihiExtractorModel,
                                                                          Sparse: PySparseModelProduct})


def _extractor(port):
    from lava.proc.io.extractor import Extractor

    e = Extractor(shape=port.shape, buffer_size=EXTRACT_BUFFER)
    port.connect(e.in_port)
    return e


def build(graph: Graph, x_int: np.ndarray, steps: int, limits, record_voltage: bool = False,
          perturb: tuple[str, str, int, int] | None = None) -> LavaNet:
    """Processes for ``len(x_int)`` samples with the target's arithmetic ``limits``. ``perturb=(target, source,
    row, col)`` changes entry (row, col) of that connection's per-sample matrix by one LSB in the Lava graph
    only (a negative control: the comparison with intsim must then fail)."""
    from lava.proc.io.source import RingBuffer

    check_lava_graph(graph, limits)
    n = len(x_int)
    ctx = Context(graph, n, graph.infer_shapes(), limits)
    inp: Input = graph.input
    net = LavaNet(ring=RingBuffer(data=x_int.reshape(n * ctx.size(inp.name), 1).astype(np.int32)))
    if is_block_graph(graph):
        return build_blocks(graph, x_int, net, limits, record_voltage, perturb)
    out_ports = {inp.name: net.ring.s_out}

    def gate(name):  # a gate's process on its source's s_out (made once, with the gates it reads)
        g = graph.node(name)
        if name in out_ports or not g.gate:
            return
        src = graph.inputs(name)[0]
        gate(src)
        proc = emitter(g).build(g, ctx)
        out_ports[src].connect(proc.a_in)
        out_ports[name] = proc.s_out
        net.gates[name] = proc
        if not spike_origin(graph, name).analog:  # gates on spikes are recorded, as intsim records them
            net.record_spikes(name, proc.s_out)

    for ch in chains(graph):
        t = ch.target
        if not t.readout:
            net.add_population(t.name, emitter(t).build(t, ctx), steps, record_voltage)
        for src, m in chain_matrices(graph, ch).items():
            gate(src)
            conn = sparse(graph, t.name, src, m, n, limits, perturb)
            out_ports[src].connect(conn.s_in)
            net.conns[(t.name, src)] = conn
            net.deliver(conn.a_out, t.name, t.readout, steps)
        if not t.readout:
            out_ports[t.name] = net.pops[t.name].s_out
    return net


def bundle_files(graph: Graph, *, placement, profile, timesteps: int, limits) -> dict[str, dict]:
    """``{"lava/processes.json": describe(graph, limits)}`` (the ``loihi2-sim`` target's emitter)."""
    return {PROCESSES_JSON: describe(graph, limits)}


def describe(graph: Graph, limits) -> dict:
    """The Lava process graph ``build`` makes for one sample, as a JSON document (no Lava needed):
    every process with its parameters and every connection. Written to bundles as ``lava/processes.json``."""
    check_lava_graph(graph, limits)
    ctx = Context(graph, 1, graph.infer_shapes(), limits)
    inp = graph.input
    procs = [{"name": inp.name, "type": "lava.proc.io.source.RingBuffer", "shape": [ctx.size(inp.name)],
              "data": f"integer input, {inp.bits}-bit {'signed' if inp.signed else 'unsigned'}, one column"}]
    conns, described = [], set()
    if is_block_graph(graph):
        more, conns = describe_blocks(graph, limits)
        return {"run_config": 'Loihi2SimCfg(select_tag="fixed_pt")', "processes": procs + more,
                "connections": conns, "readout": {"node": graph.output.name, "sum_of": "the accumulators' sums into "
                                                  "the readout, sent once", "bias_once": None if graph.output.bias is None
                                                  else np.asarray(graph.output.bias).tolist()},
                "rebuild": "neurocompile.backends.lava.network.build(graph, x_int, steps) from ir/snn.*"}

    def gate(name):
        g = graph.node(name)
        if name in described or not g.gate:
            return
        src = graph.inputs(name)[0]
        gate(src)
        described.add(name)
        procs.append(emitter(g).describe(g, ctx))
        conns.append([f"{src}.s_out", f"{name}.a_in"])

    for ch in chains(graph):
        t = ch.target
        for src, m in chain_matrices(graph, ch).items():
            gate(src)
            name = f"{src}->{t.name}"
            procs.append(describe_sparse(graph, t.name, src, m, limits))
            conns.append([f"{src}.s_out", f"{name}.s_in"])
            conns.append([f"{name}.a_out", "host readout (Extractor)" if t.readout else f"{t.name}.a_in"])
        if not t.readout:
            procs.append(emitter(t).describe(t, ctx))
    out = graph.output
    return {"run_config": 'Loihi2SimCfg(select_tag="fixed_pt")', "processes": procs, "connections": conns,
            "readout": {"node": out.name, "sum_of": "a_out of the Sparse processes into the readout",
                        "steps": "the last T of T + latency", "bias_per_step": None if out.bias is None
                        else np.asarray(out.bias).tolist()},
            "rebuild": "neurocompile.backends.lava.network.build(graph, x_int, steps) from ir/snn.*"}
