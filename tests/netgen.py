"""Seeded random float IR networks for tests (conv with stride/padding/dilation/groups, pooling,
residual add, linear, optionally max pooling, padded / ceil-mode pools and channel concats). Weights are scaled so
every layer is active.
``torch_model`` turns such a graph into an ``nn.Module`` computing the same function (for front-end tests)."""

from __future__ import annotations

import numpy as np

from neurocompile.fixedpoint import pool_out
from neurocompile.ir import Add, AvgPool2d, Concat, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output


#: (kernel, stride) of the max pools random_graph inserts: disjoint, overlapping, rectangular windows
MAXPOOL_WINDOWS = [((2, 2), (2, 2)), ((2, 2), (1, 1)), ((3, 3), (2, 2)), ((2, 3), (1, 2))]
#: (kernel, stride, padding, ceil_mode) of the pools random_graph(padded=True) inserts: the ResNet stem's
#: (3, 2, 1), padded rectangular and overlapping windows, ceil-mode windows over the bottom / right edge
PADDED_WINDOWS = [((3, 3), (2, 2), (1, 1), False), ((2, 2), (2, 2), (1, 1), False), ((3, 2), (2, 1), (1, 1), True),
                  ((3, 3), (2, 2), (0, 0), True), ((2, 2), (3, 3), (1, 0), True)]


def random_graph(seed: int, size: int = 8, residual: bool | None = None, maxpool: bool = False,
                 input_pool: bool = False, padded: bool = False, concat: bool = False) -> Graph:
    """``maxpool``: a MaxPool2d after the first population's spikes and, for some seeds, one in place of
    the final average pool; ``input_pool``: a MaxPool2d directly on the Input; ``padded``: those pools
    (and the final average pool, kernel 3 stride 2 padding 1) are padded or in ceil mode; ``concat``: a
    channel concat block before the final pool (:data:`CONCAT_KINDS`, chosen by the seed)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"rand{seed}")
    c, h = int(rng.integers(1, 3)), size
    g.add(Input("x", shape=(c, h, h)))
    prev, idx = "x", 0
    mrng = np.random.default_rng(seed + 5000)  # separate stream: the rest of the network stays as without pools

    def maxpool_after(prev, name, least):
        shape = g.infer_shapes()[prev]
        windows = PADDED_WINDOWS if padded else [(k, st, (0, 0), False) for k, st in MAXPOOL_WINDOWS]
        fits = [w for w in windows if min(pool_out(n, k, st, p, w[3]) for n, k, st, p in
                                          zip(shape[1:], *w[:3])) >= least]
        if not fits:
            return prev
        k, st, pad, ceil = fits[int(mrng.integers(len(fits)))]
        g.add(MaxPool2d(name, kernel_size=k, stride=st, padding=pad, ceil_mode=ceil), [prev])
        return name

    if input_pool:
        prev = maxpool_after(prev, "xpool", 3)  # the strided conv below needs 3 x 3

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
    if maxpool:  # after the size-changing convs; with a residual block the gate also feeds the Add directly
        prev = maxpool_after(prev, "mpool1", 2)
    if residual or (residual is None and rng.random() < 0.5):
        a = conv(prev, c, c, 3, 1, 1, groups=c if rng.random() < 0.5 else 1)  # depthwise sometimes
        idx_b = idx + 1
        w = rng.normal(size=(c, c, 1, 1)) * 0.5
        g.add(Conv2d(f"conv{idx_b}", weight=w, bias=None), [a])
        g.add(Add(f"add{idx_b}"), [f"conv{idx_b}", prev])
        g.add(Neurons(f"relu{idx_b}"), [f"add{idx_b}"])
        prev = f"relu{idx_b}"
        idx = idx_b
    if concat:
        prev, c = concat_block(g, prev, c, CONCAT_KINDS[seed % len(CONCAT_KINDS)], np.random.default_rng(seed + 7000))
    shape = g.infer_shapes()[prev]
    if maxpool and shape[1] >= 2 and mrng.random() < 0.5 and prev != "cat":  # a gate reads spikes, not a concat
        if padded:
            g.add(MaxPool2d("pool", kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True), [prev])
        else:
            g.add(MaxPool2d("pool", kernel_size=(2, 2), stride=(2, 2) if shape[1] >= 4 else (1, 1)), [prev])
        prev = "pool"
    elif padded and shape[1] >= 2:
        g.add(AvgPool2d("pool", kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), [prev])
        prev = "pool"
    elif shape[1] >= 2 and shape[1] % 2 == 0:
        g.add(AvgPool2d("pool"), [prev])
        prev = "pool"
    _classifier(g, prev, rng)
    g.verify()
    return g


#: concat blocks: "fire" (a Fire module's expand layers: ReLUs side by side, all gains 1), "preact" (two
#: convs' outputs side by side into one population: they share the Concat's unit), "skip" (the block's input
#: spikes beside a conv of them into one population: an integer gain on the spikes)
CONCAT_KINDS = ("fire", "preact", "skip")


def concat_block(g: Graph, prev: str, c: int, kind: str, rng) -> tuple[str, int]:
    """Append a concat block of ``kind`` reading population ``prev`` (``c`` channels); returns its output
    population and channel count."""
    def conv(name, cin, cout, k):
        w = rng.normal(size=(cout, cin, k, k)) / np.sqrt(cin * k * k) * 1.5
        g.add(Conv2d(name, weight=w, bias=rng.normal(size=cout) * 0.1 + 0.05, padding=(k // 2, k // 2)), [prev])
        return name

    a, b = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if kind == "fire":
        g.add(Neurons("cat_r1"), [conv("cat_e1", c, a, 1)])
        g.add(Neurons("cat_r3"), [conv("cat_e3", c, b, 3)])
        g.add(Concat("cat", sizes=(a, b)), ["cat_r1", "cat_r3"])
        return "cat", a + b
    if kind == "preact":
        g.add(Concat("cat", sizes=(a, b)), [conv("cat_e1", c, a, 1), conv("cat_e3", c, b, 3)])
    else:
        g.add(Concat("cat", sizes=(c, b)), [prev, conv("cat_e3", c, b, 3)])
        a = c
    g.add(Neurons("cat_relu"), ["cat"])
    return "cat_relu", a + b


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


def torch_model(graph: Graph, pool_before_relu: bool = False):
    """An ``nn.Module`` (float32, eval mode) computing the float IR ``graph`` (as ``run_ann``), each node a
    child module of ``layers`` named after it. ``pool_before_relu``: a MaxPool2d that is the only reader of
    a ReLU is applied before that ReLU instead (conv -> maxpool -> relu, the same function: max is
    monotone), which the front end must commute back onto the spikes."""
    import torch
    from torch import nn

    mods, plan = nn.ModuleDict(), []
    for n in graph.topo():
        ins = graph.inputs(n.name)
        if isinstance(n, Conv2d):
            o, ipg, kh, kw = n.weight.shape
            m = nn.Conv2d(ipg * n.groups, o, (kh, kw), n.stride, n.padding, n.dilation, n.groups, n.bias is not None)
        elif isinstance(n, Linear):
            m = nn.Linear(n.weight.shape[1], n.weight.shape[0], n.bias is not None)
        elif isinstance(n, AvgPool2d):
            m = nn.AvgPool2d(n.kernel_size, n.stride, n.padding)
        elif isinstance(n, MaxPool2d):
            m = nn.MaxPool2d(n.kernel_size, n.stride, n.padding, ceil_mode=n.ceil_mode)
        elif isinstance(n, Neurons):
            m = nn.ReLU() if n.clip is None else nn.Hardtanh(0.0, float(n.clip))
        elif isinstance(n, Flatten):
            m = nn.Flatten()
        else:
            m = None
        if isinstance(n, (Conv2d, Linear)):
            with torch.no_grad():
                m.weight.copy_(torch.as_tensor(n.weight))
                if n.bias is not None:
                    m.bias.copy_(torch.as_tensor(n.bias))
        if m is not None:
            mods[n.name] = m
        plan.append((n.name, n.op, ins, getattr(n, "gains", None)))
    swap = set()
    if pool_before_relu:
        for n in graph.nodes_of(MaxPool2d):
            (src,) = graph.inputs(n.name)
            if isinstance(graph.node(src), Neurons) and graph.consumers(src) == [n.name]:
                swap.add(src)

    class FromGraph(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = mods

        def forward(self, x):
            vals = {}
            for name, op, ins, gains in plan:
                if op == "input":
                    vals[name] = x
                elif op == "output":
                    vals[name] = vals[ins[0]]
                elif op == "concat":
                    vals[name] = torch.cat([vals[i] if k == 1 else float(k) * vals[i]
                                            for k, i in zip(gains or (1,) * len(ins), ins)], 1)
                elif op == "add":
                    terms = [vals[i] if k == 1 else float(k) * vals[i] for k, i in zip(gains or (1,) * len(ins), ins)]
                    vals[name] = terms[0]
                    for term in terms[1:]:
                        vals[name] = vals[name] + term
                elif name in swap:  # the ReLU runs after the pool that reads it
                    vals[name] = vals[ins[0]]
                elif op == "maxpool2d" and ins[0] in swap:
                    vals[name] = self.layers[ins[0]](self.layers[name](vals[ins[0]]))  # relu(pool(pre))
                else:
                    vals[name] = self.layers[name](vals[ins[0]])
            return vals[plan[-1][0]]

    return FromGraph().float().eval()


def ensure_activity(ig: Graph, x: np.ndarray, timesteps: int, on_grid=None) -> None:
    """A random (low-bit) integer network can have a silent population; give such a population a positive
    bias of a quarter threshold per step (``on_grid(bias)`` rounds it onto a target's bias format) so every
    layer is exercised."""
    from neurocompile.backends.intsim import simulate

    for _ in range(4):
        counts = simulate(ig, x, timesteps).spike_counts
        silent = [k for k, c in counts.items() if c.sum() == 0 and not ig.node(k).gate]  # a gate follows its source
        if not silent:
            return
        for k in silent:
            n = ig.node(k)
            shape = ig.infer_shapes()[k]
            base = np.zeros(shape, np.int64) if n.bias is None else np.broadcast_to(n.bias, shape)
            bias = base + int(np.max(n.threshold)) // 4
            n.bias = on_grid(bias) if on_grid is not None else bias


def arch_graph(seed: int, size: int = 8) -> Graph:
    """A random network with the blocks of real architectures, each present in every seed: a padded or
    ceil-mode max pool on spikes (:data:`PADDED_WINDOWS`), MobileNetV2 inverted residuals (a linear 1x1
    projection starts a residual stream that stays linear over one or two adds, expand 1x1 - depthwise 3x3 -
    linear projection blocks), a pool->skip block (an average pool feeding both a conv branch and the add),
    a channel concat block (:data:`CONCAT_KINDS`, by the seed), a linear head. Linear ops with several
    consumers are copied by ``ir.rewrite.split_linear_fanout`` as the front end does, so the graph is ready
    for ``compile_graph``; ``torch_model`` of it computes the same function."""
    from neurocompile.ir.rewrite import split_linear_fanout

    rng = np.random.default_rng(seed + 9000)
    g = Graph(f"arch{seed}")
    c = int(rng.integers(1, 3))
    g.add(Input("x", shape=(c, size, size)))
    names = iter(range(1, 1000))

    def conv(prev, cin, cout, k, stride=1, pad=None, groups=1, relu=True, bias=True):
        i = next(names)
        w = rng.normal(size=(cout, cin // groups, k, k)) / np.sqrt(cin // groups * k * k) * 1.5
        b = rng.normal(size=cout) * 0.1 + 0.05 if bias else None
        p = k // 2 if pad is None else pad
        g.add(Conv2d(f"conv{i}", weight=w, bias=b, stride=(stride, stride), padding=(p, p), groups=groups), [prev])
        if not relu:
            return f"conv{i}"
        g.add(Neurons(f"relu{i}"), [f"conv{i}"])
        return f"relu{i}"

    def add(a, b):
        i = next(names)
        g.add(Add(f"add{i}"), [a, b])
        return f"add{i}"

    c1 = int(rng.integers(2, 5))
    prev = conv("x", c, c1, 3)
    h = size
    fits = [w for w in PADDED_WINDOWS if min(pool_out(h, k, st, p, w[3]) for k, st, p in zip(*w[:3])) >= 4]
    k, st, pad, ceil = fits[int(rng.integers(len(fits)))]
    g.add(MaxPool2d("mpool", kernel_size=k, stride=st, padding=pad, ceil_mode=ceil), [prev])
    prev = "mpool"

    c2 = int(rng.integers(2, 4))  # inverted residuals on a linear stream
    stream = conv(prev, c1, c2, 1, relu=False)
    for _ in range(int(rng.integers(1, 3))):
        hid = c2 * int(rng.integers(2, 4))
        e = conv(stream, c2, hid, 1)
        d = conv(e, hid, hid, 3, groups=hid)
        stream = add(conv(d, hid, c2, 1, relu=False, bias=False), stream)
    prev = conv(stream, c2, c2, 1)  # the head 1x1 conv: the stream's first non-linearity

    shape = g.infer_shapes()[prev]  # pool -> skip: an average pool feeding a conv branch and the add
    if shape[1] % 2 == 0 and rng.random() < 0.5:
        g.add(AvgPool2d("apool"), [prev])
    else:
        g.add(AvgPool2d("apool", kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)), [prev])
    skip = add(conv(conv("apool", c2, c2, 3), c2, c2, 1, relu=False), "apool")
    g.add(Neurons(f"relu{skip[3:]}"), [skip])
    prev, c = concat_block(g, f"relu{skip[3:]}", c2, CONCAT_KINDS[seed % len(CONCAT_KINDS)], rng)

    _classifier(g, prev, rng)
    split_linear_fanout(g)
    g.verify()
    return g


def _classifier(g: Graph, prev: str, rng) -> None:
    """The head every generated network ends with: flatten, a hidden ReLU layer, 5 outputs."""
    g.add(Flatten("flat"), [prev])
    nf = g.infer_shapes()["flat"][0]
    hid = int(rng.integers(6, 16))
    g.add(Linear("fc1", weight=rng.normal(size=(hid, nf)) / np.sqrt(nf) * 2, bias=rng.normal(size=hid) * 0.1), ["flat"])
    g.add(Neurons("relu_fc1"), ["fc1"])
    g.add(Linear("fc2", weight=rng.normal(size=(5, hid)) / np.sqrt(hid), bias=rng.normal(size=5) * 0.1), ["relu_fc1"])
    g.add(Output("out"), ["fc2"])
