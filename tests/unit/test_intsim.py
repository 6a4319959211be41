"""intsim against the slow loop implementation: exact equality, spikes in every layer."""

import numpy as np
import pytest

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.ir.timing import latency
from neurocompile.results import quantize_input
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import MaxPool2d, Neurons
from neurocompile.ir.chains import spike_origin
from slowsim import slow_simulate

CASES = [
    (seed, reset, delay, bits)
    for seed, (reset, delay, bits) in enumerate(
        [("subtract", 0, 8), ("zero", 0, 8), ("subtract", 1, 4), ("zero", 1, 6), ("subtract", 0, 2),
         ("subtract", 1, 10), ("subtract", 0, 16), ("zero", 0, 3)]
    )
]


def _compiled(seed, reset, delay, bits, maxpool=False, input_pool=False, padded=False, **kw):
    g = random_graph(seed, residual=seed % 2 == 0, maxpool=maxpool, input_pool=input_pool, padded=padded)
    xc = random_inputs(g, 32, seed)
    opts = CompileOptions(weight_bits=bits, reset=reset, synapse_delay=delay, v_init=0.5 if seed % 3 else 0.0,
                          **{"method": "rueckauer", **kw})
    return compile_graph(g, xc, opts)


def _compare(ig, x, T):
    res = simulate(ig, x, T, record=True)
    xi = quantize_input(ig, x)
    pops = [n.name for n in ig.nodes_of(Neurons)]
    gates = [n.name for n in ig.nodes_of(MaxPool2d) if isinstance(spike_origin(ig, n.name), Neurons)]
    assert sorted(res.spikes) == sorted(pops + gates)
    for k in range(len(x)):
        ro, sp = slow_simulate(ig, xi[k], T, res.run_steps)
        assert res.readout[k].tolist() == ro
        for name in pops + gates:
            assert np.array_equal(res.spikes[name][:, k].astype(int), np.array(sp[name], dtype=int)), name
    return res


@pytest.mark.parametrize("seed,reset,delay,bits", CASES)
def test_intsim_matches_slow_loop(seed, reset, delay, bits):
    ig = _compiled(seed, reset, delay, bits)
    x = random_inputs(ig, 3, seed + 7)
    res = _compare(ig, x, T=6)
    for name, counts in res.spike_counts.items():
        assert counts.sum() > 0, f"no spikes in layer {name}"
    assert res.run_steps == 6 + latency(ig)
    assert np.all(res.synops > 0)


def test_saturation_and_state_shift():
    """Tiny state width + state_shift drive the state into saturation; still exact."""
    ig = _compiled(3, "subtract", 0, 8, state_bits=18, state_shift=2)
    for n in ig.nodes_of(Neurons):
        n.state_bits = 14 if int(np.max(n.threshold)) < 2**13 - 1 else n.state_bits
        if n.bias is not None:
            n.bias = n.bias * 50  # push towards saturation
    x = random_inputs(ig, 2, 99)
    res = _compare(ig, x, T=5)
    assert any(c.sum() > 0 for c in res.spike_counts.values())


def test_negative_control_detects_one_lsb():
    """Changing one weight by one LSB in the copy given to intsim must change the result."""
    ig = _compiled(0, "subtract", 0, 8)
    x = random_inputs(ig, 4, 5)
    ref = simulate(ig, x, 20, record=True)
    bad = ig.copy()
    fc2 = bad.node("fc2")
    active = int(np.argmax(ref.spikes["relu_fc1"].sum((0, 1))))  # a hidden neuron that spiked
    assert ref.spikes["relu_fc1"][:, :, active].sum() > 0
    fc2.weight[0, active] += 1
    out = simulate(bad, x, 20, record=True)
    same = np.array_equal(ref.readout, out.readout) and all(
        np.array_equal(ref.spikes[k], out.spikes[k]) for k in ref.spikes
    )
    assert not same


def test_batching_does_not_change_results():
    ig = _compiled(1, "subtract", 1, 8)
    x = random_inputs(ig, 9, 3)
    a = simulate(ig, x, 12, record=True, batch_size=2)
    b = simulate(ig, x, 12, record=True, batch_size=64)
    assert np.array_equal(a.readout, b.readout)
    assert all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
    assert np.array_equal(a.synops, b.synops)


@pytest.mark.parametrize("seed", range(4))
def test_integer_snn_tracks_the_ann(seed):
    """Quantised 8-bit SNN at T=200 agrees with the float ANN on most samples (catches unit/scale bugs)."""
    from neurocompile.ir.ann import run_ann

    g = random_graph(seed)
    xc = random_inputs(g, 64, seed)
    ig = compile_graph(g, xc, CompileOptions(method="rueckauer", weight_bits=8, v_init=0.5))
    x = random_inputs(g, 100, seed + 3)
    ann, _ = run_ann(g, x)
    res = simulate(ig, x, 200)
    assert (res.predictions == ann.argmax(1)).mean() >= 0.85
    # the readout approximates T * ANN output in the output's integer unit
    np.testing.assert_allclose(res.readout / (200 * ig.output.scale) * ig.meta["lambda"]["out"], ann,
                               atol=0.15 * np.abs(ann).max())


GRADED = [(seed, reset, delay, smax) for seed, (reset, delay, smax) in enumerate(
    [("subtract", 0, 1), ("subtract", 1, 2), ("zero", 0, 4), ("subtract", 0, 8), ("zero", 1, 1)], start=20)]


@pytest.mark.parametrize("seed,reset,delay,smax", GRADED)
def test_buffered_multibit_matches_slow_loop(seed, reset, delay, smax):
    """HPC neurons (negative spikes, power-of-two magnitudes) against the slow loop's independent rule."""
    ig = _compiled(seed, reset, delay, 6, neuron="buffered", spike_max=smax)
    for n in ig.nodes_of(Neurons):
        assert n.buffered and n.spike_max == smax
        if smax > 1:  # lower thresholds so that inputs cross several of them in one step
            n.threshold = np.maximum(np.asarray(n.threshold) // 3, 1)
    x = random_inputs(ig, 3, seed + 7)
    res = _compare(ig, x, T=8)
    allspk = np.concatenate([s.ravel() for s in res.spikes.values()])
    assert (allspk < 0).any(), "no negative spike happened"
    if smax > 1:
        assert (np.abs(allspk) > 1).any(), "no multi-bit spike happened"
    assert set(np.unique(allspk)) <= {0, *[p * sgn for p in (1, 2, 4, 8) if p <= smax for sgn in (1, -1)]}
    for name, counts in res.spike_counts.items():
        assert counts.sum() > 0, f"no spikes in layer {name}"


def test_graded_negative_control():
    """One LSB of one threshold changed in the intsim graph only: the slow loop must disagree."""
    ig = _compiled(21, "subtract", 0, 6, neuron="buffered", spike_max=2)
    x = random_inputs(ig, 3, 28)
    pop = ig.nodes_of(Neurons)[0]
    bad = ig.copy()
    badpop = bad.node(pop.name)
    badpop.threshold = np.asarray(badpop.threshold) + 1
    res = simulate(bad, x, 8, record=True)
    xi = quantize_input(ig, x)
    diff = 0
    for k in range(len(x)):
        _, sp = slow_simulate(ig, xi[k], 8, res.run_steps)
        diff += int((res.spikes[pop.name][:, k].astype(int) != np.array(sp[pop.name], dtype=int)).sum())
    assert diff > 0


MAXPOOL = [(seed, reset, delay, neuron, smax, inpool) for seed, (reset, delay, neuron, smax, inpool) in enumerate(
    [("subtract", 0, "if", 1, False), ("zero", 1, "if", 1, True), ("subtract", 1, "buffered", 1, False),
     ("subtract", 0, "buffered", 2, True), ("zero", 0, "buffered", 4, False), ("subtract", 1, "if", 1, True),
     ("subtract", 0, "buffered", 1, True), ("zero", 1, "buffered", 2, False)], start=40)]


def _maxpool_compiled(seed, reset, delay, neuron, smax, inpool):
    ig = _compiled(seed, reset, delay, 6, maxpool=True, input_pool=inpool, neuron=neuron, spike_max=smax)
    assert ig.nodes_of(MaxPool2d) and (not inpool or "xpool" in ig)
    if smax > 1:  # lower thresholds so that inputs cross several of them in one step
        for n in ig.nodes_of(Neurons):
            n.threshold = np.maximum(np.asarray(n.threshold) // 3, 1)
    return ig


@pytest.mark.parametrize("seed,reset,delay,neuron,smax,inpool", MAXPOOL)
def test_maxpool_gates_match_slow_loop(seed, reset, delay, neuron, smax, inpool):
    """Max-count gates (after populations, on gates, on the Input, into an Add) against the slow loop's
    per-window gate; binary and graded spikes; every population and gate spikes."""
    ig = _maxpool_compiled(seed, reset, delay, neuron, smax, inpool)
    x = random_inputs(ig, 3, seed + 7)
    res = _compare(ig, x, T=8)
    for name, counts in res.spike_counts.items():
        assert counts.sum() > 0, f"no spikes in layer {name}"
    assert np.all(res.synops > 0)
    if neuron == "buffered":
        gated = np.concatenate([res.spikes[g.name].ravel() for g in ig.nodes_of(MaxPool2d) if g.name in res.spikes])
        assert set(np.unique(gated)) <= set(range(-smax, smax + 1))


PADDED = [(seed, reset, delay, neuron, smax, inpool) for seed, (reset, delay, neuron, smax, inpool) in enumerate(
    [("subtract", 0, "if", 1, False), ("zero", 1, "if", 1, True), ("subtract", 1, "buffered", 1, True),
     ("subtract", 0, "buffered", 2, False), ("zero", 0, "if", 1, True), ("subtract", 1, "buffered", 4, True)],
    start=60)]


@pytest.mark.parametrize("seed,reset,delay,neuron,smax,inpool", PADDED)
def test_padded_maxpool_gates_match_slow_loop(seed, reset, delay, neuron, smax, inpool):
    """Padded and ceil-mode gates (netgen ``padded``: on populations, gates and the Input) and a padded
    average pool against the slow loop's windows of real elements; every population and gate spikes."""
    ig = _compiled(seed, reset, delay, 6, maxpool=True, input_pool=inpool, padded=True, neuron=neuron,
                   spike_max=smax)
    gates = ig.nodes_of(MaxPool2d)
    assert any(p.padding != (0, 0) or p.ceil_mode for p in gates) and (not inpool or "xpool" in ig)
    if smax > 1:
        for n in ig.nodes_of(Neurons):
            n.threshold = np.maximum(np.asarray(n.threshold) // 3, 1)
    x = random_inputs(ig, 3, seed + 7)
    res = _compare(ig, x, T=8)
    for name, counts in res.spike_counts.items():
        assert counts.sum() > 0, f"no spikes in layer {name}"


def test_maxpool_negative_control():
    """One LSB of one weight after a gate changed in the intsim graph only: the slow loop must disagree."""
    ig = _maxpool_compiled(*MAXPOOL[0])
    x = random_inputs(ig, 3, 47)
    ref = simulate(ig, x, 8, record=True)
    gate, reader = next((g.name, c) for g in ig.nodes_of(MaxPool2d) for c in ig.consumers(g.name)
                        if ig.node(c).op in ("conv2d", "linear"))  # a weight op right after a gate
    bad = ig.copy()
    w = bad.node(reader).weight
    active = np.unravel_index(int(np.argmax(ref.spikes[gate].sum((0, 1)))), ref.spikes[gate].shape[2:])
    if w.ndim == 4:  # a conv: the centre tap of input channel `active[0]` for output channel 0
        w[0, active[0] % w.shape[1], w.shape[2] // 2, w.shape[3] // 2] += 1
    else:
        w[0] += 1
    res = simulate(bad, x, 8, record=True)
    xi = quantize_input(ig, x)
    diff = 0
    for k in range(len(x)):
        _, sp = slow_simulate(ig, xi[k], 8, res.run_steps)
        diff += sum(int((res.spikes[n][:, k].astype(int) != np.array(sp[n], dtype=int)).sum()) for n in res.spikes)
    assert diff > 0
