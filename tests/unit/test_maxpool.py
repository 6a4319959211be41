"""MaxPool2d, the max-count gate: its rule (hand-computed cases and properties), the IR checks, the units
the passes give it, its cost figures, and the float SNN's gate."""

import json

import numpy as np
import pytest
import torch

from netgen import assert_same_graph, random_graph, random_inputs
from neurocompile import fixedpoint as fx
from neurocompile.backends.intsim import simulate
from neurocompile.ir.timing import latency
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import GraphError
from neurocompile.ir import AvgPool2d, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output, load, save
from neurocompile.ir.ann import run_ann
from neurocompile.ir.cost import fanout
from neurocompile.ir.chains import chains, spike_dtype


def gate(trains, kernel=(1, 2), stride=(1, 1)):
    """Run the gate on per-input spike trains (rows = inputs side by side in one row of pixels)."""
    s = torch.as_tensor(np.asarray(trains, dtype=np.int64).T[:, None, None, :])  # (T, C=1, H=1, W=inputs)
    out, _, _ = fx.max_count_gate(s, kernel, stride)
    return out[:, 0, 0].T.tolist()


# ------------------------------------------------------------------------------------------ the rule by hand
@pytest.mark.parametrize("trains, want", [
    ([[1, 0, 1, 0], [0, 1, 0, 1]], [1, 0, 1, 0]),  # alternating: counts 1,1,2,2 / 0,1,1,2 -> max 1,1,2,2
    ([[1, 1, 0, 1], [1, 1, 0, 1]], [1, 1, 0, 1]),  # ties: one output spike per joint spike
    ([[0, 0, 1, 1, 1], [1, 1, 0, 0, 0]], [1, 1, 0, 0, 1]),  # the leader changes: no spike until overtaken
    ([[1, 1, -1, -1, 0], [0, 1, 0, 0, 1]], [1, 1, -1, 0, 1]),  # graded +-1: counts 1,2,1,0,0 / 0,1,1,1,2
    ([[4, 0, -2], [0, 2, 2]], [4, 0, 0]),  # multi-bit: counts 4,4,2 / 0,2,4 -> max 4,4,4
    ([[0, 4, -4], [1, 0, 0]], [1, 3, -3]),  # graded out need not be a power of two: max 1,4,1
    ([[0, 0, 0], [0, 0, 0]], [0, 0, 0]),
])
def test_gate_by_hand(trains, want):
    (got,) = gate(trains)
    assert got == want
    counts = np.cumsum(np.asarray(trains), 1)
    assert np.array_equal(np.cumsum(want), counts.max(0))  # output count == max of input counts, every step


def test_gate_on_a_constant_input_is_its_max_pool():
    x = torch.tensor([[[3, -5, 0], [7, 1, -2], [-4, -6, -1]]])  # (C, H, W), a signed integer input
    steps = x.expand(5, 1, 3, 3)
    out, _, _ = fx.max_count_gate(steps, (2, 2), (1, 1))
    want = torch.tensor([[[7, 1], [7, 1]]])
    assert all(torch.equal(o, want) for o in out)
    assert torch.equal(fx.window_max(x, (2, 2), (1, 1)), want)
    neg = torch.tensor([[[-3, -5]]]).expand(4, 1, 1, 2)  # all negative: still the max, every step
    assert fx.max_count_gate(neg, (1, 2), (1, 1))[0].flatten().tolist() == [-3] * 4


@pytest.mark.parametrize("graded", [False, True])
@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((2, 3), (2, 1)), ((3, 2), (3, 3))])
def test_gate_properties(kernel, stride, graded):
    """Random trains: count(out) == window max of counts at every step; |out| <= largest |in| of the step;
    binary in -> binary out; step-by-step with carried state == the whole train; float max_pool2d agrees."""
    rng = np.random.default_rng(sum(kernel) * 10 + sum(stride) + graded)
    T, shape = 30, (2, 3, 7, 8)
    if graded:
        s = rng.choice([-4, -2, -1, 0, 0, 0, 1, 2, 4], size=(T, *shape))
    else:
        s = (rng.random((T, *shape)) < 0.3).astype(np.int64)
    st = torch.as_tensor(s)
    out, c_end, m_end = fx.max_count_gate(st, kernel, stride)
    cm = torch.nn.functional.max_pool2d(torch.cumsum(st, 0).double().reshape(-1, *shape[1:]), kernel, stride)
    assert torch.equal(torch.cumsum(out, 0).double().reshape(cm.shape), cm)
    assert out.abs().amax((1, 2, 3, 4)).le(st.abs().amax((1, 2, 3, 4))).all()
    if not graded:
        assert set(out.unique().tolist()) <= {0, 1} and out.sum() > 0
    counts = maxima = None
    for t in range(T):
        o, counts, maxima = fx.max_count_gate(st[t:t + 1], kernel, stride, counts, maxima)
        assert torch.equal(o[0], out[t])
    assert torch.equal(counts, c_end) and torch.equal(maxima, m_end)


# ------------------------------------------------------------------------------------------ IR
def _tiny(pool_on="relu"):
    """x (1,4,4) -> conv 1x1 -> relu -> maxpool 2x2 -> flatten -> linear(3) -> out."""
    g = Graph("tiny")
    g.add(Input("x", shape=(1, 4, 4)))
    g.add(Conv2d("c", weight=np.ones((1, 1, 1, 1)), bias=np.zeros(1)), ["x"])
    g.add(Neurons("relu"), ["c"])
    g.add(MaxPool2d("mp", kernel_size=(2, 2), stride=(2, 2)), [pool_on])
    g.add(Flatten("f"), ["mp"])
    g.add(Linear("fc", weight=np.array([[1.0, 0, 0, 2], [0, 0, 0, 0], [1, 1, 1, 1]])), ["f"])
    g.add(Output("out"), ["fc"])
    return g


# ------------------------------------------------------------------------------------------ padding, ceil mode
GEOMETRIES = [((3, 3), (2, 2), (1, 1), False), ((3, 3), (2, 2), (1, 1), True), ((2, 2), (2, 2), (1, 1), False),
              ((3, 2), (2, 1), (1, 1), True), ((3, 3), (2, 2), (0, 0), True), ((2, 2), (3, 3), (1, 0), True),
              ((5, 3), (3, 2), (2, 1), True), ((1, 1), (2, 2), (0, 0), True)]


@pytest.mark.parametrize("kernel, stride, pad, ceil", GEOMETRIES)
def test_padded_windows_equal_torch(kernel, stride, pad, ceil):
    """window_max (torch and numpy, signed integers) and the gate's counts equal torch's max_pool2d, whose
    padding is -inf; on counts >= 0 zero padding gives the same; pool_out is torch's output size."""
    rng = np.random.default_rng(sum(kernel) + 7 * sum(pad) + ceil)
    for h, w in [(7, 8), (9, 9), (6, 5), (10, 7)]:
        x = torch.as_tensor(rng.integers(-50, 50, size=(2, 3, h, w)))
        want = torch.nn.functional.max_pool2d(x.double(), kernel, stride, pad, ceil_mode=ceil)
        got = fx.window_max(x, kernel, stride, pad, ceil)
        assert got.dtype == x.dtype and torch.equal(got.double(), want)
        assert np.array_equal(fx.window_max(x.numpy(), kernel, stride, pad, ceil), want.numpy())
        assert want.shape[-2:] == (fx.pool_out(h, kernel[0], stride[0], pad[0], ceil),
                                   fx.pool_out(w, kernel[1], stride[1], pad[1], ceil))
        s = torch.as_tensor((rng.random((12, 2, 3, h, w)) < 0.3).astype(np.int64))
        out, _, _ = fx.max_count_gate(s, kernel, stride, padding=pad, ceil_mode=ceil)
        c = torch.cumsum(s, 0).double().reshape(-1, 3, h, w)
        zero = torch.nn.functional.pad(c, (pad[1], pad[1], pad[0], pad[0]))  # zero padding: the same on counts
        for ref in (torch.nn.functional.max_pool2d(c, kernel, stride, pad, ceil_mode=ceil),
                    torch.nn.functional.max_pool2d(zero, kernel, stride, 0, ceil_mode=ceil)[..., :want.shape[-2],
                                                                                              :want.shape[-1]]):
            assert torch.equal(torch.cumsum(out, 0).double().reshape(ref.shape), ref)
        assert set(out.unique().tolist()) <= {0, 1} and out.sum() > 0


def test_float_ir_pools_equal_torch():
    """MaxPool2d / AvgPool2d (padded, ceil mode) evaluate as torch's modules; the integer sum pool is k^2 x
    the average over the zero-padded input."""
    x = torch.randn(4, 3, 9, 10, dtype=torch.float64)
    for k, s, p, c in GEOMETRIES:
        mp = MaxPool2d("m", kernel_size=k, stride=s, padding=p, ceil_mode=c)
        assert torch.equal(mp.eval_float([x], None, None), torch.nn.MaxPool2d(k, s, p, ceil_mode=c)(x))
        assert mp.infer_shape([(3, 9, 10)]) == tuple(torch.nn.MaxPool2d(k, s, p, ceil_mode=c)(x).shape[1:])
        ap = AvgPool2d("a", kernel_size=k, stride=s, padding=p)
        want = torch.nn.AvgPool2d(k, s, p)(x)
        assert torch.allclose(ap.eval_float([x], None, None), want, rtol=1e-12)
        ap.divisor = 1
        xi = torch.as_tensor(np.random.default_rng(1).integers(-9, 9, size=(4, 3, 9, 10)))
        got, bound = ap.int_forward([xi], [9])
        assert torch.equal(got.double(), torch.nn.AvgPool2d(k, s, p, divisor_override=1)(xi.double()))


def test_signed_input_padded_pool_is_exact():
    """A padded ceil-mode pool on a signed integer input: PyTorch's -inf padding is what the gate computes
    (the max over real pixels), so negative inputs stay exact: float IR = torch; intsim = the slow loop."""
    from slowsim import slow_simulate
    from neurocompile.results import quantize_input

    g = Graph("signed")
    g.add(Input("x", shape=(1, 7, 7)))
    g.add(MaxPool2d("xpool", kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True), ["x"])
    g.add(Conv2d("c", weight=np.array([[[[1.0, -0.5], [0.25, 1.0]]]]), bias=np.zeros(1)), ["xpool"])
    g.add(Neurons("relu"), ["c"])
    g.add(Flatten("f"), ["relu"])
    g.add(Linear("fc", weight=np.random.default_rng(0).normal(size=(3, 9))), ["f"])
    g.add(Output("out"), ["fc"])
    x = np.random.default_rng(1).normal(size=(16, 1, 7, 7)).astype(np.float32) - 0.7  # mostly negative
    ann, _ = run_ann(g, x, dtype=torch.float64)
    pooled = torch.nn.functional.max_pool2d(torch.as_tensor(x, dtype=torch.float64), 3, 2, 1, ceil_mode=True)
    h = torch.relu(torch.nn.functional.conv2d(pooled, torch.as_tensor(g.node("c").weight)))
    want = h.flatten(1) @ torch.as_tensor(g.node("fc").weight).T
    assert (pooled < 0).any() and np.allclose(ann, want.numpy(), rtol=1e-12, atol=1e-12)
    ig = compile_graph(g, x, CompileOptions(method="rueckauer", weight_bits=8))
    assert ig.input.signed
    res = simulate(ig, x[:3], 6, record=True)
    xi = quantize_input(ig, x[:3])
    for k in range(3):
        ro, _ = slow_simulate(ig, xi[k], 6, res.run_steps)
        assert res.readout[k].tolist() == ro
    want = torch.nn.functional.max_pool2d(torch.as_tensor(xi, dtype=torch.float64), 3, 2, 1, ceil_mode=True)
    assert torch.equal(ig.node("xpool").gate_values(torch.as_tensor(xi)).double(), want) and (want < 0).any()


def test_verify_needs_a_spike_source():
    assert _tiny().verify()["mp"] == (1, 2, 2)
    pre = _tiny("c")
    pre.remove("relu")
    with pytest.raises(GraphError, match=r"node mp \(maxpool2d\): reads conv2d c; .* must read a spike source"):
        pre.verify()
    padded = _tiny()
    padded.node("mp").padding = (1, 1)  # (4 + 2 - 2) / 2 + 1 = 3 windows per axis: the linear no longer fits
    with pytest.raises(GraphError, match=r"node fc .*input \(9,\)"):
        padded.verify()
    bad = _tiny()
    bad.node("mp").padding = (2, 0)  # more than half the kernel: a window of padding only
    with pytest.raises(GraphError, match=r"node mp .*padding \(2, 0\) must be >= 0 and at most half the kernel"):
        bad.verify()


@pytest.mark.parametrize("seed", range(3))
def test_round_trip(tmp_path, seed):
    g = random_graph(seed, maxpool=True, input_pool=True)
    assert g.nodes_of(MaxPool2d)
    save(g, tmp_path / "f")
    assert_same_graph(g, load(tmp_path / "f"))
    ig = compile_graph(g, random_inputs(g, 16, seed), CompileOptions(method="rueckauer", weight_bits=6))
    save(ig, tmp_path / "i")
    back = load(tmp_path / "i")
    assert_same_graph(ig, back)
    doc = json.loads((tmp_path / "i.json").read_text())
    entry = next(e for e in doc["nodes"] if e["op"] == "maxpool2d")
    assert set(entry["attrs"]) == {"source", "module", "kernel_size", "stride", "padding", "ceil_mode"}


# ------------------------------------------------------------------------------------------ cost, units, timing
def test_fanout_and_synops_count_the_gate():
    """The population read only by the gate has fan-out 0; the gate's fan-out is the linear's non-zeros per
    column; SynOps = gate spikes x gate fan-out."""
    g = _tiny()
    fan = fanout(g)
    assert np.array_equal(fan["relu"], np.zeros((1, 4, 4)))
    assert np.array_equal(fan["mp"].reshape(-1), [2, 1, 1, 2])
    xc = np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32)
    ig = compile_graph(g, xc, CompileOptions(method="rueckauer"))
    r = simulate(ig, xc[:4], 10, record=True)
    want = (r.spikes["mp"].sum(0).reshape(4, -1) * np.array([2, 1, 1, 2])).sum(1)
    assert r.spikes["mp"].any() and np.array_equal(r.synops, want)
    assert np.array_equal(r.spike_counts["mp"], r.spikes["mp"].reshape(r.run_steps, 4, -1).sum((0, 2)))
    assert spike_dtype(ig, "mp") == np.dtype(bool)
    assert [c.sources for c in chains(ig)] == [["x"], ["mp"]]


def test_gates_add_no_delay():
    g = random_graph(0, maxpool=True, input_pool=True)  # x -> xpool -> ... relu2 -> mpool1 -> pool (gate on gate)
    assert {"xpool", "mpool1", "pool"} <= {n.name for n in g.nodes_of(MaxPool2d)}
    base = random_graph(0)
    for d in (0, 1):
        ig = compile_graph(g, random_inputs(g, 16, 0), CompileOptions(method="rueckauer", synapse_delay=d))
        ib = compile_graph(base, random_inputs(base, 16, 0), CompileOptions(method="rueckauer", synapse_delay=d))
        assert latency(ig) == latency(ib) == d * (len(ib.nodes_of(Neurons)) + 1)


def test_gate_unit_is_its_inputs_unit_per_channel():
    """Channel-wise normalisation: the population under a gate keeps one scale per channel; the weights
    after the gate absorb them column by column, so the normalised network is the same function."""
    for seed in range(6):
        g = random_graph(seed, residual=False, maxpool=True)
        if "mpool1" in g and g.consumers(g.nodes_of(Neurons)[0].name) == ["mpool1"]:
            break
    from neurocompile.passes import Calibrate, FoldBiases, NeuronModel, Normalize, PassManager
    from neurocompile.passes.scales import channelwise_ok

    first = g.nodes_of(Neurons)[0].name
    assert g.consumers(first) == ["mpool1"] and first in channelwise_ok(g)
    xc = random_inputs(g, 64, seed)
    ng = PassManager([Calibrate(xc, 100.0, channelwise=True, channel_floor=0.01), Normalize(), FoldBiases(),
                      NeuronModel()]).run(g.copy())
    assert isinstance(ng.meta["lambda"][first], list) and "mpool1" not in ng.meta["lambda"]
    x = random_inputs(g, 50, seed + 1)
    a, _ = run_ann(g, x, dtype=torch.float64)
    b, _ = run_ann(ng, x, dtype=torch.float64)
    np.testing.assert_allclose(b * ng.meta["lambda"][ng.output.name], a, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_maxpool_snn_tracks_the_ann(seed):
    """Integer SNN at T=200 (intsim) and the float SNN agree with the ANN's predictions on most samples."""
    from neurocompile.ir.snn import simulate_float
    from neurocompile.passes import PassManager, default_conversion

    g = random_graph(seed, maxpool=True, input_pool=seed == 1)
    xc = random_inputs(g, 64, seed)
    x = random_inputs(g, 100, seed + 3)
    ann, _ = run_ann(g, x)
    ig = compile_graph(g, xc, CompileOptions(method="rueckauer", weight_bits=8, v_init=0.5))
    res = simulate(ig, x, 200)
    assert (res.predictions == ann.argmax(1)).mean() >= 0.85
    fg = PassManager(default_conversion(xc, v_init=0.5)).run(g.copy())
    out, _ = simulate_float(fg, x, 200)
    assert (out.argmax(1) == ann.argmax(1)).mean() >= 0.85
