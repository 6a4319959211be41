"""The FPGA RTL (Icarus Verilog) against intsim on fan-out models of tests/fanout_models.py (MobileNetV2
inverted residuals, a pool->skip block, back-to-back convolutions feeding two consumers), placed on small cores
so layers are split: every population, every step and the readout, exact; one flipped ROM word is caught.
The profile's synapse memory is generous: the FPGA stores each chain's composed matrix, whose entries are
wider than the weights where two weight ops are in series (the projection conv -> add -> next expand conv)."""

from __future__ import annotations

import shutil

import pytest

import fanout_models as fm
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
from neurocompile.frontend import load_model
from test_rtl_bitexact import (T, _flip_one_word, check_exact, design, ensure_activity, fpga_opts, rtl_result,
                               small_profile)

pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")]


def _build(name: str, seed: int, bits: int, size: int = 8, **kw):
    g = load_model(fm.make(name, seed=seed, **kw), (1, size, size))
    ig = compile_graph(g, fm.inputs(64, seed + 1, size).numpy(), fpga_opts(weight_bits=bits))
    x = fm.inputs(2, seed + 2, size).numpy()
    ensure_activity(ig, x)
    return ig, x


@pytest.mark.parametrize("name,bits,kw", [("mobilenetv2", 4, {"size": 4, "c": 2}), ("poolskip", 8, {}),
                                          ("convconv", 6, {})])
def test_fanout_models_rtl_bit_exact(tmp_path, name, bits, kw):
    """The MobileNetV2 blocks at 2 channels on 4x4 inputs: Icarus takes minutes on the 4-channel 8x8 design."""
    ig, x = _build(name, 21, bits, **kw)
    assert any("_copy" in n.name for n in ig.topo())
    fpga, pl = design(ig, tmp_path, small_profile(words=16384))  # composed matrices: wide entries (see the report)
    assert pl.n_cores > 1
    ref = simulate(ig, x, T, record=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)


def test_fanout_rtl_negative_control(tmp_path):
    ig, x = _build("convconv", 21, 6)
    fpga, _ = design(ig, tmp_path, small_profile(words=16384))
    ref = simulate(ig, x, T, record=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)
    _flip_one_word(fpga, ig, ref, x)
    with pytest.raises(AssertionError):
        check_exact(ref, rtl_result(ig, fpga, x), ig)
