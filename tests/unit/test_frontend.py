"""Front end: nn.Module / ExportedProgram / .pt2 -> float IR (load_model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurocompile.errors import ConversionError
from neurocompile.frontend import load_model
from neurocompile.ir import Add, AvgPool2d, Conv2d, Flatten, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.ir.names import describe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# ------------------------------------------------------------------------------------------------ helpers
def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters; return model.eval()."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.05)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=g) * 1.5 + 0.25)
                    m.bias.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


def ir_out(graph, x: torch.Tensor) -> np.ndarray:
    return run_ann(graph, x.numpy(), dtype=torch.float64)[0]


def torch_out(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Output of ``model`` in float64 (on a copy, so the float32 model is left alone)."""
    import copy

    with torch.no_grad():
        return copy.deepcopy(model).double().eval()(x.double()).numpy()


def assert_matches(graph, model, x):
    got, want = ir_out(graph, x), torch_out(model, x)
    assert got.shape == want.shape
    assert np.abs(want).max() > 1e-3  # non-trivial outputs
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def ops(graph) -> list[str]:
    return [n.op for n in graph.topo()]


class Residual(nn.Module):
    """``x + conv2(relu(conv1(x)))`` with BN folded into both convs."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c, eps=1e-3)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c, eps=0.1)

    def forward(self, x):
        return x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class ResNetish(nn.Module):
    def __init__(self, pool: str = "adaptive"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = Residual(8)
        self.pool = pool
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.block(self.stem(x)))
        if self.pool == "adaptive":
            x = torch.flatten(self.gap(x), 1)
        elif self.pool == "mean":
            x = x.mean((2, 3))
        elif self.pool == "mean_keepdim":
            x = x.mean((-1, -2), keepdim=True).view(x.size(0), -1)
        return self.fc(x)


def cnn() -> nn.Module:
    """Conv-BN-ReLU-AvgPool, depthwise (groups) / dilated / strided / padded convs, BN eps != 1e-5."""
    torch.manual_seed(0)
    return randomize_bn(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8, eps=1e-3), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8), nn.BatchNorm2d(8, eps=0.05), nn.ReLU(),
        nn.Conv2d(8, 16, (3, 1), stride=(2, 1), padding=(1, 0), bias=False), nn.BatchNorm2d(16, affine=False),
        nn.ReLU(inplace=True), nn.AvgPool2d((2, 1), stride=(1, 1)),
        nn.Conv2d(16, 12, 3, padding="same"), nn.BatchNorm2d(12, eps=2e-2, momentum=0.3), nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 2)), nn.Flatten(),
        nn.Linear(24, 20), nn.BatchNorm1d(20, eps=1e-4), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(20, 10),
    ), seed=1)


# ------------------------------------------------------------------------------------------------ equivalence
def test_bn_folding_matches_unfolded_model():
    model = cnn()
    graph = load_model(model, (3, 12, 12))
    assert ops(graph) == [
        "input", "conv2d", "neurons", "avgpool2d", "conv2d", "neurons", "conv2d", "neurons", "avgpool2d",
        "conv2d", "neurons", "avgpool2d", "flatten", "linear", "neurons", "linear", "output",
    ]
    assert graph.input.shape == (3, 12, 12)
    conv = graph.node("conv2d_4")
    assert (conv.groups, conv.dilation, conv.padding) == (8, (2, 2), (2, 2))
    assert graph.node("conv2d_7").stride == (2, 1) and graph.node("conv2d_11").padding == (1, 1)
    assert all(n.weight.dtype == np.float64 for n in graph.nodes_of(Conv2d) + graph.nodes_of(Linear))
    x = torch.randn(16, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    assert_matches(graph, model, x)


def test_bn_fold_uses_each_layers_own_eps():
    """A large eps on one BN and the default on another: folding with a shared eps would be off."""
    torch.manual_seed(3)
    model = randomize_bn(nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, eps=0.5), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3),
        nn.BatchNorm1d(3)))
    graph = load_model(model, (1, 6, 6))
    assert ops(graph) == ["input", "conv2d", "neurons", "flatten", "linear", "output"]
    bn, conv = model[1], model[0]
    scale = (bn.weight.double() / torch.sqrt(bn.running_var.double() + 0.5)).detach().numpy()
    np.testing.assert_allclose(graph.node("conv2d_0").weight, conv.weight.double().detach().numpy()
                               * scale[:, None, None, None], rtol=1e-12)
    assert_matches(graph, model, torch.randn(8, 1, 6, 6))


@pytest.mark.parametrize("pool", ["adaptive", "mean", "mean_keepdim"])
def test_residual_block_and_global_pooling(pool):
    torch.manual_seed(4)
    model = randomize_bn(ResNetish(pool))
    graph = load_model(model, (2, 8, 8))
    adds = graph.nodes_of(Add)
    assert len(adds) == 1 and len(graph.inputs(adds[0].name)) == 2 and adds[0].gains is None
    assert graph.inputs(adds[0].name)[0] == "stem_2"  # the skip reads the stem's ReLU
    pools = graph.nodes_of(AvgPool2d)
    assert len(pools) == 1 and pools[0].kernel_size == (4, 4) and pools[0].stride == (4, 4)
    assert len(graph.nodes_of(Flatten)) == 1 and len(graph.nodes_of(Conv2d)) == 3
    assert_matches(graph, model, torch.randn(8, 2, 8, 8))


def test_adaptive_pool_divisible_and_x_plus_x():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d((2, 3))
            self.fc = nn.Linear(18, 4)

        def forward(self, x):
            y = F.relu(self.conv(x))
            return self.fc(self.pool(y + y).flatten(1))

    model = M().eval()
    graph = load_model(model, (1, 6, 9))
    pool = graph.nodes_of(AvgPool2d)[0]
    assert pool.kernel_size == (3, 3) and pool.stride == (3, 3)
    add = graph.nodes_of(Add)[0]
    assert len(graph.inputs(add.name)) == 1 and add.gains == (2.0,)
    assert_matches(graph, model, torch.randn(4, 1, 6, 9))


def test_mlp_and_matmul_with_constant():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 5))
            self.fc = nn.Linear(5, 3, bias=False)

        def forward(self, x):
            return self.fc(torch.relu(x @ self.w))

    model = M().eval()
    graph = load_model(model, (6,))
    assert ops(graph) == ["input", "linear", "neurons", "linear", "output"]
    assert [n.name for n in graph.topo()] == ["input", "matmul", "relu", "fc", "output"]
    assert graph.node("matmul").bias is None and graph.node("matmul").weight.shape == (5, 6)
    assert_matches(graph, model, torch.randn(7, 6))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_decomposed_program_addmm_convolution():
    """A program after run_decompositions (convolution, addmm + permute, _native_batch_norm_legit...)."""
    model = cnn()
    ep = torch.export.export(model, (torch.zeros(1, 3, 12, 12),)).run_decompositions()
    targets = {str(n.target) for n in ep.graph.nodes}
    assert "aten.addmm.default" in targets and "aten.convolution.default" in targets
    graph = load_model(ep)
    assert ops(graph) == ops(load_model(model, (3, 12, 12)))
    assert_matches(graph, model, torch.randn(4, 3, 12, 12))


# ------------------------------------------------------------------------------------------------ sources
def test_pt2_round_trip(tmp_path):
    model = cnn()
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 12, 12),)), str(path))
    graph = load_model(path)
    assert graph.name == "net" and graph.input.shape == (3, 12, 12)
    assert_matches(graph, model, torch.randn(4, 3, 12, 12))
    assert ops(load_model(str(path), (3, 12, 12), name="x")) == ops(graph)
    with pytest.raises(ConversionError, match=r"input_shape \(1, 12, 12\) does not match"):
        load_model(path, (1, 12, 12))


def test_names_and_sources_follow_module_paths():
    torch.manual_seed(5)
    model = randomize_bn(ResNetish("adaptive"))
    graph = load_model(model, (2, 8, 8), name="resnetish")
    names = [n.name for n in graph.topo()]
    assert graph.name == "resnetish" and len(set(names)) == len(names)
    assert names == ["input", "stem_0", "stem_2", "block_conv1", "block_relu", "block_conv2", "block_add", "relu",
                     "gap", "flatten", "fc", "output"]
    src = {n.name: n.source for n in graph.topo()}
    assert src["stem_0"] == "stem.0" and src["block_conv1"] == "block.conv1" and src["block_add"] == "block"
    assert src["relu"] == "" and src["flatten"] == ""  # functional calls in the root's forward
    mod = {n.name: n.module for n in graph.topo()}
    assert mod["stem_0"] == "Conv2d" and mod["stem_2"] == "ReLU" and mod["gap"] == "AdaptiveAvgPool2d"
    assert mod["block_add"] == "Residual, add()" and mod["relu"] == "relu()" and mod["flatten"] == "flatten()"
    assert describe(graph.node("stem_0")) == "stem.0 (Conv2d) [stem_0]" and describe(graph.node("fc")) == "fc (Linear)"
    assert describe(graph.node("block_add")) == "block (Residual, add()) [block_add]"
    assert describe(graph.node("relu")) == "relu() [relu]"
    assert len(graph.nodes_of(Input)) == 1 and len(graph.nodes_of(Output)) == 1
    assert isinstance(graph.node("stem_2"), Neurons) and graph.node("stem_2").threshold is None


def test_dropout_is_removed_and_training_flag_restored():
    torch.manual_seed(6)
    layers = [nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout2d(0.5), nn.Identity(), nn.Flatten(), nn.Dropout(0.5),
              nn.Linear(16, 3)]
    with_dropout = nn.Sequential(*layers).train()
    without = nn.Sequential(*[m for m in layers if not isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity))])
    g1, g2 = load_model(with_dropout, (1, 4, 4)), load_model(without, (1, 4, 4))
    assert with_dropout.training  # load_model exports in eval mode, then restores the flag
    assert ops(g1) == ops(g2) == ["input", "conv2d", "neurons", "flatten", "linear", "output"]
    x = torch.randn(5, 1, 4, 4)
    np.testing.assert_allclose(ir_out(g1, x), torch_out(with_dropout, x), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------------ errors
def _head(layer: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), layer, nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


@pytest.mark.parametrize("layer, op, mtype", [
    (nn.Sigmoid(), "aten.sigmoid", "torch.nn.Sigmoid"),
    (nn.Tanh(), "aten.tanh", "torch.nn.Tanh"),
    (nn.GELU(), "aten.gelu", "torch.nn.GELU"),
    (nn.Hardtanh(-1.0, 1.0), "aten.hardtanh", "torch.nn.Hardtanh"),
])
def test_unsupported_activation_raises(layer, op, mtype):
    with pytest.raises(ConversionError) as e:
        load_model(_head(layer), (1, 6, 6))
    msg = str(e.value)
    assert f"1 ({mtype}, {op}): " in msg and "supported: conv2d" in msg


def test_softmax_inside_the_network_raises():
    """A softmax is dropped only as the last op (tests/unit/test_fanout.py); inside it is refused, saying why."""
    with pytest.raises(ConversionError, match=r"^1 \(torch\.nn\.Softmax, aten\.softmax\): softmax whose result is "
                                              r"used by .*dropped only as the model's last op"):
        load_model(_head(nn.Softmax(1)), (1, 6, 6))


def test_clipped_relu_becomes_clipped_neurons():
    """ReLU6 / clamp(0, lam) (how a QReLU-trained model exports) -> Neurons(clip=lam), same outputs."""
    class Clamp(nn.Module):
        def forward(self, x):
            return x.clamp(0.0, 0.75)

    for layer, lam in ((nn.ReLU6(), 6.0), (Clamp(), 0.75)):
        model = _head(layer).eval()
        g = load_model(model, (1, 6, 6))
        (n,) = [n for n in g.topo() if isinstance(n, Neurons)]
        assert n.clip == lam
        x = torch.randn(8, 1, 6, 6) * 4
        out, _ = run_ann(g, x.numpy(), dtype=torch.float64)
        np.testing.assert_allclose(out, model.double()(x.double()).detach().numpy(), rtol=1e-9, atol=1e-9)


def test_unsupported_op_raises_with_module_path():
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.GELU())
    model.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    with pytest.raises(ConversionError, match=r"features\.2 \(torch\.nn\.GELU, aten\.gelu\): unsupported op"):
        load_model(model, (1, 6, 6))


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch export chatter
def test_lstm_raises():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 3, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0]  # (1, F) is an unbatched sequence of length 1

    with pytest.raises(ConversionError, match=r"rnn \(torch\.nn\.LSTM, aten\.\w+\): unsupported op"):
        load_model(M(), (4,))


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch export chatter
@pytest.mark.parametrize("forward, match", [
    (lambda m, x: m.conv(x) + 1.0, r"<root> \(.*aten\.add\): add with a scalar"),
    (lambda m, x: m.conv(x) + torch.ones(4, 1, 1), r"aten\.add\): add with a scalar or a constant tensor"),
    (lambda m, x: F.avg_pool2d(m.conv(x), 2, padding=1, count_include_pad=False).flatten(1),
     r"padding \(1, 1\) with count_include_pad=False"),
    (lambda m, x: F.avg_pool2d(m.conv(x), 2, divisor_override=3).flatten(1), r"divisor_override=3"),
    (lambda m, x: F.adaptive_avg_pool2d(m.conv(x), 4).flatten(1), r"output size \(4, 4\) does not divide"),
    (lambda m, x: m.conv(x).view(1, 4, 36), r"reshape of per-sample shape \(4, 6, 6\) to \(4, 36\)"),
    (lambda m, x: m.conv(x).mean(1), r"mean over dims \[1\]"),
    (lambda m, x: F.conv2d(x, m.conv.weight[:, :, :2], padding="same"), r"asymmetric"),
    (lambda m, x: F.conv_transpose2d(x, m.conv.weight.transpose(0, 1)), r"aten\.conv_transpose2d\): unsupported op"),
    (lambda m, x: m.conv(x) * 2, r"aten\.mul\): unsupported op"),
    (lambda m, x: (m.conv(x).flatten(1), x), r"returns 2 values"),
])
def test_unsupported_functional_code_raises(forward, match):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x):
            return forward(self, x)

    with pytest.raises(ConversionError, match=match):
        load_model(M(), (1, 6, 6))


def test_bn_that_cannot_be_folded_becomes_a_weight_op():
    """A BatchNorm on the input becomes a 1x1 depthwise conv; one behind an average pool on a conv moves in
    front of the pool and folds; one on a conv output that is also used elsewhere folds into its own copy of
    the conv (tests/unit/test_fanout.py has the larger cases)."""
    first = nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3), nn.Flatten())
    after_pool = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(3), nn.BatchNorm2d(2), nn.Flatten())

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.conv(x)
            return (self.bn(y) + y).flatten(1)

    for m, shape, want in ((first, (1, 5, 5), ["input", "conv2d", "conv2d", "flatten", "output"]),
                           (after_pool, (1, 5, 5), ["input", "conv2d", "avgpool2d", "flatten", "output"]),
                           (Shared(), (2, 4, 4), ["input", "conv2d", "conv2d", "add", "flatten", "output"])):
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-1, 1)
                bn.running_var.uniform_(0.5, 2)
                bn.weight.data.uniform_(-1.5, 1.5)
                bn.bias.data.uniform_(-1, 1)
        m.eval()
        g = load_model(m, shape)
        assert ops(g) == want
        x = torch.randn(5, *shape)
        np.testing.assert_allclose(ir_out(g, x), torch_out(m, x), rtol=1e-9, atol=1e-9)


def test_training_mode_program_raises():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten()).train()
    ep = torch.export.export(model, (torch.zeros(1, 1, 5, 5),))
    with pytest.raises(ConversionError, match=r"^1 \(torch\.nn\.BatchNorm2d.*training mode"):
        load_model(ep)


@pytest.mark.parametrize("where, fill, desc", [
    ("weight", float("nan"), "parameter features.0.weight: 3 non-finite values"),
    ("var", float("inf"), "buffer features.1.running_var: 1 non-finite values"),
])
def test_non_finite_parameter_raises(where, fill, desc):
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    model.head = nn.Sequential(nn.Flatten(), nn.Linear(18, 2))
    with torch.no_grad():
        if where == "weight":
            model.features[0].weight.view(-1)[:3] = fill
        else:
            model.features[1].running_var[1] = fill
    with pytest.raises(ConversionError, match=desc):
        load_model(model, (1, 5, 5))


def test_bad_inputs_raise(tmp_path):
    missing = tmp_path / "missing.pt2"
    with pytest.raises(ConversionError, match=f"{missing}: file not found"):
        load_model(missing)
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(ConversionError, match=f"{garbage}: this is neither a .pt2 archive nor a file written by torch.save"):
        load_model(str(garbage))
    with pytest.raises(ConversionError, match="input_shape is required"):
        load_model(nn.Linear(3, 2))
    with pytest.raises(ConversionError, match=r"input_shape \(3, 2\): expected \(C, H, W\) or \(F,\)"):
        load_model(nn.Linear(3, 2), (3, 2))
    with pytest.raises(ConversionError, match="batch dimension must be 1"):
        load_model(torch.export.export(nn.Linear(3, 2), (torch.zeros(4, 3),)))
    with pytest.raises(ConversionError, match="expected an nn.Module"):
        load_model(42)


# ------------------------------------------------------------------------------------------------ examples
@pytest.mark.parametrize("stem, dataset", [("digits_cnn", "digits"), ("fashion_cnn", "fashion-mnist")])
def test_example_checkpoint(stem, dataset):
    path = EXAMPLES / f"{stem}.pt2"
    if not path.exists():
        pytest.skip(f"{path} not trained yet")
    from neurocompile.datasets import load

    graph = load_model(path)
    x, _ = load(dataset, "test")
    x = torch.as_tensor(x[:64])
    module = torch.export.load(str(path)).module()
    with torch.no_grad():
        want = torch.cat([module(x[i : i + 1]) for i in range(len(x))]).numpy()
    got = run_ann(graph, x.numpy(), dtype=torch.float64)[0]
    assert np.array_equal(got.argmax(1), want.argmax(1))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
