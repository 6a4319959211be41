"""SynOps count what the target executes: one operation per non-zero of the emitting neuron's column in the
chain's composed integer matrix (``ir.cost.fanout``), not one per path through back-to-back linear ops.

References here are independent of ``ir.cost`` and ``ir.matrices``: the composed matrix is read off the
chain's float evaluation on one-hot inputs (``ir.chains.eval_chain`` of the integer weights), and the old
path count is the indicator propagation ``ir.cost`` used before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir import load
from neurocompile.ir.chains import chains, eval_chain
from neurocompile.ir.cost import fanout

GOLDEN = Path(__file__).parents[1] / "golden" / "v1"


def composed_nonzeros(graph) -> dict[str, np.ndarray]:
    """Per source neuron: non-zeros of its column of each chain's composed matrix, summed over chains."""
    shapes = graph.infer_shapes()
    out = {n.name: np.zeros(shapes[n.name]) for n in graph.topo() if n.spike_source}
    for ch in chains(graph):
        zeros = {s: torch.zeros((1, *shapes[s]), dtype=torch.float64) for s in ch.sources}
        base = eval_chain(graph, ch, zeros).reshape(1, -1)  # constant terms, if any
        for src in ch.sources:
            n = int(np.prod(shapes[src]))
            vals = {s: torch.zeros((n, *shapes[s]), dtype=torch.float64) for s in ch.sources}
            vals[src] = torch.eye(n, dtype=torch.float64).reshape(n, *shapes[src])
            cols = eval_chain(graph, ch, vals).reshape(n, -1) - base  # row j = column j of the matrix
            out[src] += (cols != 0).sum(1).numpy().reshape(shapes[src])
    return out


def path_counts(graph) -> dict[str, np.ndarray]:
    """The count before: synaptic paths through the chain's ops (0/1 indicators, differentiated)."""
    shapes = graph.infer_shapes()
    fan = {n.name: np.zeros(shapes[n.name]) for n in graph.topo() if n.spike_source}
    for ch in chains(graph):
        for src in ch.sources:
            vals = {s: torch.zeros((1, *shapes[s]), dtype=torch.float64) for s in ch.sources}
            x = torch.ones((1, *shapes[src]), dtype=torch.float64, requires_grad=True)
            vals[src] = x
            for op in ch.ops:
                vals[op.name] = op.indicator([vals[i] for i in graph.inputs(op.name)])
            last = graph.inputs(ch.target.name)[0]
            if last == src:
                fan[src] += 1.0
                continue
            (g,) = torch.autograd.grad(vals[last].sum(), x, allow_unused=True)
            if g is not None:
                fan[src] += g[0].numpy()
    return fan


def compiled(model: nn.Module, seed: int = 0):
    torch.manual_seed(seed)
    g = load_model(model.eval(), (1, 8, 8))
    x = np.random.default_rng(seed).random((64, 1, 8, 8)).astype(np.float32)
    return compile_graph(g, x, CompileOptions(method="rueckauer", weight_bits=6)), x


def back_to_back(k: int = 3) -> nn.Module:
    """conv -> relu -> conv -> conv -> relu (no ReLU between the two convs) -> pool -> linear."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, k, padding=k // 2),
                         nn.Conv2d(6, 5, k, padding=k // 2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(5 * 16, 10))


def _check_synops(ig, x, fan_ref):
    res = simulate(ig, x[:6], 12, record=True)
    want = np.zeros(6)
    for name, s in res.spikes.items():
        per = (s != 0).sum(0).reshape(6, -1).astype(np.float64)
        want += (per * fan_ref[name].reshape(1, -1)).sum(1)
    assert sum(int(s.sum()) for s in res.spikes.values()) > 0  # spikes happened
    assert np.array_equal(res.synops, want)
    return res


@pytest.mark.parametrize("k", [3, 1])
def test_back_to_back_convolutions_count_the_composed_matrix(k):
    ig, x = compiled(back_to_back(k))
    fan, ref, paths = fanout(ig), composed_nonzeros(ig), path_counts(ig)
    src = next(n.name for n in ig.topo() if n.spike_source and n.source == "1")  # the first ReLU
    for name in fan:
        assert np.array_equal(fan[name], ref[name]), name
    # the count is not the product of the two fan-outs: for 1x1 convs, 5 targets per spike instead of 6 x 5
    assert paths[src].sum() > fan[src].sum() > 0
    if k == 1:
        assert np.all(fan[src] == 5) and paths[src].max() == 30  # (some 6-bit weights round to 0)
    res = _check_synops(ig, x, ref)
    # negative control: the path count gives other SynOps on the same spikes
    per = (res.spikes[src] != 0).sum(0).reshape(6, -1).astype(np.float64)
    assert np.all((per * paths[src].reshape(1, -1)).sum(1) >= (per * fan[src].reshape(1, -1)).sum(1))
    assert np.any((per * paths[src].reshape(1, -1)).sum(1) > (per * fan[src].reshape(1, -1)).sum(1))


def without_back_to_back() -> list[nn.Module]:
    torch.manual_seed(2)
    return [
        # the README's CNN: conv -> relu -> avgpool -> flatten -> linear (pool and flatten before one weight op)
        nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 16, 10)),
        # max-pool gates, strided and dilated convs, two hidden layers
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 2, stride=1, dilation=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3)),
        nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=2, dilation=2,
                      groups=2), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(), nn.Linear(4, 5)),
    ]


@pytest.mark.parametrize("i", range(3))
def test_networks_without_back_to_back_linear_ops_keep_their_synops(i):
    """Where every neuron reaches each target neuron along one path, the new count is the old one."""
    ig, x = compiled(without_back_to_back()[i], seed=i)
    fan, ref, paths = fanout(ig), composed_nonzeros(ig), path_counts(ig)
    for name in fan:
        assert np.array_equal(fan[name], paths[name]), name
        assert np.array_equal(fan[name], ref[name]), name
    _check_synops(ig, x, paths)


def test_schema1_golden_graph_keeps_its_fanout():
    g = load(GOLDEN / "snn")
    fan, paths = fanout(g), path_counts(g)
    assert sum(float(v.sum()) for v in fan.values()) > 0
    for name in fan:
        assert np.array_equal(fan[name], paths[name]), name


def test_residual_identity_counts_the_summed_entry_once():
    """relu -> conv -> add(., relu) -> relu: the identity and the conv's centre tap land on the same target
    neuron and are one entry of the composed matrix (as Lava and the FPGA run it), not two operations."""

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Linear(64, 3)

        def forward(self, x):
            a = torch.relu(self.c1(x))
            return self.fc(torch.flatten(nn.functional.avg_pool2d(torch.relu(self.c2(a) + a), 2), 1))

    ig, x = compiled(Res(), seed=3)
    fan, ref, paths = fanout(ig), composed_nonzeros(ig), path_counts(ig)
    for name in fan:
        assert np.array_equal(fan[name], ref[name]), name
    src = next(n.name for n in ig.topo() if n.spike_source and n.module == "relu()")
    assert paths[src].sum() > fan[src].sum()
    _check_synops(ig, x, ref)
