"""Networks with ``torch.cat`` (tests/concatnets.py: a SqueezeNet Fire module, an inception-like block with a
pooled branch and a BatchNorm on a concat, a concat of flattened vectors with a spike input beside a linear
output; and tests/netgen.py's random networks with concat blocks) from PyTorch to Lava's fixed-point simulator
and to the FPGA RTL: every population, every step, exact, spikes in every layer, and a one-LSB negative control
on a connection through a Concat that must be caught."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from torch import nn

from concatnets import MODELS, inputs, model
from netgen import CONCAT_KINDS, random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir import Composed, Concat
from neurocompile.ir.chains import chains
from test_lava_bitexact import check_exact as check_lava
from test_lava_bitexact import ensure_activity as lava_activity
from test_lava_bitexact import loihi_opts, simulate_lava
from test_rtl_bitexact import check_exact as check_rtl
from test_rtl_bitexact import design, fpga_opts, rtl_result
from test_rtl_bitexact import ensure_activity as rtl_activity

T = 8


def _float(name: str, seed: int, pool=nn.MaxPool2d):
    g = load_model(model(name, seed, pool), (1, 8, 8))
    assert g.nodes_of(Concat)
    return g


def _concat_chain(ig):
    """A chain with a Concat, its most active source, and a matrix entry (row, col) that source drives."""
    cats = {n.name for n in ig.nodes_of(Concat)}
    return next(c for c in chains(ig) if cats & {o.name for o in c.ops})


def _perturbed_entry(ig, ref, ch, x):
    """The busiest connected entry (``busiest_entry``) from the chain's most active source."""
    from test_lava_bitexact import busiest_entry

    src = max(ch.sources, key=lambda s: int(np.abs(ref.spikes[s]).sum()) if s in ref.spikes else -1)
    return busiest_entry(ig, ref, ch, src, len(x))


@pytest.mark.lava
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_concat_lava_bit_exact(name, reset):
    g = _float(name, 3)
    ig = compile_graph(g, inputs(32, 1), loihi_opts(weight_bits=8 if reset == "subtract" else 6, reset=reset,
                                                    v_init=0.5))
    x = inputs(3, 2)
    lava_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_lava(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


@pytest.mark.lava
@pytest.mark.parametrize("seed", range(12))
def test_random_concat_networks_lava(seed):
    """tests/netgen.py's concat blocks (each kind, with and without max pools, 3..8-bit weights, both resets)."""
    g = random_graph(seed, size=8 if seed % 3 else 6, concat=True, maxpool=seed % 4 < 2)
    ig = compile_graph(g, random_inputs(g, 32, seed), loihi_opts(weight_bits=3 + seed % 6, v_init=0.5 * (seed % 2),
                                                                 reset="zero" if seed % 3 == 2 else "subtract"))
    cats = {c.name for c in g.nodes_of(Concat)}
    # a concat stays, or runs inside a chain composed to fit Lava's 8-bit weights (docs/semantics.md)
    assert CONCAT_KINDS and (ig.nodes_of(Concat) or any(set(c.fused) & cats for c in ig.nodes_of(Composed)))
    x = random_inputs(g, 3, seed + 100)
    lava_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_lava(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


@pytest.mark.lava
def test_concat_lava_negative_control():
    """One LSB of one composed weight from a source through a Concat, in Lava only: caught."""
    g = _float("vectors", 3)
    ig = compile_graph(g, inputs(32, 1), loihi_opts())
    x = inputs(3, 2)
    lava_activity(ig, x)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    ch = _concat_chain(ig)
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=_perturbed_entry(ig, ref, ch, x))
    with pytest.raises(AssertionError):
        check_lava(ref, bad, ig)


needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")


@pytest.mark.rtl
@needs_iverilog
@pytest.mark.parametrize("name", list(MODELS))
def test_concat_rtl_bit_exact(tmp_path, name):
    g = _float(name, 4, nn.AvgPool2d)  # the fpga target has no max-pool gate yet
    ig = compile_graph(g, inputs(32, 1), fpga_opts(weight_bits=8, v_init=0.5))
    x = inputs(2, 5)
    rtl_activity(ig, x)
    fpga, pl = design(ig, tmp_path)
    assert pl.n_cores > 1
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_rtl(ref, rtl_result(ig, fpga, x), ig)


@pytest.mark.rtl
@needs_iverilog
@pytest.mark.parametrize("seed", range(6))
def test_random_concat_networks_rtl(tmp_path, seed):
    g = random_graph(seed, size=8 if seed % 3 else 6, concat=True)
    ig = compile_graph(g, random_inputs(g, 32, seed), fpga_opts(weight_bits=7 + seed % 4, v_init=0.5 * (seed % 2),
                                                                reset="zero" if seed % 3 == 2 else "subtract"))
    x = random_inputs(g, 2, seed + 100)
    rtl_activity(ig, x)
    fpga, pl = design(ig, tmp_path)
    assert pl.n_cores > 1
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_rtl(ref, rtl_result(ig, fpga, x), ig)


@pytest.mark.rtl
@needs_iverilog
def test_concat_rtl_negative_control(tmp_path):
    """The same network with one composed weight through a Concat changed by one LSB in intsim's reference
    only (the RTL keeps the original): caught."""
    g = _float("fire", 4, nn.AvgPool2d)
    ig = compile_graph(g, inputs(32, 1), fpga_opts(weight_bits=8, v_init=0.5))
    x = inputs(2, 5)
    rtl_activity(ig, x)
    fpga, _ = design(ig, tmp_path)
    got = rtl_result(ig, fpga, x)
    check_rtl(simulate(ig, x, T, record=True), got, ig)
    op = ig.node(ig.consumers(ig.nodes_of(Concat)[0].name)[0])
    while not op.weighted:  # the first weight op after the Concat
        op = ig.node(ig.consumers(op.name)[0])
    w = op.weight
    w.flat[int(np.argmax(np.abs(w)))] += 1
    with pytest.raises(AssertionError):
        check_rtl(simulate(ig, x, T, record=True), got, ig)
