"""Bundle round trip: what is written is read back exactly and simulates identically."""

import numpy as np
from netgen import assert_same_graph as _same
from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate

from neurocompile.bundle import read_bundle, write_bundle
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.report import build_report


def test_bundle_round_trip_is_exact(tmp_path):
    g = random_graph(4, residual=True)
    x = random_inputs(g, 24, 4)
    ig = compile_graph(g, x, CompileOptions(weight_bits=7, v_init=0.5))
    out = write_bundle(tmp_path / "b", ig, g, build_report(ig, g))
    b = read_bundle(out)
    _same(ig, b.snn)
    _same(g, b.ann)
    r1, r2 = simulate(ig, x[:6], 10, record=True), simulate(b.snn, x[:6], 10, record=True)
    assert np.array_equal(r1.readout, r2.readout)
    assert all(np.array_equal(r1.spikes[k], r2.spikes[k]) for k in r1.spikes)
    assert all(c.sum() > 0 for c in r1.spike_counts.values())
