"""Normalisation units: how a scale that is one number per layer, or one per channel, travels through ops.

A unit relates a normalised value to the original one (original = normalised x unit). It is a float
(layer-wise) or an array, one entry per channel of a (C, H, W) map (shaped (C, 1, 1)) or per feature of
a vector (channel-wise normalisation, ``passes.scales``). These helpers are what the ops' ``normalize``
facets use to rescale their weights and gains.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConversionError


def as_unit(value, shape: tuple[int, ...]):
    """A stored lambda (float or per-channel list) as a float or an array broadcastable to ``shape``
    ((C, 1, 1) for a (C, H, W) feature map, (F,) for a vector)."""
    if np.isscalar(value):
        return float(value)
    a = np.asarray(value, dtype=np.float64)
    if len(shape) == 3:
        return a.reshape(-1, 1, 1)
    return a.reshape(shape)


def uniform(u):
    """A unit array whose entries are all equal, as that float; anything else unchanged."""
    if np.isscalar(u):
        return float(u)
    a = np.asarray(u)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else a


def scale_rows(w: np.ndarray, lt) -> np.ndarray:
    """Weights divided by the output unit lt[o] (scalar or per output channel / feature)."""
    if np.isscalar(lt):
        return w / float(lt)
    lt = np.asarray(lt, dtype=np.float64).reshape(-1)
    return w / lt.reshape(-1, *([1] * (w.ndim - 1)))


def flatten_unit(u, in_shape: tuple[int, ...]):
    """Unit of Flatten's output: a per-channel unit repeated over each channel's H x W."""
    if np.isscalar(u):
        return u
    c, h, w = in_shape
    return np.repeat(np.asarray(u, dtype=np.float64).reshape(c), h * w)


def add_gain(g: float, u_in, lt, where: str) -> float:
    """Gain of one Add input in normalised units, ``g * u_in / lt``; must be one number."""
    r = uniform(np.asarray(u_in, dtype=np.float64) / np.asarray(lt, dtype=np.float64)) \
        if not (np.isscalar(u_in) and np.isscalar(lt)) else float(u_in) / float(lt)
    if not np.isscalar(r):
        raise ConversionError(f"layer {where}: per-channel scales reach an Add gain; use layer-wise normalisation")
    return float(g) * float(r)


def concat_unit(units: list, shapes: list[tuple[int, ...]]):
    """Unit of a Concat's output (axis 0 of each per-sample shape) whose inputs keep their units: the inputs'
    units side by side, one entry per channel ((C, 1, 1)) or feature ((F,)); one float if all are equal."""
    if all(np.isscalar(u) for u in units) and len({float(u) for u in units}) == 1:
        return float(units[0])
    parts = [np.broadcast_to(np.asarray(u, dtype=np.float64).reshape(-1), (s[0],)) for u, s in zip(units, shapes)]
    a = np.concatenate(parts)
    return uniform(a.reshape(-1, 1, 1) if len(shapes[0]) == 3 else a)


def slice_unit(lt, start: int, stop: int):
    """The part of a Concat's output unit ``lt`` (a float, or an array over axis 0) on axis range [start, stop)."""
    if lt is None or np.isscalar(lt):
        return lt
    return uniform(np.asarray(lt)[start:stop])


#: the most a summing op's unit may exceed the smallest cap of its own weight ops (the integer gain k it then gives
#: that op): 4 more bits on the composed entries at most, and room for nested sums to keep their gains in range
SUM_SPREAD = 16


def summed_unit_bound(wcaps: list[float], qmax: int) -> float:
    """The largest integer unit a summing op (an Add, a Concat) may take from the weight ops that feed only it,
    given each one's cap (the unit at which its largest weight is ``qmax``).

    The smallest cap, if the caps are within a factor 2 of each other: every weight op keeps its precision up
    to a factor 2. Otherwise the largest cap, at most ``min(SUM_SPREAD, qmax)`` times the smallest: each weight op
    with a smaller cap takes ``U / k`` with an integer gain ``k`` in the sum (its ``own_divisor``), keeping at
    least half its range, where the smallest cap would cut a weight op on the analog input (a DenseNet-BC stem
    conv concatenated with dense layers, a pre-activation ResNet's stem conv in its first skip) to a few levels."""
    caps = [w for w in wcaps if np.isfinite(w) and w > 0]
    if not caps:
        return float("inf")
    lo, hi = min(caps), max(caps)
    return lo if hi <= 2 * lo else min(hi, min(SUM_SPREAD, qmax) * lo)
