"""Seconds per image in Lava's fixed-point simulator, against intsim, and where a Lava run's time goes.

Run:  .venv/bin/python benchmarks/lava_speed.py [--models digits-cnn resnet20] [--samples 32] [--batch-size N]
      [--json benchmarks/results/lava_speed.json]

Models: ``digits-cnn`` (examples/digits_cnn.pt2 on the 8x8 digits), ``resnet20`` (benchmarks/resnet20.py,
random weights, on the 8x8 digits), ``resnet20-fashion`` (the same on Fashion-MNIST 28x28, 12x the neurons).
Each is built for loihi2-sim (calibration on 200 training images), run on the first ``--samples`` test images
in Lava and in intsim, and checked spike for spike (the mismatch column must be 0). Prints a Markdown table: the
Lava batch (samples side by side in one run; default the backend's choice, ``run.default_batch``), the OS
processes Lava starts per run, the seconds per image in total and by phase (``build``: the process graph,
``start``: Lava's compiler and the fork of its processes, ``run``: the steps, ``stop``), and intsim's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from neurocompile import datasets  # noqa: E402
from neurocompile.backends.intsim import simulate  # noqa: E402
from neurocompile.backends.lava import require_lava  # noqa: E402
from neurocompile.backends.lava.run import default_batch, simulate_lava, spike_mismatches  # noqa: E402
from neurocompile.targets import get_target  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"digits-cnn": ("digits", lambda: str(ROOT / "examples" / "digits_cnn.pt2")),
          "resnet20": ("digits", lambda: _resnet20(1)),
          "resnet20-fashion": ("fashion-mnist", lambda: _resnet20(1))}


def _resnet20(channels: int):
    from resnet20 import resnet20

    return resnet20(channels)


def measure(name: str, samples: int, timesteps: int, batch_size: int | None) -> dict:
    import neurocompile as nc

    dataset, model = MODELS[name]
    b = nc.compile(model(), method="rueckauer",
                   target="loihi2-sim", calib=dataset, calib_samples=200, timesteps=timesteps,
                   progress=False, dry_run=True)
    x, _ = datasets.load(dataset, "test")
    x = x[:samples]
    limits = get_target("loihi2-sim").limits
    batch = batch_size or default_batch(b.snn)
    timings: dict = {}
    t0 = time.perf_counter()
    lav = simulate_lava(b.snn, x, timesteps, limits=limits, batch_size=batch, timings=timings)
    lava_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = simulate(b.snn, x, timesteps, record=True)
    intsim_s = time.perf_counter() - t0
    spikes = int(sum(v.sum() for v in ref.spike_counts.values()))
    assert spikes > 0, f"{name}: no spikes; the comparison would prove nothing"
    mm = spike_mismatches(ref, lav) + int(np.count_nonzero(ref.readout != lav.readout))
    return {"model": name, "dataset": dataset, "samples": samples, "timesteps": timesteps, "batch": batch,
            "lava_processes": timings.get("processes"), "lava_s_per_image": lava_s / samples,
            "phases_s_per_image": {k: timings[k] / samples for k in ("build", "start", "run", "stop")},
            "intsim_s_per_image": intsim_s / samples, "spikes_per_image": spikes / samples, "mismatches": mm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["digits-cnn", "resnet20"], choices=sorted(MODELS))
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=None, help="samples per Lava run (default: the backend's)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    require_lava()
    rows = []
    print(f"T = {args.timesteps}, {args.samples} test images per model\n")
    print("| model | Lava batch | Lava processes | Lava s/image | build | start | run | stop | intsim s/image "
          "| spikes/image | mismatches |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        r = measure(name, args.samples, args.timesteps, args.batch_size)
        rows.append(r)
        p = r["phases_s_per_image"]
        print(f"| {name} | {r['batch']} | {r['lava_processes']} | {r['lava_s_per_image']:.2f} | {p['build']:.2f} | "
              f"{p['start']:.2f} | {p['run']:.2f} | {p['stop']:.2f} | {r['intsim_s_per_image']:.4f} | "
              f"{r['spikes_per_image']:,.0f} | {r['mismatches']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
