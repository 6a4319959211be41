"""Channel-wise normalisation: one scale per channel where the graph allows it, the ANN preserved exactly."""

import numpy as np
import pytest
import torch

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import Add, Neurons
from neurocompile.ir.ann import run_ann
from neurocompile.passes import Calibrate, FoldBiases, NeuronModel, Normalize, PassManager
from neurocompile.passes.scales import as_unit, channelwise_ok, per_channel_percentiles


def _normalised(g, xc, p=99.9):
    return PassManager([Calibrate(xc, p, channelwise=True, channel_floor=0.01), Normalize(), FoldBiases(),
                        NeuronModel()]).run(g.copy())


@pytest.mark.parametrize("seed", range(10))
def test_channelwise_preserves_the_ann(seed):
    g = random_graph(seed)
    xc = random_inputs(g, 64, seed)
    x = random_inputs(g, 100, seed + 50)
    ng = _normalised(g, xc, p=100.0)
    a, acts_a = run_ann(g, x, record=True, dtype=torch.float64)
    b, acts_b = run_ann(ng, x, record=True, dtype=torch.float64)
    np.testing.assert_allclose(b * ng.meta["lambda"][ng.output.name], a, rtol=1e-9, atol=1e-9)
    shapes = ng.infer_shapes()
    for n in ng.nodes_of(Neurons):
        lam = as_unit(ng.meta["lambda"][n.name], shapes[n.name])
        np.testing.assert_allclose(acts_b[n.name] * lam, acts_a[n.name], rtol=1e-9, atol=1e-12)
        assert np.asarray(n.threshold).size == 1 and float(n.threshold) == pytest.approx(1.0)


def test_per_channel_scales_are_the_channels_percentiles():
    g = random_graph(4, residual=False)
    xc = random_inputs(g, 64, 4)
    ng = _normalised(g, xc, p=100.0)
    _, acts = run_ann(g, xc, record=True, dtype=torch.float32)
    first = ng.nodes_of(Neurons)[0]
    lam = ng.meta["lambda"][first.name]
    assert isinstance(lam, list) and len(lam) == acts[first.name].shape[1]
    want = [acts[first.name][:, c].max() for c in range(len(lam))]
    np.testing.assert_allclose(lam, want, rtol=1e-6)
    assert not isinstance(ng.meta["lambda"]["relu_fc1"], list)  # vectors stay layer-wise


def test_populations_feeding_an_add_directly_stay_layerwise():
    for seed in range(20):
        g = random_graph(seed, residual=True)
        ok = channelwise_ok(g)
        for add in g.nodes_of(Add):
            for i in g.inputs(add.name):
                if isinstance(g.node(i), Neurons):
                    assert i not in ok  # the skip's gain is one number
            cons = g.consumers(add.name)
            assert all(c not in ok for c in cons)  # the Add's target: the skip reaches it unweighted
        ng = _normalised(g, random_inputs(g, 32, seed))
        assert all(isinstance(op.gains, tuple) or op.gains is None for op in ng.nodes_of(Add))


def test_channelwise_integer_network_runs_and_floor_limits_scales():
    g = random_graph(7, residual=False)
    xc = random_inputs(g, 64, 7)
    ig = compile_graph(g, xc, CompileOptions(method="rueckauer", normalization="channel", timesteps=16))
    assert ig.meta["normalization"] == "channel"
    for n in ig.nodes_of(Neurons):
        assert np.unique(np.asarray(n.threshold)).size == 1  # one integer threshold per population
    r = simulate(ig, random_inputs(g, 8, 8), 16)
    assert all(c.sum() > 0 for c in r.spike_counts.values())


def test_floor_and_silent_channels():
    """A nearly silent channel is lifted to floor x the layer's scale; a silent one takes the layer's."""
    act = np.zeros((10, 3, 2, 2))
    act[:, 0] = np.linspace(0, 4, 40).reshape(10, 2, 2)
    act[:, 1] = 0.001
    lam = per_channel_percentiles(act, [100.0], np.array([4.0]), 0.25)
    np.testing.assert_allclose(lam, [[4.0, 1.0, 4.0]])
