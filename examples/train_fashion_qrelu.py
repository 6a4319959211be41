"""Train the Fashion-MNIST CNN with QReLU activations (HPC method) and export ``examples/fashion_qrelu.pt2``.

Same architecture as ``train_fashion.py``. Training: plain ReLU first, then every ReLU becomes a QReLU
quantised to T = 8 levels (``neurocompile.training.qrelu``), its clip level initialised from the 99.9th
percentile of its input and learned (PACT) during fine-tuning. The exported model has ``clamp(x, 0, lam)``
in place of each QReLU; compile it with ``neurocompile build ... --method qrelu``.

Run from the repository root:

    .venv/bin/python examples/train_fashion_qrelu.py [--epochs 10] [--qepochs 6] [--levels 8] [--seed 0]
"""

from __future__ import annotations

import torch

from common import export_and_verify, parse_args, predict, seed_everything, train
from neurocompile.datasets import load
from neurocompile.training import calibrate_lambdas, swap_relu, to_exportable
from train_fashion import make_model


def main() -> None:
    args = parse_args(__doc__, epochs=10, out="fashion_qrelu.pt2",
                      extra=[("--qepochs", int, 6, "QReLU fine-tuning epochs"),
                             ("--levels", int, 8, "QReLU levels = the SNN timesteps it is trained for")])
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
