"""Datasets that need no download.

``digits``        scikit-learn's bundled 8x8 digits; pixels scaled to [0, 1]; the last 360 images
                  (in sklearn's order) are the test split, the first 1437 the train split.
``fashion-mnist`` the Debian package ``dataset-fashion-mnist`` (idx-ubyte.gz files under
                  ``/usr/share/datasets/fashion-mnist``); pixels scaled to [0, 1]; standard 60k/10k split.
``PATH.npz``      any ``.npz`` with arrays ``x`` (N, C, H, W) and ``y`` (N,); used for both splits.

Every loader returns ``(x, y)`` with ``x`` float32 of shape (N, C, H, W) and ``y`` int64.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .errors import DatasetError

FASHION_DIR = Path(os.environ.get("NEUROCOMPILE_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))
DIGITS_TEST = 360
NAMES = ("digits", "fashion-mnist")


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    n = len(y) - DIGITS_TEST
    return (x[:n], y[:n]) if split == "train" else (x[n:], y[n:])


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(dims)


def _fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    img = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz"
    lab = FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    for p in (img, lab):
        if not p.exists():
            raise DatasetError(
                f"fashion-mnist: {p} not found; install it with `apt-get install dataset-fashion-mnist` "
                f"(or set NEUROCOMPILE_FASHION_DIR)"
            )
    x = (_read_idx(img).astype(np.float32) / 255.0)[:, None, :, :]
    y = _read_idx(lab).astype(np.int64)
    return x, y


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise DatasetError(f"dataset file {path} not found")
    try:
        with np.load(path) as z:
            if "x" not in z or "y" not in z:
                raise DatasetError(f"{path}: needs arrays 'x' and 'y', found {sorted(z.files)}")
            x, y = np.asarray(z["x"], dtype=np.float32), np.asarray(z["y"]).astype(np.int64)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read npz ({e})") from None
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim not in (2, 4) or len(x) != len(y):
        raise DatasetError(f"{path}: x shape {x.shape} and y shape {y.shape} do not match (N,C,H,W)/(N,)")
    return x, y


def load(name: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load dataset ``name`` (``digits``, ``fashion-mnist`` or a ``.npz`` path), ``split`` train|test."""
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r}; use train or test")
    if name == "digits":
        return _digits(split)
    if name in ("fashion-mnist", "fashion"):
        return _fashion(split)
    if name.endswith(".npz") or Path(name).suffix == ".npz":
        return _npz(Path(name))
    raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(NAMES)} or a path to an .npz with x, y")
