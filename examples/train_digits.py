"""Train a small CNN on scikit-learn's 8x8 digits and export it as ``examples/digits_cnn.pt2``.

Conv(1->16)-BN-ReLU-AvgPool -> Conv(16->32)-BN-ReLU-AvgPool -> Linear(128->64)-ReLU -> Dropout -> Linear(64->10),
trained with AdamW + OneCycle and random 1-pixel shifts. Runs in a few seconds on 2 CPU cores.

The model is exported the way users do it (eval mode, ``torch.export.export`` with a static batch of 1,
``torch.export.save``); the saved program is reloaded and checked against the eval-mode model on the
test set. A sidecar ``digits_cnn.json`` records dataset, accuracy, epochs, seed and architecture.

Run from the repository root:

    .venv/bin/python examples/train_digits.py [--epochs 40] [--seed 0] [--out examples/digits_cnn.pt2]
"""

from __future__ import annotations

import torch
from torch import nn

from common import export_and_verify, parse_args, random_shift, seed_everything, train
from neurocompile.datasets import load


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 64), nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


def main() -> None:
    args = parse_args(__doc__, epochs=40, out="digits_cnn.pt2")
    gen = seed_everything(args.seed)
    data = [torch.from_numpy(a) for a in (*load("digits", "train"), *load("digits", "test"))]
    model = make_model()
    seconds = train(model, data, epochs=args.epochs, batch=64, lr=1e-2, weight_decay=1e-4, gen=gen,
                    augment=lambda x, g: random_shift(x, 1, g))
    print(f"training wall time: {seconds:.1f}s")
    export_and_verify(model, data[2], data[3], args.out,
                      {"dataset": "digits", "epochs": args.epochs, "seed": args.seed})


if __name__ == "__main__":
    main()
