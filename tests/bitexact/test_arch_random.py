"""Random networks with the blocks of real architectures (tests/netgen.py ``arch_graph``: a padded / ceil-mode
max pool, MobileNetV2 inverted residuals on a linear stream, an average pool feeding a skip, a channel concat)
in Lava's fixed-point simulator and in the FPGA RTL against intsim: every population and gate, every step,
exact, spikes in each; one-LSB negative controls that must be caught. A representative subset runs here;
``benchmarks/random_nets.py`` runs the full count (>= 50 in Lava, >= 20 in RTL) and records the table in
benchmarks/results/random_nets.md."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from netgen import arch_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
from neurocompile.ir import Add, AvgPool2d, Concat, MaxPool2d

T = 8


def arch_net(seed: int):
    g = arch_graph(seed)
    gate = g.nodes_of(MaxPool2d)[0]
    assert gate.padding != (0, 0) or gate.ceil_mode
    assert g.nodes_of(Concat) and len(g.nodes_of(Add)) >= 2 and g.nodes_of(AvgPool2d)
    return g


def lava_case(seed: int):
    """(integer IR, inputs, intsim's recorded run) for seed's network on the loihi2-sim target, at the target's
    8-bit weights for even seeds and 4-bit for odd ones: the inverted residuals' weight ops in series compose
    products of weights wider than Lava's 8 bits, which the pipeline rounds into composed chains (docs/semantics.md,
    "Composed chains")."""
    from test_lava_bitexact import ensure_activity, loihi_opts

    g = arch_net(seed)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(weight_bits=4 if seed % 2 else 8, v_init=0.5 * (seed % 2),
                                                                 reset="zero" if seed % 3 == 2 else "subtract"))
    x = random_inputs(g, 3, seed + 100)
    ensure_activity(ig, x)
    return ig, x, simulate(ig, x, T, record=True, record_voltage=True)


def rtl_case(seed: int, tmp_path):
    """(integer IR, inputs, intsim's run, fpga directory) on small FPGA cores (layers split over cores)."""
    from netgen import ensure_activity
    from test_rtl_bitexact import design, small_profile
    from test_rtl_maxpool import fpga_opts

    g = arch_net(seed)
    ig = compile_graph(g, random_inputs(g, 32, seed), fpga_opts(weight_bits=6 + seed % 4, v_init=0.5 * (seed % 2),
                                                                reset="zero" if seed % 3 == 2 else "subtract"))
    x = random_inputs(g, 2, seed + 100)
    ensure_activity(ig, x, T)
    fpga, pl = design(ig, tmp_path, small_profile(neurons=32))
    assert pl.n_cores > 1
    return ig, x, simulate(ig, x, T, record=True), fpga


@pytest.mark.lava
@pytest.mark.parametrize("seed", range(6))
def test_arch_networks_lava(seed):
    from test_lava_bitexact import check_exact, simulate_lava

    ig, x, ref = lava_case(seed)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


@pytest.mark.lava
def test_arch_networks_lava_negative_control():
    """One LSB of one composed weight into the population after the concat, in Lava only: caught."""
    from test_lava_bitexact import busiest_entry, check_exact, simulate_lava

    from neurocompile.ir.chains import chains

    ig, x, ref = lava_case(1)
    cat = ig.nodes_of(Concat)[0].name
    ch = next(c for c in chains(ig) if cat in {o.name for o in c.ops})
    src = max(ch.sources, key=lambda s: int(np.abs(ref.spikes[s]).sum()) if s in ref.spikes else -1)
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=busiest_entry(ig, ref, ch, src, len(x)))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)


needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")


@pytest.mark.rtl
@needs_iverilog
@pytest.mark.parametrize("seed", range(3))
def test_arch_networks_rtl(seed, tmp_path):
    from test_rtl_bitexact import rtl_result
    from test_rtl_maxpool import check_exact

    ig, x, ref, fpga = rtl_case(seed, tmp_path)
    check_exact(ref, rtl_result(ig, fpga, x), ig)


@pytest.mark.rtl
@needs_iverilog
def test_arch_networks_rtl_negative_control(tmp_path):
    """The RTL of the original network against intsim of a copy with one weight of the first conv (on the
    analog input, so the change reaches the current every step) one LSB off: caught."""
    from test_rtl_bitexact import rtl_result
    from test_rtl_maxpool import check_exact

    ig, x, ref, fpga = rtl_case(0, tmp_path)
    got = rtl_result(ig, fpga, x)
    check_exact(ref, got, ig)
    with pytest.raises(AssertionError):
        check_exact(simulate(one_lsb_off(ig), x, T, record=True), got, ig)


def one_lsb_off(ig):
    """A copy of ``ig`` whose first weight op's largest weight is one LSB larger."""
    bad = ig.copy()
    op = next(n for n in bad.topo() if n.weighted)
    op.weight.flat[int(np.argmax(np.abs(op.weight)))] += 1
    return bad
