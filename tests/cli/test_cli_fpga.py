"""CLI tests of the FPGA target (issue 6): build --target fpga writes fpga/, simulate --backend rtl matches
intsim, synth records block RAM per ROM, and the errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_cli import Net, _train, error_line, export, run
from torch import nn

from fpgadecode import check_images_decode_to_ir
from neurocompile.bundle import read_bundle

pytestmark = pytest.mark.rtl
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-fpga")


@pytest.fixture(scope="module")
def digits(work) -> Path:
    out = work / "digits"
    r = run("build", "--method", "rueckauer",
            "examples/digits_cnn.pt2", "--target", "fpga", "--timesteps", 8, "--calib", "digits",
            "--calib-samples", 200, "--out", out)
    assert r.exit_code == 0, r.stdout + r.stderr
    return out


def test_build_writes_the_fpga_design(digits):
    b = read_bundle(digits)  # every file hashed in the manifest
    files = b.manifest["files"]
    fpga = digits / "fpga"
    for f in ("README.md", "network.json", "nc_rom.v", "nc_core.v", "nc_top.v", "nc_tb.v"):
        assert f"fpga/{f}" in files and (fpga / f).is_file()
    net = json.loads((fpga / "network.json").read_text())
    assert len(net["cores"]) == b.placement.n_cores > 1
    for core in net["cores"]:
        for role in ("synapses", "axons", "neurons"):
            man = json.loads((fpga / core["memories"][role]).read_text())
            for fmt in ("mem", "coe", "mif"):
                assert f"fpga/mem/{man['files'][fmt]}" in files
    for v in fpga.glob("*.v"):
        text = v.read_text()
        assert "${" not in text and not re.search(r"\$\$", text), v.name  # every placeholder rendered
    assert "iverilog" in (fpga / "README.md").read_text()
    check_images_decode_to_ir(b.snn, fpga)  # every image of the build decodes to exactly the integer IR


@needs_iverilog
def test_simulate_rtl_matches_intsim(digits, work):
    out = work / "rtl.json"
    r = run("simulate", digits, "--backend", "rtl", "--dataset", "digits", "--limit", 2, "--json", out)
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert doc["backend"] == "rtl" and doc["samples"] == 2 and doc["simulator"] == "iverilog"
    assert doc["mismatches"] == 0 and doc["readout_mismatches"] == 0 and doc["cycles"] > 0
    assert sum(doc["spikes_per_sample"].values()) > 0
    msg = error_line(run("simulate", digits, "--backend", "rtl", "--dataset", "digits", "--limit", 1,
                         "--timesteps", 4))
    assert "generated for T=8" in msg


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (make setup)")
def test_synth_maps_every_rom_to_block_ram(digits):
    r = run("synth", digits, "--family", "ecp5", "--roms-only")
    assert r.exit_code == 0, r.stdout + r.stderr
    b = read_bundle(digits)  # report.json re-hashed in the manifest
    syn = b.report["synthesis"]
    assert syn["family"] == "ecp5" and syn["scope"] == "roms"
    assert len(syn["cores"]) == b.placement.n_cores
    for core in syn["cores"]:
        assert {x["role"] for x in core["roms"]} == {"synapses", "axons", "neurons"}
        for rom in core["roms"]:
            assert rom["in_bram"] and rom["bram"] > 0, (core["core"], rom)
    assert syn["roms_not_in_bram"] == [] and syn["totals"]["bram"] > 0


def test_synth_without_yosys_is_a_one_line_error(digits, tmp_path, monkeypatch):
    """No yosys on PATH: exit code 2, one line naming yosys, the bundle untouched."""
    before = (digits / "manifest.json").read_bytes(), (digits / "report.json").read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no yosys
    msg = error_line(run("synth", digits, "--family", "ecp5", "--roms-only"))
    assert "yosys not found on PATH" in msg
    assert ((digits / "manifest.json").read_bytes(), (digits / "report.json").read_bytes()) == before


def test_fpga_errors(digits, work, tmp_path):
    intsim = work / "intsim"
    assert run("build", "--method", "rueckauer",
               "examples/digits_cnn.pt2", "--target", "intsim", "--calib", "digits", "--calib-samples", 100,
               "--out", intsim).exit_code == 0
    msg = error_line(run("simulate", intsim, "--backend", "rtl", "--dataset", "digits", "--limit", 1))
    assert "cannot run on backend 'rtl'" in msg
    msg = error_line(run("synth", intsim))
    assert "no fpga/ design" in msg
    msg = error_line(run("synth", digits, "--cores", "99"))
    assert "core 99 not in bundle" in msg
    # a max pool on the analog input: refused by the fpga target, naming the layer; nothing written
    model = export(nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 4 * 4, 10)), tmp_path / "mp.pt2")
    msg = error_line(run("build", "--method", "rueckauer",
                         model, "--target", "fpga", "--calib-samples", 100, "--out", tmp_path / "n"))
    assert re.search(r"layer 0 \(MaxPool2d\) \[\S+\]: max pooling of the analog input .* is not supported by the "
                     r"fpga target", msg)
    assert not (tmp_path / "n").exists()


@needs_iverilog
def test_padded_max_pool_builds_and_simulates_on_fpga(tmp_path):
    """A ResNet-stem max pool (3, 2, 1) after the ReLU: built for the fpga target and simulated in Icarus with
    0 mismatches against intsim, its gate spiking."""
    model = export(_train(Net(pool=nn.MaxPool2d(3, 2, 1))), tmp_path / "stem.pt2")
    out = tmp_path / "b"
    r = run("build", "--method", "rueckauer",
            model, "--target", "fpga", "--calib-samples", 100, "--timesteps", 8, "--out", out)
    assert r.exit_code == 0, r.stdout + r.stderr
    net = json.loads((out / "fpga" / "network.json").read_text())
    assert net["gates"]["rounds"] == 1 and net["gates"]["engines"]
    r = run("simulate", out, "--backend", "rtl", "--dataset", "digits", "--limit", 2, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["mismatches"] == 0 and doc["readout_mismatches"] == 0
    gate = next(n["name"] for n in json.loads((out / "ir" / "snn.json").read_text())["nodes"] if n["op"] == "maxpool2d")
    assert doc["spikes_per_sample"][gate] > 0
