"""Train the Fashion-MNIST evaluation zoo (issue 23) and export every model as ``examples/zoo/<name>.pt2``.

Every architecture of ``archs.py`` (ReLU activations) is trained on the Fashion-MNIST train split with its own
seed (``--seed-base`` + its index in ``ARCHS``), with AdamW + OneCycle and no augmentation, for a few epochs
chosen per architecture (by training time, fewest for the heaviest); the aim is a good, not a maximal, float
accuracy. Each model is exported the way users export (eval mode, ``torch.export.export``
with a static batch of 1, ``torch.export.save``), reloaded and checked against the eval-mode model (see
``examples/common.py``); a sidecar ``<name>.json`` records dataset, accuracy, epochs, seed, architecture and
training time, and ``examples/zoo/README.md`` is regenerated from all the sidecars present.

Models are trained one at a time, in ``ARCHS`` order (``--only`` picks some). The test split is only reported,
never used for a choice. Needs the Debian package ``dataset-fashion-mnist``. Run from the repository root:

    .venv/bin/python examples/zoo/train.py [--only small_max strided] [--epochs N] [--seed-base 0]

``benchmarks/fidelity.py --zoo`` measures how each conversion method does on these models.
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
from common import export_and_verify, seed_everything, train  # noqa: E402

#: per architecture: epochs and peak learning rate, chosen by training time (never by test accuracy); the
#: heaviest (wide: ~4 M MACs per image) gets the fewest epochs
RECIPES: dict[str, dict] = {
    "small_max": {"epochs": 4, "lr": 5e-3},
    "bn_avg_dropout": {"epochs": 4, "lr": 4e-3},
    "strided": {"epochs": 4, "lr": 4e-3},
    "vgg4": {"epochs": 4, "lr": 4e-3},
    "deep6": {"epochs": 8, "lr": 4e-3},  # no BatchNorm: trains slower, 3 epochs underfit it
    "resnet": {"epochs": 4, "lr": 4e-3},
    "wide": {"epochs": 3, "lr": 4e-3},
}
BATCH = 256
WEIGHT_DECAY = 5e-4
MAX_BYTES = 2_000_000  # each checkpoint stays small enough for the repository


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(ARCHS), metavar="NAME",
                   help=f"train only these architectures ({', '.join(ARCHS)}; default: all)")
    p.add_argument("--epochs", type=int, help="epochs for every model (default: per architecture, see RECIPES)")
    p.add_argument("--seed-base", type=int, default=0,
                   help="model i of ARCHS is seeded with seed-base + i (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    p.add_argument("--out-dir", type=Path, default=HERE, help="where the .pt2 / .json go (default examples/zoo)")
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be >= 1")
    return args


def train_one(name: str, index: int, args, data) -> Path:
    seed = args.seed_base + index
    epochs = args.epochs or RECIPES[name]["epochs"]
    gen = seed_everything(seed, args.threads)
    model = ARCHS[name]()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"== {name}: seed {seed}, {epochs} epochs, {n_params:,} parameters", flush=True)
    seconds = train(model, data, epochs=epochs, batch=BATCH, lr=RECIPES[name]["lr"], weight_decay=WEIGHT_DECAY,
                    gen=gen)
    out = args.out_dir / f"{name}.pt2"
    export_and_verify(model, data[2], data[3], out, {"dataset": "fashion-mnist", "epochs": epochs, "seed": seed})
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out}: {size} bytes > {MAX_BYTES}; the zoo's checkpoints must stay small")
    sidecar = out.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta.update(name=name, description=(ARCHS[name].__doc__ or "").strip(), parameters=n_params, bytes=size,
                train_seconds=round(seconds, 1), threads=args.threads)
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return out


def write_readme(out_dir: Path) -> Path:
    """``README.md`` listing every trained model (from its sidecar) in ``ARCHS`` order."""
    rows = []
    for name in ARCHS:
        side = out_dir / f"{name}.json"
        if not side.exists():
            continue
        m = json.loads(side.read_text())
        rows.append(f"| `{name}` | {m['description']} | {100 * m['test_accuracy']:.2f} | {m['bytes'] / 1024:.0f} "
                    f"| {m['parameters']:,} | {m['epochs']} | {m['seed']} | {m['train_seconds']:.0f} ({m.get('threads', 1)}) |")
    text = "\n".join([
        "# Fashion-MNIST model zoo (issue 23)",
        "",
        "Small CNNs that differ the way users' models differ (2-6 convs, widths 8-128, with and without BatchNorm,",
        "average / max pooling and strided convs, a residual net, dropout), each trained with its own seed by",
        "`examples/zoo/train.py` (architectures in `archs.py`) and exported as users export (`torch.export`, batch 1).",
        "They are the evaluation set of the conversion methods: `benchmarks/fidelity.py --zoo` reports each model's",
        "loss against its own float ANN, the median and the worst over the zoo",
        "([benchmarks/results/fidelity_zoo.md](../../benchmarks/results/fidelity_zoo.md)).",
        "",
        "```console",
        "$ .venv/bin/python examples/zoo/train.py                 # every model, one after the other",
        "$ .venv/bin/python examples/zoo/train.py --only resnet   # one model",
        "$ .venv/bin/python benchmarks/fidelity.py --zoo",
        "```",
        "",
        "Float accuracy on the full 10k Fashion-MNIST test set (generated by `train.py` from the sidecars; training",
        "time in seconds, with the torch threads in parentheses, as measured; on a shared, busy 2-core machine",
        "these times are many times what the same training takes on an idle one):",
        "",
        "| model | architecture | float test acc (%) | size (KiB) | parameters | epochs | seed | train s (threads) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    path = out_dir / "README.md"
    path.write_text(text)
    return path


def main(argv=None) -> None:
    from neurocompile.datasets import load

    args = parse_args(argv)
    data = [torch.from_numpy(a) for a in (*load("fashion-mnist", "train"), *load("fashion-mnist", "test"))]
    names = args.only or list(ARCHS)
    for name in names:
        train_one(name, list(ARCHS).index(name), args, data)
        print(f"wrote {write_readme(args.out_dir)}", flush=True)


if __name__ == "__main__":
    main()
