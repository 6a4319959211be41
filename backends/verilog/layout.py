"""What every placed FPGA core holds, as integers: the placed integer IR cut into per-core tables.

A core of the ``fpga`` target is a time-multiplexed integrate-and-fire engine (``hdl_templates/nc_core.v``)
with three read-only memories, in the order the profile's resource model counts them
(``partition.resources``, ``SynapseEncoding(packing="lanes")``):

* **axons**: one entry per *input axon* of the core -- a source unit (a pixel of the input or a neuron of a
  population) that at least one of the core's neurons reads -- holding its global source id and where its
  synapse list starts and how long it is;
* **synapses**: the lists, one per axon, each starting on a new word; an entry is a (local neuron index,
  weight) pair, ``word_bits // entry_bits`` entries per word;
* **neurons**: per local neuron its threshold, bias, initial potential, kind (IF with reset by subtraction,
  IF with reset to zero, or a readout accumulator) and where its output goes (a global source id for a
  spike, a readout index for a readout unit).

Weights are the entries of the composed chain matrices (``ir.matrices``: conv, sum pool, flatten,
linear and Add composed exactly), so one entry per non-zero (source unit, target unit) pair.

Max-pool gate slices are not neurons of the core: they run in the core's gate engine (``gates``), after
the cores in each step.

Global source ids: the input's units first (``Input`` flat order), then every population's and gate's units
in topological order. Local neuron order: the core's slices in placement order, each slice's units in C order
of its box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurocompile import fixedpoint as fx
from neurocompile.errors import ConversionError, PartitionError
from neurocompile.ir import Graph
from neurocompile.partition.connectivity import box_index
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices
from neurocompile.ir.timing import latency as latency_of

from .gates import GateProgram, gate_programs
from .ops import KIND_NAMES, core_op, per_unit



@dataclass
class CoreLayout:
    core: int
    chip: int
    slices: list[dict]  # {"layer", "box", "first" (local index of its first unit), "units"}
    axon_source: np.ndarray  # (A,) global source id per input axon, ascending
    axon_start: np.ndarray  # (A,) first synapse word of the axon's list
    axon_len: np.ndarray  # (A,) entries in the list
    syn_index: np.ndarray  # (E,) local neuron index per entry, lists concatenated in axon order
    syn_weight: np.ndarray  # (E,) signed weight per entry
    kind: np.ndarray  # (N,) KIND_* per local neuron
    threshold: np.ndarray  # (N,) int64 (0 for readout units)
    bias: np.ndarray  # (N,) int64
    v_init: np.ndarray  # (N,) int64
    dest: np.ndarray  # (N,) global source id (spiking units) or readout index (readout units)

    @property
    def n_neurons(self) -> int:
        return int(self.kind.size)

    @property
    def n_axons(self) -> int:
        return int(self.axon_source.size)


@dataclass
class NetworkLayout:
    """The whole placed network: global ids, per-core tables and the widths every memory needs."""

    sources: dict[str, tuple[int, int]]  # source layer -> (first global id, units); the input first
    n_sources: int
    readout: tuple[str, int]  # (Output layer, units)
    input_bits: int  # width of an input value (unsigned unless input_signed)
    input_signed: bool
    state_bits: int  # membrane state (saturating)
    param_bits: int  # threshold / bias / v_init fields of the neurons memory (>= state_bits: readout biases)
    cores: list[CoreLayout]
    lanes: int  # synapse entries per word
    word_bits: int  # synapse memory word
    index_bits: int
    weight_bits: int  # widest entry weight of any core (signed)
    acc_bits: int  # synaptic sum of one step, any neuron (signed)
    readout_bits: int  # readout accumulator (signed), enough for the whole run
    gates: list[GateProgram] = field(default_factory=list)  # one gate engine per core holding gate slices
    gate_rounds: int = 0  # gate rounds per step (the longest run of gates)
    count_bits: int = 1  # a gate's spike counter: holds the run length
    meta: dict = field(default_factory=dict)

    @property
    def entry_bits(self) -> int:
        return self.index_bits + self.weight_bits

    @property
    def src_bits(self) -> int:
        """Global source id width (axons memory, top-level source bus)."""
        return fx.unsigned_width(max(self.n_sources - 1, 1))

    @property
    def dest_bits(self) -> int:
        """Event destination width: a global source id or a readout index (neurons memory, event bus)."""
        return fx.unsigned_width(max(self.n_sources - 1, self.readout[1] - 1, 1))

    @property
    def val_bits(self) -> int:
        """Source value width (signed): an input pixel, or a spike."""
        return self.input_bits + (0 if self.input_signed else 1)


def check_supported(graph: Graph) -> None:
    """ConversionError naming the first layer the FPGA core cannot run (``ops.FPGA_OPS``)."""
    for n in graph.topo():
        if n.synaptic:
            continue  # composed into the chain matrices
        entry = core_op(n)
        if entry.check is not None:
            entry.check(n, graph)


def _flat(shape, box) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[box_index(box)].ravel()


def build_layout(graph: Graph, placement, profile, timesteps: int) -> NetworkLayout:
    """Per-core integer tables of ``graph`` (integer IR) as placed by ``placement`` on ``profile``."""
    check_supported(graph)
    shapes = graph.infer_shapes()
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    inp, out = graph.input, graph.output
    sources: dict[str, tuple[int, int]] = {}
    nxt = 0
    for n in graph.topo():
        if not n.synaptic and core_op(n).source:
            sources[n.name] = (nxt, size[n.name])
            nxt += size[n.name]
    mats = {ch.target.name: chain_matrices(graph, ch) for ch in chains(graph)}
    nodes = {n.name: n for n in graph.topo()}
    state_bits = max([n.state_bits for n in graph.topo() if n.chain_target and not n.readout] or [24])
    in_max = (1 << (inp.bits - (1 if inp.signed else 0))) - 1
    # worst |synaptic sum| of one step per target unit: sum |M| x max |source value|
    acc_worst, ro_worst = 1, 1
    for t, per_src in mats.items():
        tot = np.zeros(size[t], dtype=np.int64)
        for s, m in per_src.items():
            tot += np.asarray(abs(m).sum(axis=1)).ravel() * (in_max if s == inp.name else 1)
        worst = int(tot.max(initial=0))
        acc_worst = max(acc_worst, worst)
        if t == out.name:
            b = int(np.abs(per_unit(out.bias, shapes[t])).max(initial=0))
            ro_worst = max(ro_worst, timesteps * (worst + b))
    s = profile.synapses
    index_bits = s.index_bits if s.index_bits is not None else math.ceil(math.log2(max(2, profile.core.neurons)))
    cores: list[CoreLayout] = []
    by_core: dict[int, list] = {}
    for sl in placement.slices:
        if core_op(nodes[sl.layer]).params is not None:  # gate slices run in the gate engines
            by_core.setdefault(sl.core, []).append(sl)
    wmin = wmax = 0
    for c in sorted(by_core):  # a core holding only gate slices has no IF core, only a gate engine
        cores.append(_core(c, placement.chip_of_core[c], by_core.get(c, []), shapes, sources, mats, nodes,
                           out.name))
        if cores[-1].syn_weight.size:
            wmin = min(wmin, int(cores[-1].syn_weight.min()))
            wmax = max(wmax, int(cores[-1].syn_weight.max()))
    weight_bits = fx.signed_width(wmin, wmax)
    entry = index_bits + weight_bits
    if entry > s.word_bits:
        raise PartitionError(f"network {graph.name}: a synapse entry of {entry} bits ({weight_bits}-bit weight + "
                             f"{index_bits}-bit index) does not fit a {s.word_bits}-bit word on {profile.name}")
    lanes = s.word_bits // entry
    for core in cores:
        words = -(-core.axon_len // lanes)
        core.axon_start = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
        used = int(words.sum())
        lim = profile.core.synapse_words
        if lim is not None and used > lim:
            raise PartitionError(f"core {core.core}: synapse memory {used} words > {lim} per core on "
                                 f"{profile.name} (entries of {entry} bits, {lanes} per word)")
    vals = [int(a.min(initial=0)) for c in cores for a in (c.bias, c.v_init, c.threshold)] + \
        [int(a.max(initial=0)) for c in cores for a in (c.bias, c.v_init, c.threshold)]
    param_bits = max(state_bits, fx.signed_width(min(vals, default=0), max(vals, default=0)))
    gates, rounds = gate_programs(graph, placement, sources, _flat)
    return NetworkLayout(sources, nxt, (out.name, size[out.name]), int(inp.bits), bool(inp.signed), state_bits,
                         param_bits,
                         cores, lanes, s.word_bits, index_bits, weight_bits, fx.signed_width(-acc_worst, acc_worst),
                         fx.signed_width(-ro_worst, ro_worst), gates, rounds,
                         fx.unsigned_width(max(timesteps + latency_of(graph), 1)))


def _core(c, chip, slices, shapes, sources, mats, nodes, out_name) -> CoreLayout:
    docs, rows, cols, vals = [], [], [], []
    kind, thr, bias, vinit, dest = [], [], [], [], []
    first = 0
    for sl in slices:
        layer, shape = sl.layer, tuple(shapes[sl.layer])
        units = _flat(shape, sl.box)
        docs.append({"layer": layer, "box": [list(r) for r in sl.box], "first": first, "units": int(units.size)})
        for src, m in mats[layer].items():
            sub = m[units].tocoo()
            rows.append(sub.row.astype(np.int64) + first)
            cols.append(sub.col.astype(np.int64) + sources[src][0])
            vals.append(sub.data.astype(np.int64))
        n = nodes[layer]
        for acc, a in zip((kind, thr, bias, vinit), core_op(n).params(n, shape, units)):
            acc.append(a)
        dest.append(units + sources[layer][0] if layer in sources else units)  # readout units: readout index
        first += units.size
    cat = (lambda xs: np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, np.int64))
    r, g, w = cat(rows), cat(cols), cat(vals)
    keep = w != 0
    r, g, w = r[keep], g[keep], w[keep]
    order = np.lexsort((r, g))
    r, g, w = r[order], g[order], w[order]
    axons, counts = np.unique(g, return_counts=True)
    return CoreLayout(c, int(chip), docs, axons.astype(np.int64), np.zeros(axons.size, np.int64),
                      counts.astype(np.int64), r, w, cat(kind), cat(thr), cat(bias), cat(vinit), cat(dest))



def core_memories(net: NetworkLayout, core: CoreLayout):
    """The three ROMs of one core as :class:`images.Memory` objects (synapses, axons, neurons)."""
    from .images import Field, Memory

    L = net.lanes
    words = -(-core.axon_len // L)
    slots = int(words.sum()) * L
    idx, wgt = np.zeros(slots, np.int64), np.zeros(slots, np.int64)
    valid = np.zeros(slots, bool)
    # slot of entry e of axon a: start_word[a] * L + e
    starts = np.repeat(core.axon_start * L, core.axon_len)
    within = np.arange(core.syn_index.size) - np.repeat(np.cumsum(core.axon_len) - core.axon_len, core.axon_len)
    pos = starts + within
    idx[pos], wgt[pos], valid[pos] = core.syn_index, core.syn_weight, True
    syn = Memory(f"core{core.core}_syn", "synapses",
                 (Field("index", net.index_bits, False, "local neuron the entry drives"),
                  Field("weight", net.weight_bits, True, "integer weight (composed chain matrix entry)")),
                 {"index": idx, "weight": wgt}, lanes=L, word_bits=net.word_bits, slot_valid=valid,
                 order="per input axon (axons memory order) its entries, sorted by neuron, from the axon's start "
                       "word; each list starts on a new word; lanes past the list's length are 0")
    ax = Memory(f"core{core.core}_axon", "axons",
                (Field("source", net.src_bits, False, "global source id"),
                 Field("start", fx.unsigned_width(int(words.sum())), False, "first word in the synapses memory"),
                 Field("length", fx.unsigned_width(int(core.axon_len.max(initial=1))), False, "entries in the list")),
                {"source": core.axon_source, "start": core.axon_start, "length": core.axon_len},
                order="address a = input axon a, ascending global source id")
    sb = net.param_bits
    neu = Memory(f"core{core.core}_neuron", "neurons",
                 (Field("threshold", sb, True, "fires when v > threshold (0 for readout units)"),
                  Field("bias", sb, True, "added to v every step"),
                  Field("v_init", sb, True, "membrane potential before step 1"),
                  Field("kind", 2, False, ", ".join(f"{k} {v}" for k, v in KIND_NAMES.items())),
                  Field("dest", net.dest_bits, False,
                        "global source id of the spike (readout units: readout index)")),
                 {"threshold": core.threshold, "bias": core.bias, "v_init": core.v_init, "kind": core.kind,
                  "dest": core.dest},
                 order="address j = local neuron j: the core's slices in placement order, each box in C order")
    return syn, ax, neu
