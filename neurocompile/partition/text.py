"""Text rendering of placements: the summary printed by ``build`` and the utilisation tables of ``inspect``."""

from __future__ import annotations

from ..report import format_table
from .resources import RESOURCE_TEXT, RESOURCES

SHORT = {"neurons": "neurons", "input_axons": "in axons", "output_axons": "out axons",
         "synapse_words": "syn words", "populations": "slices", "param_bits": "param bits"}


def _pct(used: int, limit) -> str:
    return f"{used:,}" if limit is None else f"{used:,} ({100 * used / limit:.0f}%)"


def format_placement_summary(s: dict) -> str:
    """``report.json['placement']`` as a few lines (a summary written before the naive placement was retired
    from the build has its naive figures too; they are not shown)."""
    lb = s["lower_bound"]
    t = s["traffic"]
    peak = ", ".join(f"{RESOURCE_TEXT[r]} {100 * v['max_fraction']:.1f} %"
                     for r, v in s["peak_utilisation"].items() if v["max_fraction"] is not None)
    return "\n".join([
        f"placement on {s['profile']}: {s['cores']:,} cores on {s['chips']} chip(s) (lower bound {lb['cores']:,}, "
        f"set by {RESOURCE_TEXT[lb['resource']]}; layer bound {lb['layer_bound']['cores']:,}, "
        f"{lb['layer_bound']['layer']}); {s['strategy']}, "
        f"{s['seconds']:.2f} s",
        f"traffic: {t['total']:,.1f} spikes/step/sample, {t['inter_core']:,.1f} between cores, "
        f"{t['inter_chip']:,.1f} between chips (rates: {t['rates']})",
        f"peak core utilisation: {peak}",
    ])


def _times(words: int, unsplit: int | None) -> str:
    return "-" if not unsplit else f"{words / unsplit:.2f}"


def _box(box) -> str:
    return "[" + ",".join(f"{lo}:{hi}" for lo, hi in box) + "]"


def format_placement(doc: dict, max_cores: int | None = None) -> str:
    """``placement.json`` as a per-layer split table and a per-core utilisation table."""
    words: dict[str, int] = {}
    for c in doc["cores"]:
        for s in c["slices"]:
            words[s["layer"]] = words.get(s["layer"], 0) + s["resources"]["synapse_words"]
    layers = [(name, v["kind"], "x".join(map(str, v["chunk"])) if v.get("chunk") else "-", v["slices"],
               f"{words.get(name, 0):,}", _times(words.get(name, 0), v.get("unsplit_synapse_words")))
              for name, v in doc["layers"].items()]
    out = [format_table(("layer", "split", "chunk", "slices", "syn words", "x unsplit"), layers,
                        (False, False, False, True, True, True)),
           "(syn words: the layer's slices' synapse memory; x unsplit: over what it needs as one slice — "
           "spatial tiles store a shared kernel again)", ""]
    limits = doc["limits"]
    rows = []
    cores = doc["cores"] if max_cores is None else doc["cores"][:max_cores]
    for c in cores:
        names = [f"{s['layer']}{_box(s['box'])}" for s in c["slices"]]
        what = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
        u = c["utilisation"]
        rows.append((c["core"], c["chip"], what, *(_pct(u[r]["used"], limits.get(r)) for r in RESOURCES)))
    heads = ("core", "chip", "slices", *(f"{SHORT[r]}" + ("" if limits.get(r) is None else f"/{limits[r]:,}")
                                          for r in RESOURCES))
    out.append(format_table(heads, rows, (True, True, False) + (True,) * len(RESOURCES)))
    if max_cores is not None and len(doc["cores"]) > max_cores:
        out.append(f"... {len(doc['cores']) - max_cores:,} more cores (inspect --all-cores lists every core)")
    return "\n".join(out)
