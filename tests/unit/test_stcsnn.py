"""STCSNN blocks: the schedule, the block's closed form, intsim against a step-by-step accumulator,
the quantiser's load shift, and the conversion on random networks."""

import numpy as np
import pytest
import torch

from netgen import random_graph, random_inputs
from neurocompile import fixedpoint as fx
from neurocompile.backends.intsim import simulate
from neurocompile.results import quantize_input
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import GraphError
from neurocompile.ir import Encoder, Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import encode_decode, run_ann
from neurocompile.passes.stcsnn import stc_schedule
from slowblocks import slow_blocks


def test_schedule_halves_every_tau_steps_and_sums_to_one():
    th = stc_schedule(8, 2.0)
    assert th.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(th[2::2] / th[:-2:2], 0.5)
    np.testing.assert_allclose(stc_schedule(3, 1.0) * 7, [4, 2, 1])


def _one_block(th, bias=None) -> Graph:
    g = Graph("one")
    g.add(Input("x", shape=(4,), scale=1.0, bits=8))
    g.add(Linear("w", weight=np.eye(4, dtype=np.int64), weight_bits=8, weight_scale=1.0), ["x"])
    g.add(Encoder("e", thresholds=np.asarray(th, dtype=np.int64), bias=bias, state_bits=24, scale=1.0), ["w"])
    g.add(Linear("r", weight=np.eye(4, dtype=np.int64), weight_bits=8, weight_scale=1.0), ["e"])
    g.add(Output("out", scale=1.0), ["r"])
    return g


def test_block_closed_form_by_hand():
    """Thresholds 4, 2, 1 (T=3, tau=1): the train is the binary code of the loaded value, clipped at 7;
    the readout (the accumulator of the next block) is sum_k theta_k s_k."""
    g = _one_block([4, 2, 1])
    x = np.array([[5, 0, 7, 200]], dtype=np.float32)
    r = simulate(g, x, 3, record=True, record_voltage=True)
    np.testing.assert_array_equal(r.readout[0], [5, 0, 7, 7])
    np.testing.assert_array_equal(r.spikes["e"][:, 0].astype(int).T, [[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(r.voltages["e"][-1, 0], [0, 0, 0, 193])  # the residue above the range stays
    g2 = _one_block([4, 2, 1], bias=np.asarray(-1))  # bias is loaded once: 5 - 1 = 4
    assert simulate(g2, x, 3).readout[0].tolist() == [4, 0, 6, 7]


def test_decoded_value_rounds_to_the_nearest_level_with_delta():
    """tau = 1 with delta = 0.5 x the smallest threshold: the decoded value is the loaded value rounded
    to the grid of the smallest threshold and clipped to [0, sum]."""
    th = torch.tensor([8.0, 4.0, 2.0, 1.0])
    v = torch.linspace(-3, 20, 461, dtype=torch.float64)
    q = encode_decode(v + 0.5, th.double())
    np.testing.assert_array_equal(q.numpy(), np.clip(np.floor(v.numpy() + 0.5), 0, 15))
    # monotone for the paper's tau = 2 as well
    q2 = encode_decode(v, torch.as_tensor(stc_schedule(6, 2.0) * 10))
    assert torch.all(q2[1:] >= q2[:-1])


def test_integer_step_rule():
    v = np.array([5, 3, -2, 9], dtype=np.int64)
    s = fx.stc_step_(v, 4)
    assert s.tolist() == [True, False, False, True] and v.tolist() == [1, 3, -2, 5]
    assert fx.stc_load(np.array([-9, 9, 1 << 30]), np.array([0, 1, 0]), 2, 24).tolist() == [-3, 3, (1 << 23) - 1]
    assert fx.stc_load(np.array([3]), np.array([1]), -2, 24).tolist() == [13]


def _stc(seed, T=6, tau=2.0, bits=8, **kw):
    g = random_graph(seed, residual=seed % 2 == 0)
    opts = CompileOptions(method="stcsnn", timesteps=T, stc_tau=tau, weight_bits=bits, **kw)
    return g, compile_graph(g, random_inputs(g, 32, seed), opts)


@pytest.mark.parametrize("seed,T,tau,bits", [(0, 6, 2.0, 8), (1, 4, 1.0, 8), (2, 8, 2.0, 4), (3, 5, 1.5, 10),
                                             (4, 3, 1.0, 2), (5, 8, 3.0, 16)])
def test_intsim_matches_step_by_step_accumulator(seed, T, tau, bits):
    _, ig = _stc(seed, T, tau, bits)
    x = random_inputs(ig, 3, seed + 7)
    res = simulate(ig, x, T, record=True)
    xi = quantize_input(ig, x)
    enc = ig.nodes_of(Encoder)
    for k in range(len(x)):
        ro, sp = slow_blocks(ig, xi[k])
        assert res.readout[k].tolist() == ro
        for n in enc:
            d0 = int(np.flatnonzero(res.spikes[n.name][:, k].reshape(res.run_steps, -1).any(1))[0]) // T * T \
                if res.spikes[n.name][:, k].any() else 0
            assert np.array_equal(res.spikes[n.name][d0:d0 + T, k].astype(int), np.array(sp[n.name], dtype=int))
    for n in enc:
        assert res.spike_counts[n.name].sum() > 0, f"no spikes in {n.name}"
    # negative control: one LSB more on the readout weights of class 0 is seen by the independent loop
    w = ig.node(ig.inputs(ig.output.name)[0])
    w.weight = w.weight.copy()
    w.weight[0] += 1
    ro, _ = slow_blocks(ig, xi[0])
    assert ro[0] > res.readout[0, 0] and ro[1:] == res.readout[0, 1:].tolist()


def test_block_windows_follow_depth():
    _, ig = _stc(1, T=4, tau=1.0)
    res = simulate(ig, random_inputs(ig, 2, 3), 4, record=True)
    from neurocompile.ir.timing import chain_depths

    d = chain_depths(ig)
    assert res.run_steps == (d[ig.output.name] - 1) * 4
    for n in ig.nodes_of(Encoder):
        active = res.spikes[n.name].reshape(res.run_steps, -1).any(1)
        window = np.zeros(res.run_steps, bool)
        window[(d[n.name] - 1) * 4:d[n.name] * 4] = True
        assert not active[~window].any()


def test_load_shift_puts_the_first_threshold_below_the_headroom():
    for seed in range(6):
        _, ig = _stc(seed, T=8, tau=2.0, state_bits=24)
        for n in ig.nodes_of(Encoder):
            assert 2**20 < int(n.thresholds[0]) <= 2**21
            assert np.all(np.diff(n.thresholds) <= 0) and n.thresholds[-1] >= 1


def test_conversion_tracks_the_ann():
    """On random networks the integer STCSNN at T=8, tau=1 (255 levels per block) agrees with the ANN."""
    agree = []
    for seed in range(6):
        g, ig = _stc(seed, T=8, tau=1.0)
        x = random_inputs(g, 200, seed + 11)
        a, _ = run_ann(g, x)
        agree.append(np.mean(simulate(ig, x, 8).predictions == a.argmax(1)))
    assert np.mean(agree) > 0.95, agree


def test_timesteps_must_match_the_blocks_and_no_mixing():
    _, ig = _stc(0, T=6)
    with pytest.raises(GraphError, match="built for T = 6"):
        simulate(ig, random_inputs(ig, 1, 0), 8)
    g = Graph("mixed")
    g.add(Input("x", shape=(4,)))
    g.add(Linear("w", weight=np.eye(4)), ["x"])
    g.add(Encoder("e", thresholds=np.array([0.5, 0.25])), ["w"])
    g.add(Linear("w2", weight=np.eye(4)), ["e"])
    g.add(Neurons("n"), ["w2"])
    g.add(Linear("r", weight=np.eye(4)), ["n"])
    g.add(Output("out"), ["r"])
    with pytest.raises(GraphError, match=r"layer n is a rate-coded population in a network of STCSNN encoders"):
        g.verify()


def test_max_pooling_is_refused_with_a_clear_error():
    from neurocompile.errors import ConversionError

    g = random_graph(3, maxpool=True)
    with pytest.raises(ConversionError, match="max pooling is not supported with method stcsnn"):
        compile_graph(g, random_inputs(g, 16, 3), CompileOptions(method="stcsnn", timesteps=4))
