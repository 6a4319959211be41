"""Every refusal and the per-layer report name the layer as the user wrote it: module path and type, then the
IR name in brackets (``layer features.4 (ReLU) [features_4]``; ``ir.names``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

import neurocompile as nc
from neurocompile.errors import ConversionError, PartitionError
from neurocompile.frontend import load_model
from neurocompile.ir import Graph, Input, Linear, Neurons, Output, load, save
from neurocompile.ir.names import describe, layer, user_name
from neurocompile.report import format_report


class Net(nn.Module):
    """conv -> relu -> conv -> conv -> relu: the two convs without a ReLU between compose into one matrix."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1),
                                      nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.fc = nn.Linear(5 * 16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4200, 8), nn.ReLU(), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _data(shape, n=32, classes=10):
    rng = np.random.default_rng(0)
    return rng.random((n, *shape)).astype(np.float32), rng.integers(0, classes, n)


def _net():
    torch.manual_seed(0)
    return Net()


def test_unsupported_op_names_module_path_and_type():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    model.add_module("head", nn.Sequential(nn.Flatten(), nn.Sigmoid()))
    with pytest.raises(ConversionError, match=r"^head\.1 \(torch\.nn\.Sigmoid, aten\.sigmoid\): unsupported op"):
        load_model(model.eval(), (1, 8, 8))


def test_layer_that_does_not_fit_a_core():
    with pytest.raises(PartitionError) as e:
        nc.compile(Wide(), method="rueckauer",
                        target="loihi1", calib=_data((4200,), 16, 3), dry_run=True, progress=False)
    assert re.match(r"layer act \(ReLU\): neuron fan-in \d+ > 4096 input axons per core on loihi1", str(e.value))


def test_composed_chain_note_names_the_layer():
    """Two convolutions in series compose beyond Lava's 8-bit weights: the build rounds that chain into one
    matrix and says so in the report's notes, naming the population it feeds as the user wrote it."""
    b = nc.compile(_net(), method="rueckauer", target="loihi2-sim", calib=_data((1, 8, 8)), progress=False)
    note = next(n for n in b.report["notes"] if "compose to weights of" in n)
    assert re.match(r"layer features\.4 \(ReLU\) \[features_4\]: its 2 synaptic ops compose to weights of \d+ bits; "
                    r"target loihi2-sim stores 8: run as one matrix per source rounded to multiples of 2\^k, k = \d+$",
                    note), note
    row = next(r for r in b.report["layers"] if r["kind"] == "composed")
    assert row["module"] == "features.3 (Conv2d)" and row["fused"] == ["features_2", "features_3"]


@pytest.mark.parametrize("opts, what", [
    ({"neuron": "buffered"}, "buffered / multi-bit neurons not supported by the fpga target"),
    ({"method": "stcsnn"}, "STCSNN encoder not supported by the fpga target"),
])
def test_fpga_refusals_name_the_relu_module(opts, what):
    with pytest.raises(ConversionError) as e:
        nc.compile(_net(), target="fpga", calib=_data((1, 8, 8)), progress=False, **{"method": "rueckauer", **opts})
    assert str(e.value).startswith(f"layer features.1 (ReLU) [features_1]: {what}"), str(e.value)


def test_report_and_names_of_a_functional_model(tmp_path):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x))

    class Top(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.fc = Block(), nn.Linear(4 * 16, 10)

        def forward(self, x):
            return self.fc(torch.flatten(nn.functional.avg_pool2d(self.block(x), 2), 1))

    b = nc.compile(Top(), method="rueckauer", target="intsim", calib=_data((1, 8, 8)), progress=False, timesteps=8)
    mods = {L["name"]: L["module"] for L in b.report["layers"]}
    assert mods == {"block_conv": "block.conv (Conv2d)", "block_relu": "block (Block, relu())", "fc": "fc (Linear)",
                    "output": "output"}
    assert "block.conv (Conv2d)" in format_report(b.report)
    # the names survive the IR files (ir/snn.json: attrs source and module)
    save(b.snn, tmp_path / "snn")
    assert [user_name(n) for n in load(tmp_path / "snn").topo()][1:3] == ["block.conv (Conv2d)", "block (Block, relu())"]


def test_nodes_without_a_source_keep_their_ir_name():
    g = Graph()
    g.add(Input("x", shape=(4,)))
    g.add(Linear("fc", weight=np.ones((2, 4))), ["x"])
    g.add(Neurons("pop"), ["fc"])
    g.add(Output("o"), ["pop"])
    assert layer(g.node("fc")) == "layer fc" and g.node("fc").label == "node fc (linear)"
    n = Neurons("features_4", source="features.4", module="ReLU")
    assert describe(n) == "features.4 (ReLU) [features_4]" and n.label == "layer features.4 (ReLU) [features_4]"
    old = Neurons("features_4", source="features.4")  # from a bundle written before `module` existed
    assert layer(old) == "layer features.4 [features_4]"
