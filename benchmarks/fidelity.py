"""Conversion fidelity (issue 4): accuracy of the 8-bit integer SNN vs T per conversion method, plus energy.

For every model and conversion method, and every T, the model is compiled with
``CompileOptions(weight_bits=8, timesteps=T, method=...)`` (calibrated on the first ``--calib-samples``
train images after the CLI's fixed-seed shuffle, ``neurocompile.api.data.calibration_subset``) and run
in intsim on the test split. Compiling per T matters: ``ecc`` searches its scales for the T it is built
for. A weight-width sweep (``--sweep-bits``, default 7 8 9 10) for ``--sweep-method`` (default ``ecc``) at
``--sweep-timesteps`` (default 32) follows; the float conversion is computed once per (model, method, T)
and quantised for each weight width.

Methods (``--methods``):

* ``rueckauer``       data-based normalisation, initial membrane potential 0 (the baseline)
* ``rueckauer+v0.5``  the same with an initial potential of half a threshold
* ``robust``          the default method: rueckauer, v_init 0.5, channel-wise, with each layer's mean error
                      corrected in its bias, chosen on the integer network and checked on held-out images
                      (calibrated on its own default of 2000 train images unless ``--calib-samples`` is given)
* ``rueckauer+v0.5+channel``  the same with channel-wise normalisation (``--v-init 0.5 --normalization channel``)
* ``ecc``             per-layer, per-channel scales searched for T + thresholding for residual elimination
* ``ecc-layer``       the same with one scale per layer (shows what channel-wise normalisation brings)
* ``qrelu``           QReLU-trained thresholds with HPC's buffered IF neuron; applies only to models whose
                      file name contains ``qrelu`` (those models are run with the qrelu labels alone)
* ``qrelu+if``        the same with plain IF neurons (shows what the buffered neuron brings)
* ``stcsnn``          spatio-temporal conversion blocks, the paper's tau = 2 (T = spike-train length per
                      block); a model whose file name contains ``stcsnn`` (trained with
                      ``neurocompile.training.stcsnn``) runs this label alone
* ``stcsnn-tau1``     the same with tau = 1 (each train is the binary code of its value)
* ``qcfs``            QCFS-trained thresholds (``neurocompile.training.qcfs``); applies only to models whose file
                      name contains ``qcfs`` (those models run this label alone)

``--zoo`` runs the Fashion-MNIST model zoo instead (every ``examples/zoo/*.pt2``, trained by
``examples/zoo/train.py``) with ``rueckauer``, ``rueckauer+v0.5+channel``, ``ecc`` (and ``qcfs`` for the
QCFS-trained checkpoints) at T = 16 and 32, and a 7- vs 8-bit sweep at T = 32 for every method
(``--sweep-method all``), no percentile sweep; it writes ``OUT/fidelity_zoo.{md,json,png}`` with, per method,
T and weight width, each model's loss against its own float ANN in pp, the median and the worst over the zoo,
and SynOps/MAC (the explicit options override these defaults).

A percentile sweep (``--sweep-percentiles``, default 99 99.9 99.99 100) of ``rueckauer+v0.5`` with layer-
and channel-wise normalisation at the sweep T follows for the models that are not specially trained (when
``rueckauer+v0.5`` is among ``--methods``).

A method the compiler does not know (``ConversionError: unknown conversion method``) is reported as
"not implemented yet" instead of a number; any other compile or simulation error is reported per run
and the benchmark goes on.

Recorded per run: SNN accuracy, the model's float ANN accuracy, SynOps per sample and ANN MACs per
sample (and their ratio), the steps to the readout, the energy per sample on each built-in profile and the
ANN references (``neurocompile.energy``; docs/semantics.md, "Energy"), compile and simulation seconds.

Writes ``OUT/fidelity.md`` (the Markdown tables, also printed to stdout), ``OUT/fidelity.json`` (all the
numbers; accuracies as fractions in [0, 1]) and ``OUT/fidelity.png`` (accuracy vs T per method, one panel
per model, the ANN accuracy dashed); ``fidelity.json`` is also rewritten after every run, so an
interrupted run keeps what it measured (merge it with a run of the rest with ``--combine``). The full default run (10 000 test images, T up to 64, two models)
takes tens of minutes on 2 cores, the zoo a few hours on one thread; a quick look:

    .venv/bin/python benchmarks/fidelity.py --limit 500 --timesteps 8 16
    .venv/bin/python benchmarks/fidelity.py --zoo --limit 500 --timesteps 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEFAULT_MODELS = ("fashion_cnn.pt2", "fashion_vgg.pt2")
DEFAULT_TIMESTEPS = (4, 8, 16, 32, 64)
DEFAULT_SWEEP_BITS = (7, 8, 9, 10)
DEFAULT_SWEEP_PERCENTILES = (99.0, 99.9, 99.99, 100.0)
#: ``--sweep-method all``: every label a model runs also sweeps the weight width
SWEEP_ALL = "all"
#: ``--zoo``: the checkpoints of examples/zoo/ (trained by examples/zoo/train.py) and its defaults
ZOO = EXAMPLES / "zoo"
ZOO_METHODS = ("rueckauer", "rueckauer+v0.5+channel", "robust", "ecc", "qcfs")
ZOO_TIMESTEPS = (16, 32)
ZOO_SWEEP_BITS = (7, 8)

#: benchmark label -> (compiler method, extra CompileOptions fields)
METHODS: dict[str, tuple[str, dict]] = {
    "rueckauer": ("rueckauer", {"v_init": 0.0}),
    "rueckauer+v0.5": ("rueckauer", {"v_init": 0.5}),
    "robust": ("robust", {}),
    "rueckauer+v0.5+channel": ("rueckauer", {"v_init": 0.5, "normalization": "channel"}),
    "ecc": ("ecc", {}),
    "ecc-layer": ("ecc", {"normalization": "layer"}),
    "qrelu": ("qrelu", {}),
    "qrelu+if": ("qrelu", {"neuron": "if"}),
    "stcsnn": ("stcsnn", {"stc_tau": 2.0}),
    "stcsnn-tau1": ("stcsnn", {"stc_tau": 1.0}),
    "qcfs": ("qcfs", {}),
}
#: specially trained checkpoints (file name contains the key) -> the labels they run (the first also sweeps bits)
TRAINED = {"qrelu": ("qrelu", "qrelu+if"), "stcsnn": ("stcsnn",), "qcfs": ("qcfs",)}
#: labels that need such a checkpoint (the others are post-training methods that run on any model)
NEEDS_TRAINING = (*TRAINED["qrelu"], *TRAINED["qcfs"])
QRELU_LABEL = "qrelu"
#: the percentile sweep: base label, and a label suffix per normalisation
PCT_BASE = "rueckauer+v0.5"
PCT_NORMS = ("layer", "channel")

OK = "ok"
NOT_IMPLEMENTED = "not implemented yet"


def trained_family(path: Path) -> str | None:
    """``qrelu`` / ``stcsnn`` for a checkpoint trained with that helper (by file name), else None."""
    stem = Path(path).stem.lower()
    return next((k for k in TRAINED if k in stem), None)


def is_qrelu_model(path: Path) -> bool:
    return trained_family(path) == "qrelu"


def pct_label(norm: str, p: float) -> str:
    return f"{PCT_BASE}@{norm}@p{p:g}"


def run_options(label: str) -> tuple[str, dict]:
    """(compiler method, extra CompileOptions) of a label, including percentile-sweep labels."""
    if "@" in label:
        base, norm, p = label.split("@")
        method, extra = METHODS[base]
        return method, {**extra, "normalization": norm, "percentile": float(p[1:])}
    return METHODS[label]


def default_models() -> list[Path]:
    """The example checkpoints that exist (train the missing ones with examples/train_*.py)."""
    found = [EXAMPLES / m for m in DEFAULT_MODELS]
    for p in found:
        if not p.exists():
            print(f"skipping {p}: not trained yet (see examples/)")
    found = [p for p in found if p.exists()]
    for fam in TRAINED:
        found += sorted(p for p in EXAMPLES.glob(f"*{fam}*.pt2") if p not in found)
    return found


def zoo_models() -> list[Path]:
    """Every checkpoint of the zoo (train them with examples/zoo/train.py)."""
    found = sorted(ZOO.glob("*.pt2"))
    if not found:
        raise SystemExit(f"no model in {ZOO}: train the zoo first (examples/zoo/train.py)")
    return found


def labels_for(model: Path, labels: list[str]) -> list[str]:
    """Specially trained models run only their family's labels; the others every selected label but the
    ones that need a QReLU-trained checkpoint."""
    fam = trained_family(model)
    if fam is not None:
        return [m for m in labels if m in TRAINED[fam]]
    return [m for m in labels if m not in NEEDS_TRAINING]


def sweep_label(model: Path, mine: list[str], sweep_method: str) -> str | None:
    """The label of a model's weight-bits sweep: ``sweep_method`` if it runs it, else its family's first."""
    return next(iter(sweep_labels(model, mine, sweep_method)), None)


def sweep_labels(model: Path, mine: list[str], sweep_method: str) -> list[str]:
    """The labels of a model's weight-bits sweep: every label it runs for ``sweep_method`` ``all`` (the
    zoo's default), else ``sweep_method`` if it runs it, else its family's first label."""
    if sweep_method == SWEEP_ALL:
        return list(mine)
    fam = trained_family(model)
    if sweep_method in mine and fam is None:
        return [sweep_method]
    return [TRAINED[fam][0]] if fam is not None and TRAINED[fam][0] in mine else []


@dataclass
class Plan:
    """One model's runs: (label, T, weight bits), deduplicated, in order."""

    model: Path
    runs: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, label: str, T: int, bits: int) -> None:
        if (label, T, bits) not in self.runs:
            self.runs.append((label, T, bits))


def default_sweep_timesteps(timesteps) -> int:
    """T of the weight-bits sweep unless given: 32 if it is in the grid, else the grid's largest T."""
    return 32 if 32 in timesteps else max(timesteps)


def make_plans(models, labels, timesteps, weight_bits, sweep_method, sweep_bits, sweep_timesteps,
               sweep_percentiles=()) -> list[Plan]:
    plans = []
    for m in models:
        plan = Plan(Path(m))
        mine = labels_for(plan.model, labels)
        for label in mine:
            for T in timesteps:
                plan.add(label, T, weight_bits)
        for sweep in sweep_labels(plan.model, mine, sweep_method):
            for bits in sweep_bits:
                plan.add(sweep, sweep_timesteps, bits)
        if trained_family(plan.model) is None and PCT_BASE in mine:
            for norm in PCT_NORMS:
                for p in sweep_percentiles:
                    plan.add(pct_label(norm, p), sweep_timesteps, weight_bits)
        plans.append(plan)
    return plans


def _compiler_method(name: str):
    """The compiler's ``Method`` of that name, or None (a method this checkout does not have)."""
    from neurocompile.compiler import METHODS as COMPILER_METHODS

    return COMPILER_METHODS.get(name)


def compile_staged(ann, x_cal, opts, cache: dict | None = None):
    """``compile_graph(ann, x_cal, opts)`` in two stages, the float conversion cached per ``cache`` key.

    The float SNN (every pass of ``neurocompile.compiler.pipeline`` but the final ``QuantizeInteger``) does
    not depend on the weight width, and ``ecc``'s scale search dominates the compile time, so the
    weight-bits sweep reuses it. The result equals ``compile_graph`` (checked by the smoke test); a
    pipeline that does not end in ``QuantizeInteger`` is compiled by ``compile_graph`` directly.
    """
    from dataclasses import asdict, replace

    from neurocompile.compiler import compile_graph, pipeline
    from neurocompile.passes import PassManager
    from neurocompile.quant import QuantizeInteger

    passes = pipeline(x_cal, opts).passes  # raises ConversionError for an unknown method
    scored = getattr(_compiler_method(opts.method), "scored", False)  # its float SNN depends on the bits
    if not passes or not isinstance(passes[-1], QuantizeInteger) or scored:
        return compile_graph(ann, x_cal, opts)
    key = tuple(sorted(asdict(replace(opts, weight_bits=0)).items()))
    if cache is None or key not in cache:
        g = ann.copy()  # the meta compile_graph sets, then the conversion passes
        g.meta["synapse_delay"] = int(opts.synapse_delay)
        g.meta["timesteps"] = int(opts.timesteps)
        g.meta["options"] = asdict(opts)
        float_snn = PassManager(passes[:-1]).run(g)
        if cache is None:
            return PassManager(passes[-1:]).run(float_snn)
        cache[key] = float_snn
    g = cache[key].copy()
    g.meta["options"] = asdict(opts)
    return PassManager(passes[-1:]).run(g)


def _compile(ann, x_cal, label: str, T: int, bits: int, cache: dict | None = None):
    """Compile ``ann`` for one run; returns (integer graph or None, status)."""
    from neurocompile import compiler
    from neurocompile.errors import ConversionError

    method, extra = run_options(label)
    opts = compiler.CompileOptions(weight_bits=bits, timesteps=T, method=method, **extra)
    try:
        return compile_staged(ann, x_cal, opts, cache), OK
    except ConversionError as e:
        if "unknown conversion method" in str(e) or method not in getattr(compiler, "METHODS", (method,)):
            return None, NOT_IMPLEMENTED
        return None, f"error: {e}"


def run_benchmark(models, labels=None, timesteps=DEFAULT_TIMESTEPS, limit=None, dataset="fashion-mnist",
                  calib_samples=None, weight_bits=8, sweep_method="ecc", sweep_bits=DEFAULT_SWEEP_BITS,
                  sweep_timesteps=None, progress=True, log=None, sweep_percentiles=DEFAULT_SWEEP_PERCENTILES,
                  checkpoint=None, zoo=False) -> dict:
    """Run every (model, method, T, weight bits) and return all the numbers as one JSON-able dict.

    ``zoo``: mark the results as a zoo run (``fidelity_zoo.*`` with the zoo's summary).
    ``checkpoint(results)``, if given, is called after every run (the CLI writes ``fidelity.json`` there, so
    an interrupted run keeps what it measured; ``--combine`` merges it with a rerun of the rest).

    ``runs`` is a list of dicts with keys model, method, compiler_method, timesteps, weight_bits, status
    (``ok``, ``not implemented yet`` or ``error: ...``), snn_accuracy, ann_accuracy, synops_per_sample,
    macs_per_sample, synops_per_mac, run_steps, energy_uj_per_sample ({profile or ANN reference: uJ}),
    compile_seconds, sim_seconds (numbers None unless status is ok).
    """
    from tqdm import tqdm

    from neurocompile import datasets
    from neurocompile.backends.intsim import macs_per_sample, simulate
    from neurocompile.energy import counts_from_run, estimate
    from neurocompile.api.data import CALIB_SEED, calibration_subset
    from neurocompile.errors import NeurocompileError
    from neurocompile.frontend import load_model
    from neurocompile.ir.ann import run_ann

    labels = list(labels if labels is not None else METHODS)
    if sweep_timesteps is None:
        sweep_timesteps = default_sweep_timesteps(timesteps)
    unknown = [m for m in labels if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method label(s) {unknown}; use {', '.join(METHODS)}")
    log = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    plans = make_plans(models, labels, list(timesteps), weight_bits, sweep_method, list(sweep_bits),
                       sweep_timesteps, list(sweep_percentiles))
    x_train, _ = datasets.load(dataset, "train")
    x_cals: dict[int, np.ndarray] = {}

    def calibration(method: str) -> np.ndarray:
        """The first N shuffled train images: ``calib_samples``, or the method's own default when None."""
        n = calib_samples or getattr(_compiler_method(method), "calib_samples", 1000)
        return x_cals.setdefault(n, calibration_subset(x_train, n))

    x_cal = calibration("rueckauer")
    x_test, y_test = datasets.load(dataset, "test")
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]

    results = {
        "config": {"dataset": dataset, "test_samples": len(x_test), "calib_samples": calib_samples or "method default (1000; robust 2000)",
                   "calib_seed": CALIB_SEED, "weight_bits": weight_bits, "timesteps": list(timesteps),
                   "methods": labels, "sweep": {"method": sweep_method, "timesteps": sweep_timesteps,
                                                "weight_bits": list(sweep_bits),
                                                "percentiles": list(sweep_percentiles)},
                   "backend": "intsim", "zoo": bool(zoo)},
        "models": {}, "runs": [],
    }
    unavailable: set[str] = set()  # compiler methods that turned out unknown
    total = sum(len(p.runs) for p in plans)
    with tqdm(total=total, unit="run", desc="fidelity", disable=not progress, file=sys.stderr) as bar:
        for plan in plans:
            name = plan.model.stem
            info = {"path": str(plan.model), "qrelu_trained": is_qrelu_model(plan.model),
                    "trained": trained_family(plan.model), "methods": labels_for(plan.model, labels),
                    "sweep_label": sweep_label(plan.model, labels_for(plan.model, labels), sweep_method),
                    "sweep_labels": sweep_labels(plan.model, labels_for(plan.model, labels), sweep_method)}
            results["models"][name] = info
            try:
                ann = load_model(plan.model)
                ann_out, _ = run_ann(ann, x_test)
            except (NeurocompileError, OSError, RuntimeError) as e:
                info["status"] = f"error: {e}"
                log(f"{name}: cannot load ({e})")
                bar.update(len(plan.runs))
                continue
            ann_acc = float(np.mean(ann_out.argmax(1) == y_test))
            macs = int(macs_per_sample(ann))
            info.update(status=OK, ann_accuracy=ann_acc, macs_per_sample=macs)
            cache: dict = {}  # float SNNs of this model, shared by the weight widths

            def done(row):
                bar.update()
                if row["status"] == OK:
                    log(f"{row['model']} {row['method']} T={row['timesteps']} {row['weight_bits']}b: SNN "
                        f"{_pct(row['snn_accuracy'])} % (ANN {_pct(row['ann_accuracy'])}), "
                        f"SynOps/MAC {row['synops_per_mac']:.2f}, compile {row['compile_seconds']:.0f} s")
                if checkpoint is not None:
                    checkpoint(results)
            for label, T, bits in plan.runs:
                bar.set_postfix_str(f"{name} {label} T={T} {bits}b")
                method = run_options(label)[0]
                row = {"model": name, "method": label, "compiler_method": method, "timesteps": T,
                       "weight_bits": bits, "status": OK, "snn_accuracy": None, "ann_accuracy": ann_acc,
                       "synops_per_sample": None, "macs_per_sample": macs, "synops_per_mac": None,
                       "run_steps": None, "energy_uj_per_sample": None, "compile_seconds": None, "sim_seconds": None}
                results["runs"].append(row)
                if method in unavailable:
                    row["status"] = NOT_IMPLEMENTED
                    done(row)
                    continue
                t0 = time.perf_counter()
                try:
                    graph, status = _compile(ann, calibration(method), label, T, bits, cache)
                except NeurocompileError as e:  # e.g. QuantizationError
                    graph, status = None, f"error: {e}"
                row["compile_seconds"] = time.perf_counter() - t0
                if graph is None:
                    row["status"] = status
                    if status == NOT_IMPLEMENTED:
                        unavailable.add(method)
                    else:
                        log(f"{name} {label} T={T} {bits}b: {status}")
                    done(row)
                    continue
                t0 = time.perf_counter()
                try:
                    res = simulate(graph, x_test, T)
                except NeurocompileError as e:
                    row["status"] = f"error: {e}"
                    log(f"{name} {label} T={T} {bits}b: {row['status']}")
                    done(row)
                    continue
                row["sim_seconds"] = time.perf_counter() - t0
                synops = float(np.mean(res.synops))
                spikes = float(np.mean(sum(res.spike_counts.values())))
                energy = estimate(counts_from_run(graph, x_test, synops, spikes, res.run_steps))
                row.update(snn_accuracy=float(np.mean(res.predictions == y_test)), synops_per_sample=synops,
                           synops_per_mac=synops / macs if macs else None, run_steps=int(res.run_steps),
                           energy_uj_per_sample={k: e["total"] for k, e in energy["uj_per_sample"].items()})
                done(row)
    return results


# ---------------------------------------------------------------------------------------------- output


def _find(results, model, label, T, bits):
    for r in results["runs"]:
        if (r["model"], r["method"], r["timesteps"], r["weight_bits"]) == (model, label, T, bits):
            return r
    return None


def _cell(row, key, fmt) -> str:
    if row is None:
        return "-"
    if row["status"] != OK:
        return NOT_IMPLEMENTED if row["status"] == NOT_IMPLEMENTED else "error"
    v = row.get(key)
    return "-" if v is None else fmt(v)


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def _sweep_labels_of(info: dict, sw: dict) -> list[str]:
    """The labels a model swept the weight width with (results of older runs name only ``sweep_label``)."""
    if "sweep_labels" in info:
        return info["sweep_labels"]
    label = info.get("sweep_label", sw["method"] if sw["method"] in info["methods"] else (
        QRELU_LABEL if info["qrelu_trained"] and info["methods"] else None))
    return [] if label is None else [label]


def format_markdown(results: dict, title: str = "# Conversion fidelity (issue 4)", summary: list[str] = ()) -> str:
    """The tables; ``summary`` (Markdown lines, e.g. the zoo's) goes between the intro and the per-model grids."""
    cfg = results["config"]
    Ts, bits = cfg["timesteps"], cfg["weight_bits"]
    sw = cfg["sweep"]
    lines = [
        title,
        "",
        (f"{cfg['dataset']} test split ({cfg['test_samples']} images), intsim, {bits}-bit weights, "
         f"calibration: {cfg['calib_samples']} train images (seed {cfg['calib_seed']}); "
         "compiled for each T. Accuracy in %."),
        "",
        *summary,
    ]
    ok_models = [(m, i) for m, i in results["models"].items() if i.get("status") == OK]

    def grid(title, key, fmt, with_ann):
        out = [f"## {title}", "", "| model | method |" + (" ANN |" if with_ann else "")
               + "".join(f" T={T} |" for T in Ts),
               "|---|---|" + ("---|" if with_ann else "") + "---|" * len(Ts)]
        for m, info in ok_models:
            for label in info["methods"]:
                cells = [_cell(_find(results, m, label, T, bits), key, fmt) for T in Ts]
                ann = f" {_pct(info['ann_accuracy'])} |" if with_ann else ""
                out.append(f"| {m} | {label} |{ann}" + "".join(f" {c} |" for c in cells))
        return out + [""]

    lines += grid("SNN accuracy vs T", "snn_accuracy", _pct, True)
    lines += grid("SynOps per sample / ANN MACs per sample", "synops_per_mac", lambda v: f"{v:.2f}", False)
    if any(r.get("energy_uj_per_sample") for r in results["runs"]):  # runs recorded before energy had none
        lines += grid("Energy per sample in uJ, Loihi / FPGA (docs/semantics.md, \"Energy\"; the ANN's in the notes)",
                      "energy_uj_per_sample", lambda v: f"{v['loihi1']:.3g} / {v['fpga-generic']:.2g}", False)

    sweep_rows = []
    for m, info in ok_models:
        for label in _sweep_labels_of(info, sw):
            cells = [_find(results, m, label, sw["timesteps"], b) for b in sw["weight_bits"]]
            if all(c is None for c in cells):
                continue
            sweep_rows.append(f"| {m} | {label} | {_pct(info['ann_accuracy'])} |" + "".join(
                f" {_cell(c, 'snn_accuracy', _pct)}"
                + (f" ({c['synops_per_mac']:.2f})" if c is not None and c["status"] == OK else "") + " |"
                for c in cells))
    if sweep_rows:
        lines += [f"## Weight bits at T={sw['timesteps']} (accuracy %, SynOps/MAC in parentheses)", "",
                  "| model | method | ANN |" + "".join(f" {b} bits |" for b in sw["weight_bits"]),
                  "|---|---|---|" + "---|" * len(sw["weight_bits"]), *sweep_rows, ""]

    pcts = sw.get("percentiles") or []
    pct_rows = []
    for m, info in ok_models:
        for norm in PCT_NORMS:
            cells = [_find(results, m, pct_label(norm, p), sw["timesteps"], bits) for p in pcts]
            if any(c is not None for c in cells):
                pct_rows.append(f"| {m} | {norm} | {_pct(info['ann_accuracy'])} |"
                                + "".join(f" {_cell(c, 'snn_accuracy', _pct)} |" for c in cells))
    if pct_rows:
        lines += [f"## Percentile sweep at T={sw['timesteps']} ({PCT_BASE}, {bits}-bit; accuracy %)", "",
                  "| model | normalisation | ANN |" + "".join(f" p={p:g} |" for p in pcts),
                  "|---|---|---|" + "---|" * len(pcts), *pct_rows, ""]

    notes = []
    for m, info in results["models"].items():
        if info.get("status") == OK:
            fam = info.get("trained") or ("qrelu" if info["qrelu_trained"] else None)
            notes.append(f"- {m}: ANN {_pct(info['ann_accuracy'])} %, {info['macs_per_sample']:,} MACs/sample"
                         + f" ({_ann_energy(info['macs_per_sample'])})"
                         + (f" ({fam}-trained; its own float ANN, activations clipped)" if fam else ""))
        else:
            notes.append(f"- {m}: {info.get('status')}")
    if QRELU_LABEL in cfg["methods"] and not any(i["qrelu_trained"] for i in results["models"].values()):
        notes.append("- qrelu: no QReLU-trained checkpoint (`examples/*qrelu*.pt2`) was given")
    errors = [r for r in results["runs"] if r["status"].startswith("error")]
    notes += [f"- {r['model']} {r['method']} T={r['timesteps']} {r['weight_bits']}b: {r['status']}" for r in errors]
    lines += ["## Models and notes", "", *notes, ""]
    return "\n".join(lines)


def _ann_energy(macs: int) -> str:
    """The ANN references' energy per sample (``neurocompile.targets.energy``)."""
    from neurocompile.targets.energy import ANN_REFERENCES

    return ", ".join(f"{k} {macs * spec.mac_pj * 1e-6:.3g} uJ" for k, spec in ANN_REFERENCES.items())


# ------------------------------------------------------------------------------------------------- zoo


def zoo_summary(results: dict) -> list[dict]:
    """Per (method, T, weight bits): every model's loss against its own float ANN in percentage points
    (ANN minus SNN accuracy; positive = the SNN is worse), their median and the worst (largest), and the
    median and largest SynOps/MAC; ``measured`` of ``models`` (the models that run the label) have a number
    (an interrupted run leaves some out). A method that is not implemented yet has status ``not implemented yet``
    and no numbers; a run that failed counts as missing (and is listed in the notes)."""
    cfg = results["config"]
    models = [m for m, i in results["models"].items() if i.get("status") == OK]
    keys = {(r["method"], r["timesteps"], r["weight_bits"]) for r in results["runs"] if r["model"] in models}
    order = list(METHODS)
    rows = []
    for label, T, bits in sorted(keys, key=lambda k: (order.index(k[0]) if k[0] in order else len(order),
                                                       k[1], k[2] != cfg["weight_bits"], k[2])):
        runs = [r for m in models if (r := _find(results, m, label, T, bits)) is not None]
        ok = [r for r in runs if r["status"] == OK]
        zoo_size = sum(label in results["models"][m]["methods"] for m in models)
        row = {"method": label, "timesteps": T, "weight_bits": bits, "models": zoo_size, "measured": len(ok),
               "loss_pp": {r["model"]: 100 * (r["ann_accuracy"] - r["snn_accuracy"]) for r in ok},
               "synops_per_mac": {r["model"]: r["synops_per_mac"] for r in ok}}
        if not ok:
            row["status"] = NOT_IMPLEMENTED if any(r["status"] == NOT_IMPLEMENTED for r in runs) else "error"
        else:
            losses, spm = row["loss_pp"], [v for v in row["synops_per_mac"].values() if v is not None]
            worst = max(losses, key=losses.get)
            row.update(status=OK, median_loss_pp=float(np.median(list(losses.values()))),
                       worst_loss_pp=losses[worst], worst_model=worst,
                       median_synops_per_mac=float(np.median(spm)) if spm else None,
                       max_synops_per_mac=max(spm) if spm else None)
        rows.append(row)
    return rows


def format_zoo_markdown(results: dict) -> str:
    """The zoo's summary (loss per model, median and worst per method and T; SynOps/MAC; 7- vs 8-bit) above
    the per-model tables of :func:`format_markdown`."""
    summary = results.get("zoo_summary") or zoo_summary(results)
    models = [m for m, i in results["models"].items() if i.get("status") == OK]
    bits = results["config"]["weight_bits"]
    head = "| method | T | bits |" + "".join(f" {m} |" for m in models)

    def table(key, fmt, agg):
        agg = [*agg, ("measured", None)]
        out = [head + "".join(f" {a} |" for a, _ in agg), "|---|---|---|" + "---|" * (len(models) + len(agg))]
        for r in summary:
            cells = [fmt(r[key][m]) if m in r[key] else "-" for m in models]
            tail = [r["status"]] * (len(agg) - 1) if r["status"] != OK else [
                "-" if r[k] is None else fmt(r[k]) + (f" ({r['worst_model']})" if k == "worst_loss_pp" else "")
                for _, k in agg[:-1]]
            tail.append(f"{r['measured']}/{r['models']}")
            out.append(f"| {r['method']} | {r['timesteps']} | {r['weight_bits']} |"
                       + "".join(f" {c} |" for c in cells + tail))
        return out + [""]

    lines = ["## Zoo: loss vs each model's own float ANN (pp; positive = the SNN is worse)", "",
             *table("loss_pp", lambda v: f"{v:.2f}", [("median", "median_loss_pp"), ("worst", "worst_loss_pp")]),
             "## Zoo: SynOps per sample / ANN MACs per sample", "",
             *table("synops_per_mac", lambda v: f"{v:.2f}",
                    [("median", "median_synops_per_mac"), ("max", "max_synops_per_mac")])]
    by_key = {(r["method"], r["timesteps"], r["weight_bits"]): r for r in summary}
    pairs = [(r, by_key.get((r["method"], r["timesteps"], bits))) for r in summary if r["weight_bits"] != bits]
    pairs = [(lo, hi) for lo, hi in pairs if hi is not None and lo["status"] == OK and hi["status"] == OK]
    if pairs:
        lines += ["## Zoo: weight width (accuracy at the narrower width minus at "
                  f"{bits} bits, pp; negative = the narrower width loses)", "",
                  "| method | T | bits |" + "".join(f" {m} |" for m in models) + " median | worst |",
                  "|---|---|---|" + "---|" * (len(models) + 2)]
        for lo, hi in pairs:
            diff = {m: hi["loss_pp"][m] - lo["loss_pp"][m] for m in models if m in lo["loss_pp"] and m in hi["loss_pp"]}
            cells = [f"{diff[m]:.2f}" if m in diff else "-" for m in models]
            worst = min(diff, key=diff.get) if diff else None
            cells += [f"{np.median(list(diff.values())):.2f}", f"{diff[worst]:.2f} ({worst})"] if diff else ["-", "-"]
            lines.append(f"| {lo['method']} | {lo['timesteps']} | {lo['weight_bits']} vs {bits} |"
                         + "".join(f" {c} |" for c in cells))
        lines.append("")
    return format_markdown(results, "# Conversion fidelity over the model zoo (issue 23)", lines)


def plot_zoo(results: dict, path: Path) -> None:
    """One panel per (T, weight bits): each model's loss vs its float ANN, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results.get("zoo_summary") or zoo_summary(results)
    models = [m for m, i in results["models"].items() if i.get("status") == OK]
    panels = sorted({(r["timesteps"], r["weight_bits"]) for r in summary if r["status"] == OK},
                    key=lambda k: (k[1] != results["config"]["weight_bits"], k))
    labels = list(dict.fromkeys(r["method"] for r in summary))  # one colour per method in every panel
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(max(6.0, 0.9 * len(models) + 2) * n, 4.4), squeeze=False)
    for ax, (T, bits) in zip(axes[0], panels):
        rows = [r for r in summary if (r["timesteps"], r["weight_bits"]) == (T, bits) and r["status"] == OK]
        width = 0.8 / max(1, len(rows))
        for j, r in enumerate(rows):
            xs = [i + (j - (len(rows) - 1) / 2) * width for i, m in enumerate(models) if m in r["loss_pp"]]
            ys = [r["loss_pp"][m] for m in models if m in r["loss_pp"]]
            ax.bar(xs, ys, width, color=f"C{labels.index(r['method']) % 10}",
                   label=f"{r['method']} (median {r['median_loss_pp']:.2f}, worst {r['worst_loss_pp']:.2f})")
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("loss vs float ANN (pp)")
        ax.set_title(f"T={T}, {bits}-bit ({results['config']['test_samples']} test images)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    _save_figure(fig, axes[0][len(panels):], path)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = results["config"]
    models = [(m, i) for m, i in results["models"].items() if i.get("status") == OK]
    n = max(1, len(models))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.2), squeeze=False)
    for ax, (m, info) in zip(axes[0], models):
        for label in info["methods"]:
            pts = [(T, r["snn_accuracy"]) for T in cfg["timesteps"]
                   if (r := _find(results, m, label, T, cfg["weight_bits"])) is not None and r["status"] == OK]
            if pts:
                ts, acc = zip(*pts)
                color = f"C{list(METHODS).index(label)}"  # one colour per method in every panel
                ax.plot(ts, [100 * a for a in acc], marker="o", color=color, label=label)
        ax.axhline(100 * info["ann_accuracy"], color="k", linestyle="--", linewidth=1,
                   label=f"ANN {_pct(info['ann_accuracy'])}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(cfg["timesteps"], [str(t) for t in cfg["timesteps"]])
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{m} ({cfg['weight_bits']}-bit, {cfg['test_samples']} test images)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    _save_figure(fig, axes[0][len(models):], path)


def _save_figure(fig, unused, path: Path) -> None:
    """Hide the ``unused`` panels, write ``fig`` to ``path`` as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    for ax in unused:
        ax.set_axis_off()
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_zoo(results: dict) -> bool:
    return bool(results["config"].get("zoo"))


def output_stem(results: dict) -> str:
    return "fidelity_zoo" if is_zoo(results) else "fidelity"


def write_outputs(results: dict, out: Path) -> dict[str, Path]:
    """``fidelity.{md,json,png}``, or ``fidelity_zoo.*`` (with the zoo's summary) for a ``--zoo`` run."""
    from neurocompile.bundle import write_json_atomic

    if is_zoo(results):
        results["zoo_summary"] = zoo_summary(results)
    md = format_zoo_markdown(results) if is_zoo(results) else format_markdown(results)
    stem = output_stem(results)
    paths = {k: out / f"{stem}.{k}" for k in ("md", "json", "png")}

    def write_md(tmp):
        Path(tmp).write_text(md)

    _atomic(paths["md"], write_md)
    write_json_atomic(results, paths["json"])
    (plot_zoo if is_zoo(results) else plot)(results, paths["png"])
    return paths


def combine(docs: list[dict]) -> dict:
    """Merge the results of several runs (``fidelity.json`` files, e.g. one per model or method) into one:
    the union of T grids, methods, models and runs; a later run of the same (model, method, T, bits)
    replaces an earlier one. The dataset and calibration must agree. The weight width of the T grid is the
    first file's; a file run at another width (e.g. ``--weight-bits 7 --timesteps 32 --sweep-bits``) adds
    its width to the weight-bits sweep."""
    if not docs:
        raise ValueError("nothing to combine")
    keys = ("dataset", "test_samples", "calib_samples", "calib_seed")
    first = docs[0]["config"]
    for d in docs[1:]:
        bad = [k for k in keys if d["config"].get(k) != first.get(k)]
        if bad:
            raise ValueError(f"cannot combine runs that differ in {', '.join(bad)}")
    cfg = dict(first)
    cfg["timesteps"] = sorted({T for d in docs for T in d["config"]["timesteps"]})
    cfg["methods"] = [m for m in METHODS if any(m in d["config"]["methods"] for d in docs)]
    cfg["wall_seconds"] = sum(d["config"].get("wall_seconds") or 0 for d in docs)
    cfg["zoo"] = any(d["config"].get("zoo") for d in docs)
    widths = {b for d in docs for b in d["config"]["sweep"]["weight_bits"]}
    widths |= {d["config"]["weight_bits"] for d in docs if d["config"]["weight_bits"] != cfg["weight_bits"]}
    cfg["sweep"] = {**cfg["sweep"], "weight_bits": sorted(widths | ({cfg["weight_bits"]} if len(widths) else set()))}
    models: dict = {}
    runs: dict = {}
    for d in docs:
        for name, info in d["models"].items():
            prev = models.get(name, {})
            merged = {**prev, **info}
            merged["methods"] = [m for m in METHODS if m in prev.get("methods", []) or m in info.get("methods", [])]
            if "sweep_labels" in prev or "sweep_labels" in info:
                merged["sweep_labels"] = [m for m in METHODS if m in prev.get("sweep_labels", [])
                                          or m in info.get("sweep_labels", [])]
            models[name] = merged
        for r in d["runs"]:
            runs[(r["model"], r["method"], r["timesteps"], r["weight_bits"])] = r
    return {"config": cfg, "models": models, "runs": list(runs.values())}


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", action="store_true",
                    help="run the model zoo (every examples/zoo/*.pt2, see examples/zoo/train.py) and write "
                         "fidelity_zoo.{md,json,png} with each model's loss vs its float ANN, the median and the "
                         "worst; changes the defaults of --methods, --timesteps and the sweeps (see below)")
    ap.add_argument("--models", nargs="+", type=Path, metavar="PT2",
                    help="models to convert (default: examples/fashion_cnn.pt2, examples/fashion_vgg.pt2 and "
                         "every examples/*qrelu*.pt2 / *stcsnn*.pt2; with --zoo every examples/zoo/*.pt2)")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), metavar="METHOD",
                    help=f"conversion methods: {', '.join(METHODS)} (default: all; with --zoo "
                         f"{' '.join(ZOO_METHODS)})")
    ap.add_argument("--timesteps", nargs="+", type=int, metavar="T",
                    help=f"integration steps (default: {' '.join(map(str, DEFAULT_TIMESTEPS))}; with --zoo "
                         f"{' '.join(map(str, ZOO_TIMESTEPS))})")
    ap.add_argument("--limit", type=int, metavar="N", help="use only the first N test images (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", metavar="DIR",
                    help="directory for fidelity.md / .json / .png (fidelity_zoo.* with --zoo; default: "
                         "benchmarks/results)")
    ap.add_argument("--dataset", default="fashion-mnist",
                    help="dataset name or .npz (train split calibrates, test split is measured; default %(default)s)")
    ap.add_argument("--calib-samples", type=int, default=None, metavar="N",
                    help="calibration images (default: each method's own, 1000; 2000 for robust)")
    ap.add_argument("--weight-bits", type=int, default=8, help="weight width of the T grid (default %(default)s)")
    ap.add_argument("--sweep-method", choices=[*METHODS, SWEEP_ALL],
                    help="method of the weight-bits sweep, run when it is among --methods; "
                         f"{SWEEP_ALL}: every method a model runs (default ecc; with --zoo {SWEEP_ALL})")
    ap.add_argument("--sweep-bits", nargs="*", type=int, metavar="B",
                    help="weight widths of the sweep; none to skip it (default: "
                         f"{' '.join(map(str, DEFAULT_SWEEP_BITS))}; with --zoo {' '.join(map(str, ZOO_SWEEP_BITS))})")
    ap.add_argument("--sweep-percentiles", nargs="*", type=float, metavar="P",
                    help="percentiles of the normalisation sweep (layer- and channel-wise "
                    f"{PCT_BASE}) at the sweep T; none to skip it (default: "
                    f"{' '.join(f'{p:g}' for p in DEFAULT_SWEEP_PERCENTILES)}; with --zoo none)")
    ap.add_argument("--sweep-timesteps", type=int, metavar="T",
                    help="T of the weight-bits sweep (default: 32 if it is among --timesteps, else the largest "
                         "of them, so the sweep reuses the grid's conversion)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default %(default)s)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ap.add_argument("--combine", nargs="+", type=Path, metavar="JSON",
                    help="run nothing: merge these fidelity.json / fidelity_zoo.json files (e.g. one per model) "
                         "and write the tables and plot of the union to --out (zoo outputs if any is a zoo run)")
    args = ap.parse_args(argv)
    zoo = args.zoo
    for name, plain, zoo_default in (("methods", list(METHODS), list(ZOO_METHODS)),
                                     ("timesteps", list(DEFAULT_TIMESTEPS), list(ZOO_TIMESTEPS)),
                                     ("sweep_method", "ecc", SWEEP_ALL),
                                     ("sweep_bits", list(DEFAULT_SWEEP_BITS), list(ZOO_SWEEP_BITS)),
                                     ("sweep_percentiles", list(DEFAULT_SWEEP_PERCENTILES), [])):
        if getattr(args, name) is None:
            setattr(args, name, zoo_default if zoo else plain)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be >= 1")
    if any(t < 1 for t in args.timesteps + [args.sweep_timesteps or 1]):
        ap.error("timesteps must be >= 1")
    return args


def main(argv=None) -> dict:
    import torch

    args = parse_args(argv)
    if args.combine:
        import json

        results = combine([json.loads(p.read_text()) for p in args.combine])
        results["config"]["zoo"] = results["config"]["zoo"] or args.zoo
        paths = write_outputs(results, args.out)
        print(paths["md"].read_text())
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
        return results
    from neurocompile.bundle import write_json_atomic

    torch.set_num_threads(args.threads)
    models = args.models if args.models else (zoo_models() if args.zoo else default_models())
    stem = "fidelity_zoo" if args.zoo else "fidelity"
    t0 = time.perf_counter()
    results = run_benchmark(models, args.methods, args.timesteps, args.limit, args.dataset, args.calib_samples,
                            args.weight_bits, args.sweep_method, args.sweep_bits, args.sweep_timesteps,
                            progress=not args.no_progress, sweep_percentiles=args.sweep_percentiles,
                            checkpoint=lambda r: write_json_atomic(r, args.out / f"{stem}.json"), zoo=args.zoo)
    results["config"]["wall_seconds"] = time.perf_counter() - t0
    paths = write_outputs(results, args.out)
    print(paths["md"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({results['config']['wall_seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
