"""The op registry: a new op defined here, through the registry alone (no other module edited), runs through
the float evaluator, the compile pipeline, intsim, the integer matrices and the partitioner; every
built-in op has the facets its roles need; duplicates are refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import OPS, Conv2d, Flatten, Graph, Input, Linear, Neurons, Node, Output, load, register_op, save
from neurocompile.ir.ann import run_ann
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices
from neurocompile.ir.ops.base import OpTable
from neurocompile.results import quantize_input


@dataclass(eq=False)
class Scale(Node):
    """Toy op: ``y = factor * x``, a synaptic op with an integer factor and no learned parameters."""

    factor: int = 2

    op: ClassVar[str] = "toy_scale"
    synaptic: ClassVar[bool] = True
    channel_unit: ClassVar[str] = "keep"  # a positive factor keeps a per-channel unit per channel

    def eval_float(self, ins, p, ctx):
        return self.factor * ins[0]

    def indicator(self, ins):
        return ins[0]  # one synapse per unit

    def int_forward(self, xs, bounds):
        return self.factor * xs[0], self.factor * bounds[0]

    def int_map(self, in_shape, out_shape, idx):
        return self.factor


@pytest.fixture()
def toy():
    cls = register_op(Scale)
    yield cls
    OPS.pop(cls.op)


def _float_graph(scale: bool, factor: int = 2) -> Graph:
    rng = np.random.default_rng(3)
    w1 = rng.normal(0, 0.5, (4, 1, 3, 3))
    w2 = rng.normal(0, 0.3, (3, 4 * 6 * 6))
    g = Graph("toy" if scale else "folded")
    g.add(Input("x", shape=(1, 8, 8)))
    g.add(Conv2d("conv", weight=w1 if scale else factor * w1, bias=np.full(4, 0.05 if scale else factor * 0.05)),
          ["x"])
    prev = "conv"
    if scale:
        g.add(Scale("scale", factor=factor), ["conv"])
        prev = "scale"
    g.add(Neurons("relu"), [prev])
    g.add(Flatten("flat"), ["relu"])
    g.add(Linear("fc", weight=w2), ["flat"])
    g.add(Output("out"), ["fc"])
    g.verify()
    return g


def _x(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 1, 8, 8)).astype(np.float32)


def test_toy_op_float_evaluator(toy):
    g = _float_graph(True)
    assert g.infer_shapes()["scale"] == (4, 6, 6)
    out, acts = run_ann(g, _x(), record=True, dtype=torch.float64)
    ref, _ = run_ann(_float_graph(False), _x(), dtype=torch.float64)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acts["scale"], 2 * acts["conv"])


def test_toy_op_through_compile_intsim_and_serialisation(toy, tmp_path):
    g = _float_graph(True)
    ig = compile_graph(g, _x(64, 1), CompileOptions(method="rueckauer", timesteps=16))
    assert ig.node("scale").op == "toy_scale"
    x = _x(8, 2)
    res = simulate(ig, x, 16, record=True)
    assert res.spike_counts["relu"].sum() > 0  # spikes happened
    save(ig, tmp_path / "snn")
    again = load(tmp_path / "snn")
    assert type(again.node("scale")) is Scale and again.node("scale").factor == 2
    np.testing.assert_array_equal(simulate(again, x, 16).readout, res.readout)


def _integer_graph(scale: bool, factor: int = 2) -> Graph:
    """A hand-made integer graph; without the toy op the factor is in the conv weights."""
    rng = np.random.default_rng(5)
    w1 = rng.integers(-7, 8, (4, 1, 3, 3))
    w2 = rng.integers(-7, 8, (3, 4 * 6 * 6))
    g = Graph("int")
    g.add(Input("x", shape=(1, 8, 8), scale=15.0, bits=5, signed=False))
    g.add(Conv2d("conv", weight=w1 if scale else factor * w1, weight_scale=1.0, weight_bits=8), ["x"])
    prev = "conv"
    if scale:
        g.add(Scale("scale", factor=factor), ["conv"])
        prev = "scale"
    g.add(Neurons("relu", threshold=np.array(150), state_bits=24), [prev])
    g.add(Flatten("flat"), ["relu"])
    g.add(Linear("fc", weight=w2, weight_scale=1.0, weight_bits=8), ["flat"])
    g.add(Output("out", scale=1.0), ["fc"])
    g.meta["synapse_delay"] = 1
    g.verify()
    return g


def test_toy_op_intsim_is_exact(toy):
    """intsim runs the toy op's integer step: the same spikes, bit for bit, as the factor folded into the
    weights; a different factor (negative control) changes them."""
    x = _x(6, 4)
    res = simulate(_integer_graph(True), x, 12, record=True)
    ref = simulate(_integer_graph(False), x, 12, record=True)
    assert res.spike_counts["relu"].sum() > 0
    assert np.array_equal(res.spikes["relu"], ref.spikes["relu"])
    assert np.array_equal(res.readout, ref.readout)
    other = simulate(_integer_graph(True, factor=3), x, 12, record=True)
    assert not np.array_equal(other.spikes["relu"], ref.spikes["relu"])


def test_toy_op_integer_matrices_and_partition(toy):
    """The chain matrices (Lava, FPGA tables) and the partitioner's connectivity take the op from its facets."""
    from neurocompile.partition import get_profile, partition, validate

    g, ref = _integer_graph(True), _integer_graph(False)
    for ch, ch_ref in zip(chains(g), chains(ref)):
        m, m_ref = chain_matrices(g, ch), chain_matrices(ref, ch_ref)
        assert m.keys() == m_ref.keys()
        for k in m:
            assert (m[k] != m_ref[k]).nnz == 0
    xi = quantize_input(g, _x(2, 4))
    assert xi.max() > 0
    p = partition(g, get_profile("loihi2"))
    validate(g, get_profile("loihi2"), p)
    np.testing.assert_array_equal(simulate(g, _x(4, 4), 8, placement=p).readout, simulate(g, _x(4, 4), 8).readout)


def test_register_refuses_a_second_op_of_the_same_name(toy):
    @dataclass(eq=False)
    class Other(Node):
        op: ClassVar[str] = "toy_scale"

    with pytest.raises(ValueError, match="already registered"):
        register_op(Other)
    with pytest.raises(ValueError, match="set the class attribute"):
        register_op(type("Nameless", (Node,), {}))


ROLE_FACETS = {
    "synaptic": ("infer_shape", "eval_float", "indicator", "int_forward", "int_map", "structure"),
    "chain_target": ("eval_float", "normalize_target", "quantize", "param_words"),
    "gate": ("gate_values", "gate_train", "window", "structure"),
}


def test_every_builtin_op_has_the_facets_its_roles_need():
    """A facet inherited unchanged from ``Node`` is the pass-through default; ops with weights or state must
    define their own."""
    assert {"input", "conv2d", "linear", "avgpool2d", "maxpool2d", "flatten", "add", "neurons", "encoder",
            "output"} <= set(OPS)
    for name, cls in OPS.items():
        for role, facets in ROLE_FACETS.items():
            if getattr(cls, role):
                for f in facets:
                    assert hasattr(cls, f), f"{name}: role {role} needs {f}"
        if cls.weighted:
            for f in ("int_forward", "int_map", "normalize", "quantize", "indicator", "macs"):
                assert getattr(cls, f) is not getattr(Node, f), f"{name}: weighted op keeps the default {f}"
        if cls.spike_source and not cls.gate:
            assert hasattr(cls, "spike_dtype") and hasattr(cls, "payload_bits"), name
        if cls.spike_source and cls.chain_target and not cls.block_coded:  # rate-coded populations
            for f in ("int_init", "int_drive", "int_step", "float_run", "q_caps"):
                assert hasattr(cls, f), f"{name}: population needs {f}"


def test_op_table_walks_the_mro_and_refuses_duplicates():
    table = OpTable("test")

    @table.register(Node)
    def generic(n):
        return "node"

    @table.register(Conv2d)
    def conv(n):
        return "conv"

    assert table.find(Conv2d) is conv and table.find(Linear) is generic
    assert table.find(Neurons("n")) is generic
    with pytest.raises(ValueError, match="already has an entry"):
        table.register(Conv2d)(generic)
    assert OpTable("empty").missing() == sorted(OPS) or set(OpTable("empty").missing()) == set(OPS)
