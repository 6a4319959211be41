"""Method robust vs its baseline and the other post-training methods (issue 23): loss vs the float ANN.

For every model and every ``T:BITS:LABEL`` configuration, the model is compiled with ``compile_graph`` (each
label's method and options, calibrated on the first N shuffled Fashion-MNIST train images with the CLI's seed:
N = the method's own default, 2000 for robust and 1000 otherwise) and run in intsim on the full test split
(``--limit`` for a quick look). Labels: ``rueckauer`` (v_init 0), ``rueckauer-v0.5-ch`` (v_init 0.5, channel-
wise: robust's baseline), ``ecc``, ``robust``. Each run is appended to ``--out`` as one JSON line (model,
label, T, bits, ANN and SNN accuracy, loss in pp, compile and simulation seconds, robust's ``conversion``
record), so an interrupted run keeps what it measured; ``--table`` prints the Markdown table of a JSON-lines
file. The test split is used only to measure.

    .venv/bin/python benchmarks/robust_zoo.py --models examples/fashion_cnn.pt2 \\
        --configs 32:8:robust 32:8:rueckauer-v0.5-ch --out benchmarks/results/robust_zoo.jsonl
    .venv/bin/python benchmarks/robust_zoo.py --table benchmarks/results/robust_zoo.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

LABELS = {"rueckauer": {"method": "rueckauer"},
          "rueckauer-v0.5-ch": {"method": "rueckauer", "v_init": 0.5, "normalization": "channel"},
          "ecc": {"method": "ecc"},
          "robust": {"method": "robust"}}


def run(models: list[Path], configs: list[str], out: Path, limit: int | None) -> None:
    import torch

    from neurocompile.api.data import calibration_subset
    from neurocompile.backends.intsim import simulate
    from neurocompile.compiler import METHODS, CompileOptions, compile_graph
    from neurocompile.datasets import load
    from neurocompile.frontend import load_model
    from neurocompile.ir.ann import run_ann

    torch.set_num_threads(1)
    xtr, _ = load("fashion-mnist", "train")
    xte, yte = load("fashion-mnist", "test")
    if limit:
        xte, yte = xte[:limit], yte[:limit]
    for m in models:
        ann = load_model(m)
        ann_acc = float(np.mean(run_ann(ann, xte)[0].argmax(1) == yte))
        for c in configs:
            T, bits, label = c.split(":")
            opts = LABELS[label]
            xc = calibration_subset(xtr, METHODS[opts["method"]].calib_samples)
            t0 = time.perf_counter()
            g = compile_graph(ann, xc, CompileOptions(weight_bits=int(bits), timesteps=int(T), **opts))
            t1 = time.perf_counter()
            acc = float(np.mean(simulate(g, xte, int(T)).predictions == yte))
            row = {"model": m.stem, "label": label, "T": int(T), "bits": int(bits), "test_images": len(xte),
                   "ann": ann_acc, "snn": acc, "loss_pp": round(100 * (ann_acc - acc), 2),
                   "compile_s": round(t1 - t0, 1), "sim_s": round(time.perf_counter() - t1, 1),
                   "conversion": g.meta.get("robust")}
            print(json.dumps(row), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(row) + "\n")


def table(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cols = sorted({(r["T"], r["bits"]) for r in rows}, key=lambda k: (-k[0], -k[1]))
    lines = ["| model | method | ANN | " + " | ".join(f"T={t} {b}b" for t, b in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for model in dict.fromkeys(r["model"] for r in rows):
        for label in LABELS:
            mine = {(r["T"], r["bits"]): r for r in rows if r["model"] == model and r["label"] == label}
            if mine:
                ann = next(iter(mine.values()))["ann"]
                cells = [f"{mine[k]['loss_pp']:.2f}" if k in mine else "-" for k in cols]
                lines.append(f"| {model} | {label} | {100 * ann:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", type=Path, default=[])
    ap.add_argument("--configs", nargs="+", default=["32:8:robust", "32:8:rueckauer-v0.5-ch"], metavar="T:BITS:LABEL")
    ap.add_argument("--out", type=Path, default=Path("robust_zoo.jsonl"))
    ap.add_argument("--limit", type=int, default=None, help="first N test images (default: all)")
    ap.add_argument("--table", type=Path, help="print the Markdown table (loss vs ANN in pp) of a JSON-lines file")
    args = ap.parse_args(argv)
    if args.table:
        print(table(args.table))
        return
    for c in args.configs:
        if c.split(":")[-1] not in LABELS:
            ap.error(f"unknown label in {c}; use {', '.join(LABELS)}")
    run(args.models, args.configs, args.out, args.limit)


if __name__ == "__main__":
    main()
