"""Build a Lava process graph from a loihi2-sim integer IR (Lava imported lazily by the caller).

Mapping (docs/semantics.md, "Lava target"):

* Input: ``RingBuffer`` of the integer input (graded payload), one column (constant over time).
* Each (source, target) pair of a synaptic chain: one ``Sparse`` process holding the chain's composed
  integer matrix ``M`` as ``M << k`` with ``weight_exp = -k``, ``k = w + 1 - bits(M)`` for the target's
  ``w``-bit weights (``limits.max_weight_bits``): even values within [-2^w, 2^w - 2] survive Lava's clip and
  LSB truncation unchanged, and the floor shift of the sum is exact.
  Graded (``num_message_bits = input bits``) from the input and from graded populations (signed
  spikes), binary from the other spiking populations.
* MaxPool2d (the max-count gate): the project's ``MaxCountGate`` (``backends/lava/maxgate``) with its
  source's ``s_out`` wired straight to its ``a_in`` (no synapse, no delay); its ``s_out`` feeds the
  ``Sparse`` processes of the chains it is a source of, graded (``num_message_bits`` > 0) when it pools
  the input or a graded population, binary otherwise.
* Neuron populations: Lava's own ``LIF`` (``du = 4095, dv = 0``) for reset ``zero``; the project's
  ``IFSubtract`` (``backends/lava/ifsub``) for reset ``subtract``; the project's ``IFGraded`` for HPC's
  buffered / multi-bit neurons (either reset). ``vth = threshold >> state_shift``, bias as
  ``bias_mant << bias_exp``, initial ``v`` = the initial potential.
* A batch of N samples runs as N independent copies side by side (block-diagonal matrices, tiled
  parameters): one Lava run per batch, no state to reset between samples.

The numbers of Lava's fixed-point arithmetic (state width, shift, vth and bias formats, weight width) are the
target's :class:`~neurocompile.targets.ArithmeticLimits`, which every function here receives as ``limits``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurocompile import fixedpoint as fx
from neurocompile.errors import QuantizationError
from neurocompile.ir import Encoder, Graph, Input, MaxPool2d, Neurons, Output
from neurocompile.ir.chains import chains, spike_origin
from neurocompile.ir.matrices import chain_matrices

from .blocks import build_blocks, check_blocks, describe_blocks
from .conns import describe_sparse, message_bits, sparse

#: the limits the Lava mapping reads (``ArithmeticLimits`` fields)
NEEDS = ("max_weight_bits", "state_bits", "state_shift", "synapse_delay", "input_wrap", "bias_mant_bits",
         "bias_exp_max", "vth_max")


def check_lava_graph(graph: Graph, limits) -> None:
    """Raise QuantizationError naming the layer if the integer IR is not exactly representable in Lava with
    the target's arithmetic ``limits``."""
    limits.require(*NEEDS, who="the Lava backend")
    if graph.nodes_of(Encoder):
        return check_blocks(graph, limits)  # STCSNN: block timing, no synapse delay in the contract
    if int(graph.meta.get("synapse_delay", 0)) != limits.synapse_delay:
        raise QuantizationError(f"graph {graph.name}: Lava needs synapse_delay {limits.synapse_delay}; build with "
                                "--target loihi2-sim")
    sb, sh, vth_max = limits.state_bits, limits.state_shift, limits.vth_max
    for n in graph.nodes_of(Neurons):
        where = f"layer {n.name}"
        if n.state_bits != sb or n.state_shift != sh or n.input_wrap != limits.input_wrap:
            raise QuantizationError(f"{where}: state {n.state_bits} bits, shift {n.state_shift}, wrap {n.input_wrap};"
                                    f" Lava needs {sb}, {sh}, {limits.input_wrap} (build with --target loihi2-sim)")
        th = np.unique(np.asarray(n.threshold))
        if th.size != 1:
            raise QuantizationError(f"{where}: {th.size} distinct thresholds; Lava's vth is one per population")
        t = int(th[0])
        if t % (1 << sh) or not 0 < t >> sh <= vth_max:
            raise QuantizationError(f"{where}: threshold {t} is not vth << {sh} with 0 < vth <= {vth_max}")
        if n.bias is not None:
            fx.mant_exp(n.bias, limits.bias_mant_bits, limits.bias_exp_max)  # raises if not representable


GATE_TYPE = "neurocompile.backends.lava.maxgate.process.MaxCountGate"
PROCESSES_JSON = "lava/processes.json"


def _pop_type(t: Neurons) -> str:
    if t.graded:
        return "neurocompile.backends.lava.ifsub.process.IFGraded"
    if t.reset == "zero":
        return "lava.proc.lif.process.LIF"
    return "neurocompile.backends.lava.ifsub.process.IFSubtract"


@dataclass
class LavaNet:
    """The processes of one batch, by IR node name, plus the monitors that read them."""

    ring: object
    pops: dict[str, object] = field(default_factory=dict)
    gates: dict[str, object] = field(default_factory=dict)
    conns: dict[tuple[str, str], object] = field(default_factory=dict)
    spike_mon: dict[str, object] = field(default_factory=dict)
    v_mon: dict[str, object] = field(default_factory=dict)
    readout_mon: list[object] = field(default_factory=list)

    def add_population(self, name: str, pop, steps: int, record_voltage: bool) -> None:
        """Keep ``pop`` and monitor its spikes (and its ``v`` with ``record_voltage``) for ``steps`` steps."""
        from lava.proc.monitor.process import Monitor

        self.pops[name] = pop
        self.spike_mon[name] = Monitor()
        self.spike_mon[name].probe(pop.s_out, steps)
        if record_voltage:
            self.v_mon[name] = Monitor()
            self.v_mon[name].probe(pop.v, steps)

    def deliver(self, port, target: str, is_readout: bool, steps: int) -> None:
        """Wire ``port`` into population ``target``'s ``a_in``, or monitor it as part of the readout."""
        from lava.proc.monitor.process import Monitor

        if is_readout:
            mon = Monitor()
            mon.probe(port, steps)
            self.readout_mon.append(mon)
        else:
            port.connect(self.pops[target].a_in)


def build(graph: Graph, x_int: np.ndarray, steps: int, limits, record_voltage: bool = False,
          perturb: tuple[str, str, int, int] | None = None) -> LavaNet:
    """Processes for ``len(x_int)`` samples with the target's arithmetic ``limits``. ``perturb=(target, source,
    row, col)`` changes entry (row, col) of that connection's per-sample matrix by one LSB in the Lava graph
    only (a negative control: the comparison with intsim must then fail)."""
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    from .ifsub.process import IFGraded, IFSubtract
    from .maxgate.process import MaxCountGate

    check_lava_graph(graph, limits)
    n = len(x_int)
    shapes = graph.infer_shapes()
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    inp: Input = graph.input
    net = LavaNet(ring=RingBuffer(data=x_int.reshape(n * size[inp.name], 1).astype(np.int32)))
    if graph.nodes_of(Encoder):
        return build_blocks(graph, x_int, net, limits, record_voltage, perturb)
    out_ports = {inp.name: net.ring.s_out}

    def gate(name):  # a MaxCountGate on its source's s_out (made once, with the gates it reads)
        g = graph.node(name)
        if name in out_ports or not isinstance(g, MaxPool2d):
            return
        src = graph.inputs(name)[0]
        gate(src)
        proc = MaxCountGate(in_shape=(n, *shapes[src]), kernel_size=g.kernel_size, stride=g.stride, name=name)
        out_ports[src].connect(proc.a_in)
        out_ports[name] = proc.s_out
        net.gates[name] = proc
        if isinstance(spike_origin(graph, name), Neurons):
            net.spike_mon[name] = Monitor()
            net.spike_mon[name].probe(proc.s_out, steps)

    def tile(a, name):
        return np.tile(np.broadcast_to(np.asarray(0 if a is None else a), shapes[name]).reshape(-1), n)

    for ch in chains(graph):
        t = ch.target
        if isinstance(t, Neurons):
            mant, exp = fx.mant_exp(tile(t.bias, t.name), limits.bias_mant_bits, limits.bias_exp_max)
            kw = dict(shape=(n * size[t.name],), vth=int(np.asarray(t.threshold).flat[0]) >> limits.state_shift,
                      bias_mant=mant, bias_exp=exp, v=tile(t.v_init, t.name), name=t.name)
            if t.graded:
                pop = IFGraded(spike_max=t.spike_max, buffered=t.buffered, reset=t.reset, **kw)
            else:
                pop = LIF(du=4095, dv=0, u=0, **kw) if t.reset == "zero" else IFSubtract(**kw)
            net.add_population(t.name, pop, steps, record_voltage)
        for src, m in chain_matrices(graph, ch).items():
            gate(src)
            conn = sparse(graph, t.name, src, m, n, limits, perturb)
            out_ports[src].connect(conn.s_in)
            net.conns[(t.name, src)] = conn
            net.deliver(conn.a_out, t.name, isinstance(t, Output), steps)
        if isinstance(t, Neurons):
            out_ports[t.name] = net.pops[t.name].s_out
    return net


def bundle_files(graph: Graph, *, placement, profile, timesteps: int, limits) -> dict[str, dict]:
    """``{"lava/processes.json": describe(graph, limits)}`` (the ``loihi2-sim`` target's emitter)."""
    return {PROCESSES_JSON: describe(graph, limits)}


def describe(graph: Graph, limits) -> dict:
    """The Lava process graph ``build`` makes for one sample, as a JSON document (no Lava needed):
    every process with its parameters and every connection. Written to bundles as ``lava/processes.json``."""
    check_lava_graph(graph, limits)
    shapes = graph.infer_shapes()
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    inp = graph.input
    procs = [{"name": inp.name, "type": "lava.proc.io.source.RingBuffer", "shape": [size[inp.name]],
              "data": f"integer input, {inp.bits}-bit {'signed' if inp.signed else 'unsigned'}, one column"}]
    conns, described = [], set()
    if graph.nodes_of(Encoder):
        more, conns = describe_blocks(graph, limits)
        return {"run_config": 'Loihi2SimCfg(select_tag="fixed_pt")', "processes": procs + more,
                "connections": conns, "readout": {"node": graph.output.name, "sum_of": "the accumulators' sums into "
                                                  "the readout, sent once", "bias_once": None if graph.output.bias is None
                                                  else np.asarray(graph.output.bias).tolist()},
                "rebuild": "neurocompile.backends.lava.network.build(graph, x_int, steps) from ir/snn.*"}

    def gate(name):
        g = graph.node(name)
        if name in described or not isinstance(g, MaxPool2d):
            return
        src = graph.inputs(name)[0]
        gate(src)
        described.add(name)
        procs.append({"name": name, "type": GATE_TYPE, "in_shape": list(shapes[src]), "shape": [size[name]],
                      "kernel_size": list(g.kernel_size), "stride": list(g.stride),
                      "payload": "graded" if message_bits(graph, name) else "binary"})
        conns.append([f"{src}.s_out", f"{name}.a_in"])

    for ch in chains(graph):
        t = ch.target
        for src, m in chain_matrices(graph, ch).items():
            gate(src)
            name = f"{src}->{t.name}"
            procs.append(describe_sparse(graph, t.name, src, m, limits))
            conns.append([f"{src}.s_out", f"{name}.s_in"])
            conns.append([f"{name}.a_out", f"{t.name}.a_in" if isinstance(t, Neurons) else "host readout (Monitor)"])
        if isinstance(t, Neurons):
            bias = np.zeros(size[t.name], np.int64) if t.bias is None else np.broadcast_to(t.bias, shapes[t.name])
            _, exp = fx.mant_exp(np.asarray(bias).reshape(-1), limits.bias_mant_bits, limits.bias_exp_max)
            procs.append({"name": t.name, "shape": [size[t.name]],
                          "type": _pop_type(t), "reset": t.reset, "buffered": t.buffered, "spike_max": t.spike_max,
                          "du": 4095, "dv": 0, "vth": int(np.asarray(t.threshold).flat[0]) >> limits.state_shift,
                          "bias_exp_max": int(exp.max()) if exp.size else 0,
                          "v_init_nonzero": bool(t.v_init is not None and np.any(t.v_init))})
    out = graph.output
    return {"run_config": 'Loihi2SimCfg(select_tag="fixed_pt")', "processes": procs, "connections": conns,
            "readout": {"node": out.name, "sum_of": "a_out of the Sparse processes into the readout",
                        "steps": "the last T of T + latency", "bias_per_step": None if out.bias is None
                        else np.asarray(out.bias).tolist()},
            "rebuild": "neurocompile.backends.lava.network.build(graph, x_int, steps) from ir/snn.*"}
