"""Train the Fashion-MNIST CNN with STCSNN spike-train blocks and export ``examples/fashion_stcsnn.pt2``.

Same architecture as ``train_fashion.py``. Training: plain ReLU first, then every ReLU becomes a
``SpikeTrainReLU`` (``neurocompile.training.stcsnn``): the forward pass is the spike-train encoding block with
T = 8 decaying thresholds ``lam * stc_schedule(8, tau=2)`` decoded by the current accumulator block, the backward
pass the ReLU's gradient. Each block's range ``lam`` is fixed to the 99.9th percentile of its input on 2000
training images, then the weights are fine-tuned. The exported model has ``clamp(x, 0, lam)`` in place of each
block; compile it with ``neurocompile build ... --method stcsnn``.

Run from the repository root:

    .venv/bin/python examples/train_fashion_stcsnn.py [--epochs 10] [--sepochs 5] [--timesteps 8] [--tau 2]
"""

from __future__ import annotations

import torch

from common import export_and_verify, parse_args, predict, seed_everything, train
from neurocompile.datasets import load
from neurocompile.training import calibrate_stc, swap_relu_stc, to_exportable_stc
from train_fashion import make_model

DELTA = 0.5  # extra initial potential in units of the smallest threshold (rounds to the nearest level)


def main() -> None:
    args = parse_args(__doc__, epochs=10, out="fashion_stcsnn.pt2",
                      extra=[("--sepochs", int, 5, "STCSNN fine-tuning epochs"),
                             ("--timesteps", int, 8, "spike-train length T"),
                             ("--tau", float, 2.0, "time constant of the threshold decay 2^(-k/tau)")])
    gen = seed_everything(args.seed)
    data = [torch.from_numpy(a) for a in (*load("fashion-mnist", "train"), *load("fashion-mnist", "test"))]
    model = make_model()
    s1 = train(model, data, epochs=args.epochs, batch=128, lr=3e-3, weight_decay=5e-4, gen=gen)
    swap_relu_stc(model, args.timesteps, args.tau, DELTA)
    lams = calibrate_stc(model, data[0][:2000])
    print("STCSNN block ranges (lam):", {k: round(v, 3) for k, v in lams.items()})
    model.eval()
    acc_0 = float((predict(model, data[2]) == data[3]).float().mean())
    print(f"STCSNN (T={args.timesteps}, tau={args.tau:g}) test accuracy before fine-tuning {acc_0:.4f}")
    s2 = train(model, data, epochs=args.sepochs, batch=128, lr=1e-3, weight_decay=5e-4, gen=gen)
    model.eval()
    acc_s = float((predict(model, data[2]) == data[3]).float().mean())
    print(f"training wall time: {s1 + s2:.1f}s; STCSNN (T={args.timesteps}, tau={args.tau:g}) "
          f"test accuracy {acc_s:.4f}")
    to_exportable_stc(model)
    export_and_verify(model, data[2], data[3], args.out,
                      {"dataset": "fashion-mnist", "epochs": args.epochs, "sepochs": args.sepochs,
                       "timesteps": args.timesteps, "tau": args.tau, "delta": DELTA, "seed": args.seed,
                       "stcsnn_test_accuracy": acc_s, "lams": lams})


if __name__ == "__main__":
    main()
