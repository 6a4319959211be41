"""Shared helpers for the example training scripts: seeding, augmentation, training, export.

Not a script; imported by ``train_digits.py`` and ``train_fashion.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


def parse_args(doc: str, epochs: int | None, out: str | None, extra=()) -> argparse.Namespace:
    """``extra``: more options as (flag, type, default, help) tuples; ``epochs`` / ``out`` None: the script
    picks the default after parsing (it depends on another option)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, typ, default, hlp in extra:
        p.add_argument(flag, type=typ, default=default, help=f"{hlp} (default %(default)s)")
    p.add_argument("--epochs", type=int, default=epochs,
                   help="training epochs (default %s)" % (epochs or "per architecture"))
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--out", type=Path, default=None if out is None else Path(__file__).parent / out,
                   help="output .pt2 (default examples/%s)" % (out or "<per architecture>"))
    return p.parse_args()


def seed_everything(seed: int, threads: int = 2) -> torch.Generator:
    """Fix every RNG we use; return the generator that drives shuffling and augmentation."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def random_shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Shift every image by an independent random offset in [-pad, pad] pixels (zero fill)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen)
    rows = torch.arange(h).view(1, h, 1) + dy
    cols = torch.arange(w).view(1, 1, w) + dx
    batch = torch.arange(n).view(n, 1, 1)
    return xp[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def train(model, data, *, epochs, batch, lr, weight_decay, gen, augment=None, label_smoothing=0.0) -> float:
    """AdamW + OneCycle; prints per-epoch loss and test accuracy; returns wall time in seconds."""
    xtr, ytr, xte, yte = data
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = (len(xtr) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{epochs}", leave=False, disable=None)
        for i in bar:
            idx = perm[i * batch : (i + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            if augment is not None:
                xb = augment(xb, gen)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        acc = (predict(model, xte) == yte).float().mean().item()
        print(f"epoch {epoch:2d}/{epochs}  train loss {total / len(xtr):.4f}  test acc {acc:.4f}"
              f"  ({time.perf_counter() - start:.1f}s)")
    return time.perf_counter() - start


def export_and_verify(model, xte, yte, out: Path, meta: dict) -> torch.export.ExportedProgram:
    """Export with a static batch of 1, save, reload, and check predictions match the eval model."""
    model.eval()
    float_pred = predict(model, xte)
    float_acc = (float_pred == yte).float().mean().item()
    print(f"final float test accuracy: {float_acc:.4f}")

    ep = torch.export.export(model, (torch.zeros(1, *xte.shape[1:]),))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(ep, str(out))

    loaded = torch.export.load(str(out)).module()
    with torch.no_grad():
        pred = torch.cat([loaded(xte[i : i + 1]).argmax(1) for i in range(len(xte))])
    mismatches = int((pred != float_pred).sum())
    acc = (pred == yte).float().mean().item()
    print(f"reloaded {out.name}: test accuracy {acc:.4f}, {mismatches} prediction mismatches vs eval model")
    if mismatches:
        raise SystemExit(f"exported program disagrees with the eval-mode model on {mismatches} samples")

    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(
        {"dataset": meta["dataset"], "test_accuracy": round(float_acc, 4), "epochs": meta["epochs"],
         "seed": meta["seed"], "architecture": str(model)}, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes) and {sidecar}")
    return ep
