"""How long Lava's fixed-point simulator takes per sample vs intsim, on the same loihi2-sim bundle.

Run:  .venv/bin/python benchmarks/lava_speed.py [--model examples/digits_cnn.pt2] [--samples 1 10 50]
Prints a Markdown table (seconds per sample, ratio) and checks the two agree bit for bit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from neurocompile import datasets
from neurocompile.backends.intsim import simulate
from neurocompile.backends.lava import require_lava
from neurocompile.backends.lava.run import simulate_lava, spike_mismatches
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.frontend import load_model
from neurocompile.targets import get_target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="examples/digits_cnn.pt2")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--samples", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32, help="samples per Lava run (side by side)")
    args = ap.parse_args()
    require_lava()
    g = load_model(args.model)
    xc, _ = datasets.load(args.dataset, "train")
    target = get_target("loihi2-sim")
    opts = CompileOptions(**target.compile_overrides())
    ig = compile_graph(g, xc[:1000], opts)
    x, _ = datasets.load(args.dataset, "test")
    print(f"model {args.model}, T = {args.timesteps}, Lava batch {args.batch_size}\n")
    print("| samples | Lava s/sample | intsim s/sample | Lava / intsim | spike mismatches |")
    print("|---|---|---|---|---|")
    for n in args.samples:
        xs = x[:n]
        t0 = time.perf_counter()
        lav = simulate_lava(ig, xs, args.timesteps, limits=target.limits, batch_size=args.batch_size)
        tl = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = simulate(ig, xs, args.timesteps, record=True)
        ti = time.perf_counter() - t0
        mm = spike_mismatches(ref, lav) + int(np.count_nonzero(ref.readout != lav.readout))
        print(f"| {n} | {tl / n:.3f} | {ti / n:.5f} | {tl / ti:.0f}x | {mm} |")


if __name__ == "__main__":
    main()
