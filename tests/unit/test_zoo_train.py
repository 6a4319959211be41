"""examples/zoo/train.py without training: every architecture has a recipe, builds, exports at batch 1 and
stays under the checkpoint size limit; the README lists the sidecars in ARCHS order; bad options exit 2."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "zoo" / "train.py"


@pytest.fixture(scope="module")
def zoo():
    path, mods = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("zoo_train", TRAIN)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)  # puts examples/zoo and examples on sys.path for archs / common
        yield mod
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - mods:
            if name in ("archs", "common"):
                del sys.modules[name]


def test_every_arch_has_a_recipe_builds_and_exports_small(zoo):
    assert set(zoo.RECIPES) == set(zoo.ARCHS) and len(zoo.ARCHS) >= 6
    for name, build in zoo.ARCHS.items():
        torch.manual_seed(0)
        model = build().eval()
        n_bytes = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        assert n_bytes < zoo.MAX_BYTES, name
        x = torch.rand(2, 1, 28, 28)
        assert model(x).shape == (2, 10), name
        ep = torch.export.export(model, (torch.zeros(1, 1, 28, 28),))
        assert torch.allclose(ep.module()(x[:1]), model(x[:1]), atol=1e-5), name


def test_readme_lists_the_sidecars_in_arch_order(zoo, tmp_path):
    names = list(zoo.ARCHS)[::-1][:2]  # written out of order; one architecture missing
    for i, name in enumerate(names):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"test_accuracy": 0.9012 + i / 100, "epochs": 3, "seed": i, "description": f"net {name}",
             "bytes": 2048 * (i + 1), "parameters": 1234, "train_seconds": 61.0, "threads": 2}))
    text = zoo.write_readme(tmp_path).read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [n for n in zoo.ARCHS if n in names]
    row = next(r for r in rows if f"`{names[1]}`" in r)
    assert f"| net {names[1]} | 91.12 | 4 | 1,234 | 3 | 1 | 61 (2) |" in row


@pytest.mark.parametrize("argv", [["--only", "no_such_net"], ["--epochs", "0"]])
def test_bad_options_exit_2(zoo, argv, capsys):
    with pytest.raises(SystemExit) as e:
        zoo.parse_args(argv)
    assert e.value.code == 2
