"""Seeded random float IR networks for tests (conv with stride/padding/dilation/groups, pooling,
residual add, linear). Weights are scaled so every layer is active."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Add, AvgPool2d, Conv2d, Flatten, Graph, Input, Linear, Neurons, Output


def random_graph(seed: int, size: int = 8, residual: bool | None = None) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph(f"rand{seed}")
    c, h = int(rng.integers(1, 3)), size
    g.add(Input("x", shape=(c, h, h)))
    prev, idx = "x", 0

    def conv(prev, cin, cout, k, stride, pad, dil=1, groups=1):
        nonlocal idx
        idx += 1
        w = rng.normal(size=(cout, cin // groups, k, k)) / np.sqrt(cin // groups * k * k) * 1.5
        b = rng.normal(size=cout) * 0.1 + 0.05
        g.add(Conv2d(f"conv{idx}", weight=w, bias=b, stride=(stride, stride), padding=(pad, pad),
                     dilation=(dil, dil), groups=groups), [prev])
        g.add(Neurons(f"relu{idx}"), [f"conv{idx}"])
        return f"relu{idx}"

    cout = int(rng.integers(2, 5))
    prev = conv(prev, c, cout, 3, 1, 1)
    c = cout
    if rng.random() < 0.5:  # strided / dilated conv
        cout = int(rng.integers(2, 5))
        prev = conv(prev, c, cout, 3, int(rng.integers(1, 3)), int(rng.integers(0, 2)) + 1, dil=int(rng.integers(1, 3)))
        c = cout
    if residual or (residual is None and rng.random() < 0.5):
        a = conv(prev, c, c, 3, 1, 1, groups=c if rng.random() < 0.5 else 1)  # depthwise sometimes
        idx_b = idx + 1
        w = rng.normal(size=(c, c, 1, 1)) * 0.5
        g.add(Conv2d(f"conv{idx_b}", weight=w, bias=None), [a])
        g.add(Add(f"add{idx_b}"), [f"conv{idx_b}", prev])
        g.add(Neurons(f"relu{idx_b}"), [f"add{idx_b}"])
        prev = f"relu{idx_b}"
        idx = idx_b
    shape = g.infer_shapes()[prev]
    if shape[1] >= 2 and shape[1] % 2 == 0:
        g.add(AvgPool2d("pool"), [prev])
        prev = "pool"
    g.add(Flatten("flat"), [prev])
    nf = g.infer_shapes()["flat"][0]
    hid = int(rng.integers(6, 16))
    g.add(Linear("fc1", weight=rng.normal(size=(hid, nf)) / np.sqrt(nf) * 2, bias=rng.normal(size=hid) * 0.1), ["flat"])
    g.add(Neurons("relu_fc1"), ["fc1"])
    g.add(Linear("fc2", weight=rng.normal(size=(5, hid)) / np.sqrt(hid), bias=rng.normal(size=5) * 0.1), ["relu_fc1"])
    g.add(Output("out"), ["fc2"])
    g.verify()
    return g


def random_inputs(graph: Graph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return rng.random((n, *graph.input.shape)).astype(np.float32)


def assert_same_graph(a: Graph, b: Graph) -> None:
    """Exact equality of structure, attributes, array dtypes and values, and meta."""
    assert [n.name for n in a.topo()] == [n.name for n in b.topo()]
    for n in a.topo():
        m = b.node(n.name)
        assert type(n) is type(m) and a.inputs(n.name) == b.inputs(n.name)
        assert n.attrs() == m.attrs()
        for k, v in n.arrays().items():
            w = m.arrays()[k]
            assert v.dtype == w.dtype and np.array_equal(v, w), (n.name, k)
    assert a.meta == b.meta
