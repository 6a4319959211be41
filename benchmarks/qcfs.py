"""QCFS at low latency (issue 23): accuracy, loss vs the model's own ANN, SynOps/MAC and latency to the readout.

For every QCFS-trained model (default: ``examples/zoo/*_qcfs.pt2``, L = 4, and ``*_qcfs_l<L>.pt2``, trained by
``examples/zoo/train_qcfs.py``) and every T (default 1 2 4 8), the model is compiled with ``--method qcfs`` at
8-bit weights (calibration: the first ``--calib-samples`` train images after the CLI's fixed-seed shuffle, by
default each method's own number; QCFS takes its thresholds from the trained clips, the calibration sets the
readout's scale, and ``qcfs`` corrects and checks on it) and run in intsim on the test split (all 10 000 images
by default). Recorded: SNN accuracy, the loss against the model's own ANN (the exported network, ``clamp(x, 0,
lam)`` activations, which the compiler sees; and the QCFS ANN with its L-level activations, as measured at
training time and stored in the sidecar), SynOps per sample / ANN MACs per sample, and the median and worst over
the models trained with the same L. Label ``qcfs-plain`` is Bu et al.'s conversion alone (``--method qrelu
--neuron if``: the baseline ``qcfs`` starts from), to show what the correction brings.

Each QCFS build is measured twice: as the intsim target builds it (synapse delay 0) and as the loihi2-sim target
builds it (label ``qcfs@loihi2-sim``: synapse delay 1 per layer, 8-bit weights, Lava's bias format; run in intsim,
which Lava reproduces bit for bit). The delay is not only a shift in time: a population integrates its bias for
depth x delay steps before its first input arrives, which matters at T <= 8.

Latency to the readout, in steps: a rate-coded network runs ``T + d x D`` steps (``neurocompile.ir.timing``),
``D`` = synaptic chains on the longest input-to-readout path, ``d`` = the synapse delay. Next to it, STCSNN
(``--method stcsnn``, tau = 2) on the same QCFS-trained models (the same weights and ANN; its encoders take the
trained clips as their ranges): each block's T-step spike train follows the previous block's, so its readout is
ready after ``(D - 1) x T`` steps, whatever the delay; STCSNN refuses max pooling (recorded as not supported).

Writes ``OUT/qcfs.md`` (printed too) and ``OUT/qcfs.json`` (accuracies as fractions). Takes 10-15 minutes per model
on one thread; a quick look: ``.venv/bin/python benchmarks/qcfs.py --limit 1000``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "examples" / "zoo"
DEFAULT_TIMESTEPS = (1, 2, 4, 8)
DEFAULT_STC_TIMESTEPS = (2, 4, 8)


def default_models() -> list[Path]:
    """The zoo's QCFS models: ``<arch>_qcfs.pt2`` (L = 4) and ``<arch>_qcfs_l<L>.pt2`` (other level counts)."""
    return sorted({*ZOO.glob("*_qcfs.pt2"), *ZOO.glob("*_qcfs_l*.pt2")})


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _pp(v) -> str:
    return "-" if v is None else f"{100 * v:+.2f}"


LOIHI = "qcfs@loihi2-sim"  # the label of the runs with the loihi2-sim target's arithmetic and timing
PLAIN = "qcfs-plain"  # Bu et al.'s conversion alone, the baseline --method qcfs corrects and checks
QCFS_LABELS = ("qcfs", PLAIN, LOIHI)


def options(label: str, T: int, levels: int | None = None):
    """CompileOptions of a run: ``qcfs`` / ``stcsnn`` as intsim builds them (synapse delay 0); ``LOIHI``: qcfs
    with the loihi2-sim target's overrides (synapse delay 1 per layer, 8-bit weights, Lava's bias format) --
    the integer network Lava runs, bit for bit. ``levels``: the L the model was trained with
    (``--qcfs-levels``; from its sidecar)."""
    from neurocompile.compiler import CompileOptions
    from neurocompile.targets import get_target

    extra = get_target("loihi2-sim").compile_overrides() if label == LOIHI else {}
    if label == PLAIN:  # what qrelu builds with plain IF neurons: Bu et al.'s conversion, unchecked
        return CompileOptions(method="qrelu", neuron="if", timesteps=T, weight_bits=8)
    method = label.split("@")[0]
    if method == "qcfs":
        extra["qcfs_levels"] = levels
    return CompileOptions(method=method, timesteps=T, weight_bits=8, **extra)


def run(models, timesteps, stc_timesteps, limit, calib_samples, log) -> dict:
    from neurocompile import datasets
    from neurocompile.api.data import CALIB_SEED, calibration_subset
    from neurocompile.backends.intsim import macs_per_sample, simulate
    from neurocompile.compiler import METHODS, compile_graph
    from neurocompile.errors import NeurocompileError
    from neurocompile.frontend import load_model
    from neurocompile.ir.ann import run_ann
    from neurocompile.ir.timing import chain_depths, run_steps

    x_train, _ = datasets.load("fashion-mnist", "train")
    def own(label):  # the calibration images a label's method takes by default (qcfs: 2000, half to check)
        return calib_samples or METHODS[options(label, 1).method].calib_samples

    labels = [(label, timesteps) for label in QCFS_LABELS] + [("stcsnn", stc_timesteps)]
    # the first n images of the shuffle are the same whatever the subset's size, so one subset serves every label
    x_cal = calibration_subset(x_train, max(own(label) for label, _ in labels))
    x_test, y_test = datasets.load("fashion-mnist", "test")
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]
    res = {"config": {"dataset": "fashion-mnist", "test_samples": len(x_test), "calib_samples": calib_samples or "own",
                      "calib_seed": CALIB_SEED, "weight_bits": 8, "timesteps": list(timesteps),
                      "stcsnn_timesteps": list(stc_timesteps), "backend": "intsim"},
           "models": {}, "runs": []}
    for path in models:
        name = Path(path).stem
        side = Path(path).with_suffix(".json")
        meta = json.loads(side.read_text()) if side.exists() else {}
        ann = load_model(path)
        out, _ = run_ann(ann, x_test)
        macs = int(macs_per_sample(ann))
        info = {"path": str(path), "ann_accuracy": float(np.mean(out.argmax(1) == y_test)),
                "qcfs_ann_accuracy": meta.get("qcfs_test_accuracy") if limit is None else None,
                "levels": meta.get("levels"), "macs_per_sample": macs}
        res["models"][name] = info
        log(f"{name}: ANN {_pct(info['ann_accuracy'])} %, QCFS ANN {_pct(info['qcfs_ann_accuracy'])} %, "
            f"{macs:,} MACs")
        for label, Ts in labels:
            for T in Ts:
                t0 = time.perf_counter()
                try:
                    g = compile_graph(ann, x_cal[:own(label)], options(label, T, info["levels"]))
                except NeurocompileError as e:  # e.g. STCSNN refuses max pooling
                    res["runs"].append({"model": name, "method": label, "timesteps": T, "error": str(e)})
                    log(f"  {label} T={T}: {e}")
                    continue
                t1 = time.perf_counter()
                r = simulate(g, x_test, T)
                syn = float(np.mean(r.synops))
                row = {"model": name, "method": label, "timesteps": T, "depth": chain_depths(g)[g.output.name],
                       "synapse_delay": int(g.meta["synapse_delay"]),
                       "snn_accuracy": float(np.mean(r.predictions == y_test)),
                       "synops_per_sample": syn, "synops_per_mac": syn / macs, "latency": run_steps(g, T),
                       "compile_seconds": t1 - t0, "sim_seconds": time.perf_counter() - t1,
                       "calib_samples": min(own(label), len(x_cal)),
                       "conversion": (g.meta.get("robust") or {}).get("chosen")}
                row["loss_vs_ann"] = info["ann_accuracy"] - row["snn_accuracy"]
                q = info["qcfs_ann_accuracy"]
                row["loss_vs_qcfs_ann"] = None if q is None else q - row["snn_accuracy"]
                res["runs"].append(row)
                log(f"  {label} T={T}: SNN {_pct(row['snn_accuracy'])} % (loss {_pp(row['loss_vs_ann'])} pp), "
                    f"SynOps/MAC {row['synops_per_mac']:.3f}, latency {row['latency']} steps "
                    f"({row['compile_seconds'] + row['sim_seconds']:.0f} s)")
    return res


def _find(res, model, method, T, errors=False):
    """The run of (model, method, T); None if there is none or (unless ``errors``) it failed."""
    r = next((r for r in res["runs"] if (r["model"], r["method"], r["timesteps"]) == (model, method, T)), None)
    return r if r is None or errors or "error" not in r else None


def levels(res: dict) -> list:
    """The level counts L of the models (models trained with the same L are summarised together)."""
    return sorted({i.get("levels") or 0 for i in res["models"].values()})


def summary(res: dict) -> dict:
    """Per label, level count (``"L=4"``) and T: median and worst loss (vs the exported ANN and vs the QCFS ANN),
    median and largest SynOps/MAC, over the models trained with that many levels that ran."""
    out: dict = {}
    for label in (QCFS_LABELS + ("stcsnn",)):
        for L in levels(res):
            for T in sorted({r["timesteps"] for r in res["runs"] if r["method"] == label}):
                rows = [r for m, i in res["models"].items()
                        if (i.get("levels") or 0) == L and (r := _find(res, m, label, T)) is not None]
                if rows:
                    out.setdefault(label, {}).setdefault(f"L={L}", {})[str(T)] = _stats(rows)
    return out


def _stats(rows: list) -> dict:
    loss = [r["loss_vs_ann"] for r in rows]
    lq = [r["loss_vs_qcfs_ann"] for r in rows if r["loss_vs_qcfs_ann"] is not None]
    return {"models": len(rows), "median_loss": float(np.median(loss)), "worst_loss": float(np.max(loss)),
            "median_loss_vs_qcfs_ann": float(np.median(lq)) if lq else None,
            "worst_loss_vs_qcfs_ann": float(np.max(lq)) if lq else None,
            "median_synops_per_mac": float(np.median([r["synops_per_mac"] for r in rows])),
            "max_synops_per_mac": float(np.max([r["synops_per_mac"] for r in rows]))}


def format_markdown(res: dict) -> str:
    cfg, models = res["config"], res["models"]
    Ts, Ss = cfg["timesteps"], cfg["stcsnn_timesteps"]
    summ = res.get("summary", {})
    L = sorted({i["levels"] for i in models.values() if i.get("levels")})
    calib = "each method's own number of" if cfg["calib_samples"] == "own" else cfg["calib_samples"]
    lines = ["# QCFS at low latency (issue 23)", "",
             f"{cfg['dataset']} test split ({cfg['test_samples']} images), intsim, {cfg['weight_bits']}-bit weights, "
             f"`--method qcfs` (thresholds = the trained clips, plain IF, initial potential ½ threshold, reset by "
             f"subtraction; each layer's mean error against the model's L-level QCFS network (`--qcfs-levels` "
             f"from the sidecar) corrected in its bias if that holds on held-out calibration images); `{PLAIN}`: "
             f"Bu et al.'s conversion alone (`--method qrelu --neuron if`). Calibration: {calib} "
             f"train images (seed {cfg['calib_seed']}; qcfs 2000, half to choose and half to check; the others "
             f"1000, the same as qcfs chooses on). Models: `examples/zoo/*_qcfs.pt2` (L = 4) and `*_qcfs_l<L>.pt2` "
             f"(`examples/zoo/train_qcfs.py`, L = {', '.join(map(str, L)) or '?'}); medians and worsts are over "
             "the models trained with the same L. "
             "ANN: the exported network (`clamp(x, 0, λ)`); QCFS ANN: the trained network with its L-level "
             "activations (from the sidecar). Accuracy in %, loss in percentage points (positive: SNN below). "
             f"`qcfs`: the intsim target (synapse delay 0); `{LOIHI}`: the loihi2-sim target's integer network "
             "(synapse delay 1 per layer, Lava's bias format), run in intsim, which Lava reproduces bit for bit.",
             ""]
    for label in QCFS_LABELS:
        lines += [f"## {label}: accuracy, loss vs own ANN (exported / QCFS ANN), SynOps/MAC", "",
                  "| model | ANN | QCFS ANN | MACs |" + "".join(f" T={T} |" for T in Ts),
                  "|---|---|---|---|" + "---|" * len(Ts)]
        for m, i in models.items():
            cells = []
            for T in Ts:
                r = _find(res, m, label, T)
                cells.append("-" if r is None else f"{_pct(r['snn_accuracy'])} ({_pp(r['loss_vs_ann'])} / "
                             f"{_pp(r['loss_vs_qcfs_ann'])} pp; {r['synops_per_mac']:.2f})")
            lines.append(f"| {m} | {_pct(i['ann_accuracy'])} | {_pct(i['qcfs_ann_accuracy'])} | "
                         f"{i['macs_per_sample']:,} |" + "".join(f" {c} |" for c in cells))
        for lv, by_t in summ.get(label, {}).items():
            for key in ("median", "worst"):
                cells = []
                for T in Ts:
                    sm = by_t.get(str(T))
                    cells.append("-" if sm is None else
                                 f"({_pp(sm[f'{key}_loss'])} / {_pp(sm[f'{key}_loss_vs_qcfs_ann'])} pp; "
                                 f"{sm[('median' if key == 'median' else 'max') + '_synops_per_mac']:.2f})")
                lines.append(f"| **{key}, {lv}** | | | |" + "".join(f" {c} |" for c in cells))
        lines.append("")
    lines += ["## Latency to the readout (steps) next to STCSNN on the same models", "",
              f"`qcfs`: `T` steps (synapse delay 0); `{LOIHI}`: `T + D` (delay 1 per layer); `stcsnn` "
              "(`--method stcsnn`, τ = 2, on the same QCFS-trained models, the clips as the encoders' ranges): "
              "`(D − 1) × T`, one block after another, whatever the delay. D = synaptic chains from the input to "
              "the readout.", "",
              "| model | D | method | T | accuracy | loss vs ANN (pp) | latency (steps) | SynOps/MAC |",
              "|---|---|---|---|---|---|---|---|"]
    for m in models:
        for label, grid in ((QCFS_LABELS[0], Ts), (LOIHI, Ts), ("stcsnn", Ss)):
            for T in grid:
                r = _find(res, m, label, T, errors=True)
                if r is not None and "error" in r:
                    why = r["error"].split(": ")[-1].split(" (")[0]
                    lines.append(f"| {m} | | {label} | {T} | not supported: {why} | | | |")
                elif r is not None:
                    lines.append(f"| {m} | {r['depth']} | {label} | {T} | {_pct(r['snn_accuracy'])} | "
                                 f"{_pp(r['loss_vs_ann'])} | {r['latency']} | {r['synops_per_mac']:.3f} |")
    acc = []
    for label in QCFS_LABELS:
        for (lv, by_t), (T, lim) in itertools.product(summ.get(label, {}).items(), ((4, 0.5), (2, 2.0))):
            sm = by_t.get(str(T))
            if sm is not None:
                acc.append(f"- {label}, {lv} models, T = {T}: median loss {_pp(sm['median_loss'])} pp vs the exported ANN, "
                           f"{_pp(sm['median_loss_vs_qcfs_ann'])} pp vs the QCFS ANN (target ≤ {lim:.1f} pp)"
                           + (f"; median SynOps/MAC {sm['median_synops_per_mac']:.3f} (target ≤ 1.0)"
                              if T == 4 else ""))
    lines += ["", "## Against issue 23's acceptance", "", *acc, ""]
    return "\n".join(lines)


def combine(docs: list[dict]) -> dict:
    """Merge runs of this benchmark (e.g. one per model); their test set and calibration must agree."""
    keys = ("dataset", "test_samples", "calib_samples", "calib_seed", "weight_bits")
    for d in docs[1:]:
        bad = [k for k in keys if d["config"].get(k) != docs[0]["config"].get(k)]
        if bad:
            raise SystemExit(f"cannot combine runs that differ in {', '.join(bad)}")
    cfg = dict(docs[0]["config"])
    cfg["timesteps"] = sorted({T for d in docs for T in d["config"]["timesteps"]})
    cfg["stcsnn_timesteps"] = sorted({T for d in docs for T in d["config"]["stcsnn_timesteps"]})
    cfg["wall_seconds"] = round(sum(d["config"].get("wall_seconds") or 0 for d in docs), 1)
    runs = {}
    for d in docs:
        for r in d["runs"]:
            runs[(r["model"], r["method"], r["timesteps"])] = r
    return {"config": cfg, "models": {k: v for d in docs for k, v in d["models"].items()}, "runs": list(runs.values())}


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", type=Path, metavar="PT2",
                    help="QCFS-trained models (default: examples/zoo/*_qcfs.pt2 and *_qcfs_l*.pt2)")
    ap.add_argument("--timesteps", nargs="+", type=int, default=list(DEFAULT_TIMESTEPS), metavar="T",
                    help="QCFS integration steps (default: %(default)s)")
    ap.add_argument("--stc-timesteps", nargs="*", type=int, default=list(DEFAULT_STC_TIMESTEPS), metavar="T",
                    help="STCSNN spike-train lengths; none to skip STCSNN (default: %(default)s)")
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N test images (default: all)")
    ap.add_argument("--calib-samples", type=int, default=None, metavar="N",
                    help="calibration images for every method (default: each method's own: 2000 for qcfs, which "
                         "chooses on the first half and checks on the second, 1000 otherwise)")
    ap.add_argument("--combine", nargs="+", type=Path, metavar="JSON",
                    help="merge these qcfs.json files (e.g. one run per model) into OUT/qcfs.{md,json}; runs nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", metavar="DIR",
                    help="directory for qcfs.md / qcfs.json (default: benchmarks/results)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.combine:
        res = combine([json.loads(p.read_text()) for p in args.combine])
    else:
        import torch

        torch.set_num_threads(args.threads)
        models = args.models or default_models()
        if not models:
            print("no QCFS models: train them with examples/zoo/train_qcfs.py", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        res = run(models, args.timesteps, args.stc_timesteps, args.limit, args.calib_samples,
                  lambda s: print(s, file=sys.stderr, flush=True))
        res["config"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["summary"] = summary(res)
    md = format_markdown(res)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qcfs.md").write_text(md)
    (args.out / "qcfs.json").write_text(json.dumps(res, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
