"""Baseline conversion: normalisation with biases preserves the ANN exactly; units are consistent."""

import numpy as np
import pytest
import torch

from netgen import random_graph, random_inputs
from neurocompile.errors import ConversionError
from neurocompile.ir import Conv2d, Linear, Neurons
from neurocompile.ir.ann import run_ann
from neurocompile.passes import Calibrate, FoldBiases, NeuronModel, Normalize, PassManager


def _normalised(g, xc, p=99.9):
    return PassManager([Calibrate(xc, p), Normalize(), FoldBiases(), NeuronModel()]).run(g.copy())


@pytest.mark.parametrize("seed", range(12))
def test_normalisation_preserves_predictions_exactly(seed):
    g = random_graph(seed)
    xc = random_inputs(g, 64, seed)
    x = random_inputs(g, 200, seed + 50)
    ng = _normalised(g, xc)
    a, _ = run_ann(g, x, dtype=torch.float64)
    b, _ = run_ann(ng, x, dtype=torch.float64)
    assert np.array_equal(a.argmax(1), b.argmax(1))
    lam_out = ng.meta["lambda"][ng.output.name]
    np.testing.assert_allclose(b * lam_out, a, rtol=1e-9, atol=1e-9)  # outputs scale by 1/lambda_L


@pytest.mark.parametrize("seed", range(6))
def test_hidden_activations_scale_by_lambda(seed):
    g = random_graph(seed)
    xc = random_inputs(g, 64, seed)
    ng = _normalised(g, xc, p=100.0)
    _, a = run_ann(g, xc, record=True, dtype=torch.float64)
    _, b = run_ann(ng, xc, record=True, dtype=torch.float64)
    for n in ng.nodes_of(Neurons):
        lam = ng.meta["lambda"][n.name]
        np.testing.assert_allclose(b[n.name] * lam, a[n.name], rtol=1e-9, atol=1e-12)
        assert b[n.name].max() <= 1 + 1e-6  # max-norm (lambda from a float32 run): normalised activations never exceed 1
        assert float(n.threshold) == pytest.approx(1.0)  # weights absorbed lambda: threshold 1


def test_biases_moved_to_neurons():
    g = random_graph(2)
    ng = _normalised(g, random_inputs(g, 32, 2))
    for n in ng.topo():
        if isinstance(n, (Conv2d, Linear)):
            assert n.bias is None
    assert ng.node("relu_fc1").bias is not None and ng.output.bias is not None
    a, _ = run_ann(g, random_inputs(g, 20, 3), dtype=torch.float64)
    b, _ = run_ann(ng, random_inputs(g, 20, 3), dtype=torch.float64)
    np.testing.assert_allclose(b * ng.meta["lambda"]["out"], a, rtol=1e-9, atol=1e-9)


def test_rueckauer_formula_on_two_layers():
    """W_l * lambda_{l-1} / lambda_l and b_l / lambda_l, computed by hand on a chain."""
    g = random_graph(5, residual=False)
    xc = random_inputs(g, 64, 5)
    ng = _normalised(g, xc)
    lam = ng.meta["lambda"]
    np.testing.assert_allclose(ng.node("fc1").weight, g.node("fc1").weight * 1.0 / lam["relu_fc1"]
                               * (lam[g.inputs("pool")[0]] if "pool" in g else lam[g.inputs("flat")[0]]))
    np.testing.assert_allclose(ng.node("relu_fc1").bias, g.node("fc1").bias / lam["relu_fc1"])
    np.testing.assert_allclose(ng.node("fc2").weight, g.node("fc2").weight * lam["relu_fc1"] / lam["out"])


def test_percentile_is_robust_to_outliers():
    g = random_graph(1)
    xc = random_inputs(g, 64, 1)
    l100 = _normalised(g, xc, 100.0).meta["lambda"]
    l99 = _normalised(g, xc, 99.0).meta["lambda"]
    assert all(l99[k] <= l100[k] for k in l100)


def test_bad_percentile():
    with pytest.raises(ConversionError):
        Calibrate(np.zeros((1, 1, 8, 8)), 0.0)
