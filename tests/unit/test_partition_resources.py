"""Brute-force check of the partitioner's resource model (``partition.connectivity`` / ``partition.resources``).

The reference is built here, independently of the package: for every (placed layer, source) pair the chain
between them is evaluated with torch on a batch of one-hot source images, every weight replaced by its
*indicator* (1 where the integer weight is non-zero), average pools as sum pools and Add gains as
indicators. With non-negative indicator weights nothing cancels, so entry (t, s) of the result is the number
of structural paths from source unit s to target unit t (> 0 exactly when they are connected). A MaxPool2d
gate's reference is its window membership. From that matrix come the fan-in set of a box, its unit and pixel
counts, the per-source-unit synapse counts, the overlaps with source boxes, input axons, synapse words and
output axons, which must all equal what the package computes.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from netgen import random_graph, random_inputs
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import (Add, AvgPool2d, Conv2d, Encoder, Flatten, Graph, Input, Linear, MaxPool2d, Neurons,
                             Output)
from neurocompile.partition import ResourceModel, get_profile, profile_from_dict
from neurocompile.partition.connectivity import ConvConn, MatrixConn, build_conns, placed_layers
from neurocompile.partition.resources import output_axons

SOURCE_T = (Input, Neurons, MaxPool2d, Encoder)
PLACED_T = (Neurons, Encoder, MaxPool2d, Output)


# ------------------------------------------------------------------------------------------------ graphs
def _hand_overlap() -> Graph:
    """Overlapping sum pool (3x3, stride 2) before a strided dilated conv, in one chain (paths > pairs)."""
    rng = np.random.default_rng(11)
    g = Graph("hand_overlap")
    g.add(Input("x", shape=(2, 11, 11)))
    g.add(Conv2d("c1", weight=rng.normal(size=(3, 2, 3, 3)), bias=np.full(3, 0.1), padding=(1, 1)), ["x"])
    g.add(Neurons("r1"), ["c1"])
    g.add(AvgPool2d("p1", kernel_size=(3, 3), stride=(2, 2)), ["r1"])  # 5 x 5, windows overlap
    g.add(Conv2d("c2", weight=rng.normal(size=(4, 3, 3, 3)), bias=np.full(4, 0.1), padding=(2, 1),
                 dilation=(2, 1)), ["p1"])
    g.add(Neurons("r2"), ["c2"])
    g.add(Flatten("f"), ["r2"])
    g.add(Linear("l", weight=rng.normal(size=(5, 4 * 5 * 5)) * 0.2), ["f"])
    g.add(Output("out"), ["l"])
    return g


def _hand_twopath() -> Graph:
    """One source reaching the target by two paths (conv, and 1x1 conv + overlapping pool): a matrix conn
    over feature maps; the second conv is grouped."""
    rng = np.random.default_rng(12)
    g = Graph("hand_twopath")
    g.add(Input("x", shape=(2, 9, 9)))
    g.add(Conv2d("c1", weight=rng.normal(size=(4, 2, 3, 3)), bias=np.full(4, 0.1), padding=(1, 1)), ["x"])
    g.add(Neurons("r1"), ["c1"])
    g.add(AvgPool2d("p1", kernel_size=(3, 3), stride=(2, 2)), ["r1"])
    g.add(Conv2d("c2", weight=rng.normal(size=(4, 2, 3, 3)), bias=np.full(4, 0.1), padding=(1, 1), groups=2),
          ["p1"])
    g.add(Conv2d("c3", weight=rng.normal(size=(4, 4, 1, 1)), bias=None), ["r1"])
    g.add(AvgPool2d("p3", kernel_size=(3, 3), stride=(2, 2)), ["c3"])
    g.add(Add("a"), ["c2", "p3"])
    g.add(Neurons("r2"), ["a"])
    g.add(Flatten("f"), ["r2"])
    g.add(Linear("l", weight=rng.normal(size=(5, 64)) * 0.2), ["f"])
    g.add(Output("out"), ["l"])
    return g


#: name -> (float graph factory, compile options); features in the comment
GRAPHS = {
    "s2-dil-add": (lambda: random_graph(2, residual=True), {}),  # strided + dilated conv, residual Add
    "grp-maxpool": (lambda: random_graph(4, maxpool=True), {}),  # depthwise conv, disjoint max pools
    "pad2-grp-overlapmax": (lambda: random_graph(11, maxpool=True), {"weight_bits": 3}),  # many zero weights
    "maxpool3-inputpool": (lambda: random_graph(7, maxpool=True, input_pool=True), {}),  # 3x3/2 gate, gate on input
    "dil-avg-add": (lambda: random_graph(14, residual=True), {"weight_bits": 3}),
    "rect-gate": (lambda: random_graph(5, maxpool=True), {}),  # (2, 3) / (1, 2) gate windows
    "pad2-avg": (lambda: random_graph(0, residual=False), {}),
    "hand-overlap": (_hand_overlap, {}),
    "hand-twopath": (_hand_twopath, {}),
}
OVERLAPPING = {"hand-overlap", "hand-twopath"}  # sum pools with overlapping windows inside a chain


@functools.lru_cache(maxsize=None)
def compiled(name: str) -> Graph:
    if name == "gain0":  # the residual graph with the skip input's gain set to 0: no connection at all
        g = compiled("s2-dil-add").copy()
        add = g.nodes_of(Add)[0]
        add.gains = (int(add.gains[0]) if add.gains else 1, 0)
        return g
    make, opts = GRAPHS[name]
    g = make()
    return compile_graph(g, random_inputs(g, 16, 3), CompileOptions(timesteps=8, **{"method": "rueckauer", **opts}))


ALL = list(GRAPHS) + ["gain0"]


# ----------------------------------------------------------------------------------------- the reference
def ref_sources(g: Graph, target: str) -> set[str]:
    """Spike sources whose chain ends in ``target`` (walk back through the synaptic ops)."""
    if isinstance(g.node(target), MaxPool2d):
        return {g.inputs(target)[0]}
    out, stack = set(), list(g.inputs(target))
    while stack:
        name = stack.pop()
        if isinstance(g.node(name), SOURCE_T):
            out.add(name)
        else:
            stack.extend(g.inputs(name))
    return out


def _sum_pool(v: torch.Tensor, k, s) -> torch.Tensor:
    c = v.shape[1]
    return F.conv2d(v, torch.ones((c, 1, *k), dtype=v.dtype), stride=tuple(s), groups=c)


@functools.lru_cache(maxsize=None)
def ref_paths(gname: str, target: str, source: str) -> np.ndarray:
    """(target units, source units) matrix of structural path counts from ``source`` to ``target``."""
    g = compiled(gname)
    shapes = g.infer_shapes()
    n_src = math.prod(shapes[source])
    eye = torch.eye(n_src, dtype=torch.float32).reshape(n_src, *shapes[source])
    node = g.node(target)

    if isinstance(node, MaxPool2d):
        out = _sum_pool(eye, node.kernel_size, node.stride)
    else:
        memo: dict[str, torch.Tensor | None] = {}

        def val(name: str) -> torch.Tensor | None:
            if name == source:
                return eye
            if name in memo:
                return memo[name]
            n = g.node(name)
            if isinstance(n, SOURCE_T):
                return None
            ins = [val(i) for i in g.inputs(name)]
            if isinstance(n, Add):
                gains = n.gains or (1,) * len(ins)
                terms = [float(gk != 0) * v for gk, v in zip(gains, ins) if v is not None]
                r = sum(terms[1:], terms[0]) if terms else None
            elif ins[0] is None:
                r = None
            elif isinstance(n, Conv2d):
                w = torch.as_tensor(np.asarray(n.weight) != 0, dtype=torch.float32)
                r = F.conv2d(ins[0], w, None, n.stride, n.padding, n.dilation, n.groups)
            elif isinstance(n, AvgPool2d):
                r = _sum_pool(ins[0], n.kernel_size, n.stride)
            elif isinstance(n, Linear):
                r = ins[0] @ torch.as_tensor(np.asarray(n.weight) != 0, dtype=torch.float32).T
            elif isinstance(n, Flatten):
                r = ins[0].reshape(ins[0].shape[0], -1)
            else:
                raise AssertionError(f"unexpected op {n.op}")
            memo[name] = r
            return r

        out = val(g.inputs(target)[0])
        if out is None:
            out = torch.zeros((n_src, *shapes[target]), dtype=torch.float32)
    assert tuple(out.shape[1:]) == tuple(shapes[target])
    m = out.reshape(n_src, -1).T.numpy()
    assert np.all(m == np.round(m)) and np.all(m >= 0)
    return m.astype(np.int64)


def rows_of(shape, box) -> np.ndarray:
    return np.arange(math.prod(shape)).reshape(shape)[tuple(slice(lo, hi) for lo, hi in box)].ravel()


def ref_fanin(gname, target, source, box) -> np.ndarray:
    g = compiled(gname)
    shapes = g.infer_shapes()
    p = ref_paths(gname, target, source)[rows_of(shapes[target], box)]
    return (p > 0).any(0).reshape(shapes[source])


def ref_pair_counts(gname, target, source, box) -> tuple[np.ndarray, np.ndarray]:
    """Per source unit: (number of target units of ``box`` it is connected to, number of paths to them)."""
    shapes = compiled(gname).infer_shapes()
    p = ref_paths(gname, target, source)[rows_of(shapes[target], box)]
    return (p > 0).sum(0), p.sum(0)


def assert_mask_equal(got: np.ndarray, ref: np.ndarray, what: str = "") -> None:
    """Exact comparison of two boolean unit masks, naming the first differing unit."""
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    diff = np.argwhere(got.astype(bool) != ref.astype(bool))
    assert diff.size == 0, f"{what}: {len(diff)} units differ, first {tuple(diff[0])}"


def random_box(rng, shape) -> tuple:
    out = []
    for n in shape:
        lo = int(rng.integers(0, n))
        out.append((lo, int(rng.integers(lo + 1, n + 1))))
    return tuple(out)


def boxes_for(rng, shape, k: int) -> list[tuple]:
    full = tuple((0, n) for n in shape)
    unit = tuple((n // 2, n // 2 + 1) for n in shape)
    corner = tuple((0, 1) for _ in shape)
    return [full, unit, corner] + [random_box(rng, shape) for _ in range(k)]


def random_split(rng, shape) -> list[tuple]:
    """Boxes of a random grid split of ``shape`` (each unit in exactly one box)."""
    axes = []
    for n in shape:
        cuts = sorted(set(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 3))), replace=False)
                          .tolist())) if n > 1 else []
        edges = [0] + cuts + [n]
        axes.append(list(zip(edges[:-1], edges[1:])))
    boxes = [()]
    for a in axes:
        boxes = [b + (r,) for b in boxes for r in a]
    return boxes


# ------------------------------------------------------------------------------------- negative controls
def test_negative_control_mask_comparison_detects_one_flipped_unit():
    g = compiled("s2-dil-add")
    layer = placed_layers(g)[1]
    conn = build_conns(g)[layer][0]
    box = tuple((0, n) for n in g.infer_shapes()[layer])
    ref = ref_fanin("s2-dil-add", layer, conn.source, (box[0], (1, 3), (2, 5)))
    assert ref.any() and not ref.all()  # a partial fan-in, so a flip either way is meaningful
    assert_mask_equal(conn.fanin_mask((box[0], (1, 3), (2, 5))), ref, layer)
    for idx in (tuple(np.argwhere(ref)[0]), tuple(np.argwhere(~ref)[0])):
        bad = ref.copy()
        bad[idx] = ~bad[idx]
        with pytest.raises(AssertionError, match="1 units differ"):
            assert_mask_equal(bad, ref, layer)


def test_negative_control_reference_sees_structural_zeros():
    """Zeroing every weight from one input channel removes that channel from the reference fan-in (and
    from the package's): the reference is built from the weights, not from shapes."""
    g = compiled("pad2-avg").copy()
    conv = g.nodes_of(Conv2d)[0]
    conv.weight[:, 0] = 0
    shapes = g.infer_shapes()
    target = placed_layers(g)[0]
    src = g.inputs(conv.name)[0]
    n_src = math.prod(shapes[src])
    eye = torch.eye(n_src, dtype=torch.float32).reshape(n_src, *shapes[src])
    w = torch.as_tensor(conv.weight != 0, dtype=torch.float32)
    p = F.conv2d(eye, w, None, conv.stride, conv.padding, conv.dilation, conv.groups).reshape(n_src, -1).T
    ref = (p.numpy() > 0).any(0).reshape(shapes[src])
    assert not ref[0].any() and ref[1:].any()
    got = build_conns(g)[target][0].fanin_mask(tuple((0, n) for n in shapes[target]))
    assert_mask_equal(got, ref, target)
    orig = ref_fanin("pad2-avg", target, src, tuple((0, n) for n in shapes[target]))
    with pytest.raises(AssertionError):
        assert_mask_equal(got, orig, target)


# ------------------------------------------------------------------------------------------ connectivity
@pytest.mark.parametrize("gname", ALL)
def test_connectivity_matches_brute_force(gname):
    g = compiled(gname)
    shapes = g.infer_shapes()
    conns = build_conns(g)
    layers = [n.name for n in g.topo() if isinstance(n, PLACED_T)]
    assert placed_layers(g) == layers
    assert set(conns) == set(layers)
    rng = np.random.default_rng(sum(map(ord, gname)))
    kinds = set()
    for layer in layers:
        assert {c.source for c in conns[layer]} == ref_sources(g, layer), layer
        assert len(conns[layer]) == len(ref_sources(g, layer))
        for conn in conns[layer]:
            kinds.add(type(conn))
            src_shape = shapes[conn.source]
            assert conn.src_shape == tuple(src_shape) and conn.dst_shape == tuple(shapes[layer])
            if isinstance(g.node(layer), MaxPool2d):
                assert conn.weight_bits == 0
            for box in boxes_for(rng, shapes[layer], 6):
                what = f"{gname}: {layer} <- {conn.source} box {box}"
                ref = ref_fanin(gname, layer, conn.source, box)
                got = conn.fanin_mask(box)
                assert got.dtype == bool
                assert_mask_equal(got, ref, what)
                q = conn.query(box)
                assert q.units == int(ref.sum()), what
                if isinstance(conn, ConvConn):
                    assert q.pixels == int(ref.any(0).sum()), what
                else:
                    assert q.pixels == q.units, what
                pairs, paths = ref_pair_counts(gname, layer, conn.source, box)
                got_syn = np.sort(np.repeat(q.unit_syn, q.unit_mult))
                assert len(got_syn) == q.units and np.all(got_syn > 0), what
                ref_pairs = np.sort(pairs[pairs > 0])
                if gname in OVERLAPPING and isinstance(conn, ConvConn):
                    # documented: one synapse per (source unit, composite tap, target unit), an upper bound
                    assert got_syn.sum() >= ref_pairs.sum(), what
                    # per unit, synapses >= connected pairs, so also sorted element-wise; and for a sum pool
                    # before a conv the composite taps are exactly the structural paths
                    assert np.all(got_syn >= ref_pairs), what
                    assert np.array_equal(got_syn, np.sort(paths[paths > 0])), what
                else:
                    assert np.array_equal(got_syn, ref_pairs), what
                    assert np.array_equal(paths, pairs) or isinstance(conn, MatrixConn), what
    assert ConvConn in kinds and MatrixConn in kinds


def test_overlapping_pool_chain_really_has_more_paths_than_pairs():
    """Guard for the upper-bound branch above: the hand-made overlapping chain is a ConvConn whose path
    count exceeds its pair count somewhere (else the >= check would be vacuous)."""
    g = compiled("hand-overlap")
    conn = build_conns(g)["r2"][0]
    assert isinstance(conn, ConvConn)
    full = tuple((0, n) for n in g.infer_shapes()["r2"])
    pairs, paths = ref_pair_counts("hand-overlap", "r2", "r1", full)
    assert np.any(paths > pairs)
    assert conn.query(full).unit_syn.astype(np.int64) @ conn.query(full).unit_mult > int(pairs.sum())


@pytest.mark.parametrize("way", ["direct", "per-source-box", "range-grid"])
@pytest.mark.parametrize("gname", ["s2-dil-add", "grp-maxpool", "pad2-grp-overlapmax", "maxpool3-inputpool",
                                   "hand-overlap", "hand-twopath", "gain0"])
def test_overlap_against_brute_force(gname, way, monkeypatch):
    """Each way ConvConn computes overlaps, forced in turn: directly per pattern group and source box, or
    grouped per (box, channel mask) pair, per source box or through the grid of their row and column ranges;
    and the one-box counter (``Conn.counter``) against the same boxes."""
    from neurocompile.partition import connectivity

    direct = way == "direct"
    monkeypatch.setattr(connectivity, "DIRECT_SOURCES", 10**9 if direct else 0)
    monkeypatch.setattr(connectivity, "DIRECT_MAX", 10**12 if direct else 0)
    monkeypatch.setattr(connectivity, "GRID_FACTOR", 10**9 if way == "range-grid" else 0)
    g = compiled(gname)
    shapes = g.infer_shapes()
    conns = build_conns(g)
    rng = np.random.default_rng(7 + len(gname))
    for layer, cs in conns.items():
        for conn in cs:
            src_shape = shapes[conn.source]
            src_boxes = np.array([random_box(rng, src_shape) for _ in range(12)] +
                                 [tuple((0, n) for n in src_shape)], dtype=np.int64)
            boxes = boxes_for(rng, shapes[layer], 3)
            modes = (False, True) if isinstance(conn, ConvConn) else (False,)
            for pixel in modes:
                ref = np.zeros((len(boxes), len(src_boxes)), np.int64)
                for i, box in enumerate(boxes):
                    mask = ref_fanin(gname, layer, conn.source, box)
                    for j, sb in enumerate(src_boxes):
                        part = mask[tuple(slice(lo, hi) for lo, hi in sb)]
                        ref[i, j] = part.any(0).sum() if pixel else part.sum()
                    got = conn.overlap(box, src_boxes, pixel)
                    assert np.array_equal(got, ref[i]), (gname, layer, conn.source, box, pixel)
                assert np.array_equal(conn.overlap_matrix(boxes, src_boxes, pixel), ref), (gname, layer, pixel)
                assert np.array_equal(conn.overlap_many(boxes, src_boxes, pixel), ref.sum(0)), (gname, layer)
                count = conn.counter(boxes, pixel)  # one source box at a time
                assert [count(tuple(map(tuple, sb))) for sb in src_boxes] == ref.sum(0).tolist(), (gname, layer)


@pytest.mark.parametrize("gname", ["s2-dil-add", "grp-maxpool", "hand-overlap", "gain0"])
def test_unit_overlap_of_channel_slices_of_the_same_tiles(gname):
    """Slices that share their rows and columns and differ in channels (a tile cut by channels): their pattern
    groups reach the same source pixels and are summed per class of equal rows and columns before the
    product with the channels (``ConvConn._reach``); the result against the brute-force fan-in."""
    g = compiled(gname)
    shapes = g.infer_shapes()
    rng = np.random.default_rng(11)
    merged = 0
    for layer, cs in build_conns(g).items():
        for conn in cs:
            if not isinstance(conn, ConvConn):
                continue
            c, h, w = shapes[layer]
            cuts = sorted({0, c, *rng.integers(1, max(2, c), 2).tolist()})
            tiles = [((0, h), (0, w)), ((h // 2, h), (0, max(1, w // 2)))]
            boxes = [((a, b), *t) for t in tiles for a, b in zip(cuts, cuts[1:]) if a < b]
            src_shape = shapes[conn.source]
            src_boxes = np.array([random_box(rng, src_shape) for _ in range(10)] + [tuple((0, n) for n in src_shape)],
                                 dtype=np.int64)
            ref = np.zeros(len(src_boxes), np.int64)
            for box in boxes:
                mask = ref_fanin(gname, layer, conn.source, box)
                ref += [mask[tuple(slice(lo, hi) for lo, hi in sb)].sum() for sb in src_boxes]
            assert np.array_equal(conn.overlap_many(boxes, src_boxes), ref), (gname, layer)
            merged += len(boxes) > len(tiles)
    assert merged  # some tile was cut in channels


def test_same_rows_classes_and_a_hash_collision():
    """``connectivity._same_rows``: the classes of equal rows (as numpy's row-wise unique), and two different
    rows with the same hash make every row its own class (negative control of the comparison)."""
    from neurocompile.partition.connectivity import _row_hash_weights, _same_rows

    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, size=(200, 4))
    first, cls = _same_rows(a)
    _, ref_first, ref_cls = np.unique(a, axis=0, return_index=True, return_inverse=True)
    assert len(first) == len(ref_first) < len(a)
    assert np.array_equal(a[first][cls], a)
    ref_cls = ref_cls.reshape(-1)
    assert np.array_equal(cls[:, None] == cls[None, :], ref_cls[:, None] == ref_cls[None, :])  # the same partition
    w = _row_hash_weights(3)
    b = np.zeros((3, 3), np.int64)
    b[1, 0], b[1, 1] = w[1], -w[0]  # w[1] * w[0] - w[0] * w[1] = 0: the hash of row 0
    b[2] = b[1]
    assert (b @ w)[0] == (b @ w)[1]
    first, cls = _same_rows(b)
    assert cls.tolist() == [0, 1, 2] and first.tolist() == [0, 1, 2]


# ------------------------------------------------------------------------------------------- resources
L1_FLAT = profile_from_dict({"base": "loihi1", "name": "l1-flat",
                             "synapses": {"conv_sharing": "none", "pixel_axons": False}})
FPGA = get_profile("fpga-generic")
LOIHI1 = get_profile("loihi1")
LOIHI2 = get_profile("loihi2")


def _ref_weight_bits(g: Graph, layer: str) -> int:
    if isinstance(g.node(layer), MaxPool2d):
        return 0
    seen, stack, bits = set(), list(g.inputs(layer)), []
    while stack:
        name = stack.pop()
        n = g.node(name)
        if name in seen or isinstance(n, SOURCE_T):
            continue
        seen.add(name)
        if isinstance(n, (Conv2d, Linear)) and n.weight_bits:
            bits.append(int(n.weight_bits))
        stack.extend(g.inputs(name))
    return max(bits) if bits else int(g.meta["options"]["weight_bits"])


def _ref_words(counts: np.ndarray, wbits: int, prof) -> int:
    """Synapse words of one list per source unit (no sharing), from the profile's published encoding; with
    ``groups`` packing the connection's lists share one format, of the group size (<= group_size) that
    needs the fewest words."""
    s = prof.synapses
    idx = s.index_bits if s.index_bits is not None else math.ceil(math.log2(max(2, prof.core.neurons)))
    entry = wbits + idx + s.delay_bits + s.tag_bits
    if s.packing == "lanes":
        return sum(math.ceil(n / (s.word_bits // entry)) for n in counts[counts > 0].tolist())

    def grouped(g):
        total = 0
        for n in counts[counts > 0].tolist():
            full, rem = divmod(n, g)
            total += full * math.ceil((g * entry + s.group_overhead_bits) / s.word_bits)
            total += math.ceil((rem * entry + s.group_overhead_bits) / s.word_bits) if rem else 0
        return total
    return min(grouped(g) for g in range(1, s.group_size + 1))


def test_reference_word_packing_by_hand():
    """The reference packing itself, by hand: fpga-generic has 8 + 10 = 18-bit entries, two per 36-bit word;
    loihi1 entries are 8 + 10 = 18 bits in groups of 64 with 10 overhead bits per group in 64-bit words."""
    assert _ref_words(np.array([1, 2, 3, 0]), 8, FPGA) == 1 + 1 + 2
    assert _ref_words(np.array([1]), 8, L1_FLAT) == 1  # 18 + 10 bits
    assert _ref_words(np.array([3]), 8, L1_FLAT) == 1  # 54 + 10 = 64 bits
    assert _ref_words(np.array([4]), 8, L1_FLAT) == 2  # 82 bits
    assert _ref_words(np.array([64]), 8, L1_FLAT) == math.ceil((64 * 18 + 10) / 64)  # 19 words, one group
    assert _ref_words(np.array([65]), 8, L1_FLAT) == 19  # groups of 35 and 30: 640 bits (10 words) + 550 (9)
    assert _ref_words(np.array([65, 1]), 8, L1_FLAT) == 20  # groups of 35: the single entry takes a word
    # 21-bit entries (loihi2, 8-bit weights): 30 fill 10 words exactly; 120 entries in groups of 30 take 40
    # words, in groups of 64 (22 + 19 words) 41
    assert _ref_words(np.array([120]), 8, LOIHI2) == 40


@pytest.mark.parametrize("gname", ["s2-dil-add", "pad2-grp-overlapmax", "maxpool3-inputpool", "dil-avg-add",
                                   "rect-gate", "hand-twopath"])
def test_slice_resources_against_brute_force(gname):
    """neurons, input axons (units; pixels for conv-like connections on a pixel-axon profile), synapse words
    (one list per source unit, no sharing), populations, for random boxes on three profiles."""
    g = compiled(gname)
    shapes = g.infer_shapes()
    rng = np.random.default_rng(3 + len(gname))
    for prof in (FPGA, L1_FLAT, LOIHI1):
        model = ResourceModel(g, prof)
        for layer in model.layers:
            srcs = sorted(ref_sources(g, layer))
            wbits = _ref_weight_bits(g, layer)
            for box in boxes_for(rng, shapes[layer], 3):
                res = model.slice_resources(layer, box)
                assert res["neurons"] == math.prod(hi - lo for lo, hi in box)
                assert res["populations"] == 1 and res["output_axons"] == 0
                axons = words = 0
                for src in srcs:
                    mask = ref_fanin(gname, layer, src, box)
                    conv_like = any(isinstance(c, ConvConn) for c in model.conns[layer] if c.source == src)
                    axons += int(mask.any(0).sum()) if (prof.synapses.pixel_axons and conv_like) else int(mask.sum())
                    if wbits:
                        words += _ref_words(ref_pair_counts(gname, layer, src, box)[0], wbits, prof)
                assert res["input_axons"] == axons, (prof.name, layer, box)
                if prof.synapses.conv_sharing == "none" and gname not in OVERLAPPING:
                    assert res["synapse_words"] == words, (prof.name, layer, box)


@pytest.mark.parametrize("gname", ["s2-dil-add", "grp-maxpool", "maxpool3-inputpool", "hand-twopath"])
def test_output_axons_against_brute_force(gname):
    """Per source slice: for every consumer slice, one axon per connected source unit (per source pixel on
    a pixel-axon profile for conv-like connections); network-input units are not counted."""
    g = compiled(gname)
    shapes = g.infer_shapes()
    rng = np.random.default_rng(5 + len(gname))
    for prof in (FPGA, LOIHI1):
        model = ResourceModel(g, prof)
        for _ in range(2):
            split = {layer: random_split(rng, shapes[layer]) for layer in model.layers}
            for layer in model.layers:
                got, _ = output_axons(model, layer, split[layer], split)
                ref = np.zeros(len(split[layer]), np.int64)
                for dst in model.layers:
                    if layer not in ref_sources(g, dst):
                        continue
                    conn = next(c for c in model.conns[dst] if c.source == layer)
                    pixel = prof.synapses.pixel_axons and isinstance(conn, ConvConn)
                    for d in split[dst]:
                        mask = ref_fanin(gname, dst, layer, d)
                        for k, b in enumerate(split[layer]):
                            part = mask[tuple(slice(lo, hi) for lo, hi in b)]
                            ref[k] += part.any(0).sum() if pixel else part.sum()
                assert np.array_equal(got, ref), (gname, prof.name, layer)


@settings(max_examples=60, deadline=None)
@given(entry=st.integers(1, 40), overhead=st.integers(0, 40), word=st.sampled_from([16, 32, 36, 64]),
       group=st.integers(1, 80), data=st.data())
def test_lower_list_words_no_cut_of_a_list_beats_it(entry, overhead, word, group, data):
    """The lower-bound synapse words of a list (used by ``place.lower_bound``) are at most what the list
    costs however it is cut into pieces (each piece a list of its own, in groups of at most ``group_size``)
    and at least the list's cost without any per-group rounding; the bound is reached by lists of the best
    group size."""
    from neurocompile.targets.profiles import SynapseEncoding
    from neurocompile.partition.resources import group_rate, list_words

    enc = SynapseEncoding(word_bits=word, packing="groups", group_size=group, group_overhead_bits=overhead)
    n = data.draw(st.integers(1, 400))
    cuts = sorted(data.draw(st.lists(st.integers(1, n - 1), max_size=5, unique=True))) if n > 1 else []
    pieces = np.diff([0] + cuts + [n])
    lower = list_words(np.array([n]), entry, enc, lower=True)
    assert lower <= sum(list_words(np.array([p]), entry, enc) for p in pieces)  # a format per piece
    assert lower <= list_words(np.array([n]), entry, enc)
    assert lower * word * group >= n * entry * group + n * overhead  # n entries, n / group groups at least
    w, m = group_rate(entry, enc)
    assert list_words(np.array([m] * 3), entry, enc) == list_words(np.array([3 * m]), entry, enc, lower=True)
    assert list_words(np.array([3 * m]), entry, enc) == list_words(np.array([3 * m]), entry, enc, lower=True)


@settings(max_examples=60, deadline=None)
@given(entry=st.integers(1, 40), overhead=st.integers(0, 40), word=st.sampled_from([16, 32, 36, 64]),
       group=st.integers(1, 80), lengths=st.lists(st.integers(0, 300), min_size=1, max_size=6),
       mult=st.lists(st.integers(1, 5), min_size=6, max_size=6))
def test_list_words_chooses_the_best_group_size_of_one_format(entry, overhead, word, group, lengths, mult):
    """A connection's lists share one synapse format: list_words is the cost of the best group size
    g <= group_size for all of them together (brute force over g, lists cut greedily into groups of g), never
    more than groups of ``group_size``, never less than the lower bound."""
    from neurocompile.targets.profiles import SynapseEncoding
    from neurocompile.partition.resources import list_words

    enc = SynapseEncoding(word_bits=word, packing="groups", group_size=group, group_overhead_bits=overhead)
    n, k = np.array(lengths), np.array(mult[:len(lengths)])

    def greedy(g):
        return sum(int(c) * sum(-(-(min(g, int(L) - i) * entry + overhead) // word) for i in range(0, int(L), g))
                   for L, c in zip(n, k))
    got = list_words(n, entry, enc, mult=k)
    assert got == min(greedy(g) for g in range(1, group + 1))
    assert got <= greedy(group)
    assert got >= list_words(n, entry, enc, lower=True, mult=k)
