"""Hardware profiles: the built-in limits, profile files (JSON / YAML, ``base:``, nested override merge), bad
files as ``ProfileError`` naming the file, and the ``placement.json`` round trip."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from netgen import random_graph, random_inputs
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import BundleError, ProfileError
from neurocompile.partition import (BUILTIN, HardwareProfile, Placement, get_profile, load_profile, partition,
                                    profile_from_dict, validate)
from neurocompile.partition.resources import RESOURCES


# ------------------------------------------------------------------------------------------ built-ins
def test_builtin_names():
    assert set(BUILTIN) == {"loihi1", "loihi2", "fpga-generic"}
    for name, p in BUILTIN.items():
        assert isinstance(p, HardwareProfile) and p.name == name and get_profile(name) is p
        assert set(p.limits) == set(RESOURCES)


def test_loihi1_published_limits():
    p = get_profile("loihi1")
    assert p.family == "loihi1"
    assert p.core.neurons == 1024
    assert p.core.input_axons == 4096 and p.core.output_axons == 4096
    assert p.core.synapse_words == 16384 and p.synapses.word_bits == 64
    assert p.core.synapse_words * p.synapses.word_bits == 2 ** 20  # 1 Mibit of synapse memory per core
    assert p.chip.cores_per_chip == 128
    assert p.max_weight_bits == 8 and p.min_weight_bits >= 1
    assert p.limits == {"neurons": 1024, "input_axons": 4096, "output_axons": 4096, "synapse_words": 16384,
                        "populations": p.core.populations, "param_bits": p.core.param_bits}
    # nengo-loihi's accounting: synapse lists in groups with per-group overhead, population (pixel) axons
    assert p.synapses.packing == "groups" and p.synapses.pixel_axons
    # what is not a published limit is listed as an assumption
    for key in p.assumptions:
        assert key.split(".")[0] in ("core", "chip", "synapses")
    if p.core.populations is not None:
        assert "core.populations" in p.assumptions


def test_loihi2_limits_and_assumptions():
    p = get_profile("loihi2")
    assert p.family == "loihi2"
    assert p.chip.cores_per_chip == 128
    assert p.core.neurons == 8192
    assert p.chip.cores_per_chip * p.core.neurons == 1 << 20  # 1 Mi neurons per chip
    assert p.max_weight_bits <= 8
    # the limits that are not public are each listed with the reason they are assumed
    for field in ("core.input_axons", "core.output_axons", "core.synapse_words"):
        assert field in p.assumptions and p.assumptions[field].strip(), field
    assert all(isinstance(v, str) and v for v in p.assumptions.values())
    for key in p.assumptions:  # each names a real field
        obj = p
        for part in key.split("."):
            obj = getattr(obj, part)


def test_fpga_generic_is_user_settable():
    p = get_profile("fpga-generic")
    assert p.family == "fpga" and p.synapses.packing == "lanes" and not p.synapses.pixel_axons
    q = profile_from_dict({"base": "fpga-generic", "name": "my-fpga",
                           "core": {"neurons": 256, "synapse_words": 4096, "input_axons": 300},
                           "chip": {"cores_per_chip": 12, "max_chips": 2},
                           "synapses": {"word_bits": 72}, "max_weight_bits": 10})
    assert (q.name, q.family) == ("my-fpga", "fpga")
    assert (q.core.neurons, q.core.synapse_words, q.core.input_axons) == (256, 4096, 300)
    assert (q.chip.cores_per_chip, q.chip.max_chips, q.synapses.word_bits, q.max_weight_bits) == (12, 2, 72, 10)
    assert q.synapses.packing == "lanes" and q.core.output_axons is None  # the rest from the base
    assert q.entry_bits(10) == 10 + math.ceil(math.log2(256))
    assert get_profile("fpga-generic").core.neurons == 1024  # the built-in is untouched


def test_unknown_builtin():
    with pytest.raises(ProfileError, match="loihi3"):
        get_profile("loihi3")


# ---------------------------------------------------------------------------------------------- files
def test_json_and_yaml_files_with_base_merge_nested_tables(tmp_path):
    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"base": "loihi2", "name": "my-loihi2", "core": {"input_axons": 4096},
                             "synapses": {"conv_sharing": "variants"}}))
    y = tmp_path / "mine.yaml"
    y.write_text("base: loihi2\nname: my-loihi2\ncore: {input_axons: 4096}\nsynapses:\n  conv_sharing: variants\n")
    yml = tmp_path / "mine.yml"
    yml.write_text(y.read_text())
    a, b, c = load_profile(j), load_profile(str(y)), load_profile(yml)
    assert a == b == c
    base = get_profile("loihi2")
    assert a.name == "my-loihi2" and a.family == "loihi2"
    assert a.core.input_axons == 4096
    # nested tables merge key by key: the other core / synapse fields come from the base
    assert a.core.neurons == base.core.neurons and a.core.output_axons == base.core.output_axons
    assert a.core.synapse_words == base.core.synapse_words
    assert a.synapses.conv_sharing == "variants" and a.synapses.word_bits == base.synapses.word_bits
    assert a.synapses.group_size == base.synapses.group_size and a.synapses.pixel_axons
    assert a.chip == base.chip and a.assumptions == base.assumptions
    assert get_profile("loihi2").core.input_axons == 8192 and base.synapses.conv_sharing == "kernel"


def test_file_without_base_is_a_complete_profile(tmp_path):
    doc = get_profile("loihi1").model_dump()
    doc["name"] = "copy"
    f = tmp_path / "full.json"
    f.write_text(json.dumps(doc))
    p = load_profile(f)
    assert p.model_dump() == {**get_profile("loihi1").model_dump(), "name": "copy"}
    # an incomplete profile without a base is refused, naming the missing field
    f.write_text(json.dumps({"name": "half", "family": "fpga", "core": {"neurons": 4}}))
    with pytest.raises(ProfileError, match=r"full\.json.*field (chip|synapses)"):
        load_profile(f)


def test_override_of_a_null_limit_and_back(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("base: loihi1\nname: nolimit\ncore:\n  input_axons: null\n")
    assert load_profile(f).core.input_axons is None
    assert load_profile(f).limits["input_axons"] is None
    f.write_text("base: fpga-generic\nname: lim\ncore:\n  output_axons: 77\nchip:\n  max_chips: null\n")
    p = load_profile(f)
    assert p.core.output_axons == 77 and p.chip.max_chips is None and p.chip.cores_per_chip == 64


BAD = [
    ("unknown-field.yaml", "base: loihi1\nname: x\ncore:\n  nuerons: 12\n", r"field core\.nuerons"),
    ("unknown-top.json", json.dumps({"base": "loihi1", "cores": 3}), r"field cores"),
    ("wrong-type.json", json.dumps({"base": "loihi1", "core": {"neurons": "many"}}), r"field core\.neurons"),
    ("wrong-type2.yaml", "base: fpga-generic\nsynapses:\n  packing: zigzag\n", r"field synapses\.packing"),
    ("zero.yaml", "base: loihi1\ncore: {neurons: 0}\n", r"field core\.neurons"),
    ("negative.json", json.dumps({"base": "loihi2", "chip": {"cores_per_chip": -1}}), r"field chip\.cores_per_chip"),
    ("unknown-base.yaml", "base: loihi9\nname: x\n", r"base 'loihi9' is not a built-in profile"),
    ("malformed.yaml", "base: loihi1\ncore: {neurons: 12\n", r"not valid YAML"),
    ("malformed.json", '{"base": "loihi1", "core": {', r"not valid JSON"),
    ("list.json", "[1, 2]", r"expected a table"),
    ("empty.yaml", "", r"expected a table"),
    ("weights.json", json.dumps({"base": "loihi1", "min_weight_bits": 9}), r"min_weight_bits 9 > max_weight_bits 8"),
    ("sharing.yaml", "base: fpga-generic\nsynapses: {conv_sharing: kernel}\n", r"needs synapses\.pixel_axons"),
    ("lanes.json", json.dumps({"base": "fpga-generic", "synapses": {"word_bits": 16}}), r"does not fit a 16-bit word"),
]


@pytest.mark.parametrize("fname,text,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_profile_files(tmp_path, fname, text, pattern):
    f = tmp_path / fname
    f.write_text(text)
    with pytest.raises(ProfileError) as ei:
        load_profile(f)
    msg = str(ei.value)
    assert fname in msg, msg
    assert "\n" not in msg, "one line"
    assert re.search(pattern, msg), msg


def test_missing_profile_file(tmp_path):
    f = tmp_path / "nowhere" / "gone.yaml"
    with pytest.raises(ProfileError, match=r"gone\.yaml.*cannot read"):
        load_profile(f)


def test_profile_from_dict_errors_name_the_source():
    with pytest.raises(ProfileError, match=r"^cli override: field core\.neurons"):
        profile_from_dict({"base": "loihi1", "core": {"neurons": 1.5}}, "cli override")
    with pytest.raises(ProfileError, match=r"^profile: base 'nope'"):
        profile_from_dict({"base": "nope"})


def test_profiles_are_frozen():
    p = get_profile("loihi1")
    with pytest.raises(Exception):
        p.core.neurons = 5
    assert get_profile("loihi1").core.neurons == 1024


# ---------------------------------------------------------------------------------- placement.json
@pytest.fixture(scope="module")
def placed():
    g = random_graph(4, maxpool=True)
    ig = compile_graph(g, random_inputs(g, 16, 4), CompileOptions(method="rueckauer", timesteps=8))
    prof = profile_from_dict({"base": "loihi1", "name": "tiny", "core": {"neurons": 24}})
    return ig, prof, partition(ig, prof)


def _key(p: Placement):
    return sorted((s.layer, s.box, tuple(sorted(s.resources.items())), s.core) for s in p.slices)


def test_placement_json_round_trip(placed):
    ig, prof, pl = placed
    assert pl.n_cores > 3
    doc = pl.to_json()
    text = json.dumps(doc)
    back = Placement.from_json(json.loads(text))
    assert back.to_json() == doc
    assert json.dumps(back.to_json()) == text
    assert _key(back) == _key(pl)
    assert back.chip_of_core == pl.chip_of_core
    assert (back.profile, back.family, back.limits, back.strategy) == (pl.profile, pl.family, pl.limits, pl.strategy)
    assert (back.lower_bound, back.layers, back.traffic) == (pl.lower_bound, pl.layers, pl.traffic)
    assert back.seconds == pytest.approx(pl.seconds, abs=1e-3)
    assert back.core_usage() == pl.core_usage()
    assert back.summary() == pl.summary()
    validate(ig, prof, back)
    # the document's figures: per core, the utilisation of every resource against the profile's limit
    for core, used in zip(doc["cores"], pl.core_usage()):
        for r in RESOURCES:
            u = core["utilisation"][r]
            assert u["used"] == used[r] and u["limit"] == prof.limits[r]
            assert u["fraction"] == (None if prof.limits[r] is None else round(used[r] / prof.limits[r], 4))
    assert doc["chips"] == pl.n_chips and "naive" not in doc


def test_placement_json_with_the_retired_naive_entry_still_loads(placed):
    """placement.json files written while the build sized the naive placement have a ``naive`` entry (and
    their report.json summary ``naive_cores``): schema 1 still, they load, and the summary text drops it."""
    from neurocompile.partition.text import format_placement_summary

    ig, prof, pl = placed
    doc = pl.to_json()
    old = {**doc, "naive": {"cores": None, "more_than": 2000}, "strategy": "naive+pack"}
    back = Placement.from_json(json.loads(json.dumps(old)))
    assert _key(back) == _key(pl) and back.strategy == "naive+pack"
    assert back.to_json() == {**doc, "strategy": "naive+pack"}
    validate(ig, prof, back)
    summary = {**pl.summary(), "naive_cores": None, "naive_more_than": 2000}
    text = format_placement_summary(summary)
    assert text == format_placement_summary(pl.summary()) and "naive" not in text
    assert text.startswith(f"placement on tiny: {pl.n_cores} cores on {pl.n_chips} chip(s) (lower bound ")


def test_placement_json_errors(placed):
    _, _, pl = placed
    doc = pl.to_json()
    with pytest.raises(BundleError, match=r"placement\.json: schema_version 99 not supported"):
        Placement.from_json({**doc, "schema_version": 99})
    broken = json.loads(json.dumps(doc))
    del broken["cores"][0]["slices"][0]["resources"]["neurons"]
    with pytest.raises(BundleError, match=r"x\.json: malformed placement \(KeyError"):
        Placement.from_json(broken, "x.json")
    broken = json.loads(json.dumps(doc))
    broken["cores"][0]["slices"][0]["box"] = [[0, "a"]]
    with pytest.raises(BundleError, match="malformed placement"):
        Placement.from_json(broken)
    assert np.all(np.array([c["core"] for c in doc["cores"]]) == np.arange(len(doc["cores"])))


def test_boolean_count_is_a_wrong_type(tmp_path):
    """Profiles are validated strictly: a YAML boolean is not a count of 1."""
    f = tmp_path / "bool.yaml"
    f.write_text("base: loihi1\nname: b\ncore:\n  neurons: yes\n")
    with pytest.raises(ProfileError, match=r"bool\.yaml: field core\.neurons"):
        load_profile(f)
