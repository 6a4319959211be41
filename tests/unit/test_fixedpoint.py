"""Integer helpers against independent formulas, exhaustively over small widths."""

import itertools

import numpy as np
import pytest
import torch

from neurocompile import fixedpoint as fx
from neurocompile.errors import QuantizationError


@pytest.mark.parametrize("bits", range(2, 9))
def test_saturate_and_wrap_exhaustive(bits):
    lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    xs = np.arange(-3 * 2**bits, 3 * 2**bits + 1, dtype=np.int64)
    sat = fx.saturate(xs, bits)
    assert list(sat) == [min(max(int(x), lo), hi) for x in xs]
    assert torch.equal(fx.saturate(torch.as_tensor(xs), bits), torch.as_tensor(sat))
    wr = fx.wrap(xs, bits)
    for x, w in zip(xs, wr):
        # independent: reinterpret the low `bits` bits as two's complement
        low = int(x) & ((1 << bits) - 1)
        assert w == (low - (1 << bits) if low >= 1 << (bits - 1) else low)


@pytest.mark.parametrize("e", range(-6, 7))
def test_shift_floor_exhaustive(e):
    xs = np.arange(-300, 301, dtype=np.int64)
    got = fx.shift(xs, e)
    want = [int(np.floor(int(x) * 2.0**e)) for x in xs]
    assert list(got) == want
    assert list(fx.shift(torch.as_tensor(xs), e).numpy()) == want


def test_round_half_away():
    xs = np.array([-2.5, -1.5, -0.5, -0.49, 0.0, 0.49, 0.5, 1.5, 2.5, 3.7, -3.7])
    assert list(fx.round_half_away(xs)) == [-3, -2, -1, 0, 0, 0, 1, 2, 3, 4, -4]


@pytest.mark.parametrize("bits,signed", list(itertools.product(range(2, 11), [True, False])))
def test_quantize_range_and_error(bits, signed):
    rng = np.random.default_rng(bits)
    x = rng.normal(size=500) * 3
    scale = 7.3
    q = fx.quantize(x, scale, bits, signed)
    lo, hi = (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    assert q.dtype == np.int64 and q.min() >= lo and q.max() <= hi
    inside = (x * scale >= lo - 0.5) & (x * scale <= hi + 0.5)
    assert np.all(np.abs(q[inside] - x[inside] * scale) <= 0.5 + 1e-12)
    assert fx.fits(q, bits, signed)
    assert not fx.fits(np.array([hi + 1]), bits, signed)


def test_twos_complement_codes():
    for bits in range(2, 11):
        for x in range(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1)):
            code = int(fx.twos_complement(np.array([x]), bits)[0])
            assert 0 <= code < 2**bits
            assert (code - 2**bits if code >= 2 ** (bits - 1) else code) == x


def test_qmax_rejects_bad_width():
    with pytest.raises(QuantizationError):
        fx.qmax(0)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_step_exhaustive_small(reset):
    """All (v, input, bias) combinations of a 6-bit state against a scalar re-implementation."""
    bits, th, sh = 6, 9, 1
    m = 2 ** (bits - 1) - 1
    vs, ins, bs = np.meshgrid(np.arange(-m, m + 1), np.arange(-12, 13), np.arange(-3, 4), indexing="ij")
    v2, s2 = fx.if_step(torch.as_tensor(vs.ravel()), torch.as_tensor(ins.ravel()), torch.as_tensor(bs.ravel()),
                        torch.tensor(th), reset, bits, sh)
    for v, i, b, got_v, got_s in zip(vs.ravel(), ins.ravel(), bs.ravel(), v2.tolist(), s2.tolist()):
        nv = min(max(int(v) + int(i) * 2**sh + int(b), -m), m)
        spk = nv > th
        if spk:
            nv = nv - th if reset == "subtract" else 0
        assert (got_v, got_s) == (nv, spk)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_in_place_update_equals_if_step(reset, dtype):
    """Also in float32, which state_dtype picks when every intermediate is below 2^24."""
    rng = np.random.default_rng(0)
    v = torch.as_tensor(rng.integers(-2000, 2000, 5000))
    inp = torch.as_tensor(rng.integers(-300, 300, 5000))
    bias = torch.as_tensor(rng.integers(-20, 20, 5000))
    th = torch.as_tensor(rng.integers(1, 500, 5000))
    want_v, want_s = fx.if_step(v, inp, bias, th, reset, 12, 2)
    got_v = v.clone().to(dtype)
    got_s = fx.if_update_(got_v, fx.if_drive(inp, bias, 2).to(dtype), th.to(dtype), reset, 12)
    assert torch.equal(got_v.to(torch.int64), want_v) and torch.equal(got_s, want_s)
    buf_v = v.clone().to(dtype)
    buf = torch.empty(5000, dtype=torch.float32)
    fx.if_update_(buf_v, fx.if_drive(inp, bias, 2).to(dtype), th.to(dtype), reset, 12, out=buf)
    assert torch.equal(buf_v.to(torch.int64), want_v) and torch.equal(buf.bool(), want_s)


def test_wrap_once_matches_lava_description():
    # reference §2.2 / E6b: u = +2^23 stays, u = -2^23 becomes +2^23, only one wrap
    M = 1 << 23
    xs = np.array([M, M + 1, -M, -M + 1, 3 * M, -3 * M - 1, 0, 163200 << 6])
    want = [M, M + 1 - 2 * M, M, -M + 1, M, -M - 1, 0, (163200 << 6) - 2 * M]
    assert fx.wrap_once(xs, 24).tolist() == want
    assert fx.wrap_once(torch.as_tensor(xs), 24).tolist() == want


def test_mant_exp_exhaustive_small():
    mb, emax = 4, 3  # mantissa |m| <= 7, exp 0..3
    grid = {m << e for m in range(-7, 8) for e in range(4)}
    xs = np.arange(-70, 71)
    r = fx.round_mant_exp(xs, mb, emax)
    for x, y in zip(xs, r):
        assert int(y) in grid
        best = min(abs(int(x) - g) for g in grid)
        assert abs(int(x) - int(y)) <= best + (1 << emax) // 2  # nearest on its own exponent's grid
    for v in sorted(grid):
        m, e = fx.mant_exp(np.array([v]), mb, emax)
        assert int(m[0]) << int(e[0]) == v and abs(int(m[0])) <= 7 and 0 <= int(e[0]) <= 3
    with pytest.raises(QuantizationError):
        fx.mant_exp(np.array([9]), mb, emax)  # 9 needs exp 1 but is odd


def _graded_run(drives, th, spike_max=1, buffered=True, reset="subtract", v0=0):
    v = torch.tensor([float(v0)])
    b = torch.zeros(1)
    out = []
    for d in drives:
        s = fx.if_graded_update_(v, b, torch.tensor([float(d)]), torch.tensor([float(th)]), reset, 12,
                                 spike_max, buffered)
        out.append((int(s.item()), int(v.item()), int(b.item())))
    return out


def test_buffered_neuron_hand_computed():
    """HPC eq. 12-13 on integers, threshold 10: a spike that later turns out too many is taken back."""
    assert _graded_run([15, -12, -5, 30], 10) == [
        (1, 5, 1),    # v' = 15 > 10: spike, v = 5, buffer 1
        (-1, 3, 0),   # v' = -7 < 0 with buffer 1: negative spike, v = -7 + 10 = 3, buffer 0
        (0, -2, 0),   # v' = -2 < 0 but the buffer is empty: no spike
        (1, 18, 1),   # v' = 28 > 10: one spike (binary), v = 18 carries the rest
    ]
    # the same drive without the buffer keeps the over-fired spike
    assert [s for s, _, _ in _graded_run([15, -12, -5, 30], 10, buffered=False)] == [1, 0, 0, 1]


def test_multibit_spikes_hand_computed():
    """HPC eq. 14-15: magnitude = largest power of two <= thresholds crossed (strictly), <= spike_max."""
    # v' = 75, threshold 10: 7 thresholds strictly below -> A(7) = 4; v = 35 -> 3 crossed -> 2; v = 15 -> 1
    assert _graded_run([75, 0, 0, 0], 10, spike_max=8) == [(4, 35, 4), (2, 15, 6), (1, 5, 7), (0, 5, 7)]
    assert [s for s, _, _ in _graded_run([75, 0], 10, spike_max=2)] == [2, 2]
    # exactly 2 thresholds is not "more than 2": strict comparison as in the binary neuron
    assert _graded_run([20], 10, spike_max=4)[0][0] == 1
    # negative: ceil(35 / 10) = 4 thresholds back to >= 0, buffer 7 -> -4, v = 5
    assert _graded_run([75, 0, 0, -40], 10, spike_max=8)[-1] == (-4, 5, 3)
    # the buffer caps a negative spike: buffer 1 -> at most -1
    assert _graded_run([15, -45], 10, spike_max=8)[-1] == (-1, -30, 0)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_graded_update_reduces_to_binary(reset):
    """spike_max 1 without the buffer is exactly the binary in-place update."""
    g = torch.Generator().manual_seed(5)
    v1 = torch.randint(-500, 500, (4000,), generator=g).float()
    v2, b = v1.clone(), torch.zeros(4000)
    th = torch.randint(1, 200, (4000,), generator=g).float()
    for _ in range(12):
        d = torch.randint(-300, 400, (4000,), generator=g).float()
        s1 = fx.if_update_(v1, d, th, reset, 12)
        s2 = fx.if_graded_update_(v2, b, d, th, reset, 12, 1, False)
        assert torch.equal(s1.float(), s2) and torch.equal(v1, v2)


def test_buffered_charge_is_conserved():
    """Reset by subtraction: v_T = v_0 + sum(drive) - threshold * net spikes, and the buffer is the net count
    (never negative)."""
    g = torch.Generator().manual_seed(9)
    th = torch.randint(5, 60, (3000,), generator=g).float()
    v = torch.randint(0, 30, (3000,), generator=g).float()
    v0, b, total, net = v.clone(), torch.zeros(3000), torch.zeros(3000), torch.zeros(3000)
    for _ in range(16):
        d = torch.randint(-80, 120, (3000,), generator=g).float()
        total += d
        net += fx.if_graded_update_(v, b, d, th, "subtract", 20, 4, True)
    assert torch.equal(v, v0 + total - th * net)
    assert torch.equal(b, net) and bool((b >= 0).all()) and bool((net <= 16 * 4).all())


def test_spike_levels_rejects_non_power_of_two():
    assert fx.spike_levels(8) == [1, 2, 4, 8]
    with pytest.raises(QuantizationError):
        fx.spike_levels(6)
