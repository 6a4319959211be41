"""The library API (``neurocompile.compile / load / simulate``) against the CLI it backs.

A small CNN that is not one of the examples (conv-BN-ReLU-avgpool-linear on the 8x8 digits, trained for about a
second) is compiled from Python and, exported to a .pt2, by ``neurocompile build``: the integer IR must be the
same bytes, the simulation documents the same values.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from digits_training import train_digits
from torch import nn

import neurocompile as nc
from neurocompile.cli import cli
from neurocompile.datasets import load
from neurocompile.errors import BundleError, OptionError, TargetError

ROOT = Path(__file__).resolve().parents[2]


def _bundle_hashes():
    """``benchmarks/bundle_hashes.py``'s ``bundle_hashes``: every file's sha256, JSON files without timings."""
    spec = importlib.util.spec_from_file_location("bundle_hashes_bench", ROOT / "benchmarks" / "bundle_hashes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.bundle_hashes


bundle_hashes = _bundle_hashes()


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(self.conv(x)))), 1))


def cli_run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_bundles(a: Path, b: Path) -> None:
    """Every file of ``a`` and ``b`` the same, JSON files up to timings; the manifests up to the creation time
    and the hashes of the files that hold timings."""
    ha, hb = bundle_hashes(a), bundle_hashes(b)
    assert sorted(ha) == sorted(hb)
    del ha["manifest.json"], hb["manifest.json"]
    assert ha == hb
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    for m in (ma, mb):
        del m["created"]
        for timed in ("report.json", "placement.json"):
            m["files"].pop(timed, None)
    assert ma == mb


@pytest.fixture(scope="module")
def model() -> SmallCNN:
    torch.manual_seed(1)
    return train_digits(SmallCNN(), steps=100, seed=1).eval()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def pair(model, work) -> tuple[Path, Path]:
    """(the API's bundle of the module, the CLI's bundle of the .pt2 it exports to), same options."""
    b = nc.compile(model, method="rueckauer",
                   target="intsim", calib="digits", calib_samples=300, timesteps=16, progress=False)
    assert b.path is None and b.manifest is None  # nothing written yet
    api = work / "api"
    assert b.save(api) == api.absolute() and b.path == api.absolute()
    pt2 = work / "small.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 8, 8),)), str(pt2))
    cli_run("build", "--method", "rueckauer",
            pt2, "--target", "intsim", "--calib-samples", 300, "--timesteps", 16, "--out", work / "cli",
            "--no-progress")
    return api, work / "cli"


def test_module_compiles_to_the_cli_integer_ir(pair):
    api, cli_dir = pair
    assert sha(api / "ir" / "snn.npz") == sha(cli_dir / "ir" / "snn.npz")
    assert sha(api / "ir" / "ann.npz") == sha(cli_dir / "ir" / "ann.npz")
    a, c = (json.loads((d / "ir" / "snn.json").read_text()) for d in pair)
    assert (a["name"], c["name"]) == ("SmallCNN", "small")  # provenance differs ...
    sources = a["meta"].pop("source_model"), c["meta"].pop("source_model")
    assert sources == ("nn.Module SmallCNN", str(pair[1].parent / "small.pt2"))
    a["name"] = c["name"]
    assert a == c  # ... and nothing else
    ma, mc = (json.loads((d / "manifest.json").read_text()) for d in pair)
    assert ma["options"] == mc["options"] and ma["target"] == mc["target"] == "intsim"
    assert ma["source"] == {"model": "nn.Module SmallCNN", "calib": "digits", "calib_split": "train",
                            "calib_samples": 300, "calib_seed": 0}
    assert mc["source"]["model_sha256"] == sha(pair[1].parent / "small.pt2")


def test_simulate_document_is_the_cli_json(pair, work):
    api, _ = pair
    res = nc.simulate(api, "digits", limit=60, progress=False)
    cli_run("simulate", api, "--dataset", "digits", "--limit", 60, "--json", work / "sim.json", "--no-progress")
    doc = json.loads((work / "sim.json").read_text())
    mine = res.to_dict()
    assert list(mine) == list(doc)  # same keys, same order
    assert mine.pop("seconds") > 0 and doc.pop("seconds") > 0
    assert mine == doc
    assert res.snn_accuracy == doc["snn_accuracy"] and res.samples == 60 and res.bundle == str(api)
    assert res.ann_accuracy > 0.7 and res.snn_accuracy > 0.6  # the small model learned
    assert res.spikes is None and res.mismatches is None
    assert np.array_equal(res.predictions, res.readout.argmax(1)) and len(res.predictions) == 60


def test_simulate_records_spikes_and_takes_arrays(pair):
    api, _ = pair
    x, y = load("digits", "test")
    by_name = nc.simulate(api, "digits", limit=20, progress=False)
    res = nc.simulate(nc.load(api), (x[:20], y[:20]), record=True, progress=False)
    assert res.dataset == "(x, y) arrays" and res.samples == 20
    assert np.array_equal(res.readout, by_name.readout) and res.snn_accuracy == by_name.snn_accuracy
    (pop,) = res.spikes  # the one population
    assert res.spikes[pop].shape == (res.run_steps, 20, 6, 8, 8)
    assert int(res.spikes[pop].sum()) == pytest.approx(20 * res.spikes_per_sample[pop])


def test_calibration_as_arrays_or_dataset_gives_the_same_ir(model, pair, work):
    x, y = load("digits", "train")
    by_arrays = nc.compile(model, method="rueckauer", calib=(x, y), calib_samples=300, timesteps=16, progress=False)
    ds = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    by_dataset = nc.compile(model, method="rueckauer", calib=ds, calib_samples=300, timesteps=16, progress=False,
                            out=work / "by-dataset")
    assert by_arrays.source["calib"] == "(x, y) arrays" and by_dataset.source["calib"] == "torch Dataset TensorDataset"
    by_arrays.save(work / "by-arrays")
    for d in ("by-arrays", "by-dataset"):
        assert sha(work / d / "ir" / "snn.npz") == sha(pair[0] / "ir" / "snn.npz"), d


def test_every_target_builds_the_same_bundle_through_api_and_cli(tmp_path):
    """examples/digits_cnn.pt2 on every built-in target: the bundle the API writes equals the CLI's, file by
    file up to timings (so ir/snn.npz byte for byte)."""
    model = ROOT / "examples" / "digits_cnn.pt2"
    for t in ("intsim", "loihi2-sim", "loihi1", "loihi2", "fpga"):
        b = nc.compile(model, method="rueckauer",
                       target=t, calib="digits", calib_samples=100, timesteps=8, rate_samples=1,
                       out=tmp_path / f"api-{t}", progress=False)
        cli_run("build", "--method", "rueckauer",
                model, "--target", t, "--calib-samples", 100, "--timesteps", 8, "--rate-samples", 1,
                "--out", tmp_path / f"cli-{t}", "--no-progress")
        assert sha(tmp_path / f"api-{t}" / "ir" / "snn.npz") == sha(tmp_path / f"cli-{t}" / "ir" / "snn.npz"), t
        same_bundles(tmp_path / f"api-{t}", tmp_path / f"cli-{t}")
        assert (b.placement is None) == (t == "intsim") and b.target == t


def test_saved_bundle_round_trips(pair, tmp_path):
    api, _ = pair
    b = nc.load(api)
    assert b.path == api and b.target == "intsim" and b.timesteps == 16 and b.placement is None
    b.save(tmp_path / "again")
    same_bundles(api, tmp_path / "again")
    with pytest.raises(BundleError, match="already exists"):
        b.save(tmp_path / "again")
    b.save(tmp_path / "again", force=True)


def test_in_memory_placed_bundle(model, tmp_path):
    b = nc.compile(model, method="rueckauer",
                   target="fpga", calib="digits", calib_samples=100, timesteps=8, progress=False)
    assert b.path is None and b.placement.n_cores >= 1 and b.profile.name == "fpga-generic"
    assert "fpga/nc_top.v" in b.files and "placement.json" in b.files
    res = nc.simulate(b, "digits", limit=5, progress=False)  # intsim on the unsaved bundle
    assert res.bundle is None and res.target == "fpga" and res.samples == 5
    out = b.save(tmp_path / "fpga")
    assert nc.load(out).placement.n_cores == b.placement.n_cores


def test_unknown_and_bad_options(model, tmp_path):
    with pytest.raises(OptionError, match=r"unknown option timestep; valid options: calib_samples, dry_run, "):
        nc.compile(model, method="rueckauer", timestep=8, out=tmp_path / "x")
    with pytest.raises(OptionError, match="option timesteps: 0 is below its minimum 1"):
        nc.compile(model, method="rueckauer", timesteps=0)
    with pytest.raises(OptionError, match="option method: expected one of robust, rueckauer, ecc, qrelu, qcfs, stcsnn"):
        nc.compile(model, method="nope")
    with pytest.raises(TargetError, match="unknown target 'loihi9'; use one of intsim, loihi2-sim"):
        nc.compile(model, method="rueckauer", target="loihi9")
    with pytest.raises(OptionError, match="option limit"):
        nc.simulate(ROOT / "nowhere", "digits", limit=0)  # checked before the bundle is read
    assert not (tmp_path / "x").exists()


def test_import_is_light():
    code = ("import sys, neurocompile as nc; nc.__version__; "
            "assert not any(m.split('.')[0] in ('torch', 'lava') for m in sys.modules), sorted(sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_docs_name_every_public_function_and_option_default():
    from neurocompile.api.options import OPTIONS

    text = (ROOT / "docs" / "api.md").read_text()
    for name in nc.__all__:
        assert f"`{name}" in text or f"{name}(" in text, name
    table = text.split("| option | default |")[1].split("\n\n")[0]  # compile's options
    rows = {m[0]: m[1] for m in re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M)}
    assert len(rows) == len(OPTIONS)
    for o in OPTIONS:
        want = f'`"{o.default}"`' if isinstance(o.default, str) else \
            f"`{o.default}`" if o.default is None or isinstance(o.default, bool) else str(o.default)
        assert rows.get(o.name, "").strip() == want, (o.name, rows.get(o.name), want)


@pytest.mark.lava
def test_loihi2_sim_from_python_runs_in_lava_without_mismatches(model):
    pytest.importorskip("lava.magma.core.run_configs")
    b = nc.compile(model, method="rueckauer",
                   target="loihi2-sim", calib="digits", calib_samples=200, timesteps=12, progress=False)
    assert "lava/processes.json" in b.files
    res = nc.simulate(b, "digits", backend="lava", limit=3, progress=False)
    assert res.mismatches == 0 and res.readout_mismatches == 0 and res.backend == "lava"
    assert min(res.spikes_per_sample.values()) > 0  # every population spiked
