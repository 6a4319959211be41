"""QCFS at low latency (issue 23): accuracy, loss vs the model's own ANN, SynOps/MAC and latency to the readout.

For every QCFS-trained model (default: ``examples/zoo/*_qcfs.pt2``, trained by ``examples/zoo/train_qcfs.py``) and
every T (default 1 2 4 8), the model is compiled with ``--method qcfs`` at 8-bit weights (calibration: the first
``--calib-samples`` train images after the CLI's fixed-seed shuffle; QCFS takes its thresholds from the trained
clips, the calibration only sets the readout's scale) and run in intsim on the test split (all 10 000 images by
default). Recorded: SNN accuracy, the loss against the model's own ANN (the exported network, ``clamp(x, 0, lam)``
activations, which the compiler sees; and the QCFS ANN with its L-level activations, as measured at training time
and stored in the sidecar), SynOps per sample / ANN MACs per sample, and the median and worst over the models.

Latency to the readout, in steps: a rate-coded network runs ``T + d x D`` steps (``neurocompile.ir.timing``),
``D`` = synaptic chains on the longest input-to-readout path, ``d`` = the synapse delay: 0 for intsim, 1 on the
Loihi targets (loihi2-sim / Lava, one step per layer) and the FPGA. The delay shifts every layer's spikes in time
and changes nothing else; ``--check-delay N`` compiles T = 4 at d = 1 as well and checks on N test images that
the predictions are the same. Next to it, STCSNN (``--method stcsnn``, tau = 2) on the same QCFS-trained models
(the same weights and ANN; its encoders take the trained clips as their ranges): each block's T-step spike train
follows the previous block's, so its readout is ready after ``(D - 1) x T`` steps, whatever the delay.

Writes ``OUT/qcfs.md`` (printed too) and ``OUT/qcfs.json`` (accuracies as fractions). Takes about ten minutes per
model on 2 cores; a quick look: ``.venv/bin/python benchmarks/qcfs.py --limit 1000``.
"""

from __future__ import annotations

import argparse
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
    return sorted(ZOO.glob("*_qcfs.pt2"))


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _pp(v) -> str:
    return "-" if v is None else f"{100 * v:+.2f}"


def run(models, timesteps, stc_timesteps, limit, calib_samples, check_delay, log) -> dict:
    from neurocompile import datasets
    from neurocompile.api.data import CALIB_SEED, calibration_subset
    from neurocompile.backends.intsim import macs_per_sample, simulate
    from neurocompile.compiler import CompileOptions, compile_graph
    from neurocompile.frontend import load_model
    from neurocompile.ir.ann import run_ann
    from neurocompile.ir.timing import chain_depths, run_steps

    x_train, _ = datasets.load("fashion-mnist", "train")
    x_cal = calibration_subset(x_train, calib_samples)
    x_test, y_test = datasets.load("fashion-mnist", "test")
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]
    res = {"config": {"dataset": "fashion-mnist", "test_samples": len(x_test), "calib_samples": len(x_cal),
                      "calib_seed": CALIB_SEED, "weight_bits": 8, "timesteps": list(timesteps),
                      "stcsnn_timesteps": list(stc_timesteps), "backend": "intsim", "check_delay": check_delay},
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
        for method, Ts in (("qcfs", timesteps), ("stcsnn", stc_timesteps)):
            for T in Ts:
                t0 = time.perf_counter()
                g = compile_graph(ann, x_cal, CompileOptions(method=method, timesteps=T, weight_bits=8))
                t1 = time.perf_counter()
                r = simulate(g, x_test, T)
                depth = chain_depths(g)[g.output.name]
                syn = float(np.mean(r.synops))
                row = {"model": name, "method": method, "timesteps": T, "depth": depth,
                       "snn_accuracy": float(np.mean(r.predictions == y_test)),
                       "synops_per_sample": syn, "synops_per_mac": syn / macs,
                       "latency_delay0": run_steps(g, T),
                       "latency_delay1": T + depth if method == "qcfs" else run_steps(g, T),
                       "compile_seconds": t1 - t0, "sim_seconds": time.perf_counter() - t1}
                row["loss_vs_ann"] = info["ann_accuracy"] - row["snn_accuracy"]
                q = info["qcfs_ann_accuracy"]
                row["loss_vs_qcfs_ann"] = None if q is None else q - row["snn_accuracy"]
                res["runs"].append(row)
                log(f"  {method} T={T}: SNN {_pct(row['snn_accuracy'])} % (loss {_pp(row['loss_vs_ann'])} pp), "
                    f"SynOps/MAC {row['synops_per_mac']:.3f}, latency {row['latency_delay0']} / "
                    f"{row['latency_delay1']} steps")
        if check_delay:  # the Loihi timing: the same spikes, later
            n = min(check_delay, len(x_test))
            g0 = compile_graph(ann, x_cal, CompileOptions(method="qcfs", timesteps=4))
            g1 = compile_graph(ann, x_cal, CompileOptions(method="qcfs", timesteps=4, synapse_delay=1))
            p0, p1 = simulate(g0, x_test[:n], 4).predictions, simulate(g1, x_test[:n], 4).predictions
            assert run_steps(g1, 4) == 4 + chain_depths(g1)[g1.output.name]
            info["delay1_same_predictions"] = {"samples": n, "equal": bool(np.array_equal(p0, p1))}
            log(f"  delay 1 vs 0 at T=4 on {n} images: predictions equal: {bool(np.array_equal(p0, p1))}")
    return res


def _find(res, model, method, T):
    return next((r for r in res["runs"] if (r["model"], r["method"], r["timesteps"]) == (model, method, T)), None)


def summary(res: dict) -> dict:
    """Median and worst loss (vs the exported ANN and vs the QCFS ANN) and median SynOps/MAC per T."""
    out = {}
    for T in res["config"]["timesteps"]:
        rows = [r for m in res["models"] if (r := _find(res, m, "qcfs", T)) is not None]
        if not rows:
            continue
        loss = [r["loss_vs_ann"] for r in rows]
        lq = [r["loss_vs_qcfs_ann"] for r in rows if r["loss_vs_qcfs_ann"] is not None]
        out[T] = {"median_loss": float(np.median(loss)), "worst_loss": float(np.max(loss)),
                  "median_loss_vs_qcfs_ann": float(np.median(lq)) if lq else None,
                  "worst_loss_vs_qcfs_ann": float(np.max(lq)) if lq else None,
                  "median_synops_per_mac": float(np.median([r["synops_per_mac"] for r in rows])),
                  "max_synops_per_mac": float(np.max([r["synops_per_mac"] for r in rows]))}
    return out


def format_markdown(res: dict) -> str:
    cfg, models = res["config"], res["models"]
    Ts, Ss = cfg["timesteps"], cfg["stcsnn_timesteps"]
    summ = {int(k): v for k, v in res.get("summary", {}).items()}
    L = sorted({i["levels"] for i in models.values() if i.get("levels")})
    lines = ["# QCFS at low latency (issue 23)", "",
             f"{cfg['dataset']} test split ({cfg['test_samples']} images), intsim, {cfg['weight_bits']}-bit weights, "
             f"`--method qcfs` (thresholds = the trained clips, plain IF, initial potential ½ threshold, reset by "
             f"subtraction); calibration {cfg['calib_samples']} train images (seed {cfg['calib_seed']}). Models: "
             f"`examples/zoo/*_qcfs.pt2` (`examples/zoo/train_qcfs.py`, L = {', '.join(map(str, L)) or '?'}). "
             "ANN: the exported network (`clamp(x, 0, λ)`); QCFS ANN: the trained network with its L-level "
             "activations (from the sidecar). Accuracy in %, loss in percentage points (positive: SNN below).", "",
             "## Accuracy", "",
             "| model | ANN | QCFS ANN |" + "".join(f" T={T} |" for T in Ts),
             "|---|---|---|" + "---|" * len(Ts)]
    for m, i in models.items():
        lines.append(f"| {m} | {_pct(i['ann_accuracy'])} | {_pct(i['qcfs_ann_accuracy'])} |"
                     + "".join(f" {_pct((_find(res, m, 'qcfs', T) or {}).get('snn_accuracy'))} |" for T in Ts))
    lines += ["", "## Loss vs own ANN (pp): exported ANN / QCFS ANN", "",
              "| model |" + "".join(f" T={T} |" for T in Ts), "|---|" + "---|" * len(Ts)]
    for m in models:
        cells = []
        for T in Ts:
            r = _find(res, m, "qcfs", T)
            cells.append("-" if r is None else f"{_pp(r['loss_vs_ann'])} / {_pp(r['loss_vs_qcfs_ann'])}")
        lines.append(f"| {m} |" + "".join(f" {c} |" for c in cells))
    for key, lab in (("median", "**median**"), ("worst", "**worst**")):
        lines.append(f"| {lab} |" + "".join(
            f" {_pp(summ[T][f'{key}_loss'])} / {_pp(summ[T][f'{key}_loss_vs_qcfs_ann'])} |" if T in summ else " - |"
            for T in Ts))
    lines += ["", "## SynOps per sample / ANN MACs per sample", "",
              "| model | MACs |" + "".join(f" T={T} |" for T in Ts), "|---|---|" + "---|" * len(Ts)]
    for m, i in models.items():
        lines.append(f"| {m} | {i['macs_per_sample']:,} |" + "".join(
            f" {r['synops_per_mac']:.3f} |" if (r := _find(res, m, 'qcfs', T)) else " - |" for T in Ts))
    lines.append("| **median** | |" + "".join(
        f" {summ[T]['median_synops_per_mac']:.3f} |" if T in summ else " - |" for T in Ts))
    lines += ["", "## Latency to the readout (steps) next to STCSNN on the same models", "",
              "QCFS: `T` steps at synapse delay 0 (intsim), `T + D` at delay 1 per layer (Loihi / Lava, FPGA); STCSNN "
              "(`--method stcsnn`, τ = 2, on the same QCFS-trained models): `(D − 1) × T`, blocks one after another "
              "(the delay does not apply). D = synaptic chains from the input to the readout.", "",
              "| model | D | method | T | accuracy | loss vs ANN | latency d=0 | latency d=1 | SynOps/MAC |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in models:
        for method, grid in (("qcfs", Ts), ("stcsnn", Ss)):
            for T in grid:
                r = _find(res, m, method, T)
                if r is not None:
                    lines.append(f"| {m} | {r['depth']} | {method} | {T} | {_pct(r['snn_accuracy'])} | "
                                 f"{_pp(r['loss_vs_ann'])} | {r['latency_delay0']} | {r['latency_delay1']} | "
                                 f"{r['synops_per_mac']:.3f} |")
    notes = [f"- {m}: delay 1 vs delay 0 at T = 4, {i['delay1_same_predictions']['samples']} test images: "
             f"predictions {'equal' if i['delay1_same_predictions']['equal'] else 'DIFFER'}"
             for m, i in models.items() if "delay1_same_predictions" in i]
    acc = []
    for T, lim in ((4, 0.005), (2, 0.02)):
        if T in summ:
            s = summ[T]
            acc.append(f"- T = {T}: median loss {_pp(s['median_loss'])} pp vs the exported ANN, "
                       f"{_pp(s['median_loss_vs_qcfs_ann'])} pp vs the QCFS ANN (target ≤ {100 * lim:.1f} pp)"
                       + (f"; median SynOps/MAC {s['median_synops_per_mac']:.3f} (target ≤ 1.0)" if T == 4 else ""))
    lines += ["", "## Against issue 23's acceptance", "", *acc, *notes, ""]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", type=Path, metavar="PT2",
                    help="QCFS-trained models (default: examples/zoo/*_qcfs.pt2)")
    ap.add_argument("--timesteps", nargs="+", type=int, default=list(DEFAULT_TIMESTEPS), metavar="T",
                    help="QCFS integration steps (default: %(default)s)")
    ap.add_argument("--stc-timesteps", nargs="*", type=int, default=list(DEFAULT_STC_TIMESTEPS), metavar="T",
                    help="STCSNN spike-train lengths; none to skip STCSNN (default: %(default)s)")
    ap.add_argument("--limit", type=int, metavar="N", help="only the first N test images (default: all)")
    ap.add_argument("--calib-samples", type=int, default=1000, metavar="N", help="default %(default)s")
    ap.add_argument("--check-delay", type=int, default=1000, metavar="N",
                    help="test images for the delay-1 check; 0 skips it (default %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", metavar="DIR",
                    help="directory for qcfs.md / qcfs.json (default: benchmarks/results)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    models = args.models or default_models()
    if not models:
        print("no QCFS models: train them with examples/zoo/train_qcfs.py", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    res = run(models, args.timesteps, args.stc_timesteps, args.limit, args.calib_samples, args.check_delay,
              lambda s: print(s, file=sys.stderr, flush=True))
    res["config"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["summary"] = {str(k): v for k, v in summary(res).items()}
    md = format_markdown(res)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qcfs.md").write_text(md)
    (args.out / "qcfs.json").write_text(json.dumps(res, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
