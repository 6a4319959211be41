"""Fan-out of linear signals (ir.rewrite.split_linear_fanout), BatchNorms that cannot be folded (per-channel weight
ops), softmax / log_softmax heads: the float IR equals torch, intsim equals the independent slow loop
(tests/slowsim.py) exactly with spikes in every population, a perturbed copy is caught, the copy limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fanout_models as fm
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import ConversionError
from neurocompile.frontend import load_model
from neurocompile.ir import Add, Conv2d, Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.ir.chains import chains
from neurocompile.ir.rewrite import MAX_COPIES, copies_needed, split_linear_fanout
from neurocompile.results import quantize_input
from slowsim import slow_simulate

T = 8


def _linear_fanout(g: Graph) -> list[str]:
    return [n.name for n in g.topo() if n.synaptic and not n.spike_source and len(g.consumers(n.name)) > 1]


@pytest.mark.parametrize("name", list(fm.MODELS))
def test_float_ir_equals_torch(name):
    m = fm.make(name, seed=3, head="log_softmax")
    g = load_model(m, (1, 8, 8))
    assert _linear_fanout(g) == []
    chains(g)  # every chain is a tree: no ConversionError
    x = fm.inputs(32, 4)
    out, _ = run_ann(g, x.numpy(), dtype=torch.float64)
    with torch.no_grad():
        ref = m.logits(x).double().numpy()
    assert np.array_equal(out.argmax(1), ref.argmax(1))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # the negative control of the comparison: the model with a softmax head is not what the IR computes
    with torch.no_grad():
        assert not np.allclose(out, m(x).double().numpy(), atol=1e-3)


def test_copies_keep_module_path_and_own_parameters():
    g = load_model(fm.make("mobilenetv2"), (1, 8, 8))
    copies = [n for n in g.topo() if "_copy" in n.name]
    assert len(copies) >= 4
    names = [n.name for n in g.topo()]
    assert len(names) == len(set(names))
    for c in copies:
        orig = g.node(c.name.rsplit("_copy", 1)[0])
        assert c.source == orig.source and c.source
        assert c.op == orig.op
        for k, v in orig.arrays().items():
            assert np.array_equal(c.arrays()[k], v) and c.arrays()[k] is not v
    # the residual stream is linear over two adds: the projection that starts it reaches three populations
    # (the expands of both blocks, the head's readout through both adds), each path through its own copy
    assert sum(1 for n in g.topo() if n.name.startswith("first_3")) == 3


def _compare(ig, x):
    """intsim against the slow loop, every population and the readout, exact."""
    res = simulate(ig, x, T, record=True)
    xi = quantize_input(ig, x)
    pops = [n.name for n in ig.nodes_of(Neurons)]
    for k in range(len(x)):
        ro, sp = slow_simulate(ig, xi[k], T, res.run_steps)
        assert res.readout[k].tolist() == ro
        for p in pops:
            assert np.array_equal(res.spikes[p][:, k].astype(int), np.array(sp[p], dtype=int)), p
    return res


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("name", list(fm.MODELS))
def test_intsim_equals_slow_loop(name, delay):
    g = load_model(fm.make(name, seed=5), (1, 8, 8))
    ig = compile_graph(g, fm.inputs(64, 6).numpy(), CompileOptions(method="rueckauer",
                                                                   synapse_delay=delay, weight_bits=6))
    x = fm.inputs(2, 7).numpy()
    res = _compare(ig, x)
    for p, counts in res.spike_counts.items():
        assert counts.sum() > 0, f"no spikes in layer {p}"
    assert np.all(res.synops > 0)


def test_perturbed_copy_is_caught():
    """Negative control: one weight of one copy changed in the graph the slow loop runs: the comparison fails
    (copies are independent layers, each one is used)."""
    g = load_model(fm.make("convconv", seed=5), (1, 8, 8))
    ig = compile_graph(g, fm.inputs(64, 6).numpy(), CompileOptions(method="rueckauer", weight_bits=6))
    x = fm.inputs(2, 7).numpy()
    _compare(ig, x)
    res = simulate(ig, x, T, record=True)
    bad = ig.copy()
    copy = next(n for n in bad.topo() if "_copy" in n.name and n.weighted)
    w = np.asarray(copy.weight).copy()
    w.flat[int(np.argmax(np.abs(w)))] += 9
    copy.weight = w
    xi = quantize_input(ig, x)
    ro, sp = slow_simulate(bad, xi[0], T, res.run_steps)
    assert res.readout[0].tolist() != ro or any(
        not np.array_equal(res.spikes[p][:, 0].astype(int), np.array(sp[p], dtype=int)) for p in sp)


def test_conv_feeding_two_batchnorms_is_copied_and_each_folds():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding=1)
            self.bn_a, self.bn_b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
            self.fc_a, self.fc_b = nn.Linear(3 * 8 * 8, 4), nn.Linear(3 * 8 * 8, 4)

        def forward(self, x):
            y = self.conv(x)
            a = torch.flatten(torch.relu(self.bn_a(y)), 1)
            b = torch.flatten(torch.relu(self.bn_b(y)), 1)
            return self.fc_a(a) + self.fc_b(b)

    torch.manual_seed(0)
    m = Two().eval()
    for bn in (m.bn_a, m.bn_b):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.weight.data.uniform_(0.5, 1.5)
    g = load_model(m, (1, 8, 8))
    convs = g.nodes_of(Conv2d)
    assert len(convs) == 2 and {c.source for c in convs} == {"conv"}
    assert not np.allclose(convs[0].weight, convs[1].weight)  # each copy absorbed its own BatchNorm
    x = fm.inputs(8, 1)
    out, _ = run_ann(g, x.numpy(), dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(out, m(x).double().numpy(), rtol=1e-5, atol=1e-5)


def test_unfoldable_batchnorms_become_per_channel_weight_ops():
    g = load_model(fm.make("preact"), (1, 8, 8))
    by_source = {n.source: n for n in g.topo()}
    bn_in, bn_out = by_source["bn_in"], by_source["bn_out"]  # on the network input, after the add
    for bn, c in ((bn_in, 1), (bn_out, 4)):
        assert isinstance(bn, Conv2d) and bn.groups == c and bn.weight.shape == (c, 1, 1, 1)
    assert "bn1" not in by_source and "bn2" not in by_source  # after a conv: folded
    g = load_model(fm.make("poolskip"), (1, 8, 8))
    sources = [n.source for n in g.topo()]
    assert "bn1" not in sources  # conv -> avgpool -> BN: moved in front of the pool and folded
    (fc_bn,) = [n for n in g.topo() if n.source == "bn_fc"]
    assert isinstance(fc_bn, Linear) and np.count_nonzero(fc_bn.weight - np.diag(np.diag(fc_bn.weight))) == 0


def _diamonds(levels: int) -> nn.Module:
    class Ladder(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 3, padding=1)
            self.a = nn.ModuleList(nn.Conv2d(2, 2, 1) for _ in range(levels))
            self.b = nn.ModuleList(nn.Conv2d(2, 2, 1) for _ in range(levels))

        def forward(self, x):
            t = self.stem(torch.relu(x))
            for a, b in zip(self.a, self.b):
                t = a(t) + b(t)  # each level doubles the paths from the stem to the output
            return torch.flatten(t, 1)

    return Ladder().eval()


def test_copy_limit_names_the_layer_and_the_numbers():
    load_model(_diamonds(5), (1, 4, 4))  # 2^5 = 32 paths: within the limit
    with pytest.raises(ConversionError) as e:
        load_model(_diamonds(7), (1, 4, 4))  # 2^7 = 128 copies of the stem
    msg = str(e.value)
    assert "layer stem (Conv2d)" in msg and "128" in msg and f"limit of {MAX_COPIES}" in msg and "\n" not in msg


def _hand_graph() -> Graph:
    g = Graph("hand")
    g.add(Input("x", shape=(4,)))
    g.add(Linear("fc", weight=np.eye(4), bias=None), ["x"])
    g.add(Neurons("a"), ["fc"])
    g.add(Neurons("b"), ["fc"])
    g.add(Linear("fc2", weight=np.ones((2, 4))), ["a"])
    g.add(Linear("fc3", weight=np.ones((2, 4))), ["b"])
    g.add(Add("sum"), ["fc2", "fc3"])
    g.add(Output("out"), ["sum"])
    return g


def test_chains_refuse_fanout_and_the_rewrite_fixes_it():
    g = _hand_graph()
    with pytest.raises(ConversionError, match="layer fc: output feeds both a and b.*split_linear_fanout"):
        chains(g)
    assert copies_needed(g)["fc"] == 2
    made = split_linear_fanout(g)
    assert made == {"fc": ["fc_copy1"]}
    assert [c.target.name for c in chains(g)] == ["a", "b", "out"]
    g.verify()


def test_limit_leaves_the_graph_unchanged():
    g = _hand_graph()
    before = [(n.name, tuple(g.inputs(n.name))) for n in g.topo()]
    with pytest.raises(ConversionError, match="needs 2 copies of it, more than the limit of 1"):
        split_linear_fanout(g, limit=1)
    assert [(n.name, tuple(g.inputs(n.name))) for n in g.topo()] == before


@pytest.mark.parametrize("head", ["softmax", "log_softmax"])
def test_softmax_heads_are_dropped_with_a_note(head):
    m = fm.make("downsample", head=head)
    g = load_model(m, (1, 8, 8))
    (note,) = g.meta["notes"]
    assert f"{head} at the output dropped" in note and "argmax" in note
    x = fm.inputs(32, 2)
    out, _ = run_ann(g, x.numpy(), dtype=torch.float64)
    with torch.no_grad():
        assert np.array_equal(out.argmax(1), m(x).numpy().argmax(1))
    ig = compile_graph(g, x.numpy(), CompileOptions(method="rueckauer"))
    assert note in ig.meta["notes"]
    if head == "softmax":  # the compile report's notes (report.json)
        import neurocompile as nc

        bundle = nc.compile(m, method="rueckauer",
                            target="intsim", calib=(x.numpy(), np.zeros(len(x), dtype=np.int64)), timesteps=4)
        assert note in bundle.report["notes"]


def test_softmax_inside_the_network_or_over_the_wrong_dim_is_refused():
    class Inside(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 3)

        def forward(self, x):
            return self.fc2(torch.softmax(self.fc1(x), dim=1))

    class Batch(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.log_softmax(self.fc(x), dim=0)

    with pytest.raises(ConversionError, match="softmax whose result is used by .*dropped only as the model's last op"):
        load_model(Inside().eval(), (4,))
    with pytest.raises(ConversionError, match=r"log_softmax over dim 0 .*only a log_softmax over the classes"):
        load_model(Batch().eval(), (4,))


@pytest.mark.parametrize("name", list(fm.MODELS))
def test_channelwise_normalisation_keeps_the_function(name):
    """Data-based normalisation with one scale per channel (ECC's) on chains with weight ops in series (a
    per-channel BatchNorm op before a conv, conv -> conv, projection -> add -> expand): the normalised
    network is the model divided by the output's scale."""
    from neurocompile.passes.convert import Calibrate, Normalize

    g = load_model(fm.make(name, seed=2), (1, 8, 8))
    x = fm.inputs(32, 8).numpy()
    ref, _ = run_ann(g, x, dtype=torch.float64)
    Calibrate(x, channelwise=True).run(g)
    lam = g.meta["lambda"]
    Normalize().run(g)
    out, _ = run_ann(g, x, dtype=torch.float64)
    np.testing.assert_allclose(out * lam[g.output.name], ref, rtol=1e-6, atol=1e-6)
    if name in ("preact", "convconv", "downsample"):
        assert any(np.ndim(v) == 1 for v in lam.values()), "no population got per-channel scales"


def test_partitioner_counts_the_composed_weight_width():
    """A chain with weight ops in series (projection conv -> add -> next expand conv) is stored as its
    composed matrix, whose entries are wider than the weights: the resource model uses that width."""
    from neurocompile import fixedpoint as fx
    from neurocompile.ir.matrices import chain_matrices
    from neurocompile.partition.connectivity import build_conns

    g = load_model(fm.make("mobilenetv2", seed=2), (1, 8, 8))
    ig = compile_graph(g, fm.inputs(32, 3).numpy(), CompileOptions(method="rueckauer", weight_bits=4, synapse_delay=1))
    conns = build_conns(ig)
    widths = {}
    for ch in chains(ig):
        amax = max(int(abs(m).max()) for m in chain_matrices(ig, ch).values())
        widths[ch.target.name] = fx.signed_width(-amax, amax)
        assert {c.weight_bits for c in conns[ch.target.name]} == {max(4, widths[ch.target.name])}
    assert widths["blocks_1_conv_2"] > 4  # the second block's expand composes the first block's projection
    assert widths["stem_2"] <= 4
