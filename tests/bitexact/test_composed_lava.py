"""Composed chains in Lava at the target's own 8-bit weights (docs/semantics.md, "Composed chains"): weight ops in
series (MobileNetV2's projection conv -> residual add -> expansion conv, back-to-back convolutions) compose to
products of weights wider than Lava's 8 bits; the loihi2-sim pipeline rounds those chains into one matrix per
source, which Lava runs exactly as intsim does (every population, every step, voltages), and a one-LSB change of a
composed mantissa in Lava only is caught."""

import numpy as np
import pytest

import fanout_models as fm
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir import Composed
from neurocompile.ir.chains import chains
from test_lava_bitexact import T, busiest_entry, check_exact, ensure_activity, loihi_opts, simulate_lava

pytestmark = pytest.mark.lava


def _build(name: str, seed: int):
    g = load_model(fm.make(name, seed=seed), (1, 8, 8))
    ig = compile_graph(g, fm.inputs(64, seed + 1).numpy(), loihi_opts(weight_bits=8))
    x = fm.inputs(3, seed + 2).numpy()
    ensure_activity(ig, x)
    return ig, x


@pytest.mark.parametrize("name", ["mobilenetv2", "convconv"])
def test_composed_chains_bit_exact_at_8_bits(name):
    ig, x = _build(name, 5)
    composed = ig.nodes_of(Composed)
    assert composed and any(k > 0 for n in composed for k in n.shifts)  # rounded, not only re-encoded
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


def test_composed_negative_control():
    """One LSB of a composed connection's mantissa, in Lava only: caught."""
    ig, x = _build("convconv", 5)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    ch = next(c for c in chains(ig) if any(isinstance(op, Composed) and max(op.shifts) > 0 for op in c.ops))
    op = ch.ops[0]
    idx = int(np.argmax(op.shifts))
    src = ch.sources[idx]
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=busiest_entry(ig, ref, ch, src, len(x)))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)
