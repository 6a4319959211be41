"""Train a Fashion-MNIST CNN with QReLU activations (HPC method) and export ``examples/fashion_qrelu.pt2``.

``--arch cnn`` (default): the architecture of ``train_fashion.py``, written to ``examples/fashion_qrelu.pt2``;
``--arch vgg``: the VGG-style CNN of ``train_fashion_vgg.py`` (8 plain epochs by default there too), written
to ``examples/fashion_vgg_qrelu.pt2``. Training: plain ReLU first, then every ReLU becomes a QReLU
quantised to T = 8 levels (``neurocompile.training.qrelu``), its clip level initialised from the 99.9th
percentile of its input and learned (PACT) during fine-tuning. The exported model has ``clamp(x, 0, lam)``
in place of each QReLU; compile it with ``neurocompile build ... --method qrelu``.

Run from the repository root:

    .venv/bin/python examples/train_fashion_qrelu.py [--arch cnn|vgg] [--epochs N] [--qepochs 6] [--levels 8] [--seed 0]
"""

from __future__ import annotations

from pathlib import Path

import torch

from common import export_and_verify, parse_args, predict, seed_everything, train
from neurocompile.datasets import load
from neurocompile.training import calibrate_lambdas, swap_relu, to_exportable
import train_fashion
import train_fashion_vgg

#: --arch -> (model factory, default plain epochs, default output file)
ARCHS = {"cnn": (train_fashion.make_model, 10, "fashion_qrelu.pt2"),
         "vgg": (train_fashion_vgg.make_model, 8, "fashion_vgg_qrelu.pt2")}


def main() -> None:
    args = parse_args(__doc__, epochs=None, out=None,
                      extra=[("--arch", str, "cnn", "architecture: cnn or vgg"),
                             ("--qepochs", int, 6, "QReLU fine-tuning epochs"),
                             ("--levels", int, 8, "QReLU levels = the SNN timesteps it is trained for")])
    if args.arch not in ARCHS:
        raise SystemExit(f"--arch {args.arch}: choose one of {', '.join(ARCHS)}")
    make_model, epochs, out = ARCHS[args.arch]
    args.epochs = epochs if args.epochs is None else args.epochs
    args.out = args.out or Path(__file__).parent / out
    gen = seed_everything(args.seed)
    data = [torch.from_numpy(a) for a in (*load("fashion-mnist", "train"), *load("fashion-mnist", "test"))]
    model = make_model()
    s1 = train(model, data, epochs=args.epochs, batch=128, lr=3e-3, weight_decay=5e-4, gen=gen)
    swap_relu(model, args.levels)
    lams = calibrate_lambdas(model, data[0][:2000])
    print("initial QReLU lambdas:", {k: round(v, 3) for k, v in lams.items()})
    s2 = train(model, data, epochs=args.qepochs, batch=128, lr=1e-3, weight_decay=5e-4, gen=gen)
    model.eval()
    acc_q = float((predict(model, data[2]) == data[3]).float().mean())
    print(f"training wall time: {s1 + s2:.1f}s; QReLU (T={args.levels}) test accuracy {acc_q:.4f}")
    to_exportable(model)
    export_and_verify(model, data[2], data[3], args.out,
                      {"dataset": "fashion-mnist", "epochs": args.epochs, "qepochs": args.qepochs,
                       "levels": args.levels, "seed": args.seed, "qrelu_test_accuracy": acc_q})


if __name__ == "__main__":
    main()
