"""A model file that is not a ``.pt2`` ExportedProgram: ``neurocompile build`` (a real subprocess, so torch's
own logging would show) prints exactly one line on stderr that says what the file is and how to export,
exits 2 and writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from neurocompile.errors import ConversionError
from neurocompile.frontend import load_model
from neurocompile.frontend.probe import RECIPE

SCRIPT = Path(sys.executable).parent / "neurocompile"


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(72, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _state_dict(p: Path):
    torch.save(Tiny().state_dict(), p)


def _state_dict_legacy(p: Path):
    torch.save(Tiny().state_dict(), p, _use_new_zipfile_serialization=False)


def _whole_module(p: Path):
    torch.save(Tiny(), p)


def _sequential(p: Path):
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), p)


def _checkpoint(p: Path):
    torch.save({"model": Tiny().state_dict(), "epoch": 3}, p)


def _script(p: Path):
    torch.jit.save(torch.jit.script(Tiny().eval()), str(p))


def _trace(p: Path):
    torch.jit.save(torch.jit.trace(Tiny().eval(), torch.zeros(1, 1, 8, 8)), str(p))


def _garbage(p: Path):
    p.write_bytes(b"\x00\x01 not a model \xff" * 50)


def _zip_not_pt2(p: Path):
    import zipfile

    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")


KINDS = [
    (_state_dict, "model.pt", r"a state_dict \(4 tensors"),
    (_state_dict_legacy, "legacy.pth", r"a state_dict \(4 tensors"),
    (_whole_module, "whole.pt", r"a whole pickled model \(torch\.save\(model\), class test_model_files\.Tiny\)"),
    (_sequential, "seq.pt", r"a whole pickled model .*torch\.nn\.modules\.container\.Sequential"),
    (_checkpoint, "ckpt.pt", r"a checkpoint dictionary saved with torch\.save \(keys model, epoch\)"),
    (_script, "scripted.pt", r"a TorchScript module"),
    (_trace, "traced.pt2", r"a TorchScript module"),
    (_garbage, "garbage.pt2", r"neither a \.pt2 archive nor a file written by torch\.save"),
    (_zip_not_pt2, "other.zip", r"a zip archive without the files of a \.pt2 archive"),
]


@pytest.mark.parametrize("make, fname, what", KINDS, ids=[k[1] for k in KINDS])
def test_wrong_model_file_is_one_line_with_the_recipe(tmp_path, make, fname, what):
    import re

    path = tmp_path / fname
    make(path)
    out = tmp_path / "out"
    r = subprocess.run([str(SCRIPT), "build", "--method", "rueckauer",
                        str(path), "--target", "intsim", "--calib", "digits", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr  # torch's own warnings and log records silenced
    line = lines[0]
    assert line.startswith(f"neurocompile: error: {path}: this is "), line
    assert re.search(what, line), line
    assert line.endswith(f"not a .pt2 ExportedProgram; export the model with {RECIPE}"), line
    assert not out.exists()


def test_a_damaged_pt2_is_one_line_too(tmp_path):
    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(Tiny().eval(), (torch.zeros(1, 1, 8, 8),)), str(good))
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a download that stopped half-way
    r = subprocess.run([str(SCRIPT), "build", "--method", "rueckauer",
                        str(cut), "--target", "intsim", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"neurocompile: error: {cut}: not a valid .pt2 file written by torch.export.save (")
    assert r.stderr.rstrip().endswith(f"export the model with {RECIPE}")


def test_a_real_pt2_still_loads_and_the_api_gives_the_same_message(tmp_path):
    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(Tiny().eval(), (torch.zeros(1, 1, 8, 8),)), str(good))
    assert load_model(good).input.shape == (1, 8, 8)  # negative control: the probe lets a .pt2 through
    bad = tmp_path / "weights.pt"
    _state_dict(bad)
    with pytest.raises(ConversionError, match=r"weights\.pt: this is a state_dict .* export the model with torch\.export"):
        load_model(bad)
