"""``torch.cat`` -> the ``Concat`` op: front end (lowering, refusals, BatchNorm split and max pool pushed through
a concat), float IR = torch, normalisation (layer- and channel-wise exact), integer units (pure routing where
the inputs share a unit), intsim = the slow loop (with a negative control), the op's matrices and windows, and
the partitioner (placed runs exact)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from concatnets import MODELS, inputs, model
from netgen import ensure_activity, random_graph, random_inputs, torch_model
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import ConversionError, QuantizationError
from neurocompile.frontend import load_model
from neurocompile.ir import Concat, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output, load, save
from neurocompile.ir.ann import run_ann
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices
from neurocompile.partition import connectivity, partition, profile_from_dict, validate
from neurocompile.passes import Calibrate, FoldBiases, NeuronModel, Normalize, PassManager
from neurocompile.passes.scales import as_unit
from neurocompile.results import quantize_input
from slowsim import slow_simulate

T = 8


def _float(name, seed=0):
    return load_model(model(name, seed), (1, 8, 8))


# ------------------------------------------------------------------------------------------------ front end
@pytest.mark.parametrize("name", list(MODELS))
def test_float_ir_equals_torch(name):
    m = model(name, 1)
    g = load_model(m, (1, 8, 8))
    assert g.nodes_of(Concat)
    x = inputs(32, 2)
    out, _ = run_ann(g, x, dtype=torch.float64)
    ref = m.double()(torch.as_tensor(x, dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)


def test_batchnorm_split_and_maxpool_pushed_through_concats():
    g = _float("inception")
    # BN on cat(c1, c2): split in two and folded into c1 and c2; no BatchNorm is left
    assert {n.op for n in g.topo()} <= {"input", "conv2d", "neurons", "maxpool2d", "concat", "flatten", "linear",
                                         "output"}
    bn_cat = next(c for c in g.nodes_of(Concat) if set(g.inputs(c.name)) == {"c1", "c2"})
    assert tuple(bn_cat.sizes) == (4, 3)
    # max pool on cat(relu, relu): one gate per input, each reading a population, and a concat of the gates
    f = _float("fire")
    pools = f.nodes_of(MaxPool2d)
    assert len(pools) == 2 and all(isinstance(f.node(f.inputs(p.name)[0]), Neurons) for p in pools)
    (cat,) = f.nodes_of(Concat)
    assert all(g.node(i).weighted for i in g.inputs(bn_cat.name))
    assert f.inputs(cat.name) == [p.name for p in pools] and tuple(cat.sizes) == (5, 7)


class _Cat(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(1, 2, 3, padding=1)
        self.how = how

    def forward(self, x):
        a, b = torch.relu(self.conv(x)), torch.relu(self.conv2(x))
        if self.how == "dim2":
            y = torch.cat([a, b], 2)
        elif self.how == "const":
            y = torch.cat([a, torch.ones(1, 1, 8, 8)], 1)
        elif self.how == "twice":
            y = torch.cat([a, a], 1)
        else:  # along the batch dimension
            y = torch.cat([torch.flatten(a, 1), torch.flatten(b, 1)], 0)
        return torch.flatten(y, 1)


@pytest.mark.parametrize("how,msg", [("dim2", "cat along dim 2"), ("const", "only activations"),
                                     ("twice", "same activation more than once"), ("dim0", "cat along dim 0")])
def test_unsupported_concats_are_refused(how, msg):
    with pytest.raises(ConversionError, match=msg) as e:
        load_model(_Cat(how).eval(), (1, 8, 8))
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("<root> (test_concat._Cat, aten.cat): "), str(e.value)  # where the user wrote it


def test_single_input_cat_is_removed():
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 3)

        def forward(self, x):
            return self.fc(torch.cat([torch.flatten(x, 1)], 1))

    g = load_model(One().eval(), (1, 8, 8))
    assert not g.nodes_of(Concat)


# ------------------------------------------------------------------------------------------------ IR facets
def test_shape_serialisation_matrix_and_window(tmp_path):
    g = _float("inception")
    ig = compile_graph(g, inputs(32, 1), CompileOptions(method="rueckauer"))
    save(ig, tmp_path / "snn")
    back = load(tmp_path / "snn")
    shapes = ig.infer_shapes()
    for c in ig.nodes_of(Concat):
        b = back.node(c.name)
        assert tuple(b.sizes) == tuple(c.sizes) and b.gains == c.gains
        ins = ig.inputs(c.name)
        xs = [torch.as_tensor(np.random.default_rng(k).integers(-5, 6, (3, *shapes[i])).astype(np.float32))
              for k, i in enumerate(ins)]
        y, _ = c.int_forward(xs, [5] * len(xs))
        by_map = sum(c.int_map(shapes[i], shapes[c.name], k) @ x.reshape(3, -1).numpy().T for k, (i, x) in
                     enumerate(zip(ins, xs)))
        np.testing.assert_array_equal(by_map.T, y.reshape(3, -1).numpy())
        for k, i in enumerate(ins):  # the 1x1 channel-moving window is the same connectivity as the matrix
            w = c.window(shapes[i], k)
            from neurocompile.ir.matrices import window_matrix
            m = window_matrix(w.mask.astype(np.int8), shapes[i], shapes[c.name], w.stride, w.padding)
            assert (m != c.structure(shapes[i], shapes[c.name], k)).nnz == 0
    assert c.macs(shapes[c.name]) == 0 and c.param_words() == (0, 0)


# ------------------------------------------------------------------------------------------------ conversion
def _normalised(g, xc, channelwise):
    return PassManager([Calibrate(xc, 100.0, channelwise=channelwise, channel_floor=0.01), Normalize(),
                        FoldBiases(), NeuronModel()]).run(g.copy())


@pytest.mark.parametrize("channelwise", [False, True])
@pytest.mark.parametrize("name", list(MODELS))
def test_normalisation_through_concats_preserves_the_ann(name, channelwise):
    g = _float(name, 2)
    ng = _normalised(g, inputs(64, 3), channelwise)
    x = inputs(50, 4)
    a, acts_a = run_ann(g, x, record=True, dtype=torch.float64)
    b, acts_b = run_ann(ng, x, record=True, dtype=torch.float64)
    np.testing.assert_allclose(b * ng.meta["lambda"][ng.output.name], a, rtol=1e-9, atol=1e-9)
    shapes = ng.infer_shapes()
    for n in ng.nodes_of(Neurons):
        lam = as_unit(ng.meta["lambda"][n.name], shapes[n.name])
        np.testing.assert_allclose(acts_b[n.name] * lam, acts_a[n.name], rtol=1e-9, atol=1e-12)
    if channelwise and name != "vectors":  # some population feeding a concat really is channel-wise
        assert any(isinstance(v, list) for v in ng.meta["lambda"].values())


def test_concat_of_spikes_is_pure_routing():
    """Populations (unit 1) side by side into a weight op: every integer gain is 1, in both normalisations,
    though the populations' scales differ (the next layer's columns absorb them)."""
    for norm in ("layer", "channel"):
        for name in ("fire", "inception"):
            ig = compile_graph(_float(name, 1), inputs(32, 1), CompileOptions(method="rueckauer", normalization=norm))
            of_spikes = [c for c in ig.nodes_of(Concat) if all(ig.node(i).spike_source for i in ig.inputs(c.name))]
            assert of_spikes and all(c.gains is None for c in of_spikes), (name, norm)


def test_weight_ops_with_distant_caps_share_a_unit_over_integer_gains():
    """A Concat of two weight ops whose weight ranges differ by more than 2x (Inception's c1 / c2 after the
    BatchNorm folded into them): the unit is the wider op's cap, the other op takes U / k with an integer gain k,
    so neither is cut to a few levels; every weight op keeps at least half its range."""
    ig = compile_graph(_float("inception", 1), inputs(32, 1), CompileOptions(method="rueckauer", normalization="layer"))
    cat = next(c for c in ig.nodes_of(Concat) if all(ig.node(i).weighted for i in ig.inputs(c.name)))
    assert cat.gains is not None and max(cat.gains) > 1 and min(cat.gains) == 1
    for i in ig.inputs(cat.name):
        assert np.abs(ig.node(i).weight).max() >= 127 // 2, i


def test_spikes_beside_a_weight_op_get_an_integer_gain():
    """``relu(cat([spikes, fc_b(...)]))``: fc_b takes the Concat's unit U, the spikes the gain U (unit 1)."""
    g = _float("vectors", 1)
    ig = compile_graph(g, inputs(32, 1), CompileOptions(method="rueckauer", weight_bits=8))
    cat = next(c for c in ig.nodes_of(Concat) if "fc_b" in ig.inputs(c.name))
    assert cat.gains is not None and cat.gains[ig.inputs(cat.name).index("fc_b")] == 1
    g_spk = cat.gains[1 - ig.inputs(cat.name).index("fc_b")]
    assert 1 < g_spk <= 127
    w = ig.node("fc_b").weight
    assert 0 < np.abs(w).max() <= 127


# ------------------------------------------------------------------------------------------------ intsim
def _compare_slow(ig, x, res=None):
    """intsim (``res``, or a fresh run) against the slow loop on ``ig``: readout and every layer's spikes."""
    res = res or simulate(ig, x, T, record=True)
    xi = quantize_input(ig, x)
    for k in range(len(x)):
        ro, spk = slow_simulate(ig, xi[k], T, res.run_steps)
        assert res.readout[k].tolist() == ro
        for name in res.spikes:
            assert np.array_equal(res.spikes[name][:, k].astype(int), np.array(spk[name], dtype=int)), name
    return res


@pytest.mark.parametrize("norm", ["layer", "channel"])
@pytest.mark.parametrize("name", list(MODELS))
def test_intsim_matches_the_slow_loop(name, norm):
    ig = compile_graph(_float(name, 5), inputs(32, 1), CompileOptions(method="rueckauer",
                                                                      normalization=norm, synapse_delay=1,
                                                                      v_init=0.5))
    res = _compare_slow(ig, inputs(2, 6))
    for k, v in res.spike_counts.items():
        assert v.sum() > 0, f"no spikes in {k}"


@pytest.mark.parametrize("seed", range(6))
def test_random_concat_networks_match_the_slow_loop(seed):
    """tests/netgen.py's concat blocks (each kind twice; both resets, delays 0 / 1) through the front end
    (float IR = torch) and intsim = the slow loop."""
    g = random_graph(seed, concat=True, maxpool=seed % 2 == 0)
    m = torch_model(g)
    x = random_inputs(g, 8, seed)
    back = load_model(m, g.input.shape)
    np.testing.assert_allclose(run_ann(back, x)[0], m(torch.as_tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    ig = compile_graph(back, random_inputs(g, 32, seed), CompileOptions(method="rueckauer", 
        synapse_delay=seed % 2, reset="zero" if seed % 3 == 2 else "subtract", weight_bits=4 + seed))
    ensure_activity(ig, x[:2], T)
    res = _compare_slow(ig, x[:2])
    assert all(v.sum() > 0 for v in res.spike_counts.values())


def test_slow_loop_negative_control():
    """intsim run with one Concat input counted twice, compared with the slow loop of the graph: caught."""
    ig = compile_graph(_float("fire", 5), inputs(32, 1), CompileOptions(method="rueckauer", v_init=0.5))
    x = inputs(2, 6)
    _compare_slow(ig, x)
    cat = ig.nodes_of(Concat)[0]
    cat.gains = (1, 2)
    changed = simulate(ig, x, T, record=True)
    cat.gains = None
    with pytest.raises(AssertionError):
        _compare_slow(ig, x, changed)


def test_chain_matrices_route_with_the_gains():
    """The composed matrix from a spike source through a Concat with gain g holds g and nothing else."""
    ig = compile_graph(_float("vectors", 1), inputs(32, 1), CompileOptions(method="rueckauer"))
    cat = next(c for c in ig.nodes_of(Concat) if c.gains is not None)
    ch = next(c for c in chains(ig) if cat in c.ops)
    k, flat = next((k, i) for k, i in enumerate(ig.inputs(cat.name)) if not ig.node(i).weighted)
    (src,) = ig.inputs(flat)
    m = chain_matrices(ig, ch)[src]
    assert src in ch.sources and sp.issparse(m)
    assert set(m.data.tolist()) == {cat.gains[k]} and m.nnz == np.prod(ig.infer_shapes()[src])


# ------------------------------------------------------------------------------------------------ partitioner
def _profile(base, neurons, **core):
    return profile_from_dict({"base": base, "name": f"small-{base}", "core": {"neurons": neurons, **core},
                              "chip": {"max_chips": None, "cores_per_chip": 16}})


@pytest.mark.parametrize("name,base", [("fire", "loihi2"), ("inception", "loihi1"), ("vectors", "fpga-generic")])
def test_concat_networks_place_validate_and_run_exactly(name, base):
    ig = compile_graph(_float(name, 2), inputs(32, 1), CompileOptions(method="rueckauer", timesteps=T))
    prof = _profile(base, 40, synapse_words=400)
    pl = partition(ig, prof)
    validate(ig, prof, pl)
    assert pl.n_cores >= 3
    x = inputs(3, 7)
    ref = simulate(ig, x, T, record=True)
    placed = simulate(ig, x, T, record=True, placement=pl)
    for k in ref.spikes:
        assert ref.spikes[k].any(), k
        assert np.array_equal(ref.spikes[k], placed.spikes[k]), k
    assert np.array_equal(ref.readout, placed.readout)


def test_channel_concat_into_a_conv_is_a_convolution_connection():
    """relu_a, relu_b -> cat -> conv -> relu_c: each source's connection is the conv's kernel on its channel
    range (a ConvConn, not an explicit matrix), and a placement that splits the layers runs exactly."""
    rng = np.random.default_rng(1)
    g = Graph("catconv")
    g.add(Input("x", shape=(1, 8, 8)))
    for k, c in (("a", 3), ("b", 2)):
        g.add(Conv2d(f"conv_{k}", weight=rng.normal(size=(c, 1, 3, 3)), bias=np.full(c, 0.1), padding=(1, 1)), ["x"])
        g.add(Neurons(f"relu_{k}"), [f"conv_{k}"])
    g.add(Concat("cat", sizes=(3, 2)), ["relu_a", "relu_b"])
    g.add(Conv2d("conv_c", weight=rng.normal(size=(4, 5, 3, 3)) * 0.5, bias=np.full(4, 0.1), padding=(1, 1)), ["cat"])
    g.add(Neurons("relu_c"), ["conv_c"])
    g.add(Flatten("flat"), ["relu_c"])
    g.add(Linear("fc", weight=rng.normal(size=(3, 256)) * 0.2), ["flat"])
    g.add(Output("out"), ["fc"])
    ig = compile_graph(g, inputs(32, 1), CompileOptions(method="rueckauer", timesteps=T))
    conns = connectivity.build_conns(ig)["relu_c"]
    assert sorted(c.source for c in conns) == ["relu_a", "relu_b"]
    assert all(isinstance(c, connectivity.ConvConn) for c in conns)
    prof = _profile("loihi2", 48, synapse_words=300)
    pl = partition(ig, prof)
    validate(ig, prof, pl)
    assert pl.n_cores >= 3
    x = inputs(3, 7)
    ref, placed = simulate(ig, x, T, record=True), simulate(ig, x, T, record=True, placement=pl)
    assert all(ref.spikes[k].any() and np.array_equal(ref.spikes[k], placed.spikes[k]) for k in ref.spikes)
    assert np.array_equal(ref.readout, placed.readout)


def test_hand_built_concat_graph():
    """The op without the front end: a feature concat of the input and a layer's output, 1-D."""
    rng = np.random.default_rng(0)
    g = Graph("hand")
    g.add(Input("x", shape=(6,)))
    g.add(Linear("l1", weight=rng.normal(size=(4, 6))), ["x"])
    g.add(Neurons("r1"), ["l1"])
    g.add(Linear("l2", weight=rng.normal(size=(3, 6))), ["x"])
    g.add(Neurons("r2"), ["l2"])
    g.add(Concat("cat", sizes=(4, 3)), ["r1", "r2"])
    g.add(Linear("l3", weight=rng.normal(size=(2, 7))), ["cat"])
    g.add(Output("out"), ["l3"])
    assert g.verify()["cat"] == (7,)
    x = rng.random((40, 6)).astype(np.float32)
    ig = compile_graph(g, x, CompileOptions(method="rueckauer"))
    assert ig.node("cat").gains is None
    _compare_slow(ig, x[:2])
    bad = Graph("bad")
    bad.add(Input("x", shape=(6,)))
    bad.add(Concat("cat", sizes=(5,)), ["x"])
    bad.add(Output("out"), ["cat"])
    with pytest.raises(Exception, match="sizes"):
        bad.verify()


def test_channelwise_scales_cross_a_concat_read_by_two_weight_ops():
    """Inception's concat of ReLUs feeds two convs (c1, c2) of the next chain (one copy of the concat each):
    its populations and that
    chain's target may be channel-wise (every path from the concat crosses a weight op)."""
    from neurocompile.passes.scales import channelwise_ok

    g = _float("inception")
    ok = channelwise_ok(g)
    # the concat read by two convs is copied per reader (ir.rewrite.split_linear_fanout): one copy each
    cats = [c for c in g.nodes_of(Concat) if all(g.node(k).weighted for k in g.consumers(c.name))]
    assert len(cats) == 2 and {c.source for c in cats} == {cats[0].source}
    for cat in cats:
        assert set(g.inputs(cat.name)) <= ok | {n.name for n in g.nodes_of(MaxPool2d)}
    (relu5,) = [g.consumers(c.name)[0] for c in g.nodes_of(Concat) if set(g.inputs(c.name)) == {"c1", "c2"}]
    assert relu5 in ok
    # spikes beside a conv, read by a population directly (netgen's "skip" block): both stay layer-wise,
    # while a Fire block's expand populations, read through a weight op, may be channel-wise
    skip = random_graph(2, concat=True)
    spikes = next(i for i in skip.inputs("cat") if not skip.node(i).weighted)
    assert not {"cat_relu", spikes} & channelwise_ok(skip)
    assert {"cat_r1", "cat_r3"} <= channelwise_ok(random_graph(0, concat=True))


class _Drowned(nn.Module):
    """relu(cat([spikes, fc2(spikes)])) with fc2's values ~100x the spikes' range: at a few weight bits the
    spikes' integer gain rounds to 0."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.head = nn.Linear(6, 4), nn.Linear(4, 3), nn.Linear(7, 2)
        with torch.no_grad():
            self.fc2.weight.mul_(100)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.head(torch.relu(torch.cat([h, self.fc2(h)], 1)))


def test_a_concat_gain_that_rounds_to_zero_is_refused_with_the_users_names():
    g = load_model(_Drowned(), (6,))
    x = np.random.default_rng(0).random((40, 6)).astype(np.float32)
    assert compile_graph(g, x, CompileOptions(weight_bits=8)).nodes_of(Concat)
    with pytest.raises(QuantizationError, match=r"layer cat\(\) \[cat\]: the gain of input relu\(\) \[relu\] rounds "
                       r"to 0 \(0\.0\d+\) at 3-bit weights.*use more weight bits"):
        compile_graph(g, x, CompileOptions(weight_bits=3))
