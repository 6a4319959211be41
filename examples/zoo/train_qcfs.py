"""Train QCFS versions of zoo architectures (issue 23) and export ``examples/zoo/<name>_qcfs.pt2``.

QCFS (Bu et al., ICLR 2022, ``neurocompile.training.qcfs``): every hidden ReLU of an architecture of ``archs.py``
becomes the quantisation-clip-floor-shift activation with ``--levels`` levels (default 4, the paper's choice for
SNNs of a few steps; ``--levels 2`` for T = 2, written as ``<name>_qcfs_l2.pt2``), shift 1/2 and a trainable
threshold. Training, on the Fashion-MNIST train split only: a few
epochs with ReLU, then the swap (each threshold starts at the 99.9th percentile of its activation's input on 2000
training images) and QCFS training of all weights and thresholds (AdamW + OneCycle). The model is exported the
way users export: ``to_exportable`` writes each QCFS as ``clamp(x, 0, lam)``, then ``torch.export`` of the eval
model with a static batch of 1; the reloaded program is checked against the eval-mode model (``common.py``). The
sidecar ``<name>_qcfs.json`` records the float accuracy of the exported (clamp) ANN and of the QCFS ANN, the
thresholds, epochs, seed and training time. The test split is only reported, never used for a choice.

Compile with ``neurocompile build examples/zoo/<name>_qcfs.pt2 --method qcfs --timesteps 4``;
``benchmarks/qcfs.py`` measures them. Run from the repository root, one model at a time:

    .venv/bin/python examples/zoo/train_qcfs.py [--only small_max strided] [--levels 4] [--seed-base 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # archs.py here, common.py in examples/

from archs import ARCHS  # noqa: E402
from common import export_and_verify, predict, seed_everything, train  # noqa: E402

#: per architecture: ReLU epochs, QCFS epochs, peak learning rate (each model trains in minutes on one thread)
RECIPES: dict[str, dict] = {
    "small_max": {"epochs": 4, "qepochs": 4, "lr": 3e-3},
    "bn_avg_dropout": {"epochs": 4, "qepochs": 4, "lr": 3e-3},
    "strided": {"epochs": 3, "qepochs": 3, "lr": 3e-3},
    "deep6": {"epochs": 4, "qepochs": 4, "lr": 2e-3},
    "resnet": {"epochs": 3, "qepochs": 3, "lr": 3e-3},
}
DEFAULT = ("small_max", "bn_avg_dropout", "strided")
BATCH = 128
WEIGHT_DECAY = 5e-4
MAX_BYTES = 2_000_000


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(RECIPES), metavar="NAME", default=list(DEFAULT),
                   help=f"architectures ({', '.join(RECIPES)}; default: {' '.join(DEFAULT)})")
    p.add_argument("--levels", type=int, default=4, help="QCFS quantisation levels L (default %(default)s)")
    p.add_argument("--seed-base", type=int, default=0,
                   help="architecture i of ARCHS is seeded with seed-base + i (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    p.add_argument("--out-dir", type=Path, default=HERE, help="where the .pt2 / .json go (default examples/zoo)")
    args = p.parse_args(argv)
    if args.levels < 1:
        p.error("--levels must be >= 1")
    return args


def model_name(arch: str, levels: int) -> str:
    """``<arch>_qcfs`` for the default L = 4, ``<arch>_qcfs_l<L>`` otherwise (models for other latencies)."""
    return f"{arch}_qcfs" if levels == 4 else f"{arch}_qcfs_l{levels}"


def train_one(name: str, args, data) -> Path:
    from neurocompile.training import calibrate_lambdas, swap_relu_qcfs, to_exportable

    seed = args.seed_base + list(ARCHS).index(name)
    recipe = RECIPES[name]
    gen = seed_everything(seed, args.threads)
    model = ARCHS[name]()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"== {name}: seed {seed}, {recipe['epochs']} ReLU + {recipe['qepochs']} QCFS epochs (L={args.levels}), "
          f"{n_params:,} parameters", flush=True)
    s1 = train(model, data, epochs=recipe["epochs"], batch=BATCH, lr=recipe["lr"], weight_decay=WEIGHT_DECAY,
               gen=gen)
    swap_relu_qcfs(model, args.levels)
    calibrate_lambdas(model, data[0][:2000])
    s2 = train(model, data, epochs=recipe["qepochs"], batch=BATCH, lr=recipe["lr"] / 3, weight_decay=WEIGHT_DECAY,
               gen=gen)
    model.eval()
    acc_q = float((predict(model, data[2]) == data[3]).float().mean())
    lams = {k: round(abs(float(m.lam.detach())), 5) for k, m in model.named_modules() if hasattr(m, "levels")}
    print(f"QCFS ANN (L={args.levels}) test accuracy {acc_q:.4f}; thresholds {lams}", flush=True)
    to_exportable(model)
    out = args.out_dir / f"{model_name(name, args.levels)}.pt2"
    export_and_verify(model, data[2], data[3], out, {"dataset": "fashion-mnist", "epochs": recipe["epochs"],
                                                     "seed": seed})
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out}: {size} bytes > {MAX_BYTES}; the zoo's checkpoints must stay small")
    sidecar = out.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta.update(name=model_name(name, args.levels), arch=name, method="qcfs", levels=args.levels, qepochs=recipe["qepochs"],
                qcfs_test_accuracy=round(acc_q, 4), thresholds=lams, parameters=n_params, bytes=size,
                train_seconds=round(s1 + s2, 1), threads=args.threads)
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv=None) -> None:
    from neurocompile.datasets import load

    args = parse_args(argv)
    data = [torch.from_numpy(a) for a in (*load("fashion-mnist", "train"), *load("fashion-mnist", "test"))]
    for name in args.only:
        train_one(name, args, data)


if __name__ == "__main__":
    main()
