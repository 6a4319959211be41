"""The data ``compile`` calibrates on and ``simulate`` tests on: a dataset name, an ``.npz`` path, an ``(x, y)``
pair of arrays or a torch ``Dataset``, as float32 arrays (N, *input shape) and int64 labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .options import CALIB_SEED


def describe(data) -> str:
    """How ``data`` is named in manifests, results and messages: the name or path as given, ``(x, y) arrays``
    or ``torch Dataset <class>``."""
    if isinstance(data, (str, Path)):
        return str(data)
    if isinstance(data, tuple):
        return "(x, y) arrays"
    return f"torch Dataset {type(data).__name__}"


def arrays(data, split: str, expect_shape: tuple[int, ...] | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of ``data``: the ``split`` (``train`` / ``test``) of a named dataset or ``.npz`` file
    (:func:`neurocompile.datasets.load`), or all of an ``(x, y)`` pair or a torch ``Dataset`` (whose items are
    ``(x, y)`` pairs); checked against the model's per-sample input shape ``expect_shape`` when given.

    Raises
    ------
    DatasetError
        Unknown or unreadable dataset, no samples, x and y of different lengths, or the wrong input shape.
    """
    from .. import datasets

    name = describe(data)
    if isinstance(data, (str, Path)):
        x, y = datasets.load(str(data), split)
    elif isinstance(data, tuple):
        if len(data) != 2:
            raise DatasetError(f"{what}: a tuple must be an (x, y) pair, got {len(data)} items")
        x, y = _numpy(data[0], np.float32), _numpy(data[1], np.int64)
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        x, y = _from_dataset(data, what)
    else:
        raise DatasetError(f"{what}: cannot read samples from {type(data).__name__}; give a dataset name, an .npz "
                           f"path, an (x, y) pair of arrays or a torch Dataset")
    if len(x) == 0:
        raise DatasetError(f"{what} {name!r} ({split} split) has no samples")
    if len(x) != len(y):
        raise DatasetError(f"{what} {name!r}: {len(x)} inputs but {len(y)} labels")
    if expect_shape is not None and tuple(x.shape[1:]) != tuple(expect_shape):
        raise DatasetError(
            f"{what} {name!r} has per-sample shape {tuple(x.shape[1:])} but the model expects {tuple(expect_shape)}")
    return x, y


def _numpy(a, dtype) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=dtype)


def _from_dataset(ds, what: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i in range(len(ds)):
        item = ds[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DatasetError(f"{what}: item {i} of {type(ds).__name__} is not an (input, label) pair")
        xs.append(_numpy(item[0], np.float32))
        ys.append(int(_numpy(item[1], np.int64)))
    if not xs:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int64)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def calibration_subset(x: np.ndarray, n: int, seed: int = CALIB_SEED) -> np.ndarray:
    """The first ``n`` samples of ``x`` after a fixed-seed shuffle (all of them if ``n >= len(x)``)."""
    perm = np.random.default_rng(seed).permutation(len(x))
    return x[perm[:n]]
