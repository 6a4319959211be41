"""Train a small CNN on Fashion-MNIST and export it as ``examples/fashion_cnn.pt2``.

Conv(1->16)-BN-ReLU-AvgPool -> Conv(16->32)-BN-ReLU-AvgPool -> Linear(1568->128)-ReLU -> Dropout -> Linear(128->10),
trained with AdamW + OneCycle on 2 CPU threads (~2.5 minutes, no augmentation: random
horizontal flips gave no measurable gain within that budget). The output layer is a plain Linear (logits).

The model is exported the way users do it (eval mode, ``torch.export.export`` with a static batch of 1,
``torch.export.save``); the saved program is reloaded and checked against the eval-mode model on the
test set, and the distinct aten ops of the exported graph are printed. A sidecar ``fashion_cnn.json``
records dataset, accuracy, epochs, seed and architecture.

Needs the Debian package ``dataset-fashion-mnist``. Run from the repository root:

    .venv/bin/python examples/train_fashion.py [--epochs 15] [--seed 0] [--out examples/fashion_cnn.pt2]
"""

from __future__ import annotations

import torch
from torch import nn

from common import export_and_verify, parse_args, seed_everything, train
from neurocompile.datasets import load


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


def main() -> None:
    args = parse_args(__doc__, epochs=15, out="fashion_cnn.pt2")
    gen = seed_everything(args.seed)
    data = [torch.from_numpy(a) for a in (*load("fashion-mnist", "train"), *load("fashion-mnist", "test"))]
    model = make_model()
    seconds = train(model, data, epochs=args.epochs, batch=128, lr=3e-3, weight_decay=5e-4, gen=gen)
    print(f"training wall time: {seconds:.1f}s")
    ep = export_and_verify(model, data[2], data[3], args.out,
                           {"dataset": "fashion-mnist", "epochs": args.epochs, "seed": args.seed})
    ops = sorted({str(n.target) for n in ep.graph_module.graph.nodes if n.op == "call_function"})
    print("exported graph ops:", ", ".join(ops))


if __name__ == "__main__":
    main()
