"""The max-count gates (``MaxPool2d``) of the fpga target: one gate engine per core that holds gate slices.

A gate has no synaptic delay (docs/semantics.md: its output at step t uses its source's spikes of step t),
while the cores read the previous step's spikes. So the gates run after the cores, in *rounds*: round r
updates every gate that is r gates away from a population (a gate on a gate is one round later), and the
next step's cores read the gate's spikes as they read a population's. Each engine (``hdl_templates/nc_gate.v``)
runs a program from its ROM, one instruction per two clocks, that carries out ``fixedpoint.max_count_gate``
on binary spikes for the gate units the placement put on its core:

* ``count a, id``: ``cnt[a] += spike(id)`` -- the running spike count of one source unit (global id
  ``id``) of a window; each (gate, source unit) pair of the core has one counter ``a``;
* ``win a``: ``m = max(m, cnt[a])`` -- one real element of the current window (padding and the overhang
  of a ``ceil_mode`` window have no entry: the window's maximum over its real elements);
* ``emit a, id``: spike on global source ``id`` when ``m > mx[a]``; ``mx[a] = m``; ``m = 0`` -- the gate
  unit's output ``M(t) - M(t - 1)``, 0 or 1 for binary spikes;
* ``barrier``: the end of a round.

Counts are at most the run length, so ``count_bits`` = the width of ``run_steps``; ``m = 0`` before the
first ``win`` equals the max over a non-empty window since counts are >= 0. ``init`` clears every counter
and maximum. The partitioner's resource model counts a gate slice as it counts a population's: its units
(the maxima, ``neurons``) and the source units it reads (the counters, ``input_axons``); it stores no weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocompile import fixedpoint as fx

OP_COUNT, OP_WIN, OP_EMIT, OP_BARRIER = 0, 1, 2, 3
OP_NAMES = {OP_COUNT: "count", OP_WIN: "win", OP_EMIT: "emit", OP_BARRIER: "barrier"}


@dataclass
class GateProgram:
    """One core's gate engine: its program (``op``, ``index``, ``ident`` per instruction) and sizes."""

    core: int
    op: np.ndarray
    index: np.ndarray  # counter (count / win) or gate unit (emit)
    ident: np.ndarray  # global source id read (count) or spiked (emit); 0 otherwise
    n_counters: int
    n_units: int
    slices: list[dict]  # {"layer", "box", "round", "units"}


def gate_rounds(graph) -> dict[str, int]:
    """Round of every gate: 1 if it reads a population (or the input), its source's round + 1 if a gate."""
    rounds: dict[str, int] = {}
    for n in graph.topo():
        if n.gate:
            src = graph.inputs(n.name)[0]
            rounds[n.name] = rounds.get(src, 0) + 1
    return rounds


def gate_programs(graph, placement, sources, flat) -> tuple[list[GateProgram], int]:
    """``(programs of the cores holding gate slices, number of rounds)``; ``sources``: layer -> (first global id,
    units); ``flat(shape, box)``: the flat unit indices of a box."""
    rounds = gate_rounds(graph)
    if not rounds:
        return [], 0
    shapes = graph.infer_shapes()
    nodes = {n.name: n for n in graph.topo()}
    mats = {}
    by_core: dict[int, list] = {}
    for sl in placement.slices:
        if sl.layer in rounds:
            by_core.setdefault(sl.core, []).append(sl)
    n_rounds = max(rounds.values())
    programs = []
    for core, slices in sorted(by_core.items()):
        op, index, ident, docs = [], [], [], []
        n_counters = n_units = 0
        for r in range(1, n_rounds + 1):
            for layer in [name for name in rounds if rounds[name] == r]:  # topological order
                mine = [sl for sl in slices if sl.layer == layer]
                if not mine:
                    continue
                g = nodes[layer]
                src = graph.inputs(layer)[0]
                if layer not in mats:
                    mats[layer] = g.structure(shapes[src], shapes[layer], 0).tocsr()
                m = mats[layer]
                units = [flat(tuple(shapes[layer]), sl.box) for sl in mine]
                cols = np.unique(np.concatenate([m[u].indices for u in units]))
                counter = {int(c): n_counters + i for i, c in enumerate(cols)}
                n_counters += cols.size
                for c in cols:
                    op.append(OP_COUNT), index.append(counter[int(c)]), ident.append(sources[src][0] + int(c))
                for sl, u in zip(mine, units):
                    docs.append({"layer": layer, "box": [list(b) for b in sl.box], "round": r, "units": int(u.size),
                                 "first": n_units})
                    for k in u:
                        for c in m.indices[m.indptr[k]:m.indptr[k + 1]]:
                            op.append(OP_WIN), index.append(counter[int(c)]), ident.append(0)
                        op.append(OP_EMIT), index.append(n_units), ident.append(sources[layer][0] + int(k))
                        n_units += 1
            op.append(OP_BARRIER), index.append(0), ident.append(0)
        arr = (lambda xs: np.asarray(xs, dtype=np.int64))
        programs.append(GateProgram(core, arr(op), arr(index), arr(ident), n_counters, n_units, docs))
    return programs, n_rounds


def gate_memory(prog: GateProgram, id_bits: int):
    """The program ROM of one gate engine as an :class:`images.Memory`."""
    from .images import Field, Memory

    return Memory(f"core{prog.core}_gate", "gates",
                  (Field("op", 2, False, ", ".join(f"{k} {v}" for k, v in OP_NAMES.items())),
                   Field("index", index_bits(prog), False, "counter (count, win) or gate unit (emit)"),
                   Field("id", id_bits, False, "global source id read (count) or spiked (emit)")),
                  {"op": prog.op, "index": prog.index, "id": prog.ident},
                  order="the program, one instruction per address; a round ends with a barrier")


def index_bits(prog: GateProgram) -> int:
    return fx.unsigned_width(max(prog.n_counters - 1, prog.n_units - 1, 1))
