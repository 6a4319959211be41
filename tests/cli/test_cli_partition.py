"""CLI tests of placement (issue 5): targets, --target profiles, --profile files, --dry-run, placement.json,
inspect tables, the errors of networks that do not fit, and that a placed bundle simulates like an unplaced
one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import Net, _train, error_line, export, run

from neurocompile.backends.intsim import simulate
from neurocompile.bundle import PLACEMENT, PROFILE, read_bundle
from neurocompile.datasets import load
from neurocompile.partition import ResourceModel, validate
from neurocompile.partition.bounds import naive_cores


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-partition")


@pytest.fixture(scope="module")
def model_path(work) -> Path:
    return export(_train(Net()), work / "tiny.pt2")


@pytest.fixture(scope="module")
def small_profile(work) -> Path:
    """A YAML profile so small that the tiny CNN needs several cores (and its conv layer several slices)."""
    path = work / "small.yaml"
    path.write_text("base: loihi1\nname: small-l1\ncore:\n  neurons: 128\n  synapse_words: 2048\n"
                    "chip:\n  cores_per_chip: 4\n")
    return path


@pytest.fixture(scope="module")
def placed(work, model_path, small_profile) -> Path:
    out = work / "placed"
    r = run("build", "--method", "rueckauer",
            model_path, "--profile", small_profile, "--calib-samples", 200, "--out", out)
    assert r.exit_code == 0, r.stdout + r.stderr
    return out


def test_targets_lists_targets_and_profiles():
    r = run("targets", "-v")
    assert r.exit_code == 0, r.stderr
    for name in ("intsim", "loihi2-sim", "loihi1", "loihi2", "fpga", "fpga-generic"):
        assert name in r.stdout
    assert "4,096" in r.stdout and "8,192" in r.stdout  # loihi1 axons, loihi2 neurons
    assert "assumption core.input_axons" in r.stdout  # loihi2's non-public limits are marked


def test_targets_checks_a_user_profile(small_profile, tmp_path):
    r = run("targets", "--profile", small_profile)
    assert r.exit_code == 0 and "small-l1" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"base": "loihi1", "core": {"neurons": -3}}))
    msg = error_line(run("targets", "--profile", bad))
    assert "bad.json" in msg and "core.neurons" in msg


def test_profile_build_writes_placement(placed):
    b = read_bundle(placed)
    assert b.target == "loihi1"  # the profile's family picks the target
    assert PLACEMENT in b.manifest["files"] and PROFILE in b.manifest["files"]
    p, prof = b.placement, b.profile
    assert prof.name == "small-l1" and prof.core.neurons == 128
    assert p.n_cores > 1 and p.n_cores >= p.lower_bound["cores"]
    assert naive_cores(ResourceModel(b.snn, prof), limit=p.n_cores - 1)[0] is None  # never above the naive one
    assert any(v["slices"] > 1 for v in p.layers.values())
    validate(b.snn, prof, p)  # independent check of the stored placement
    doc = json.loads((placed / PLACEMENT).read_text())
    assert {"cores", "lower_bound"} <= set(doc) and "naive" not in doc  # retired from the build
    for core in doc["cores"]:
        assert set(core["utilisation"]) >= {"neurons", "input_axons", "output_axons", "synapse_words"}
        for r, u in core["utilisation"].items():
            assert u["limit"] is None or u["used"] <= u["limit"], (core["core"], r, u)
    assert b.report["placement"]["cores"] == p.n_cores


def test_placed_bundle_simulates_exactly_like_unplaced(placed):
    b = read_bundle(placed)
    x, _ = load("digits", "test")
    ref = simulate(b.snn, x[:6], b.timesteps, record=True)
    got = simulate(b.snn, x[:6], b.timesteps, record=True, placement=b.placement)
    assert all(int(v.sum()) > 0 for v in ref.spike_counts.values())
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], got.spikes[k]), k
    assert np.array_equal(ref.readout, got.readout)


def test_inspect_prints_utilisation(placed):
    r = run("inspect", placed)
    assert r.exit_code == 0, r.stderr
    assert "placement on small-l1" in r.stdout and "lower bound" in r.stdout and "naive" not in r.stdout
    assert "neurons/128" in r.stdout and "syn words/2,048" in r.stdout


def test_inspect_compares_each_layers_synapse_memory_with_the_unsplit_layer(placed):
    """placement.json records each layer's synapse memory as one slice (from the resource model); inspect
    prints the sum over the layer's slices and its ratio to that, which is above 1 where spatial tiles store
    the shared kernel again and exactly 1 for a layer in one slice."""
    from neurocompile.partition.connectivity import full_box

    b = read_bundle(placed)
    model = ResourceModel(b.snn, b.profile)
    doc = json.loads((placed / PLACEMENT).read_text())
    words = {}
    for c in doc["cores"]:
        for s in c["slices"]:
            words[s["layer"]] = words.get(s["layer"], 0) + s["resources"]["synapse_words"]
    table = run("inspect", placed).stdout.split("layer ")[-1]
    ratios = {}
    for layer, v in doc["layers"].items():
        whole = model.slice_resources(layer, full_box(model.shapes[layer]))["synapse_words"]
        assert v["unsplit_synapse_words"] == whole > 0, layer
        row = next(line.split() for line in table.splitlines() if line.startswith(layer + " "))
        ratios[layer] = words[layer] / whole
        assert row[4:6] == [f"{words[layer]:,}", f"{ratios[layer]:.2f}"], (layer, row)
    assert max(ratios.values()) > 1  # the conv layer's spatial tiles
    assert all(ratios[k] == 1 for k, v in doc["layers"].items() if v["slices"] == 1)  # one slice: the layer


def test_dry_run_has_no_target_outputs(model_path, work):
    out = work / "dry"
    r = run("build", "--method", "rueckauer",
            model_path, "--target", "loihi2-sim", "--calib-samples", 200, "--dry-run", "--out", out)
    assert r.exit_code == 0, r.stderr
    files = read_bundle(out).manifest["files"]
    assert PLACEMENT in files and not any(f.startswith("lava/") for f in files)
    assert "dry run" in r.stdout
    full = work / "full"
    assert run("build", "--method", "rueckauer",
               model_path, "--target", "loihi2-sim", "--calib-samples", 200, "--out", full).exit_code == 0
    assert "lava/processes.json" in read_bundle(full).manifest["files"]


def test_profile_name_as_target(model_path, work):
    out = work / "fg"
    r = run("build", "--method", "rueckauer",
            model_path, "--target", "fpga-generic", "--weight-bits", 10, "--calib-samples", 200,
            "--rate-samples", 0, "--dry-run", "--out", out)
    assert r.exit_code == 0, r.stderr
    b = read_bundle(out)
    assert b.target == "fpga" and b.profile.name == "fpga-generic"
    assert b.placement.traffic["rates"].startswith("uniform")


def test_infeasible_fan_in_names_layer_resource_and_numbers(model_path, tmp_path):
    prof = tmp_path / "few-axons.json"
    prof.write_text(json.dumps({"base": "loihi1", "name": "few-axons", "core": {"input_axons": 100}}))
    msg = error_line(run("build", "--method", "rueckauer",
                         model_path, "--profile", prof, "--calib-samples", 100, "--out", tmp_path / "n"))
    assert "layer " in msg and "fan-in" in msg and "> 100 input axons per core on few-axons" in msg
    assert "no split can fix this" in msg
    assert not (tmp_path / "n").exists()


def test_too_many_cores_for_the_device(model_path, tmp_path):
    prof = tmp_path / "tiny-fpga.yaml"
    prof.write_text("base: fpga-generic\nname: tiny-fpga\ncore: {neurons: 64, synapse_words: 512}\n"
                    "chip: {cores_per_chip: 2, max_chips: 1}\n")
    msg = error_line(run("build", "--method", "rueckauer",
                         model_path, "--profile", prof, "--calib-samples", 100, "--out", tmp_path / "n"))
    assert "cores > 2 cores on tiny-fpga" in msg
    assert not (tmp_path / "n").exists()


def test_profile_of_wrong_family_and_bad_weights(model_path, small_profile, tmp_path):
    msg = error_line(run("build", "--method", "rueckauer",
                         model_path, "--target", "fpga", "--profile", small_profile, "--out", tmp_path / "n"))
    assert "loihi1 profile" in msg and "fpga" in msg
    msg = error_line(run("build", "--method", "rueckauer",
                         model_path, "--target", "loihi1", "--weight-bits", 9, "--out", tmp_path / "n"))
    assert "9-bit" in msg and "loihi1" in msg
    msg = error_line(run("build", "--method", "rueckauer",
                         model_path, "--profile", tmp_path / "missing.yaml", "--out", tmp_path / "n"))
    assert "missing.yaml" in msg
    r = run("build", "--method", "rueckauer", model_path, "--out", tmp_path / "n")
    assert r.exit_code == 2 and "--target or --profile" in r.stderr
