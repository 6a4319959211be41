"""Train a deeper VGG-style CNN on Fashion-MNIST and export it as ``examples/fashion_vgg.pt2``.

Two VGG blocks of two 3x3 convolutions each, then a two-layer classifier::

    Conv(1->32)-BN-ReLU -> Conv(32->32)-BN-ReLU -> AvgPool2
    -> Conv(32->64)-BN-ReLU -> Conv(64->64)-BN-ReLU -> AvgPool2
    -> Flatten -> Linear(3136->256)-ReLU -> Dropout(0.3) -> Linear(256->10)

Average pooling only (written before the compiler had MaxPool). Five neuron populations deep, against three in
``train_fashion.py``, so conversion error accumulates over more layers: the second model of the
conversion-fidelity benchmark (``benchmarks/fidelity.py``, issue 4). Trained with AdamW + OneCycle on 2
CPU threads, no augmentation (8 epochs of ~62 s each, ~8.5 minutes; 94.07 % with seed 0).

Exported like ``train_fashion.py`` (eval mode, ``torch.export.export`` with a static batch of 1,
``torch.export.save``, reloaded and checked against the eval-mode model on the test set); a sidecar
``fashion_vgg.json`` records dataset, accuracy, epochs, seed and architecture.

Needs the Debian package ``dataset-fashion-mnist``. Run from the repository root:

    .venv/bin/python examples/train_fashion_vgg.py [--epochs 8] [--seed 0] [--out examples/fashion_vgg.pt2]
"""

from __future__ import annotations

import torch
from torch import nn

from common import export_and_verify, parse_args, seed_everything, train
from neurocompile.datasets import load


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


def make_model() -> nn.Module:
    return nn.Sequential(
        *conv_bn_relu(1, 32), *conv_bn_relu(32, 32), nn.AvgPool2d(2),
        *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 256), nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, 10),
    )


def main() -> None:
    args = parse_args(__doc__, epochs=8, out="fashion_vgg.pt2")
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
