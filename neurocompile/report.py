"""Compile report: per-layer sizes, thresholds, scales and normalisation factors of an integer graph.

``build_report(int_graph, ann_graph)`` returns a JSON-ready dict (stored as ``report.json`` in a bundle);
``format_report(report)`` renders it as a text table. ``format_table`` is the plain table renderer the CLI
uses for every table it prints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .ir import Graph
from .ir.cost import ann_macs, neuron_counts, synapse_counts
from .ir.names import user_name


def _threshold(n) -> int | list[int] | None:
    """One number if the threshold is shared, else the per-channel (or per-neuron) list (an STCSNN encoder's
    thresholds per step); None if the op has none (``report_threshold`` facet)."""
    t = n.report_threshold()
    if t is None:
        return None
    return [_num(v) for v in t] if isinstance(t, list) else _num(t)


def _num(v):
    """numpy / python number -> int if integral, else float."""
    f = float(v)
    return int(f) if f.is_integer() else f


def _opt_float(v) -> float | None:
    return None if v is None else float(v)


def _lambda(v) -> float | list[float] | None:
    """A population's scale: one float (layer-wise) or the per-channel list (channel-wise normalisation)."""
    if v is None:
        return None
    return float(v) if np.isscalar(v) else [float(x) for x in v]


def build_report(int_graph: Graph, ann_graph: Graph) -> dict:
    """Per-layer report of ``int_graph`` (the integer IR) compiled from ``ann_graph`` (the float ANN).

    Returns
    -------
    dict with
      ``graph``: graph name; ``input``: {name, shape, bits, scale, signed};
      ``layers``: one entry per weight layer (conv2d/linear), max-pool gate, neuron population and output,
      in topological order: {name, module (the user's module path and type), kind, shape, neurons, synapses,
      threshold, scale, weight_bits, lambda, state_bits} (a gate: kernel_size, stride, padding and ceil_mode;
      neurons None);
      ``totals``: {neurons, synapses, ann_macs_per_sample, layers};
      ``timesteps``, ``synapse_delay``; ``options``: CompileOptions as a dict (``graph.meta['options']``).
      The build adds ``placement`` (targets with a profile) and ``energy`` (``neurocompile.energy.estimate``,
      from intsim's firing rates on ``--rate-samples`` calibration images; none with 0).
    """
    shapes = int_graph.infer_shapes()
    neurons = neuron_counts(int_graph)
    synapses = synapse_counts(int_graph)
    macs = ann_macs(ann_graph)
    lam = int_graph.meta.get("lambda") or {}
    layers = []
    for n in int_graph.topo():
        if not n.reported:
            continue
        weight = n.weighted
        entry = {
            "name": n.name,
            "module": user_name(n),
            "kind": n.op,
            "shape": list(shapes[n.name]),
            "neurons": None if weight else neurons.get(n.name),
            "synapses": synapses.get(n.name) if weight else None,
            "threshold": _threshold(n),
            "scale": _opt_float(n.weight_scale if weight else getattr(n, "scale", None)),
            "weight_bits": n.weight_bits if weight else None,
            "lambda": _lambda(lam.get(n.name)),
            "state_bits": getattr(n, "state_bits", None),
        }
        if weight:
            entry["ann_macs"] = macs.get(n.name)
        entry.update(n.report_fields())
        layers.append(entry)
    inp = int_graph.input
    return {
        "graph": int_graph.name,
        "input": {"name": inp.name, "shape": list(inp.shape), "bits": inp.bits, "scale": _opt_float(inp.scale),
                  "signed": bool(inp.signed)},
        "layers": layers,
        "totals": {
            "neurons": int(sum(v for v in neurons.values())),
            "synapses": int(sum(synapses.values())),
            "ann_macs_per_sample": int(sum(macs.values())),
            "layers": len(layers),
        },
        "timesteps": int_graph.meta.get("timesteps"),
        "synapse_delay": int_graph.meta.get("synapse_delay"),
        "options": dict(int_graph.meta.get("options") or {}),
        "notes": list(int_graph.meta.get("notes") or []),
        **({"conversion": dict(int_graph.meta["robust"])} if "robust" in int_graph.meta else {}),
    }


# ------------------------------------------------------------------------------------------- text output
def format_table(headers: Sequence[str], rows: Sequence[Sequence], right: Sequence[bool] | None = None) -> str:
    """Plain fixed-width table; ``right[i]`` right-aligns column i (default: numbers right, text left)."""
    cells = [[_cell(v) for v in r] for r in rows]
    if right is None:
        right = [bool(rows) and all(isinstance(r[i], (int, float, np.number)) or r[i] is None for r in rows)
                 for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(vals):
        return "  ".join(v.rjust(w) if ra else v.ljust(w) for v, w, ra in zip(vals, widths, right)).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def _fmt_threshold(t) -> str:
    if t is None:
        return "-"
    if isinstance(t, list):
        return f"{_cell(min(t))}..{_cell(max(t))} ({len(t)})"
    return _cell(t)


def format_report(report: dict) -> str:
    """The report's layers as a text table followed by a totals line."""
    headers = ("layer", "module", "kind", "shape", "neurons", "synapses", "threshold", "scale", "w bits", "lambda")
    rows = [
        (L["name"], L.get("module") or "-", L["kind"], "x".join(str(s) for s in L["shape"]), L["neurons"], L["synapses"],
         _fmt_threshold(L["threshold"]), L["scale"], L["weight_bits"], _fmt_threshold(L["lambda"]))
        for L in report["layers"]
    ]
    right = (False, False, False, True, True, True, True, True, True, True)
    t = report["totals"]
    inp = report.get("input") or {}
    lines = [format_table(headers, rows, right)]
    lines.append(
        f"totals: {t['neurons']:,} neurons, {t['synapses']:,} synapses, "
        f"{t['ann_macs_per_sample']:,} ANN MACs/sample")
    if inp:
        shape = "x".join(str(s) for s in inp.get("shape", []))
        sign = "signed" if inp.get("signed") else "unsigned"
        lines.append(f"input: {inp.get('name')} {shape}, {inp.get('bits')}-bit {sign}, scale {_cell(inp.get('scale'))}")
    if report.get("energy"):
        from .energy import summary

        e = report["energy"]
        c = e["counts"]
        lines.append(f"energy/sample ({e['basis']}): {c['synops']:,.0f} SynOps + {c['input_ops']:,.0f} input ops, "
                     f"{c['neuron_updates']:,} neuron updates, {c['spikes']:,.0f} spikes; {summary(e)}")
    lines += [n if n.startswith("warning: ") else f"note: {n}" for n in report.get("notes") or []]
    return "\n".join(lines)
