"""What composing wide chains costs in accuracy (docs/semantics.md, "Composed chains").

Trains small MobileNetV2 and DenseNet-BC networks of tests/zoo.py on the digits training split (several seeds),
converts each one and runs intsim on the whole digits test split:

- ``intsim``: the intsim target (no Loihi limits), for context;
- ``exact``: Loihi 2 limits, but no weight width on the composed chains (what a target storing wide composed weights runs: the
  reference);
- ``composed``: the loihi2 / loihi2-sim pipeline at 8-bit weights, wide chains rounded into 8-bit composed matrices;
- ``3-bit``: the only way to run those networks in Lava before, weights cut until their products fit.

Run: .venv/bin/python benchmarks/composed_chains.py [--seeds 3] [--epochs 40] [--timesteps 64]
Prints a Markdown table (per model: ANN accuracy and each build's SNN accuracy) with median and worst losses
against the ANN, and writes benchmarks/results/composed_chains.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import zoo  # noqa: E402

from neurocompile.backends.intsim import simulate  # noqa: E402
from neurocompile.compiler import CompileOptions, compile_graph  # noqa: E402
from neurocompile.datasets import load  # noqa: E402
from neurocompile.errors import QuantizationError  # noqa: E402
from neurocompile.frontend import load_model  # noqa: E402
from neurocompile.ir import Composed  # noqa: E402
from neurocompile.targets import get_target  # noqa: E402

MODELS = {"mobilenet_v2": lambda: zoo.MobileNetV2(width=8, last=32),
          "densenet_bc": lambda: zoo.DenseNet(growth=6, blocks=(2, 2), init=12, bn_size=2, stem="cifar")}


def train(make, seed: int, epochs: int, x, y) -> nn.Module:
    torch.manual_seed(seed)
    model = make()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(ig, x, y, timesteps: int) -> float:
    return float((simulate(ig, x, timesteps).readout.argmax(1) == y).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--timesteps", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "composed_chains"))
    args = ap.parse_args()
    x, y = load("digits", "train")
    xt, yt = load("digits", "test")
    limits = get_target("loihi2").compile_overrides()
    builds = {"intsim": {"weight_bits": 8}, "exact": dict(limits, max_weight_bits=None, weight_bits=8),
              "composed": dict(limits, weight_bits=8), "3-bit": dict(limits, weight_bits=3)}
    rows = []
    for name, make in MODELS.items():
        for seed in tqdm(range(args.seeds), desc=name):
            model = train(make, seed, args.epochs, x, y)
            with torch.no_grad():
                ann = float((model(torch.as_tensor(xt)).argmax(1).numpy() == yt).mean())
            g = load_model(model, (1, 8, 8))
            row = {"model": name, "seed": seed, "ann": ann}
            for label, opts in builds.items():
                try:
                    ig = compile_graph(g, x[:256], CompileOptions(**{"method": "rueckauer", **opts},
                                                                  timesteps=args.timesteps))
                except QuantizationError as e:  # e.g. a concat gain that rounds to 0 at 3 bits: reported, not fatal
                    row[label], row[f"{label}_error"] = None, str(e)
                    continue
                row[label] = accuracy(ig, xt, yt, args.timesteps)
                if label == "composed":
                    row["composed_chains"] = len(ig.nodes_of(Composed))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    table = _table(rows, args)
    print(table)
    Path(args.out + ".md").write_text(table)
    Path(args.out + ".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1) + "\n")
    return 0


def _table(rows, args) -> str:
    pp = lambda v: "refused" if v is None else f"{100 * v:.2f}"  # noqa: E731
    lines = [f"# Composed chains: accuracy on the digits test split ({len(load('digits', 'test')[1])} images), "
             f"intsim, T = {args.timesteps}", "",
             f"Run: `.venv/bin/python benchmarks/composed_chains.py --seeds {args.seeds} --epochs {args.epochs} "
             f"--timesteps {args.timesteps}`", "",
             "`intsim`: the intsim target (no Loihi limits); the others the Loihi 2 integer limits; `exact`: 8-bit weights, chains composed without a width limit (the reference); "
             "`composed`: the loihi2 / loihi2-sim build (wide chains rounded to 8-bit composed matrices); `3-bit`: "
             "3-bit weights (what fitted Lava's 8-bit composed weights before).", "",
             "| model | seed | ANN % | intsim % | exact % | composed % | 3-bit % | composed chains |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['seed']} | {pp(r['ann'])} | {pp(r['intsim'])} | {pp(r['exact'])} | {pp(r['composed'])} | "
                     f"{pp(r['3-bit'])} | {r['composed_chains']} |")
    lines.append("")
    lines.append("| build | median loss vs ANN (pp) | worst loss vs ANN (pp) |")
    lines.append("|---|---|---|")
    for label in ("intsim", "exact", "composed", "3-bit"):
        loss = [100 * (r["ann"] - r[label]) for r in rows if r[label] is not None]
        refused = sum(r[label] is None for r in rows)
        note = f" ({refused} refused)" if refused else ""
        lines.append(f"| {label}{note} | {statistics.median(loss):.2f} | {max(loss):.2f} |" if loss else
                     f"| {label}{note} | - | - |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
