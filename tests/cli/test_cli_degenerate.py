"""The example Fashion CNN at a narrow state: ``--state-bits 8`` leaves its first conv no weight (exit 2, one
line, nothing written); ``--state-bits 10`` leaves it 1-2 of 144 (built, with a warning on stderr and in
report.json)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from neurocompile.cli import cli

MODEL = Path(__file__).parents[2] / "examples" / "fashion_cnn.pt2"
CONV0 = "layer 0 (Conv2d) [conv2d_0]"


def _build(out: Path, state_bits: int, *extra):
    args = ["build", MODEL, "--target", "intsim", "--calib", "fashion-mnist", "--calib-samples", 200,
            "--state-bits", state_bits, "--rate-samples", 0, "--out", out, *extra]
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_state_bits_8_is_refused(tmp_path):
    r = _build(tmp_path / "b", 8)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"neurocompile: error: pass quantize: {CONV0}: all 144 non-zero weights round to 0 as "
                           "8-bit integers"), line
    assert "threshold <= 2^5 in the 8-bit state" in line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_state_bits_10_warns(tmp_path):
    # the baseline method: the quantiser is the same for every method, and the default one scores candidates
    r = _build(tmp_path / "b", 10, "--method", "rueckauer")
    assert r.exit_code == 0, r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"neurocompile: warning: {CONV0}: of its 144 non-zero weights, "), line
    notes = json.loads((tmp_path / "b" / "report.json").read_text())["notes"]
    assert [n for n in notes if n.startswith("warning: ")] == [line.removeprefix("neurocompile: ")]
    assert line.removeprefix("neurocompile: ") in r.stdout  # the report table shows it too
    # control: the default 24-bit state keeps the weights, no warning
    ok = _build(tmp_path / "c", 24, "--method", "rueckauer")
    assert ok.exit_code == 0 and ok.stderr == "", ok.stderr
