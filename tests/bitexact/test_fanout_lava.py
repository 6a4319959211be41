"""Lava (Loihi2SimCfg fixed_pt) against intsim on the fan-out models of tests/fanout_models.py: MobileNetV2
inverted residuals, a pool->skip block, a ResNet downsampling shortcut, a pre-activation block, back-to-back
convolutions feeding two consumers. Every population, every step, exact; a perturbed weight of a copied op's
connection, in Lava only, is caught.

The weights are 3-bit: Lava stores each (source, target) chain as one composed matrix of at most 8-bit
entries, and a chain of two weight ops in series (projection conv -> add -> next expand conv) composes
products of weights (docs/semantics.md, "Fan-out of linear signals")."""

import pytest

import fanout_models as fm
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir.chains import chains
from test_lava_bitexact import T, busiest_entry, check_exact, ensure_activity, loihi_opts, simulate_lava

pytestmark = pytest.mark.lava


def _build(name: str, seed: int, reset: str = "subtract"):
    g = load_model(fm.make(name, seed=seed), (1, 8, 8))
    ig = compile_graph(g, fm.inputs(64, seed + 1).numpy(), loihi_opts(weight_bits=3, reset=reset))
    x = fm.inputs(3, seed + 2).numpy()
    ensure_activity(ig, x)
    return ig, x


@pytest.mark.parametrize("name,reset", [(n, "zero" if i % 2 else "subtract") for i, n in enumerate(fm.MODELS)])
def test_fanout_models_bit_exact(name, reset):
    ig, x = _build(name, 11, reset)
    assert any("_copy" in n.name for n in ig.topo()) or name == "downsample"
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    check_exact(ref, simulate_lava(ig, x, T, record_voltage=True), ig)


def test_fanout_negative_control():
    """One LSB of the connection that runs through a copied op, in Lava only: caught."""
    ig, x = _build("convconv", 11)
    ref = simulate(ig, x, T, record=True, record_voltage=True)
    ch = next(c for c in chains(ig) if any("_copy" in op.name for op in c.ops))
    src = ch.sources[0]
    bad = simulate_lava(ig, x, T, record_voltage=True, perturb=busiest_entry(ig, ref, ch, src, len(x)))
    with pytest.raises(AssertionError):
        check_exact(ref, bad, ig)
