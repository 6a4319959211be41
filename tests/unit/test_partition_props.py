"""Property tests of ``partition``: random networks, random per-core budgets on the three built-in bases.

Every placement returned must pass ``validate``, keep every core within every limit (as recorded), tile
every placed layer exactly once, and use between ``lower_bound`` and the naive placement's core count (sized
here, ``bounds.naive_boxes``);
every refusal must be a ``PartitionError`` naming a layer (or the network), a resource and the numbers.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from netgen import random_graph, random_inputs
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import PartitionError
from neurocompile.ir import AvgPool2d, Conv2d, Encoder, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output
from neurocompile.partition import ResourceModel, lower_bound, partition, profile_from_dict, validate
from neurocompile.partition.bounds import naive_cores
from neurocompile.partition.pack import assign_chips
from neurocompile.partition.placement import Placement
from neurocompile.partition.resources import RESOURCE_TEXT, RESOURCES, consumers

PLACED_T = (Neurons, Encoder, MaxPool2d, Output)
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

NUM = r"(\d[\d,]*)"
ERR_HEAD = re.compile(r"^(?:layer (?P<layer>[^\s:\[]+)(?:\[slice \d+\])?|network (?P<net>\S+)): ")
SINGLE = re.compile(r"^layer (?P<layer>[^\s:]+): "
                    r"(?P<noun>neuron fan-in|neuron fan-out|one neuron's synapses|one neuron) "
                    rf"{NUM} > {NUM} (?P<res>.+?) per core on (?P<prof>\S+); no split can fix this")
TEXT_TO_RES = {v: k for k, v in RESOURCE_TEXT.items()}


# ------------------------------------------------------------------------------------------ networks
@functools.lru_cache(maxsize=None)
def netgen_graph(key: tuple) -> Graph:
    seed, size, kw = key[0], key[1], dict(key[2])
    g = random_graph(seed, size=size, **kw)
    return compile_graph(g, random_inputs(g, 16, seed), CompileOptions(method="rueckauer", timesteps=8))


NETGEN = [(1, 8, ()), (2, 8, (("residual", True),)), (4, 6, (("maxpool", True),)), (11, 8, (("maxpool", True),)),
          (6, 6, (("residual", True), ("maxpool", True)))]
#: found by a search over this module's generators (1 of 5,257 placeable random cases): the split's packings
#: need 18 cores, the naive placement 17 chunks, so ``partition``'s guard packs those (16 cores)
COUNTEREXAMPLE = (NETGEN[1], "loihi1", {"neurons": 223, "input_axons": 341, "output_axons": 564, "synapse_words": 36})


def _dense(rng, shape) -> np.ndarray:
    """Weights of magnitude 0.5..1 and random sign: none quantises to 0 (every synapse is structural)."""
    return rng.uniform(0.5, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def conv_net(c: int, h: int, cout: int, k: int, stride: int, pad: int, pool: bool, hid: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph(f"conv_c{c}h{h}o{cout}k{k}s{stride}p{pad}")
    g.add(Input("x", shape=(c, h, h)))
    g.add(Conv2d("conv1", weight=_dense(rng, (cout, c, k, k)) / (c * k * k), bias=np.full(cout, 0.05),
                 stride=(stride, stride), padding=(pad, pad)), ["x"])
    g.add(Neurons("relu1"), ["conv1"])
    prev = "relu1"
    if pool and g.infer_shapes()[prev][1] >= 2:
        g.add(AvgPool2d("pool"), [prev])
        prev = "pool"
    g.add(Flatten("flat"), [prev])
    nf = g.infer_shapes()["flat"][0]
    g.add(Linear("fc1", weight=_dense(rng, (hid, nf)) / nf * 2, bias=np.full(hid, 0.05)), ["flat"])
    g.add(Neurons("relu_fc1"), ["fc1"])
    g.add(Linear("fc2", weight=_dense(rng, (3, hid)) / hid), ["relu_fc1"])
    g.add(Output("out"), ["fc2"])
    return g


def linear_net(f: int, hid: int, nout: int, seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph(f"lin_{f}_{hid}_{nout}")
    g.add(Input("x", shape=(f,)))
    g.add(Linear("fc1", weight=_dense(rng, (hid, f)) / f * 2, bias=np.full(hid, 0.05)), ["x"])
    g.add(Neurons("relu1"), ["fc1"])
    g.add(Linear("fc2", weight=_dense(rng, (nout, hid)) / hid), ["relu1"])
    g.add(Output("out"), ["fc2"])
    return g


@functools.lru_cache(maxsize=64)
def compiled(g_key: tuple) -> Graph:
    kind, args = g_key
    g = conv_net(*args) if kind == "conv" else linear_net(*args)
    x = np.random.default_rng(1).random((16, *g.input.shape)).astype(np.float32)
    ig = compile_graph(g, x, CompileOptions(method="rueckauer", timesteps=8))
    for n in ig.topo():  # the construction promise: no weight quantised to zero
        if isinstance(n, (Conv2d, Linear)):
            assert np.all(n.weight != 0), n.name
    return ig


# ------------------------------------------------------------------------------------------- profiles
def make_profile(base: str, core: dict, chip: dict | None = None, name: str = "prop"):
    return profile_from_dict({"base": base, "name": name, "core": core,
                              "chip": {"max_chips": None, **(chip or {})}})


budgets = st.fixed_dictionaries({
    "neurons": st.integers(4, 256),
    "input_axons": st.one_of(st.none(), st.integers(4, 600)),
    "output_axons": st.one_of(st.none(), st.integers(4, 1200)),
    "synapse_words": st.one_of(st.none(), st.integers(8, 4000)),
})
bases = st.sampled_from(["loihi1", "loihi2", "fpga-generic"])


# --------------------------------------------------------------------------------------------- checks
def check_placement(g: Graph, prof, pl, naive: bool = True) -> None:
    """Every property of a placement ``partition`` returns (``naive``: never above the naive placement,
    which a single packing without ``partition``'s guard does not promise)."""
    validate(g, prof, pl)
    limits = prof.limits
    assert pl.limits == limits
    usage = pl.core_usage()
    assert len(usage) == pl.n_cores >= 1
    for c, used in enumerate(usage):
        for r in RESOURCES:
            assert limits[r] is None or used[r] <= limits[r], (c, r, used[r], limits[r])
    for core in pl.to_json()["cores"]:
        assert core["slices"], f"core {core['core']} is empty"
        for r, u in core["utilisation"].items():
            assert u["fraction"] is None or u["fraction"] <= 1.0, (core["core"], r)
    shapes = g.infer_shapes()
    layers = [n.name for n in g.topo() if isinstance(n, PLACED_T)]
    cover = {name: np.zeros(shapes[name], dtype=np.int64) for name in layers}
    for s in pl.slices:
        assert s.layer in cover, s.layer
        assert 0 <= s.core < pl.n_cores
        assert len(s.box) == len(shapes[s.layer])
        assert all(0 <= lo < hi <= n for (lo, hi), n in zip(s.box, shapes[s.layer]))
        cover[s.layer][tuple(slice(lo, hi) for lo, hi in s.box)] += 1
        assert s.resources["neurons"] == math.prod(hi - lo for lo, hi in s.box)
    for name, c in cover.items():
        assert np.all(c == 1), f"layer {name} is not tiled exactly once"
    assert pl.n_cores >= pl.lower_bound["cores"]
    if naive:
        assert_not_above_naive(g, prof, pl)
    units = sum(math.prod(shapes[name]) for name in layers)
    assert pl.n_cores >= math.ceil(units / prof.core.neurons)  # the bound every placement obeys
    if prof.core.populations is not None:
        assert pl.n_cores >= math.ceil(len(layers) / prof.core.populations)
    cpc = prof.chip.cores_per_chip
    assert pl.n_chips == math.ceil(pl.n_cores / cpc)
    assert max(np.bincount(pl.chip_of_core)) <= cpc


def assert_not_above_naive(g: Graph, prof, pl) -> None:
    """The naive placement of ``g`` on ``prof`` (``bounds.naive_boxes``) needs at least ``pl.n_cores`` cores,
    or does not fit."""
    naive, _ = naive_cores(ResourceModel(g, prof), limit=pl.n_cores - 1)
    assert naive is None, f"{pl.n_cores} cores ({pl.strategy}) > {naive} of the naive placement"


def check_error(g: Graph, prof, err: PartitionError, in_hypothesis: bool = True) -> None:
    msg = str(err)
    if in_hypothesis:
        note(msg)
    m = ERR_HEAD.match(msg)
    assert m, f"message names neither a layer nor the network: {msg}"
    layers = [n.name for n in g.topo() if isinstance(n, PLACED_T)]
    if m["layer"]:
        assert m["layer"] in layers, msg
    else:
        assert m["net"] == g.name, msg
    assert any(t in msg for t in RESOURCE_TEXT.values()) or " cores" in msg, f"no resource named: {msg}"
    nums = re.search(rf"{NUM}(?: cores)? > {NUM}", msg)
    assert nums, f"no 'N > M' in: {msg}"
    n, lim = (int(v.replace(",", "")) for v in nums.groups())
    assert n > lim, msg
    assert prof.name in msg, msg
    single = SINGLE.match(msg)
    if single:  # "no split can fix this": some single unit of the layer needs more than a whole core
        r = TEXT_TO_RES[single["res"]]
        assert lim == prof.limits[r], msg
        if r != "output_axons":  # (output axons also depend on how the consumers are split)
            model = ResourceModel(g, prof)
            shape = g.infer_shapes()[single["layer"]]
            worst = max(model.slice_resources(single["layer"], tuple((i, i + 1) for i in idx))[r]
                        for idx in np.ndindex(*shape))
            assert worst >= n > lim, msg


def run_case(g: Graph, prof) -> str:
    try:
        pl = partition(g, prof)
    except PartitionError as e:
        check_error(g, prof, e)
        return "error"
    check_placement(g, prof, pl)
    return "ok"


# --------------------------------------------------------------------------------------------- properties
@settings(max_examples=60, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, core=budgets, cpc=st.integers(1, 128))
@example(idx=NETGEN.index(COUNTEREXAMPLE[0]), base=COUNTEREXAMPLE[1], core=COUNTEREXAMPLE[2], cpc=128)
def test_random_netgen_graphs_random_budgets(idx, base, core, cpc):
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core, {"cores_per_chip": cpc})
    note(f"{g.name} {base} {core}")
    event(run_case(g, prof))


conv_shapes = st.tuples(st.integers(1, 3), st.integers(4, 9), st.integers(1, 4), st.integers(1, 3), st.integers(1, 2),
                        st.integers(0, 1), st.booleans(), st.integers(2, 12), st.integers(0, 3))
lin_shapes = st.tuples(st.integers(2, 80), st.integers(2, 40), st.integers(2, 6), st.integers(0, 3))


@settings(max_examples=100, **SETTINGS)
@given(shape=st.one_of(conv_shapes.map(lambda a: ("conv", a)), lin_shapes.map(lambda a: ("lin", a))),
       base=bases, core=budgets)
# found by this test: a one-pixel-wide map whose padding leaves a box with no row pattern (a matrix of 0 rows)
@example(shape=("conv", (1, 4, 1, 1, 1, 1, False, 2, 0)), base="loihi1",
         core={"neurons": 4, "input_axons": None, "output_axons": None, "synapse_words": None})
def test_random_layer_shapes_random_budgets(shape, base, core):
    g = compiled(shape)
    prof = make_profile(base, core)
    note(f"{g.name} {base} {core}")
    event(run_case(g, prof))


@settings(max_examples=15, **SETTINGS)
@given(f=st.integers(3, 120), hid=st.integers(1, 30), nout=st.integers(1, 5), base=bases, data=st.data())
def test_fanin_above_input_axons_is_refused_with_exact_message(f, hid, nout, base, data):
    """input axons below every hidden neuron's fan-in f (but enough for the readout's fan-in hid): no split
    can help, and the message says so with the numbers."""
    if hid >= f:
        hid = max(1, f - 1)
    m = data.draw(st.integers(hid, f - 1), label="input_axons")
    g = compiled(("lin", (f, hid, nout, 0)))
    prof = make_profile(base, {"input_axons": m}, name=f"tiny-{base}")
    with pytest.raises(PartitionError) as ei:
        partition(g, prof)
    msg = str(ei.value)
    assert msg.startswith(f"layer relu1: neuron fan-in {f} > {m} input axons per core on tiny-{base}; "
                          "no split can fix this"), msg
    check_error(g, prof, ei.value)
    # one more axon than the fan-in: placeable
    ok = make_profile(base, {"input_axons": f}, name=f"ok-{base}")
    check_placement(g, ok, partition(g, ok))


@settings(max_examples=10, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, neurons=st.integers(4, 64), cpc=st.integers(1, 8))
def test_one_chip_budget(idx, base, neurons, cpc):
    """max_chips = 1: either everything fits cores_per_chip cores, or the network is refused with the core
    counts; the 'at least' figure is the lower bound."""
    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, {"neurons": neurons}, {"cores_per_chip": cpc, "max_chips": 1})
    try:
        pl = partition(g, prof)
    except PartitionError as e:
        check_error(g, prof, e)
        msg = str(e)
        m = re.match(rf"network {g.name}: needs (at least )?{NUM} cores > {NUM} cores on {prof.name} "
                     rf"\(1 chip\(s\) x {cpc}\)", msg)
        assert m, msg
        assert int(m[3]) == cpc
        if m[1]:
            assert int(m[2]) == lower_bound(ResourceModel(g, prof))["cores"] > cpc
        event("refused: at least" if m[1] else "refused")
        return
    event("ok")
    check_placement(g, prof, pl)
    assert pl.n_cores <= cpc and pl.n_chips == 1


# ------------------------------------------------------------------------------------- fixed examples
def test_conv_fanin_family_fpga_counts_units():
    """A 3x3 conv over 3 channels (stride 2, padding 1, on 6x6): an interior neuron reads 27 units; its
    readout reads 2 x 3 x 3 = 18. 18..26 input axons: the conv layer is refused with fan-in 27."""
    g = compiled(("conv", (3, 6, 2, 3, 2, 1, False, 4, 0)))
    assert g.infer_shapes()["relu1"] == (2, 3, 3)
    for m in (18, 26):
        prof = make_profile("fpga-generic", {"input_axons": m}, name="fpga-tiny")
        with pytest.raises(PartitionError, match=rf"^layer relu1: neuron fan-in 27 > {m} input axons per core "
                                                 r"on fpga-tiny; no split can fix this"):
            partition(g, prof)
    ok = make_profile("fpga-generic", {"input_axons": 27}, name="fpga-27")
    check_placement(g, ok, partition(g, ok))


def test_conv_fanin_loihi_counts_pixels():
    """The same conv on a pixel-axon profile (loihi1): the interior neuron needs 9 input axons (one per
    source pixel), so 8 is refused with 9 > 8."""
    g = compiled(("conv", (3, 6, 2, 3, 1, 1, False, 4, 0)))  # stride 1: the readout reads 72 units
    prof = make_profile("loihi1", {"input_axons": 8}, name="l1-8")
    with pytest.raises(PartitionError) as ei:
        partition(g, prof)
    msg = str(ei.value)
    # the layers are split readout first: the hidden layer (72 units of relu1, counted per unit through
    # Flatten) is refused before the conv layer is reached
    assert msg.startswith("layer relu_fc1: neuron fan-in 72 > 8 input axons per core on l1-8; no split"), msg
    check_error(g, prof, ei.value, in_hypothesis=False)
    # the conv layer alone on a pixel-axon core: 9 axons are enough for it, 8 are not
    model8, model9 = ResourceModel(g, prof), ResourceModel(g, make_profile("loihi1", {"input_axons": 9}))
    centre = ((0, 1), (3, 4), (3, 4))
    assert model8.slice_resources("relu1", centre)["input_axons"] == 9
    assert model9.fits(model9.slice_resources("relu1", centre)) is None
    assert model8.fits(model8.slice_resources("relu1", centre)) == "input_axons"


def test_small_budget_splits_layers_over_several_cores():
    """Guard against vacuous properties: a small budget really splits layers and packs several cores."""
    g = netgen_graph((0, 8, (("residual", True),)))
    prof = make_profile("loihi1", {"neurons": 32, "input_axons": 400, "output_axons": 800})
    pl = partition(g, prof)
    check_placement(g, prof, pl)
    per_layer = {}
    for s in pl.slices:
        per_layer.setdefault(s.layer, set()).add(s.core)
    assert pl.n_cores > 4
    assert sum(len(c) > 1 for c in per_layer.values()) >= 2


def test_validate_catches_corrupted_placements():
    """Negative controls for the validator used by every property above."""
    g = netgen_graph(NETGEN[1])
    prof = make_profile("loihi1", {"neurons": 32, "input_axons": 400, "output_axons": 800})
    pl = partition(g, prof)
    validate(g, prof, pl)
    import copy

    big = max(pl.slices, key=lambda s: s.resources["neurons"])
    # 1. a slice records fewer input axons than it needs
    bad = copy.deepcopy(pl)
    s = next(x for x in bad.slices if x.layer == big.layer and x.box == big.box)
    s.resources["input_axons"] -= 1
    with pytest.raises(PartitionError, match=rf"^layer {big.layer}\[slice \d+\]: placement records "
                                             rf"{big.resources['input_axons'] - 1} input axons, the graph needs "
                                             rf"{big.resources['input_axons']}"):
        validate(g, prof, bad)
    # 2. one slice dropped: units unplaced
    bad = copy.deepcopy(pl)
    k = next(i for i, x in enumerate(bad.slices) if x.layer == big.layer)
    n_missing = bad.slices[k].resources["neurons"]
    del bad.slices[k]
    with pytest.raises(PartitionError, match=rf"layer {big.layer}: placement leaves {n_missing} units unplaced"):
        validate(g, prof, bad)
    # 3. two slices moved onto one core: over the neuron limit
    bad = copy.deepcopy(pl)
    heavy = sorted(bad.slices, key=lambda x: -x.resources["neurons"])[:2]
    assert heavy[0].resources["neurons"] + heavy[1].resources["neurons"] > 32
    heavy[1].core = heavy[0].core
    with pytest.raises(PartitionError, match=r"^core \d+ .*neurons \d+ > 32 per core on prop"):
        validate(g, prof, bad)
    # 4. the same placement against a profile with fewer input axons (same synapse encoding)
    top = max(pl.core_usage(), key=lambda u: u["input_axons"])["input_axons"]
    tight = make_profile("loihi1", {"neurons": 32, "input_axons": top - 1, "output_axons": 800}, name="tight")
    with pytest.raises(PartitionError, match=rf"^core \d+ .*: input axons {top} > {top - 1} per core on tight"):
        validate(g, tight, pl)


def _doc(pl) -> dict:
    d = pl.to_json()
    d.pop("seconds")
    return d


def test_partition_is_deterministic_and_rates_only_move_slices():
    """Same graph and profile: the same placement. Measured firing rates change the traffic estimate (and
    possibly where slices go), never validity."""
    from neurocompile.backends.intsim import firing_rates

    g = netgen_graph((0, 8, (("residual", True),)))
    prof = make_profile("loihi1", {"neurons": 48, "input_axons": 400}, {"cores_per_chip": 8})
    a, b = partition(g, prof), partition(g, prof)
    assert _doc(a) == _doc(b)
    rates = firing_rates(g, random_inputs(g, 4, 9), 8)
    assert set(rates) >= {n.name for n in g.nodes_of(Neurons)}
    r = partition(g, prof, rates, "measured")
    check_placement(g, prof, r)
    assert r.traffic["rates"] == "measured" and a.traffic["rates"].startswith("uniform")
    assert r.traffic["total"] != a.traffic["total"]
    assert r.traffic["inter_chip"] <= r.traffic["inter_core"] <= r.traffic["total"]


def _two_conv_net() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("two_conv")
    g.add(Input("x", shape=(1, 8, 8)))
    g.add(Conv2d("conv1", weight=_dense(rng, (2, 1, 3, 3)) / 9, bias=np.full(2, 0.05), padding=(1, 1)), ["x"])
    g.add(Neurons("relu1"), ["conv1"])
    g.add(Conv2d("conv2", weight=_dense(rng, (4, 2, 3, 3)) / 18, bias=np.full(4, 0.05), padding=(1, 1)), ["relu1"])
    g.add(Neurons("relu2"), ["conv2"])
    g.add(Flatten("f"), ["relu2"])
    g.add(Linear("fc", weight=_dense(rng, (3, 256)) / 256), ["f"])
    g.add(Output("out"), ["fc"])
    x = np.random.default_rng(1).random((16, 1, 8, 8)).astype(np.float32)
    return compile_graph(g, x, CompileOptions(method="rueckauer", timesteps=8))


def _netgen_small() -> Graph:
    return netgen_graph((0, 6, ()))


@settings(max_examples=25, **SETTINGS)
@given(idx=st.integers(0, len(NETGEN) - 1), base=bases, core=budgets)
def test_every_packing_tiles_every_layer_within_the_limits(idx, base, core):
    """Each packing of the split slices (``place.packings``: carving into open cores, the first fit emptied,
    filling core after core), not only the one ``partition`` keeps: when it returns a placement, the
    independent validator accepts it."""
    from neurocompile.partition import place

    g = netgen_graph(NETGEN[idx])
    prof = make_profile(base, core)
    model = ResourceModel(g, prof)
    cons = consumers(model)
    boxes: dict = {}
    try:
        for layer in reversed(model.layers):
            boxes[layer], _ = place._split_layer(model, layer, boxes, cons)
    except PartitionError as e:
        check_error(g, prof, e)
        event("refused")
        return
    slices, _, sym = place._first_fit(model, boxes, None, cons)
    for packing in place.packings([s.core for s in slices]):
        label = packing.name + packing.detail
        got = place._pack(model, boxes, None, cons, slices, sym, packing)
        if got is None:
            event(f"{label}: output axons over a limit, not used")
            continue
        placed = place._finish(model, got[0])
        n = max(s.core for s in placed) + 1
        pos = {name: i for i, name in enumerate(model.layers)}
        first = [min(pos[s.layer] for s in placed if s.core == c) for c in range(n)]
        pl = Placement(prof.name, prof.family, dict(prof.limits), placed, assign_chips(first, prof.chip.cores_per_chip),
                       lower_bound=lower_bound(model, cons))
        check_placement(g, prof, pl, naive=False)
        event(f"{label}: valid")
