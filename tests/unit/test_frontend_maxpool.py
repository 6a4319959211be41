"""Front end: nn.MaxPool2d / F.max_pool2d models (torch.export, batch 1, eval) -> MaxPool2d gates on spikes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netgen import random_graph, random_inputs, torch_model
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import ConversionError
from neurocompile.frontend import load_model
from neurocompile.ir import MaxPool2d, Neurons
from neurocompile.ir.ann import run_ann

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # torch export chatter


def bn(c: int, seed: int = 0, negative: bool = False) -> nn.BatchNorm2d:
    """A BatchNorm2d with non-trivial running statistics and positive (or one negative) scales."""
    g = torch.Generator().manual_seed(seed)
    m = nn.BatchNorm2d(c, eps=1e-3)
    with torch.no_grad():
        m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
        m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.05)
        m.weight.copy_(torch.rand(c, generator=g) * 1.5 + 0.25)
        m.bias.copy_(torch.rand(c, generator=g) - 0.5)
        if negative:
            m.weight[1] = -0.5
    return m


def assert_matches(graph, model, x, rtol=1e-5):
    got = run_ann(graph, x.numpy(), dtype=torch.float64)[0]
    with torch.no_grad():
        want = copy.deepcopy(model).double().eval()(x.double()).numpy()
    assert np.abs(want).max() > 1e-3
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-9)


class Functional(nn.Module):
    """conv -> F.max_pool2d(return_indices=True)[0] (indices unused) -> relu -> linear."""

    def __init__(self, use_indices: bool = False):
        super().__init__()
        self.conv, self.fc, self.use_indices = nn.Conv2d(1, 4, 3), nn.Linear(36, 3), use_indices

    def forward(self, x):
        y, idx = F.max_pool2d(self.conv(x), 2, return_indices=True)
        y = F.relu(y).flatten(1)
        return self.fc(y + idx.flatten(1).float() if self.use_indices else y)


class Residual(nn.Module):
    """x -> conv -> relu -> (conv + skip) -> maxpool -> relu: the pool reads an Add."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1), nn.Linear(27, 4)

    def forward(self, x):
        a = F.relu(self.c1(x))
        return self.fc(F.relu(F.max_pool2d(self.c2(a) + a, 2)).flatten(1))


MODELS = {  # name -> (model, input shape, MaxPool2d nodes expected)
    "relu-pool": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                        nn.Linear(36, 3)), (1, 8, 8), 1),
    "pool-relu": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                                        nn.Linear(36, 3)), (1, 8, 8), 1),
    "bn-pool-relu": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), bn(4), nn.MaxPool2d(2, 1), nn.ReLU(), nn.Flatten(),
                                           nn.Linear(100, 3)), (1, 8, 8), 1),
    "pool-bn-relu": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(3, 2), bn(4, 1), nn.ReLU(),
                                           nn.Flatten(), nn.Linear(36, 3)), (1, 9, 9), 1),
    "pool-pool-relu6": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), nn.MaxPool2d(2, 1),
                                              nn.ReLU6(), nn.Flatten(), nn.Linear(36, 3)), (1, 8, 8), 2),
    "input-pool": (lambda: nn.Sequential(nn.MaxPool2d((2, 3), (2, 1)), nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(4 * 2 * 4, 3)), (2, 8, 8), 1),
    "ceil-same-size": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
                                             nn.Flatten(), nn.Linear(36, 3)), (1, 8, 8), 1),
    "indices-unused": (lambda: Functional(), (1, 8, 8), 1),
    # padded / ceil-mode pools (PyTorch pads with -inf; the gate takes the max over the real elements)
    "stem": (lambda: nn.Sequential(nn.Conv2d(2, 6, 3, 2, 1, bias=False), bn(6, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                                   nn.Flatten(), nn.Linear(6 * 3 * 3, 3)), (2, 11, 11), 1),
    "stem-pool-before-relu": (lambda: nn.Sequential(nn.Conv2d(2, 6, 3, 2, 1, bias=False), bn(6, 3),
                                                    nn.MaxPool2d(3, 2, 1), nn.ReLU(), nn.Flatten(),
                                                    nn.Linear(6 * 3 * 3, 3)), (2, 11, 11), 1),
    "pool-bn-relu-padded": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d((3, 2), (2, 1), (1, 1)),
                                                  bn(4, 4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 7, 3)),
                            (1, 8, 8), 1),
    "ceil-larger": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(4, ceil_mode=True), nn.ReLU(),
                                          nn.Flatten(), nn.Linear(16, 3)), (1, 8, 8), 1),
    "ceil-padded": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                                          nn.Flatten(), nn.Linear(4 * 5 * 5, 3)), (1, 10, 10), 1),
    "input-pool-padded": (lambda: nn.Sequential(nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.Conv2d(2, 4, 3), nn.ReLU(),
                                                nn.Flatten(), nn.Linear(4 * 4 * 4, 3)), (2, 10, 10), 1),
    "residual": (lambda: Residual(), (2, 6, 6), 1),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_maxpool_models_convert(name):
    make, shape, pools = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    g = load_model(model, shape)
    gates = g.nodes_of(MaxPool2d)
    assert len(gates) == pools
    if "ceil" in name and name != "ceil-same-size":  # the ceil mode adds windows here
        assert any(p.ceil_mode for p in gates)
    for p in gates:  # every gate reads a spike source (verify checks it too)
        assert g.node(g.inputs(p.name)[0]).op in ("input", "neurons", "maxpool2d")
    assert not any(n.op == "batch_norm" for n in g.topo())
    assert_matches(g, model, torch.randn(16, *shape) * 2)


def test_commute_keeps_names_and_clip():
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Hardtanh(0.0, 0.75))
    model.head = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    g = load_model(model.eval(), (1, 8, 8))
    order = [(n.name, n.op) for n in g.topo()]
    assert order[1:4] == [("features_0", "conv2d"), ("features_2", "neurons"), ("features_1", "maxpool2d")]
    assert g.node("features_2").clip == 0.75 and g.node("features_1").source == "features.1"


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_with_padded_pools_before_relus(seed):
    """As below with padded and ceil-mode max pools and a padded average pool (netgen ``padded``)."""
    g = random_graph(seed, maxpool=True, input_pool=seed % 2 == 1, padded=True)
    assert any(p.padding != (0, 0) or p.ceil_mode for p in g.nodes_of(MaxPool2d))
    model = torch_model(g, pool_before_relu=True)
    fg = load_model(model, g.input.shape)
    # same padding and windows (a ceil mode that adds no window is stored as floor mode)
    assert [(p.padding, fg.infer_shapes()[p.name]) for p in fg.nodes_of(MaxPool2d)] == \
        [(p.padding, g.infer_shapes()[p.name]) for p in g.nodes_of(MaxPool2d)]
    assert_matches(fg, model, torch.as_tensor(random_inputs(g, 32, seed)))


def test_padded_avg_pool_and_refusals():
    """AvgPool2d(3, 2, 1) (count_include_pad=True) is a sum pool over the zero-padded input, the same function;
    count_include_pad=False with padding, and a ceil mode that adds windows, are refused with the reason."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(3, 2, 1), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    g = load_model(model.eval(), (1, 7, 7))
    (pool,) = [n for n in g.topo() if n.op == "avgpool2d"]
    assert pool.padding == (1, 1)
    assert_matches(g, model, torch.randn(16, 1, 7, 7))
    bad = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(3, 2, 1, count_include_pad=False), nn.Flatten(),
                        nn.Linear(4 * 3 * 3, 3))
    with pytest.raises(ConversionError, match=r"padding \(1, 1\) with count_include_pad=False divides each border"):
        load_model(bad.eval(), (1, 7, 7))
    ceil = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 3))
    with pytest.raises(ConversionError, match=r"ceil_mode=True changes the output size to \(3, 3\) \(floor mode: "
                                              r"\(2, 2\)\); PyTorch divides"):
        load_model(ceil.eval(), (1, 7, 7))


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_with_pools_before_relus(seed):
    """netgen networks exported as torch models with their max pools before the ReLUs (conv -> maxpool ->
    relu, residual adds, gates on gates and on the input): converted back onto spikes, same function."""
    g = random_graph(seed, maxpool=True, input_pool=seed % 2 == 1)
    model = torch_model(g, pool_before_relu=True)
    fg = load_model(model, g.input.shape)
    assert len(fg.nodes_of(MaxPool2d)) == len(g.nodes_of(MaxPool2d))
    assert len(fg.nodes_of(Neurons)) == len(g.nodes_of(Neurons))
    assert_matches(fg, model, torch.as_tensor(random_inputs(g, 32, seed)))


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3), nn.ReLU(), nn.Flatten(),
                           nn.Linear(2, 2)),
     r"layer 1 \(MaxPool2d\) \[maxpool2d_1\]: max pooling of 0 \(Conv2d\) \[conv2d_0\], which is not a spike source, "
     r"feeding 2 \(Conv2d\)"),
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(36, 2)), r"layer 3 \(MaxPool2d\) \[maxpool2d_3\]: .*not a spike source, feeding 4 \(Flatten\)"),
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), bn(4, negative=True), nn.ReLU(), nn.Flatten(),
                           nn.Linear(36, 2)), r"2 \(torch\.nn\.BatchNorm2d.*negative scale in channel 1"),
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2, dilation=2), nn.Flatten(),
                           nn.Linear(16, 2)), r"dilation \(2, 2\) is not supported"),
    (lambda: Functional(use_indices=True), r"indices of the max pool are used"),
])
def test_maxpool_errors_name_the_layer(make, match):
    with pytest.raises(ConversionError, match=match):
        load_model(make().eval(), (1, 8, 8))


def test_pool_read_by_two_layers_cannot_commute():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(36, 2)

        def forward(self, x):
            p = F.max_pool2d(self.conv(x), 2)
            return self.fc((F.relu(p) + p).flatten(1))

    with pytest.raises(ConversionError, match="feeding several layers"):
        load_model(Two().eval(), (1, 8, 8))


@pytest.mark.parametrize("seed", range(2))
def test_converted_snn_agrees_with_the_ann(seed):
    """A converted torch model with pools before ReLUs and a BN after a pool: the 8-bit integer SNN at
    T=200 (intsim) agrees with the ANN on most predictions."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.MaxPool2d(2), bn(6, seed), nn.ReLU(),
                          nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5)).eval()
    g = load_model(model, (1, 8, 8))
    rng = np.random.default_rng(seed)
    xc, x = rng.random((64, 1, 8, 8)).astype(np.float32), rng.random((100, 1, 8, 8)).astype(np.float32)
    ann, _ = run_ann(g, x)
    ig = compile_graph(g, xc, CompileOptions(method="rueckauer", weight_bits=8, v_init=0.5))
    res = simulate(ig, x, 200)
    assert all(c.sum() > 0 for c in res.spike_counts.values())
    assert (res.predictions == ann.argmax(1)).mean() >= 0.85
