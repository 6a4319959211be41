"""ECC pieces: the float SNN's rate at constant input, TRE's exact charge, the per-layer scale search."""

import numpy as np
import pytest
import torch

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.ir.snn import simulate_float
from neurocompile.passes import Calibrate, FoldBiases, NeuronModel, Normalize, PassManager
from neurocompile.passes.convert import PERCENTILE_CANDIDATES, SearchPercentiles


def _one_layer(z: np.ndarray, delta: float) -> Graph:
    """Input -> identity Linear -> IF population (threshold 1, initial potential delta) -> readout."""
    g = Graph("one")
    g.add(Input("x", shape=(len(z),)))
    g.add(Linear("w", weight=np.eye(len(z))), ["x"])
    g.add(Neurons("n", threshold=np.asarray(1.0), v_init=np.asarray(delta)), ["w"])
    g.add(Linear("r", weight=np.eye(len(z))), ["n"])
    g.add(Output("out"), ["r"])
    return g


@pytest.mark.parametrize("T", [4, 8, 16, 32])
@pytest.mark.parametrize("delta", [0.0, 0.5])
def test_if_rate_is_the_t_level_relu(T, delta):
    """Reset by subtraction at constant input z: spikes after T steps = clip(floor(T z + delta), 0, T),
    exactly the T-level activation run_ann(levels=T) uses (QReLU / QCFS form)."""
    z = np.linspace(-0.3, 1.3, 161) + 1e-4  # avoid exact float ties at k/T
    g = _one_layer(z, delta)
    readout, rates = simulate_float(g, z[None].astype(np.float32), T)
    want = np.clip(np.floor(T * z + delta), 0, T)
    np.testing.assert_array_equal(np.round(rates["n"][0] * T), want)
    q, _ = run_ann(g, z[None], levels=T, delta=delta, dtype=torch.float64)
    np.testing.assert_allclose(q[0] * T, want)


def test_tre_adds_exactly_half_a_threshold_of_charge():
    """Integer IF with reset by subtraction: v(T) + theta * spikes = v0 + sum of drive; with TRE the
    initial potential v0 is round(0.5 * theta), i.e. half a threshold of extra charge per neuron."""
    g = random_graph(3)
    x = random_inputs(g, 4, 3)
    ig = compile_graph(g, random_inputs(g, 32, 3), CompileOptions(method="ecc", tre=0.5, timesteps=8))
    first = ig.nodes_of(Neurons)[0]
    th = int(np.max(first.threshold))
    assert np.all(np.abs(np.asarray(first.v_init) - th / 2) <= 0.5)  # round(th / 2)
    r = simulate(ig, x, 8, record=True, record_voltage=True)
    spikes = r.spikes[first.name].sum(0)
    v_end = r.voltages[first.name][-1]
    # the first population's drive is constant: W x + bias per step
    from neurocompile.ir.matrices import chain_matrices
    from neurocompile.results import quantize_input
    from neurocompile.ir.chains import chains

    (m,) = chain_matrices(ig, chains(ig)[0]).values()
    drive = (m @ quantize_input(ig, x).reshape(len(x), -1).T).T.reshape(v_end.shape) + first.bias
    charge_in = np.asarray(first.v_init) + 8 * drive
    np.testing.assert_array_equal(v_end + th * spikes, np.clip(charge_in, -(2**23 - 1), None))


def test_search_keeps_or_improves_agreement():
    g = random_graph(2)
    xc = random_inputs(g, 200, 2)
    pm = PassManager([Calibrate(xc, 99.9, PERCENTILE_CANDIDATES)])
    cal = pm.run(g.copy())
    s = SearchPercentiles(xc, timesteps=8)
    ref_out, _ = run_ann(cal, s.x)
    before, _ = s._score(cal, cal.meta["lambda"], ref_out.argmax(1), ref_out)
    after_g = s.run(cal.copy())
    assert after_g.meta["search"]["agreement"] >= before[0]
    assert set(after_g.meta["percentiles"].values()) <= set(PERCENTILE_CANDIDATES)


@pytest.mark.parametrize("seed", [0, 2, 5])
def test_float_snn_reuses_given_spike_trains_exactly(seed):
    """The search reuses the spike trains before the layer it changes: a run given them equals a full run."""
    g = random_graph(seed, residual=True)
    xc = random_inputs(g, 40, seed)
    snn = PassManager([Calibrate(xc), Normalize(), FoldBiases(), NeuronModel("subtract", 0.5)]).run(g.copy())
    pops = [n.name for n in snn.nodes_of(Neurons)]
    full, rates = simulate_float(snn, xc, 8, batch_size=16, keep=tuple(pops[:-1]))
    given = {k: rates[f"{k}@trains"] for k in pops[:-1]}
    again, r2 = simulate_float(snn, xc, 8, batch_size=16, given=given)
    np.testing.assert_array_equal(full, again)
    np.testing.assert_array_equal(rates[pops[-1]], r2[pops[-1]])
    assert set(r2) == {pops[-1]}  # the given populations were not simulated again
