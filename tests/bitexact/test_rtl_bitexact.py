"""The emitted FPGA design (Verilog RTL, simulated) against intsim: every population, every step, exact.

Random networks (tests/netgen.py: conv with stride / padding / dilation / groups, average pooling, residual
add, linear; 7..10-bit weights, biases of both signs, both resets) placed on small FPGA cores so layers are
split over several cores, plus stress variants that drive the membrane into saturation at both ends of a
narrow state; the digits CNN on test images. Icarus Verilog runs the small networks, Verilator the digits CNN
(the same files; both must accept them). A negative control flips one ROM word in one image.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from netgen import ensure_activity as netgen_activity
from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.results import RunResult, spike_mismatches
from neurocompile.backends.verilog import write_design
from neurocompile.backends.verilog.rtl import run
from neurocompile.results import quantize_input
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import Neurons
from neurocompile.partition import partition, profile_from_dict, validate

pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")]
T = 8


def fpga_opts(**kw) -> CompileOptions:
    return CompileOptions(target="fpga", synapse_delay=1, **{"method": "rueckauer", **kw})


def small_profile(neurons: int = 48, words: int = 1024):
    return profile_from_dict({"base": "fpga-generic", "name": "fpga-test",
                              "core": {"neurons": neurons, "synapse_words": words},
                              "chip": {"cores_per_chip": 64, "max_chips": None}})


def design(ig, tmp_path, prof=None):
    prof = prof or small_profile()
    pl = partition(ig, prof)
    validate(ig, prof, pl)
    return write_design(ig, pl, prof, T, tmp_path / "fpga"), pl


def rtl_result(ig, fpga_dir, x, simulator="iverilog") -> RunResult:
    r = run(fpga_dir, ig.infer_shapes(), quantize_input(ig, x), simulator=simulator)
    return RunResult(r.readout, T, 0, {}, np.zeros(len(x)), {k: v for k, v in r.spikes.items()})


def check_exact(ref: RunResult, rtl: RunResult, ig) -> None:
    """Spikes of every population at every step and the readout: all equal; spikes in every population."""
    assert set(rtl.spikes) == {n.name for n in ig.nodes_of(Neurons)}
    assert spike_mismatches(ref, rtl) == 0
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], rtl.spikes[k]), k
        assert ref.spikes[k].any(), f"no spikes in layer {k}"
    assert np.array_equal(ref.readout, rtl.readout)


def ensure_activity(ig, x) -> None:
    netgen_activity(ig, x, T)


def saturate(ig, rng) -> int:
    """Start near +-(2^(S-1) - 1) with large biases of both signs: the state clips at both ends (some
    neurons get the largest threshold, so they cannot fire and stay clipped at +max)."""
    top = 0
    for n in ig.nodes_of(Neurons):
        shape = ig.infer_shapes()[n.name]
        m = (1 << (n.state_bits - 1)) - 1
        sign = rng.choice([-1, 1, 1], size=shape)
        n.v_init = sign * rng.integers(m - m // 8, m + 1, size=shape)
        n.bias = sign * rng.integers(m // 4, m // 2, size=shape)
        n.threshold = np.where(rng.random(shape) < 0.3, m, np.broadcast_to(n.threshold, shape))
        top = m
    out = ig.output  # readout biases wider than the state: the neurons memory's fields widen
    out.bias = rng.integers(-(1 << 18), 1 << 18, size=ig.infer_shapes()[out.name])
    return top


# every weight width, both resets, saturation twice; benchmarks/random_nets.py --rtl runs more networks
CASES = [(seed, 7 + seed % 4, "zero" if seed % 3 == 2 else "subtract", seed % 5 == 4) for seed in range(12)]


@pytest.mark.parametrize("seed,bits,reset,sat", CASES, ids=[f"s{c[0]}-w{c[1]}-{c[2]}{'-sat' if c[3] else ''}"
                                                           for c in CASES])
def test_random_network_rtl_bit_exact(tmp_path, seed, bits, reset, sat):
    rng = np.random.default_rng(seed)
    g = random_graph(seed, size=8 if seed % 3 else 6, residual=True if seed % 4 == 1 else None)
    opts = fpga_opts(weight_bits=bits, reset=reset, v_init=0.5 if seed % 2 else 0.0,
                     state_bits=14 if sat else 24)
    ig = compile_graph(g, random_inputs(g, 32, seed), opts)
    x = random_inputs(g, 3, seed + 100)
    m = saturate(ig, rng) if sat else 0
    ensure_activity(ig, x)
    fpga, pl = design(ig, tmp_path)
    assert pl.n_cores > 1  # layers split over several cores
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)
    if sat:
        assert any((v == m).any() for v in ref.voltages.values()), "state never saturated at +max"
        assert any((v == -m).any() for v in ref.voltages.values()), "state never saturated at -max"


def test_digits_cnn_rtl_bit_exact(tmp_path):
    """The example digits CNN, 10 test images, on the built-in fpga-generic profile, simulated by Verilator."""
    if shutil.which("verilator") is None:
        pytest.skip("verilator not installed (make setup)")
    from neurocompile import datasets
    from neurocompile.frontend import load_model
    from neurocompile.partition import get_profile

    g = load_model("examples/digits_cnn.pt2")
    xc, _ = datasets.load("digits", "train")
    ig = compile_graph(g, xc[:300], fpga_opts(timesteps=T))
    x, _ = datasets.load("digits", "test")
    x = x[:10]
    fpga, pl = design(ig, tmp_path, get_profile("fpga-generic"))
    assert pl.n_cores > 1
    ref = simulate(ig, x, T, record=True)
    got = rtl_result(ig, fpga, x, simulator="verilator")
    check_exact(ref, got, ig)
    assert np.array_equal(ref.predictions, got.predictions)


def _flip_one_word(fpga_dir, ig, ref, x) -> str:
    """XOR the sign bit of the weight in lane 0 of the first synapse word of the most active input axon of
    core 0 (a real synapse that is used every step); returns the file changed."""
    import json

    net = json.loads((fpga_dir / "network.json").read_text())
    core = net["cores"][0]
    man = json.loads((fpga_dir / core["memories"]["synapses"]).read_text())
    ax_man = json.loads((fpga_dir / core["memories"]["axons"]).read_text())
    wf = next(f for f in man["fields"] if f["name"] == "weight")
    axon_words = _read_mem(fpga_dir / "mem" / ax_man["files"]["mem"])
    fields = {f["name"]: f for f in ax_man["fields"]}
    get = (lambda w, f: (w >> f["lsb"]) & ((1 << f["bits"]) - 1))
    # the input is active from step 2 on: pick an axon fed by an input pixel with the largest value
    xi = quantize_input(ig, x).reshape(len(x), -1).sum(0)
    n_in = net["sources"][net["input"]]["units"]
    best = None
    for w in axon_words[: ax_man["used_words"]]:
        src = get(w, fields["source"])
        if src < n_in and (best is None or xi[src] > xi[get(best, fields["source"])]):
            best = w
    assert best is not None, "core 0 reads no input pixel"
    addr = get(best, fields["start"])
    path = fpga_dir / "mem" / man["files"]["mem"]
    words = _read_mem(path)
    words[addr] ^= 1 << (wf["lsb"] + wf["bits"] - 1)
    nd = -(-man["word_bits"] // 4)
    path.write_text("\n".join(format(w, f"0{nd}x") for w in words) + "\n")
    return path.name


def _read_mem(path) -> list[int]:
    return [int(t, 16) for t in re.sub(r"//[^\n]*", "", path.read_text()).split()]


def test_negative_control_one_rom_word_flipped(tmp_path):
    g = random_graph(1)
    ig = compile_graph(g, random_inputs(g, 32, 1), fpga_opts())
    x = random_inputs(g, 3, 2)
    ensure_activity(ig, x)
    fpga, _ = design(ig, tmp_path)
    ref = simulate(ig, x, T, record=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)  # the unperturbed images match
    _flip_one_word(fpga, ig, ref, x)
    bad = rtl_result(ig, fpga, x)
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)
