"""Schema-1 samples stay loadable and keep computing the same integers (tests/golden/make_golden.py)."""

from pathlib import Path

import numpy as np

from neurocompile.backends.intsim import simulate
from neurocompile.ir import load

GOLDEN = Path(__file__).parents[1] / "golden" / "v1"


def test_schema1_integer_ir_still_computes_the_same():
    g = load(GOLDEN / "snn")
    exp = np.load(GOLDEN / "expected.npz")
    r = simulate(g, exp["x"], int(exp["timesteps"]))
    assert np.array_equal(r.readout, exp["readout"])
    for k, v in r.spike_counts.items():
        assert np.array_equal(v, exp[f"count/{k}"]), k
        assert v.sum() > 0
