"""Splitting one layer: boxes checked one by one (units differ), and the choice between splits."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Conv2d, Graph, Input, Neurons, Output, Flatten, Linear
from neurocompile.partition import ResourceModel, profile_from_dict
from neurocompile.partition.split import choose_chunk, fitted_boxes, grid_boxes


def _weight(box, per_channel):
    return sum(per_channel[box[0][0]:box[0][1]]) * (box[1][1] - box[1][0]) * (box[2][1] - box[2][0])


def test_fitted_boxes_take_the_longest_run_that_fits():
    per = [1, 1, 3, 1, 1, 1]  # channel 2 weighs three times the others
    fits = lambda b: _weight(b, per) <= 3 * 16  # noqa: E731  (a 4 x 4 map per channel)
    boxes, bad = fitted_boxes((6, 4, 4), (3, 4, 4), fits)
    assert bad is None
    assert [b[0] for b in boxes] == [(0, 2), (2, 3), (3, 6)]
    assert all(b[1:] == ((0, 4), (0, 4)) for b in boxes)
    # the plain grid of the same chunk has a box that does not fit: the split the checks replace
    assert not all(fits(b) for b in grid_boxes((6, 4, 4), (3, 4, 4)))


def test_fitted_boxes_cut_the_first_axis_the_chunk_cuts_and_keep_c_order():
    per = [1, 1]
    fits = lambda b: _weight(b, per) <= 8  # noqa: E731
    boxes, bad = fitted_boxes((2, 4, 4), (2, 2, 4), fits)  # channels whole: rows are cut, per column band
    assert bad is None
    assert boxes == sorted(boxes)
    assert [b[1] for b in boxes] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    cover = np.zeros((2, 4, 4), int)
    for b in boxes:
        cover[tuple(slice(lo, hi) for lo, hi in b)] += 1
    assert (cover == 1).all()


def test_fitted_boxes_report_a_unit_that_does_not_fit():
    per = [1, 5, 1]
    boxes, bad = fitted_boxes((3, 2, 2), (2, 2, 2), lambda b: _weight(b, per) <= 4 * 4)
    assert boxes == [] and bad == ((1, 2), (0, 2), (0, 2))
    boxes, bad = fitted_boxes((3, 2, 2), (3, 2, 2), lambda b: False)
    assert boxes == [] and bad == ((0, 3), (0, 2), (0, 2))


def _conv_net(c: int, cout: int, size: int) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("shared")
    g.add(Input("x", shape=(c, size, size)))
    w = rng.uniform(0.5, 1.0, (cout, c, 3, 3)) * rng.choice([-1.0, 1.0], (cout, c, 3, 3))
    g.add(Conv2d("conv", weight=w / (9 * c), bias=np.zeros(cout), stride=(1, 1), padding=(1, 1)), ["x"])
    g.add(Neurons("relu"), ["conv"])
    g.add(Flatten("flat"), ["relu"])
    g.add(Linear("fc", weight=rng.uniform(-1, 1, (2, cout * size * size)), bias=np.zeros(2)), ["flat"])
    g.add(Output("out"), ["fc"])
    return g


def test_split_that_stores_a_shared_kernel_once_is_chosen():
    """Kernel sharing (one kernel per core for the slice's channels): with a neuron budget that forces 4
    slices, channel groups store each channel's kernel once; spatial tiles with every channel would store
    the whole kernel 4 times. Both have 4 slices and fill 4 cores' neurons; the channel split leaves the
    synapse memory to other layers."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs

    g = _conv_net(8, 8, 8)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    prof = profile_from_dict({"base": "loihi2", "name": "small", "core": {"neurons": 128, "synapse_words": 160}})
    model = ResourceModel(ig, prof)
    chunk = choose_chunk(model, "relu", 128)
    assert chunk == (2, 8, 8)
    tiles = model.slice_resources("relu", ((0, 8), (0, 2), (0, 8)))["synapse_words"]
    chans = model.slice_resources("relu", ((0, 2), (0, 8), (0, 8)))["synapse_words"]
    assert 4 * chans < 2 * tiles  # the memory the choice saves is real
    largest = choose_chunk(model, "relu", 128, largest=True)
    assert np.prod(largest) == 128


def _two_convs(c: int, size: int) -> Graph:
    rng = np.random.default_rng(1)
    g = Graph("two_convs")
    g.add(Input("x", shape=(c, size, size)))
    for i in (1, 2):
        w = rng.uniform(0.5, 1.0, (c, c, 3, 3)) * rng.choice([-1.0, 1.0], (c, c, 3, 3))
        g.add(Conv2d(f"conv{i}", weight=w / (9 * c), bias=np.zeros(c), stride=(1, 1), padding=(1, 1)),
              ["x" if i == 1 else "relu1"])
        g.add(Neurons(f"relu{i}"), [f"conv{i}"])
    g.add(Flatten("flat"), ["relu2"])
    g.add(Linear("fc", weight=rng.uniform(-1, 1, (2, c * size * size)), bias=np.zeros(2)), ["flat"])
    g.add(Output("out"), ["fc"])
    return g


def test_smallest_piece_counts_pixel_output_axons_along_every_axis():
    """With pixel axons a channel piece of a convolution's slice keeps every pixel, so it needs as many
    output axons as the whole slice; the smallest piece the carver can cut is then a row band, and its
    estimate must say so (in proportion to units, a channel piece would seem to need an eighth)."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs
    from neurocompile.partition.connectivity import full_box
    from neurocompile.partition.cuts import grain
    from neurocompile.partition.resources import OUT, consumers, output_axons
    from neurocompile.partition.state import CoreState

    g = _two_convs(8, 8)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    prof = profile_from_dict({"base": "loihi2", "name": "small", "core": {"neurons": 128, "output_axons": 64}})
    model = ResourceModel(ig, prof)
    cons = consumers(model)
    whole = {name: [full_box(model.shapes[name])] for name in model.layers}
    items = []
    for k, name in enumerate(model.layers):
        res = dict(model.slice_resources(name, whole[name][0]))
        res["output_axons"] = int(output_axons(model, name, whole[name], whole, None, cons)[0][0])
        items.append((name, whole[name][0], res, k))
    c = CoreState(model, items, cons)
    box = whole["relu1"][0]
    v = c.vec[("relu1", box)]
    assert v[OUT] == 64  # 64 pixels, one consumer slice
    channel = ((0, 1), (0, 8), (0, 8))
    row = ((0, 8), (0, 1), (0, 8))
    assert c.vector("relu1", channel)[OUT] == 64 and c.vector("relu1", row)[OUT] == 8
    assert np.array_equal(grain(c, "relu1", box, v), c.vector("relu1", row))
    assert grain(c, "relu1", box, v, exact=False)[OUT] == 8  # the estimate the packers sort by


def test_feeder_cost_counts_the_kernel_copies_a_split_forces_on_its_feeder():
    """A split of relu2 into K slices per relu1 pixel leaves relu1's slices output_axons / K pixels each
    (pixel axons: one output axon per pixel and consumer slice), and each of those tiles stores relu1's
    kernel again: with 8 one-channel slices of relu2 and 32 output axons per core, relu1 (8 x 8 pixels) is
    cut into tiles of at most 4 pixels (1 x 4, 2 x 2, 3 x 1 or 4 x 1, the cheapest counts). The cost is the
    extra synapse memory of that tiling, in cores; a split that reaches fewer slices per pixel costs less,
    and nothing is charged where every pixel fits."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs
    from neurocompile.partition.split import feeder_cost

    g = _two_convs(8, 8)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    prof = profile_from_dict({"base": "loihi1", "name": "few-out", "core": {"output_axons": 32}})
    model = ResourceModel(ig, prof)
    words = prof.core.synapse_words
    whole = model.slice_resources("relu1", ((0, 8), (0, 8), (0, 8)))["synapse_words"]

    def middle(h, w):  # a tile of h x w pixels, all channels, in the middle of the map
        return model.slice_resources("relu1", ((0, 8), ((8 - h) // 2, (8 - h) // 2 + h),
                                               ((8 - w) // 2, (8 - w) // 2 + w)))["synapse_words"]
    tiles = [((0, 8), (r, r + 2), (c, c + 2)) for r in range(0, 8, 2) for c in range(0, 8, 2)]
    assert sum(model.slice_resources("relu1", t)["synapse_words"] for t in tiles) <= 16 * middle(2, 2)
    tilings = {(1, 4): 16 * middle(1, 4), (2, 2): 16 * middle(2, 2), (4, 1): 16 * middle(4, 1),
               (3, 1): 16 * middle(3, 1) + 8 * middle(2, 1)}  # rows 3 + 3 + 2, 8 columns
    one_channel = feeder_cost(model, "relu2", (8, 8, 8), (1, 8, 8))
    assert one_channel == (min(tilings.values()) - whole) / words > 0
    assert 0 < feeder_cost(model, "relu2", (8, 8, 8), (4, 8, 8)) < one_channel  # 2 slices per pixel
    tight = ResourceModel(ig, profile_from_dict({"base": "loihi1", "name": "tight", "core": {"output_axons": 4}}))
    assert feeder_cost(tight, "relu2", (8, 8, 8), (1, 8, 8)) == float("inf")  # 8 slices per pixel > 4 axons
    roomy = ResourceModel(ig, profile_from_dict({"base": "loihi1", "name": "roomy", "core": {"output_axons": 512}}))
    assert feeder_cost(roomy, "relu2", (8, 8, 8), (1, 8, 8)) == 0  # 8 x 64 axons fit one core
    assert feeder_cost(ResourceModel(ig, profile_from_dict({"base": "fpga-generic", "name": "f"})), "relu2",
                       (8, 8, 8), (1, 8, 8)) == 0  # no output-axon limit


def test_a_carved_rest_fits_an_empty_core():
    """Synapse memory is not monotone in the box: with the kernel stored once per boundary variant, the
    last three columns of a row of a 4-wide map have variants the whole row does not (a source column
    reaching one of them only), so they can need more words than the row. A cut whose rest no empty core
    holds would leave a slice that fits nowhere (the packing is then thrown away), so the carver does not
    make it; the control: that cut's piece fits the room offered, so only the rest's check refuses it."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs
    from neurocompile.partition.cuts import find_cut
    from neurocompile.partition.state import CoreState

    g = _conv_net(8, 8, 4)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    row, first, rest = ((0, 1), (1, 2), (0, 4)), ((0, 1), (1, 2), (0, 1)), ((0, 1), (1, 2), (1, 4))
    loihi1 = ResourceModel(ig, profile_from_dict({"base": "loihi1", "name": "x"}))
    words = {b: loihi1.slice_resources("relu", b)["synapse_words"] for b in (row, first, rest)}
    assert words[rest] > words[row] > words[first]  # a part needs more than the whole
    prof = profile_from_dict({"base": "loihi1", "name": "tight", "core": {"synapse_words": words[row]}})
    model = ResourceModel(ig, prof)
    c = CoreState(model, [("relu", row, dict(model.slice_resources("relu", row)), 0)], {})
    free = c.cap.copy()
    free[list(prof.limits).index("synapse_words")] = words[first]  # room for one column's words
    assert (c.vector("relu", first) <= free).all()  # the cut on offer: its piece fits ...
    assert model.fits(model.slice_resources("relu", rest)) == "synapse_words"  # ... its rest fits no core
    assert find_cut(c, "relu", row, 0, free) is None
    free[list(prof.limits).index("synapse_words")] = words[row]  # with room for the whole row: no cut needed
    piece, left, _, _ = find_cut(c, "relu", row, 0, free)
    assert model.fits(model.slice_resources("relu", left)) is None


def test_feeder_reach_counts_the_consumer_slices_of_every_feeder_pixel():
    """feeder_reach: per pixel of relu1, the slices of relu2's split that pixel feeds (its output axons with
    pixel axons), against a brute force over every box's fan-in mask; a pixel in a corner of the map feeds
    fewer row and column bands than one in the middle, which one pixel's count cannot tell."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs
    from neurocompile.partition.split import feeder_reach

    g = _two_convs(8, 8)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    model = ResourceModel(ig, profile_from_dict({"base": "loihi1", "name": "x"}))
    conn = next(c for c in model.conns["relu2"] if c.source == "relu1")
    for chunk in [(3, 3, 2), (8, 8, 1), (1, 2, 8), (8, 8, 8)]:
        boxes = grid_boxes((8, 8, 8), chunk)
        brute = sum(conn.fanin_mask(b).reshape(8, 8, 8).any(0).astype(int) for b in boxes)
        reach = feeder_reach(conn, (8, 8, 8), (8, 8, 8), chunk)
        assert np.array_equal(reach, brute), chunk
        assert reach.min() > 0
    assert reach.sum() == 64  # one whole slice: each pixel feeds it once
    corner, middle = feeder_reach(conn, (8, 8, 8), (8, 8, 8), (3, 3, 2))[[0, 4], [0, 4]]
    # the control: counts differ across the map; 3 channel groups x row bands x column bands: the corner
    # pixel feeds rows 0-1 and columns 0-1 (one band each), the middle one rows 3-5 (band 3:6) and columns 3-5
    # (bands 2:4 and 4:6)
    assert (corner, middle) == (3, 6)


def test_split_score_counts_the_output_axons_of_every_slice():
    """With an output-axon limit the split score counts the output axons the split's slices need in all (each
    slice's count adds up on its core like any resource): the total is every pixel's consumer slices times
    the channel groups, equal to the sum over the split's boxes, and a split into more channel groups needs
    more. Without that, a split whose every slice fills a core's output axons looked as cheap as its synapse
    memory (VGG-11 on loihi1: relu_13 in 2 x 4 x 1 boxes, one core per slice)."""
    from neurocompile.compiler import CompileOptions, compile_graph
    from netgen import random_inputs
    from neurocompile.partition.resources import consumers, out_axons_of, output_axons
    from neurocompile.partition.split import _score, _total_out_axons

    g = _two_convs(8, 8)
    ig = compile_graph(g, random_inputs(g, 8, 0), CompileOptions(method="rueckauer", timesteps=8))
    prof = profile_from_dict({"base": "loihi1", "name": "few-out", "core": {"output_axons": 256}})
    model = ResourceModel(ig, prof)
    cons = consumers(model)
    done = {"relu2": grid_boxes((8, 8, 8), (2, 8, 8))}
    count = out_axons_of(model, "relu1", done, cons)
    totals = {}
    for chunk in [(8, 2, 2), (4, 4, 8), (1, 8, 8), (2, 1, 8)]:
        boxes = grid_boxes((8, 8, 8), chunk)
        exact = int(output_axons(model, "relu1", boxes, done, None, cons)[0].sum())
        assert _total_out_axons((8, 8, 8), chunk, count) == exact == 64 * 4 * -(-8 // chunk[0])
        totals[chunk] = exact
        assert _score(model, "relu1", (8, 8, 8), chunk, 8, count)[1] >= exact / 256
    assert totals[(1, 8, 8)] == 8 * totals[(8, 2, 2)]
    # kernel sharing (loihi2-like): output axons are not scored (OUT_AXONS_SCORED), the control
    kernel = ResourceModel(ig, profile_from_dict({"base": "loihi2", "name": "few-out", "core": {"output_axons": 256}}))
    assert _score(kernel, "relu1", (8, 8, 8), (1, 8, 8), 8, out_axons_of(kernel, "relu1", done, cons))[1] < 8
