"""Targets from other packages: the entry-point group ``neurocompile.targets``.

A temporary directory on ``sys.path`` holds a distribution's metadata (``*.dist-info`` with
``entry_points.txt``) and its module: one plugin registers a target with intsim's semantics, one fails to
import, one registers a name that is taken. The registry loads them at its first lookup.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import neurocompile as nc
from neurocompile.cli import cli
from neurocompile.errors import QuantizationError, TargetError
from neurocompile.targets import registry

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "digits_cnn.pt2"
SCRIPT = Path(sys.executable).parent / "neurocompile"

PLUGIN = '''
from neurocompile.targets import ArithmeticLimits, Target
from neurocompile.targets.builtin import INTSIM


def register(register_target):
    register_target(Target(name="toy", description="a plugin target with intsim semantics",
                           limits=ArithmeticLimits(max_weight_bits=6), simulators=(INTSIM,)))


def duplicate(register_target):
    register_target(Target(name="intsim", simulators=(INTSIM,)))
'''

ENTRY_POINTS = """[neurocompile.targets]
toy = toy_targets:register
twice = toy_targets:duplicate
broken = toy_targets_missing:register
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "site"
    (d / "toy_targets-0.1.dist-info").mkdir(parents=True)
    (d / "toy_targets-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-targets\n"
                                                                "Version: 0.1\n")
    (d / "toy_targets-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    (d / "toy_targets.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(d))
    registry.reset()
    yield d
    registry.reset()
    sys.modules.pop("toy_targets", None)


def test_plugin_target_registers_and_failures_are_reported(plugin_dir):
    assert registry._targets is None  # nothing loaded before the first lookup
    toy = nc.get_target("toy")
    assert toy.limits.max_weight_bits == 6 and toy.backends == ("intsim",)
    assert [t.name for t in nc.list_targets()] == ["intsim", "loihi2-sim", "loihi1", "loihi2", "fpga", "toy"]
    errors = registry.load_errors()
    assert len(errors) == 2
    assert any("twice" in e and "target 'intsim' is already registered" in e for e in errors)
    assert any("broken" in e and "ModuleNotFoundError" in e for e in errors)
    with pytest.raises(TargetError, match="already registered"):
        nc.register_target(toy)


def test_plugin_target_builds_through_api_and_cli(plugin_dir, tmp_path):
    b = nc.compile(MODEL, method="rueckauer",
                   target="toy", calib="digits", calib_samples=100, timesteps=8, weight_bits=6,
                   out=tmp_path / "api", progress=False)
    assert b.target == "toy" and b.options["target"] == "toy" and b.options["max_weight_bits"] == 6
    with pytest.raises(QuantizationError, match="7-bit weights requested, but target toy stores at most 6-bit"):
        nc.compile(MODEL, method="rueckauer", target="toy", weight_bits=7, calib_samples=50, progress=False)
    args = ["build", "--method", "rueckauer",
            str(MODEL), "--target", "toy", "--calib-samples", "100", "--timesteps", "8", "--weight-bits", "6",
            "--out", str(tmp_path / "cli"), "--no-progress"]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "target toy" in r.stdout
    digest = [hashlib.sha256((tmp_path / d / "ir" / "snn.npz").read_bytes()).hexdigest() for d in ("api", "cli")]
    assert digest[0] == digest[1]
    res = nc.simulate(tmp_path / "cli", "digits", limit=10, progress=False)
    assert res.target == "toy" and res.samples == 10 and res.snn_accuracy > 0.5
    r = CliRunner().invoke(cli, ["targets"], catch_exceptions=False)
    assert r.exit_code == 0 and "a plugin target with intsim semantics" in r.stdout
    assert "2 target plugin(s) failed to load" in r.stdout and "toy_targets_missing" in r.stdout


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this environment")
def test_console_script_sees_plugins_and_survives_broken_ones(plugin_dir):
    env = {**os.environ, "PYTHONPATH": str(plugin_dir)}
    r = subprocess.run([str(SCRIPT), "targets"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "\ntoy " in r.stdout and "failed to load" in r.stdout
    r = subprocess.run([str(SCRIPT), "inspect", str(plugin_dir / "missing")], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1  # an unrelated command: its own one-line error only
