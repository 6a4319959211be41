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
    ig = compile_graph(g, x, CompileOptions(method="rueckauer", weight_bits=7, v_init=0.5))
    out = write_bundle(tmp_path / "b", ig, g, build_report(ig, g))
    b = read_bundle(out)
    _same(ig, b.snn)
    _same(g, b.ann)
    r1, r2 = simulate(ig, x[:6], 10, record=True), simulate(b.snn, x[:6], 10, record=True)
    assert np.array_equal(r1.readout, r2.readout)
    assert all(np.array_equal(r1.spikes[k], r2.spikes[k]) for k in r1.spikes)
    assert all(c.sum() > 0 for c in r1.spike_counts.values())


def test_json_text_layout():
    """``bundle.json_text``: the text of ``json.dumps(indent=1)`` for ordinary documents; a list of more than
    ``ROW_LIST`` objects one compact object per line (the same JSON); numpy values converted."""
    import json

    from neurocompile.bundle import ROW_LIST, json_text

    small = {"a": [1, 2.5, {"b": None, "c": "x"}], "d": {}, "e": [], "f": {"g": [True, False]}}
    assert json_text(small) == json.dumps(small, indent=1)
    rows = [{"core": i, "slices": [{"box": [[0, i + 1]]}]} for i in range(ROW_LIST + 1)]
    doc = {"cores": rows, "n": np.int64(3), "v": np.arange(3)}
    text = json_text(doc)
    assert json.loads(text) == {"cores": rows, "n": 3, "v": [0, 1, 2]}
    lines = text.splitlines()
    assert len(lines) == len(rows) + 6  # {, "cores": [, a line per row, ], "n", "v", }
    assert all(json.loads(line.strip().rstrip(",")) == row for line, row in zip(lines[2:], rows))
    short = {"cores": rows[:ROW_LIST]}  # not more than ROW_LIST: laid out as indent=1
    assert json_text(short) == json.dumps(short, indent=1)
