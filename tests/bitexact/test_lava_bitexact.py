"""Lava (Loihi2SimCfg fixed_pt) against intsim: every layer, every step, exact.

Random networks (tests/netgen.py: conv with stride / padding / dilation / groups, average pooling,
residual add, linear, max-count gates; mixed-sign weights, biases of both signs) compiled with the loihi2-sim limits at
2..8-bit weights, with stress variants that put thresholds at Lava's vth limit, drive the membrane
into saturation and make the 24-bit current wrap. Reset by subtraction runs on the project's
IFSubtract process; reset to zero on Lava's own LIF (Intel's implementation, not ours).
"""

import numpy as np
import pytest

from netgen import ensure_activity as netgen_activity
from netgen import random_graph, random_inputs
from neurocompile import fixedpoint as fx
from neurocompile.backends.intsim import simulate
from neurocompile.ir.matrices import chain_matrices
from neurocompile.backends.lava.run import simulate_lava as _simulate_lava
from neurocompile.backends.lava.run import spike_mismatches
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import Encoder, MaxPool2d, Neurons
from neurocompile.ir.chains import chains
from neurocompile.results import RunResult
from neurocompile.targets import get_target

pytestmark = pytest.mark.lava
T = 8
M23 = (1 << 23) - 1
LIMITS = get_target("loihi2-sim").limits  # Lava's arithmetic limits, as the target registry holds them
VTH_MAX = LIMITS.vth_max


def loihi_opts(**kw) -> CompileOptions:
    return CompileOptions(**get_target("loihi2-sim").compile_overrides(), **{"method": "rueckauer", **kw})


def simulate_lava(graph, x, timesteps, **kw):
    """The Lava backend with the loihi2-sim target's limits."""
    return _simulate_lava(graph, x, timesteps, limits=LIMITS, **kw)


def busiest_entry(ig, ref, ch, src: str, n: int) -> tuple:
    """``perturb`` for :func:`simulate_lava`: the entry of chain ``ch``'s matrix from ``src`` in the column of the
    source unit that spiked most in ``ref`` (``n`` samples) among those with a connection, its first row."""
    m = chain_matrices(ig, ch)[src]
    act = np.abs(ref.spikes[src].astype(np.int64)).reshape(ref.spikes[src].shape[0], n, -1).sum((0, 1))
    col = int(np.argmax(act * (np.diff(m.tocsc().indptr) > 0)))
    return ch.target.name, src, int(m[:, col].nonzero()[0][0]), col


def stress(ig, kind: str, rng) -> None:
    """Mutate the integer IR (it stays Lava-representable) to reach Lava's limits."""
    pops = ig.nodes_of(Neurons)
    if kind == "vth-limit":  # thresholds at vth's 17-bit limit; start high and push with big biases
        for n in pops:
            shape = ig.infer_shapes()[n.name]
            th = (VTH_MAX - int(rng.integers(0, 8))) << 6
            n.threshold = np.asarray(th)
            n.bias = fx.round_mant_exp(rng.integers(-100_000, 520_000, size=shape), 13, 7)
            n.v_init = rng.integers(th // 2, th, size=shape)
    elif kind == "saturate":  # start near +-(2^23 - 1), biases of both signs: v clips at both ends
        for n in pops:
            shape = ig.infer_shapes()[n.name]
            sign = rng.choice([-1, 1, 1], size=shape)
            n.bias = fx.round_mant_exp(sign * rng.integers(300_000, 524_000, size=shape), 13, 7)
            n.threshold = np.asarray((VTH_MAX - 3) << 6)
            n.v_init = sign * rng.integers(7_900_000, M23, size=shape)
    elif kind == "wrap":  # first-layer weights at the 8-bit limit, bright inputs: |input << 6| wraps
        first = next(n for n in ig.topo() if n.op in ("conv2d", "linear"))
        lim = 127  # this layer becomes an 8-bit layer whatever width the rest of the network uses
        first.weight_bits = 8
        first.weight = rng.integers(lim * 3 // 4, lim + 1, size=first.weight.shape).astype(np.int64)


def ensure_activity(ig, x) -> None:
    """Silent populations get a quarter threshold of bias per step, on Lava's bias grid."""
    netgen_activity(ig, x, T, lambda b: fx.round_mant_exp(b, 13, 7))


def check_exact(ref: RunResult, lav: RunResult, ig) -> None:
    """Spikes of every population and max-pool gate, voltages of every population, readout: all equal."""
    assert spike_mismatches(ref, lav) == 0
    assert set(ref.voltages) == set(lav.voltages) == {n.name for n in ig.nodes_of((Neurons, Encoder))}
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], lav.spikes[k]), k
        assert ref.spikes[k].any(), f"no spikes in layer {k}"
    for k in ref.voltages:
        assert np.array_equal(ref.voltages[k], lav.voltages[k]), k
    assert np.array_equal(ref.readout, lav.readout)


KINDS = ["plain", "plain", "vth-limit", "saturate", "wrap"]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("seed", range(21))  # every weight width and stress kind; benchmarks/random_nets.py runs more
def test_random_network_bit_exact(seed, reset):
    rng = np.random.default_rng(seed)
    g = random_graph(seed, size=8 if seed % 3 else 6)
    bits = 2 + seed % 7  # 2..8-bit weights
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(weight_bits=bits, reset=reset,
                                                                 v_init=0.5 if seed % 2 else 0.0))
    kind = KINDS[seed % len(KINDS)]
    stress(ig, kind, rng)
    x = random_inputs(g, 3, seed + 100)
    if kind == "wrap":
        x = 0.9 + 0.1 * x  # bright pixels
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    lav = simulate_lava(ig, x, T, record_voltage=True)
    check_exact(ref, lav, ig)
    if kind == "saturate":
        assert any((np.abs(v) == M23).any() for v in ref.voltages.values()), "state never saturated"
    if kind == "wrap":
        ch = chains(ig)[0]
        (m,) = chain_matrices(ig, ch).values()
        from neurocompile.results import quantize_input
        cur = (m @ quantize_input(ig, x).reshape(len(x), -1).T) << 6
        assert (np.abs(cur) > 1 << 23).any(), "current never wrapped"


def test_digits_cnn_bit_exact():
    from neurocompile import datasets
    from neurocompile.frontend import load_model

    g = load_model("examples/digits_cnn.pt2")
    xc, _ = datasets.load("digits", "train")
    ig = compile_graph(g, xc[:500], loihi_opts())
    x, _ = datasets.load("digits", "test")
    x = x[:20]
    ref = simulate(ig, x, 16, record=True, record_voltage=True)
    lav = simulate_lava(ig, x, 16, record_voltage=True, batch_size=20)
    check_exact(ref, lav, ig)
    assert np.array_equal(ref.predictions, lav.predictions)


def test_negative_control_one_lsb_in_lava_only():
    g = random_graph(1)
    ig = compile_graph(g, random_inputs(g, 32, 1), loihi_opts())
    x = random_inputs(g, 3, 2)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)  # the unperturbed graph matches
    # one weight of the connection into the last hidden population, from its most active source
    target = ig.nodes_of(Neurons)[-1].name
    ch = next(c for c in chains(ig) if c.target.name == target)
    (src,) = ch.sources
    m = chain_matrices(ig, ch)[src]
    col = int(np.argmax(ref.spikes[src].reshape(ref.spikes[src].shape[0], len(x), -1).sum((0, 1))))
    row = int(m[:, col].nonzero()[0][0])
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=(target, src, row, col))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)


@pytest.mark.parametrize("method", ["ecc", "qrelu"])
@pytest.mark.parametrize("seed", range(4))
def test_conversion_methods_bit_exact(method, seed):
    """Every conversion method ends in the same integer IR, so Lava reproduces it exactly too."""
    g = random_graph(100 + seed)
    xc = random_inputs(g, 64, seed)
    if method == "qrelu":  # stand-in for a QReLU-trained model: clip each population near its 99th percentile
        from neurocompile.ir.ann import run_ann

        _, acts = run_ann(g, xc, record=True)
        for n in g.nodes_of(Neurons):
            a = acts[n.name]
            n.clip = float(np.percentile(a[a > 0], 99)) if (a > 0).any() else 1.0
    ig = compile_graph(g, xc, loihi_opts(method=method, timesteps=T))
    x = random_inputs(g, 3, seed + 200)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


@pytest.mark.parametrize("seed,reset,spike_max", [(0, "subtract", 1), (1, "zero", 1), (2, "subtract", 2),
                                                  (3, "subtract", 4), (4, "zero", 4), (5, "subtract", 8)])
def test_buffered_multibit_neurons_bit_exact(seed, reset, spike_max):
    """HPC neurons (negative and multi-bit spikes, graded payloads into Sparse) in Lava equal intsim."""
    g = random_graph(300 + seed)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(reset=reset, v_init=0.5, neuron="buffered",
                                                                 spike_max=spike_max))
    if spike_max > 1:  # lower the thresholds (on Lava's vth grid) so inputs cross several in one step
        for n in ig.nodes_of(Neurons):
            n.threshold = np.maximum((np.asarray(n.threshold) // 3) >> 6 << 6, 64)
    x = random_inputs(g, 3, seed + 300)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)
    allspk = np.concatenate([s.ravel() for s in ref.spikes.values()])
    assert (allspk < 0).any(), "no negative spike happened"
    if spike_max > 1:
        assert (allspk > 1).any(), "no multi-bit spike happened"


def test_graded_negative_control():
    """One LSB of one weight out of a graded (buffered, multi-bit) population, in Lava only: caught."""
    g = random_graph(303)
    ig = compile_graph(g, random_inputs(g, 32, 3), loihi_opts(v_init=0.5, neuron="buffered", spike_max=4))
    x = random_inputs(g, 3, 303)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    target = ig.nodes_of(Neurons)[-1].name
    ch = next(c for c in chains(ig) if c.target.name == target)
    (src,) = ch.sources
    assert ig.node(src).graded
    m = chain_matrices(ig, ch)[src]
    act = np.abs(ref.spikes[src].astype(np.int64)).reshape(ref.spikes[src].shape[0], len(x), -1).sum((0, 1))
    col = int(np.argmax(act))
    row = int(m[:, col].nonzero()[0][0])
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=(target, src, row, col))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)


@pytest.mark.parametrize("seed,steps,tau,bits", [(0, 6, 2.0, 8), (1, 4, 1.0, 6), (2, 8, 2.0, 8), (3, 5, 1.5, 4),
                                                 (4, 3, 1.0, 8), (5, 8, 3.0, 7)])
def test_stcsnn_blocks_bit_exact(seed, steps, tau, bits):
    """STCSNN: Lava's step-by-step accumulators (SpikeAccumulator) and encoders (STEncoder) against intsim's
    decoded-value closed form; every encoder's spikes and potentials, and the readout, exactly."""
    g = random_graph(400 + seed, residual=seed % 2 == 0)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(method="stcsnn", timesteps=steps, stc_tau=tau,
                                                                 weight_bits=bits))
    x = random_inputs(g, 3, seed + 400)
    ref = simulate(ig, x, steps, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, steps, record_voltage=True), ig)


def test_stcsnn_negative_control():
    """One LSB of one weight into the last block, in Lava only: the readout or the spikes differ."""
    g = random_graph(401)
    ig = compile_graph(g, random_inputs(g, 32, 1), loihi_opts(method="stcsnn", timesteps=4, stc_tau=1.0))
    x = random_inputs(g, 2, 401)
    ref = simulate(ig, x, 4, record=True, record_voltage=True)
    ch = next(c for c in chains(ig) if c.target is ig.output)
    (src,) = ch.sources
    m = chain_matrices(ig, ch)[src]
    col = int(np.argmax(ref.spikes[src].reshape(ref.spikes[src].shape[0], len(x), -1).sum((0, 1))))
    row = int(m[:, col].nonzero()[0][0])
    bad = simulate_lava(ig, x, 4, record_voltage=True, perturb=(ig.output.name, src, row, col))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)


MAXPOOL = [(seed, reset, neuron, smax, inpool) for seed, (reset, neuron, smax, inpool) in enumerate([
    ("subtract", "if", 1, False), ("zero", "if", 1, True), ("subtract", "if", 1, True), ("zero", "if", 1, False),
    ("subtract", "buffered", 1, False), ("subtract", "buffered", 2, True), ("zero", "buffered", 4, False),
    ("subtract", "buffered", 4, True)], start=400)]


def _maxpool_net(seed, reset, neuron, smax, inpool, bits=6):
    g = random_graph(seed, size=8 if seed % 3 else 6, maxpool=True, input_pool=inpool)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(weight_bits=bits, reset=reset, v_init=0.5,
                                                                 neuron=neuron, spike_max=smax))
    if smax > 1:  # lower the thresholds (on Lava's vth grid) so inputs cross several in one step
        for n in ig.nodes_of(Neurons):
            n.threshold = np.maximum((np.asarray(n.threshold) // 3) >> 6 << 6, 64)
    return g, ig


@pytest.mark.parametrize("seed,reset,neuron,smax,inpool", MAXPOOL)
def test_maxpool_gates_bit_exact(seed, reset, neuron, smax, inpool):
    """MaxCountGate processes (on populations, on gates, on the RingBuffer input; binary and graded
    payloads) in Lava equal intsim: spikes of every population and gate, voltages, readout."""
    g, ig = _maxpool_net(seed, reset, neuron, smax, inpool)
    gates = {n.name for n in ig.nodes_of(MaxPool2d)}
    assert gates and (not inpool or "xpool" in gates)
    x = random_inputs(g, 3, seed + 400)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    assert gates - {"xpool"} <= set(ref.spikes)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)
    if neuron == "buffered":
        allspk = np.concatenate([s.ravel() for s in ref.spikes.values()])
        assert (allspk < 0).any(), "no negative spike happened"


PADDED = [(seed, reset, neuron, smax, inpool) for seed, (reset, neuron, smax, inpool) in enumerate([
    ("subtract", "if", 1, False), ("zero", "if", 1, True), ("subtract", "buffered", 2, True),
    ("subtract", "if", 1, True)], start=420)]


@pytest.mark.parametrize("seed,reset,neuron,smax,inpool", PADDED)
def test_padded_maxpool_gates_bit_exact(seed, reset, neuron, smax, inpool):
    """Padded and ceil-mode MaxCountGates (ResNet-stem windows (3, 2, 1), on populations, gates and the
    input) and a padded sum pool: Lava equals intsim, spikes of every population and gate, voltages, readout."""
    g = random_graph(seed, size=8 if seed % 3 else 7, maxpool=True, input_pool=inpool, padded=True)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(weight_bits=6, reset=reset, v_init=0.5,
                                                                 neuron=neuron, spike_max=smax))
    gates = ig.nodes_of(MaxPool2d)
    assert any(p.padding != (0, 0) or p.ceil_mode for p in gates)
    x = random_inputs(g, 3, seed + 400)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


def test_maxpool_negative_control():
    """One LSB of one weight out of a gate, in Lava only: caught."""
    g, ig = _maxpool_net(*MAXPOOL[4])
    x = random_inputs(g, 3, 404)
    ensure_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    ch = next(c for c in chains(ig) if any(isinstance(ig.node(s), MaxPool2d) for s in c.sources))
    src = next(s for s in ch.sources if isinstance(ig.node(s), MaxPool2d))
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=busiest_entry(ig, ref, ch, src, len(x)))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)


_AFTER_PARALLEL_TORCH = """
import numpy as np, torch
torch.set_num_threads(2)
big = torch.rand(1 << 22)
for _ in range(4):  # elementwise ops on a big tensor start torch's OpenMP thread pool in this process
    big = torch.sqrt(big * 1.5 + 0.25)
from netgen import random_graph, random_inputs
from test_lava_bitexact import loihi_opts, simulate_lava
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
g = random_graph(321, size=24, maxpool=True)  # 2304 neurons: x 16 samples > torch grain size
ig = compile_graph(g, random_inputs(g, 32, 1), loihi_opts(neuron="buffered", spike_max=2, v_init=0.5))
x = random_inputs(g, 16, 2)
ref, got = simulate(ig, x, 8, record=True), simulate_lava(ig, x, 8)
assert all(np.array_equal(ref.spikes[k], got.spikes[k]) for k in ref.spikes), "spikes differ"
assert sum(int(np.abs(s).sum()) for s in ref.spikes.values()) > 0, "no spikes"
print("ok")
"""


def test_torch_models_after_parallel_torch_in_parent():
    """Graded neurons and max-count gates compute with torch inside Lava's forked processes; after the
    parent ran parallel torch ops (as the CLI does with the ANN) they used to wait forever on the
    parent's OpenMP pool. Run in a fresh interpreter so the parent's pool is surely started."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.dirname(here)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, tests, os.environ.get("PYTHONPATH", "")]))
    try:
        r = subprocess.run([sys.executable, "-c", _AFTER_PARALLEL_TORCH], capture_output=True, text=True,
                           timeout=240, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("Lava run with torch-computing models hung after parallel torch ops in the parent")
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
