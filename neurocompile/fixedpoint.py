"""The one module that owns integer semantics.

Everything that turns a float into an integer, limits an integer to a width, shifts, or updates an
integer neuron state lives here; the quantiser, intsim and every backend call these functions, so the
contract in docs/semantics.md has exactly one implementation.

Conventions
-----------
* Signed widths are symmetric: a b-bit signed value lies in [-(2^(b-1)-1), 2^(b-1)-1] (the most negative
  two's-complement code is never produced), as Lava's voltage clip.
* Rounding of real numbers to integers is *half away from zero* (``round_half_away``).
* Shifts act on integers: ``shift(x, e)`` is ``x << e`` for e >= 0 and an arithmetic right shift
  (floor division by 2^-e) for e < 0, as Lava's Dense applies ``weight_exp`` to the summed input.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import QuantizationError

RESET_SUBTRACT = "subtract"
RESET_ZERO = "zero"


def qmax(bits: int, signed: bool = True) -> int:
    """Largest magnitude of a ``bits``-wide integer (symmetric if signed)."""
    if bits < 1 or bits > 62:
        raise QuantizationError(f"bit width {bits} outside 1..62")
    return (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1


def qmin(bits: int, signed: bool = True) -> int:
    return -qmax(bits, True) if signed else 0


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero; returns int64."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def round_shift(m: np.ndarray, k: int) -> np.ndarray:
    """Integers ``m`` divided by ``2^k`` and rounded half away from zero, in integer arithmetic (int64): the
    mantissas of ``m`` rounded to multiples of ``2^k`` (a composed chain, docs/semantics.md)."""
    m = np.asarray(m, dtype=np.int64)
    if k <= 0:
        return m << -k
    return np.sign(m) * ((np.abs(m) + (1 << (k - 1))) >> k)


def trailing_zeros(m: np.ndarray) -> int:
    """The largest ``j`` with every entry of the integer array ``m`` a multiple of ``2^j`` (0 for none / all zero)."""
    nz = np.abs(np.asarray(m, dtype=np.int64))
    nz = nz[nz != 0]
    if nz.size == 0:
        return 0
    low = np.bitwise_or.reduce(nz & -nz)  # each entry's lowest set bit; the smallest one decides
    return int(low & -low).bit_length() - 1


def quantize(x: np.ndarray, scale: float, bits: int, signed: bool = True) -> np.ndarray:
    """``clip(round_half_away(x * scale), qmin, qmax)`` as int64."""
    return np.clip(round_half_away(np.asarray(x, dtype=np.float64) * scale), qmin(bits, signed), qmax(bits, signed))


def fits(x: np.ndarray, bits: int, signed: bool = True) -> bool:
    x = np.asarray(x)
    return bool(x.size == 0 or (x.min() >= qmin(bits, signed) and x.max() <= qmax(bits, signed)))


def saturate(v, bits: int):
    """Clip to the symmetric signed range of ``bits`` (numpy or torch)."""
    m = qmax(bits)
    return v.clamp(-m, m) if isinstance(v, torch.Tensor) else np.clip(v, -m, m)


def wrap(v, bits: int):
    """Two's-complement wrap to ``bits`` (numpy or torch int)."""
    half = 1 << (bits - 1)
    return (v + half) % (1 << bits) - half


def shift(x, e: int):
    """``x << e`` for e >= 0, arithmetic right shift (floor) for e < 0 (numpy or torch int; a torch float
    holding exact integers is shifted by an exact multiply / floor-divide by a power of two)."""
    if e == 0:
        return x
    if isinstance(x, torch.Tensor) and x.is_floating_point():  # exact integers held in a float
        return x * float(1 << e) if e > 0 else torch.floor(x / float(1 << -e))
    if e > 0:
        return x * (1 << e)
    return x >> (-e) if isinstance(x, torch.Tensor) else np.right_shift(x, -e)


def wrap_once(x, bits: int):
    """Lava's one-shot wrap of the LIF current ``u`` (reference §2.2): ``x - 2^bits`` where
    ``x > 2^(bits-1)``, ``x + 2^bits`` where ``x <= -2^(bits-1)``, else ``x``. Only one wrap: a value
    beyond +-3*2^(bits-1) stays out of range, exactly as Lava 0.10 computes it."""
    half, full = 1 << (bits - 1), 1 << bits
    if isinstance(x, torch.Tensor):
        return torch.where(x > half, x - full, torch.where(x <= -half, x + full, x))
    x = np.asarray(x)
    return np.where(x > half, x - full, np.where(x <= -half, x + full, x))


def _exponent(x: np.ndarray, mant_bits: int, exp_max: int, rounded: bool) -> np.ndarray:
    """Smallest exponent e in 0..exp_max with |x / 2^e| (rounded or exact) <= qmax(mant_bits); exp_max if none."""
    m = qmax(mant_bits)
    e = np.full(x.shape, exp_max, dtype=np.int64)
    for k in range(exp_max, -1, -1):
        mag = round_half_away(np.abs(x) / float(1 << k)) if rounded else np.abs(x) / float(1 << k)
        e = np.where(mag <= m, k, e)
    return e


def round_mant_exp(x: np.ndarray, mant_bits: int, exp_max: int) -> np.ndarray:
    """Nearest value of the form ``mant << exp`` with |mant| <= 2^(mant_bits-1)-1 and 0 <= exp <= exp_max
    (smallest exponent, mantissa rounded half away from zero, saturated at the largest exponent)."""
    x = np.asarray(x, dtype=np.int64)
    e = _exponent(x, mant_bits, exp_max, rounded=True)
    m = qmax(mant_bits)
    mant = np.clip(round_half_away(x / (2.0**e)), -m, m)
    return mant << e


def mant_exp(x: np.ndarray, mant_bits: int, exp_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Split integers into ``(mant, exp)`` with ``mant << exp == x`` exactly (smallest exponent).
    Raises QuantizationError naming the first value that is not representable."""
    x = np.asarray(x, dtype=np.int64)
    e = _exponent(x, mant_bits, exp_max, rounded=False)
    mant = x >> e
    bad = (mant << e) != x
    bad |= np.abs(mant) > qmax(mant_bits)
    if bad.any():
        v = int(x[bad].flat[0])
        raise QuantizationError(f"value {v} is not mant << exp with {mant_bits}-bit mantissa and exp <= {exp_max}")
    return mant, e


def signed_width(lo: int, hi: int) -> int:
    """Bits of the two's-complement type holding every integer in [lo, hi] (at least 2)."""
    need = max(int(hi).bit_length(), (-int(lo) - 1).bit_length() if lo < 0 else 0) + 1
    return max(2, need)


def unsigned_width(n: int) -> int:
    """Bits of the unsigned type holding 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def twos_complement(x: np.ndarray, bits: int) -> np.ndarray:
    """Masked two's-complement code of signed ``x`` in ``bits`` bits (for memory images)."""
    return np.asarray(x, dtype=np.int64) & ((1 << bits) - 1)


def if_step(v, inp, bias, threshold, reset: str, state_bits: int, state_shift: int = 0,
            input_wrap: int | None = None):
    """One integrate-and-fire step, vectorised (torch int64). Returns (new v, spikes bool).

    ``v' = sat(v + wrap(inp << state_shift) + bias)``; ``s = v' > threshold``;
    reset subtract: ``v' -= threshold`` where s; reset zero: ``v' = 0`` where s.
    """
    v = saturate(v + if_drive(inp, bias, state_shift, input_wrap), state_bits)
    s = v > threshold
    if reset == RESET_SUBTRACT:
        v = v - threshold * s
    elif reset == RESET_ZERO:
        v = torch.where(s, torch.zeros_like(v), v)
    else:
        raise ValueError(f"unknown reset mode {reset!r}")
    return v, s


def if_drive(inp, bias, state_shift: int, input_wrap: int | None = None):
    """The per-step drive of an IF population, ``wrap(inp << state_shift) + bias`` (vectorisable over
    time); the one-shot wrap (:func:`wrap_once`) applies only when ``input_wrap`` is set."""
    x = shift(inp, state_shift)
    if input_wrap:
        x = wrap_once(x, input_wrap)
    return x + bias


def if_update_(v: torch.Tensor, drive: torch.Tensor, threshold: torch.Tensor, reset: str, state_bits: int,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """In-place form of :func:`if_step` given the drive: updates ``v`` and returns the spikes.

    Identical to ``if_step(v, inp, bias, ...)`` with ``drive = if_drive(inp, bias, state_shift)``. With
    ``out`` (a tensor of any numeric type), the spikes are written there as 0/1 and ``out`` is returned;
    otherwise a bool tensor is returned.
    """
    m = qmax(state_bits)
    v.add_(drive).clamp_(-m, m)
    s = torch.gt(v, threshold, out=out) if out is not None else v > threshold
    if reset == RESET_SUBTRACT:
        if v.is_floating_point() and s.dtype == v.dtype:
            v.addcmul_(s, threshold, value=-1)
        else:
            v.sub_(threshold * s.to(v.dtype))
    elif reset == RESET_ZERO:
        v.masked_fill_(s.bool() if s.dtype != torch.bool else s, 0)
    else:
        raise ValueError(f"unknown reset mode {reset!r}")
    return s


def spike_levels(spike_max: int) -> list[int]:
    """The spike magnitudes a population may emit: 1, 2, 4, ... up to ``spike_max`` (a power of two)."""
    if spike_max < 1 or spike_max & (spike_max - 1):
        raise QuantizationError(f"spike_max {spike_max} is not a power of two >= 1")
    return [1 << k for k in range(spike_max.bit_length())]


def if_graded_update_(v: torch.Tensor, buf: torch.Tensor, drive: torch.Tensor, threshold: torch.Tensor, reset: str,
                      state_bits: int | None, spike_max: int = 1, buffered: bool = False,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """One step of the HPC neuron (buffered non-leaky IF with multi-bit spikes), in place on ``v`` and ``buf``.

    ``buf`` holds the net spike count emitted so far (HPC's buffer potential divided by the threshold).
    With ``v' = sat(v + drive)`` the signed spike is (levels ``p`` = 1, 2, 4, ... <= ``spike_max``)::

        s =  max p  with  v' > p * threshold                               (if v' > threshold)
        s = -max p  with  v' < -(p - 1) * threshold  and  buf >= p         (buffered only, if v' < 0)
        s =  0      otherwise

    i.e. HPC's A(.) = the largest power of two not above the number of thresholds crossed (strictly, as the
    binary neuron fires on ``v' > threshold``), capped by ``spike_max`` and, for negative spikes, by the buffer;
    a negative spike needs only ``v' < 0`` (one threshold takes v' back to >= 0). Then ``buf += s`` and reset
    subtract ``v' -= s * threshold`` (a negative spike adds) or zero ``v' = 0`` where ``s != 0``. With
    ``spike_max = 1`` and ``buffered = False`` this is exactly :func:`if_update_`. ``state_bits`` None
    skips saturation (float SNN). Returns the spikes (written into ``out`` when given).
    """
    v.add_(drive)
    if state_bits is not None:
        m = qmax(state_bits)
        v.clamp_(-m, m)
    s = out if out is not None else torch.empty_like(v)
    s.zero_()
    for p in spike_levels(spike_max):
        s.masked_fill_(v > p * threshold, p)
        if buffered:
            s.masked_fill_((v < -(p - 1) * threshold) & (buf >= p), -p)
    sv = s.to(v.dtype)
    if reset == RESET_SUBTRACT:
        v.sub_(sv * threshold)
    elif reset == RESET_ZERO:
        v.masked_fill_(sv != 0, 0)
    else:
        raise ValueError(f"unknown reset mode {reset!r}")
    buf.add_(sv.to(buf.dtype))
    return s


def stc_load(acc, bias, load_shift: int, state_bits: int):
    """STCSNN encoder load (numpy or torch int64): ``v_0 = sat(shift(acc, -load_shift) + bias)``, the
    accumulated input floored by the right shift (or exactly scaled by a left shift when negative)."""
    return saturate(shift(acc, -load_shift) + bias, state_bits)


def stc_step_(v, threshold: int):
    """One STCSNN encoder step in place on ``v`` (numpy or torch int64): ``s = v >= threshold``, then
    ``v -= threshold * s``. Returns the spikes (bool)."""
    s = v >= threshold
    v -= threshold * s
    return s


#: largest integer magnitude float32 / float64 hold exactly, together with every partial sum bounded by it
EXACT_F32 = 1 << 24
EXACT_F64 = 1 << 53


def exact_float(bound: int, where: str) -> torch.dtype:
    """The narrowest float type in which every integer of magnitude <= ``bound`` (and every partial sum
    bounded by it) is exact: convolutions and matrix products of integers then run in float BLAS with
    exact results. QuantizationError naming ``where`` above 2^53 (the simulator refuses rather than round)."""
    if bound <= EXACT_F32:
        return torch.float32
    if bound <= EXACT_F64:
        return torch.float64
    raise QuantizationError(f"layer {where}: accumulator bound {bound} exceeds 2^53; cannot simulate exactly")


def state_dtype(state_bits: int, max_abs_drive: int, max_abs_other: int = 0) -> torch.dtype:
    """The narrowest type in which :func:`if_update_` is exact for this state width and drive bound.

    Every intermediate of the update is bounded by ``qmax(state_bits) + max_abs_drive``: float32 holds all
    integers up to 2^24 exactly (and adds, compares and subtracts them exactly), int32 up to 2^31 - 1.
    ``max_abs_other`` bounds any other value the update forms (multi-bit spikes: ``spike_max * threshold``).
    """
    bound = max(qmax(state_bits) + max_abs_drive, max_abs_other)
    if bound <= 1 << 24:
        return torch.float32
    return torch.int32 if bound < (1 << 31) - 1 else torch.int64


def pool_out(n: int, k: int, s: int, p: int = 0, ceil_mode: bool = False) -> int:
    """Output length of a pooling window along one axis, PyTorch's rule: ``(n + 2p - k) / s + 1`` rounded
    down (floor mode) or up (``ceil_mode``), where a last window that would start past ``n + p`` (in the
    right padding only) is dropped, so every window holds at least one real element when ``p <= k / 2``."""
    span = n + 2 * p - k + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def window_max(x, kernel_size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int] = (0, 0),
               ceil_mode: bool = False):
    """Max over each ``kernel_size`` window of the last two axes of ``x`` (torch or numpy, any dtype: exact
    for integers), windows placed as PyTorch's ``max_pool2d`` places them (``padding`` pixels on each side,
    output length ``pool_out``). The max is over the window's real elements only: padding and the overhang
    of a ``ceil_mode`` window take no part (PyTorch's ``-inf`` padding); every window has a real element."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    h, w = x.shape[-2], x.shape[-1]
    ho, wo = pool_out(h, kh, sh, ph, ceil_mode), pool_out(w, kw, sw, pw, ceil_mode)
    if (ph, pw) != (0, 0) or ceil_mode:  # fill the padding with the dtype's least value: it never wins
        bottom, right = max(0, (ho - 1) * sh + kh - h - ph), max(0, (wo - 1) * sw + kw - w - pw)
        if isinstance(x, torch.Tensor):
            low = torch.finfo(x.dtype).min if x.dtype.is_floating_point else torch.iinfo(x.dtype).min
            big = torch.full((*x.shape[:-2], h + ph + bottom, w + pw + right), low, dtype=x.dtype, device=x.device)
        else:
            low = np.finfo(x.dtype).min if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
            big = np.full((*x.shape[:-2], h + ph + bottom, w + pw + right), low, dtype=x.dtype)
        big[..., ph: ph + h, pw: pw + w] = x
        x = big
    maximum = torch.maximum if isinstance(x, torch.Tensor) else np.maximum
    out = None
    for a in range(kh):
        for b in range(kw):
            part = x[..., a: a + sh * (ho - 1) + 1: sh, b: b + sw * (wo - 1) + 1: sw]
            out = part if out is None else maximum(out, part)
    return out


def max_count_gate(spikes: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
                   counts: torch.Tensor | None = None, maxima: torch.Tensor | None = None,
                   padding: tuple[int, int] = (0, 0), ceil_mode: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The max-count gate (a spiking max pool) over a run of steps: ``spikes`` (steps, ..., C, H, W).

    Per output window with inputs ``i`` (cumulative spike counts ``c_i(t) = sum_{tau <= t} s_i(tau)``)::

        M(t)     = max_i c_i(t)          (M = 0 before the first step)
        s_out(t) = M(t) - M(t - 1)

    with the windows of ``window_max`` (``padding``, ``ceil_mode``: a window's inputs ``i`` are its real
    elements; padding takes no part, which equals zero padding as counts of binary or buffered spikes
    are >= 0, and PyTorch's -inf padding for any input), so after every step the output's spike count
    equals the largest count among its inputs. The output
    of a step is bounded by the largest input magnitude of that step (binary in, binary out; graded
    ``|s| <= spike_max`` in, ``|s_out| <= spike_max`` out); no delay. A constant input ``x`` gives
    ``window_max(x)`` every step. ``counts`` (..., C, H, W) and ``maxima`` (..., C, Ho, Wo) carry the
    state from earlier steps (None = 0); the sums are exact in the dtype of ``spikes`` (pass an integer
    type). Returns ``(s_out (steps, ..., C, Ho, Wo), counts after the last step, maxima after it)``.
    """
    c = torch.cumsum(spikes, 0)
    if counts is not None:
        c = c + counts
    m = window_max(c, kernel_size, stride, padding, ceil_mode)
    prev = torch.zeros_like(m[:1]) if maxima is None else maxima.to(m.dtype)[None]
    return m - torch.cat([prev, m[:-1]]), c[-1], m[-1]
