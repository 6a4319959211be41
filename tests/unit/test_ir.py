"""Graph IR: shape inference, verify() and exact JSON + npz round trips."""

import json

import numpy as np
import pytest
from netgen import assert_same_graph as _same
from netgen import random_graph, random_inputs

from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import BundleError, GraphError
from neurocompile.ir import SCHEMA_VERSION, Conv2d, Graph, Input, Linear, Neurons, Output, load, save


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_float_and_integer(tmp_path, seed):
    g = random_graph(seed)
    save(g, tmp_path / "f")
    _same(g, load(tmp_path / "f"))
    ig = compile_graph(g, random_inputs(g, 16, seed), CompileOptions(method="rueckauer", weight_bits=6))
    save(ig, tmp_path / "i")
    back = load(tmp_path / "i")
    _same(ig, back)
    assert json.loads((tmp_path / "i.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_npz_is_the_same_bytes_every_time_floats_stored_integers_deflated(tmp_path):
    import zipfile
    g = random_graph(1)
    ig = compile_graph(g, random_inputs(g, 16, 1), CompileOptions(method="rueckauer", weight_bits=6))
    for graph, stem in ((g, "f"), (ig, "i")):
        save(graph, tmp_path / f"{stem}1")
        save(load(tmp_path / f"{stem}1"), tmp_path / f"{stem}2")
        assert (tmp_path / f"{stem}1.npz").read_bytes() == (tmp_path / f"{stem}2.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "f1.npz") as zf:
        kinds = {i.compress_type for i in zf.infolist() if i.filename.endswith("weight.npy")}
    assert kinds == {zipfile.ZIP_STORED}  # float weights: stored
    with zipfile.ZipFile(tmp_path / "i1.npz") as zf:
        kinds = {i.compress_type for i in zf.infolist() if i.filename.endswith("weight.npy")}
    assert kinds == {zipfile.ZIP_DEFLATED}  # integer weights: deflated


def test_unknown_schema_version(tmp_path):
    g = random_graph(0)
    save(g, tmp_path / "g")
    doc = json.loads((tmp_path / "g.json").read_text())
    doc["schema_version"] = 999
    (tmp_path / "g.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="schema_version"):
        load(tmp_path / "g")


def test_shapes_and_verify_errors():
    g = Graph()
    g.add(Input("x", shape=(3, 10, 10)))
    g.add(Conv2d("c", weight=np.zeros((4, 3, 3, 3)), stride=(2, 2), padding=(1, 1)), ["x"])
    g.add(Neurons("r"), ["c"])
    g.add(Output("o"), ["r"])
    assert g.verify()["c"] == (4, 5, 5)
    bad = Graph()
    bad.add(Input("x", shape=(3, 10, 10)))
    bad.add(Conv2d("c", weight=np.zeros((4, 2, 3, 3))), ["x"])
    bad.add(Output("o"), ["c"])
    with pytest.raises(GraphError, match="node c"):
        bad.verify()
    nan = Graph()
    nan.add(Input("x", shape=(4,)))
    nan.add(Linear("fc", weight=np.full((2, 4), np.nan)), ["x"])
    nan.add(Output("o"), ["fc"])
    with pytest.raises(GraphError, match=r"fc \(linear\): weight has 8 non-finite"):
        nan.verify()
    dangling = Graph()
    dangling.add(Input("x", shape=(4,)))
    dangling.add(Linear("fc", weight=np.ones((2, 4))), ["x"])
    dangling.add(Linear("unused", weight=np.ones((2, 4))), ["x"])
    dangling.add(Output("o"), ["fc"])
    with pytest.raises(GraphError, match="unused"):
        dangling.verify()
