"""Smoke test of benchmarks/fidelity.py on a tiny random model and a random .npz dataset (no checkpoints)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "fidelity.py"


@pytest.fixture(scope="module")
def fidelity():
    spec = importlib.util.spec_from_file_location("fidelity_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def _tiny_model(tmp_path: Path, name: str = "tiny", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 10),
    ).eval()
    ep = torch.export.export(model, (torch.zeros(1, 1, 8, 8),))
    path = tmp_path / f"{name}.pt2"
    torch.export.save(ep, str(path))
    return path


def _dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.random((60, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 60))
    return path


def test_fidelity_smoke(fidelity, tmp_path):
    model, data, out = _tiny_model(tmp_path), _dataset(tmp_path), tmp_path / "results"
    results = fidelity.main(["--models", str(model), "--dataset", str(data), "--limit", "20", "--timesteps", "4",
                             "--calib-samples", "50", "--sweep-bits", "7", "8", "--sweep-timesteps", "4",
                             "--sweep-percentiles", "99.9", "100", "--out", str(out), "--no-progress"])

    assert results["config"]["test_samples"] == 20
    info = results["models"]["tiny"]
    assert info["status"] == "ok" and 0.0 <= info["ann_accuracy"] <= 1.0 and info["macs_per_sample"] > 0
    assert "qrelu" not in info["methods"] and "qcfs" not in info["methods"]  # only for trained checkpoints

    runs = results["runs"]
    grid = {"rueckauer", "rueckauer+v0.5", "rueckauer+v0.5+channel", "robust", "ecc", "ecc-layer", "stcsnn",
            "stcsnn-tau1"}
    assert {r["method"] for r in runs if "@" not in r["method"]} == grid
    pct = {r["method"] for r in runs if "@" in r["method"]}
    assert pct == {f"rueckauer+v0.5@{n}@p{p}" for n in ("layer", "channel") for p in ("99.9", "100")}
    for r in runs:
        assert r["status"] == "ok", r
    ok = runs
    assert {r["weight_bits"] for r in ok if r["method"] == "ecc"} == {7, 8}
    for r in ok:
        assert 0.0 <= r["snn_accuracy"] <= 1.0
        assert 0.0 <= r["ann_accuracy"] <= 1.0
        assert r["synops_per_sample"] >= 0 and r["synops_per_mac"] >= 0
        assert r["run_steps"] >= r["timesteps"] and r["energy_uj_per_sample"]["loihi1"] > 0

    # the Markdown table: one row per method of the model, numbers in [0, 100] % or "not implemented yet"
    md = (out / "fidelity.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| tiny |")]
    table = rows[: len(info["methods"])]
    assert [r.split("|")[2].strip() for r in table] == info["methods"]
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")[2:]]
        for c in cells:
            assert 0.0 <= float(c) <= 100.0, row
    assert "## Percentile sweep at T=4" in md and "| tiny | channel |" in md
    assert "## Energy per sample in uJ, Loihi / FPGA" in md and "ann-fp32-45nm" in md

    doc = json.loads((out / "fidelity.json").read_text())
    assert len(doc["runs"]) == len(runs)
    assert (out / "fidelity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["rueckauer", "ecc", "robust"])
def test_staged_compile_equals_compile_graph(fidelity, tmp_path, method):
    """The benchmark's cached two-stage compile gives exactly the graph compile_graph gives (robust chooses on
    the integer network, so its float conversion depends on the weight width and is not cached)."""
    from neurocompile.backends.intsim import simulate
    from neurocompile.compiler import CompileOptions, compile_graph
    from neurocompile.frontend import load_model

    ann = load_model(_tiny_model(tmp_path))
    x = np.random.default_rng(1).random((30, 1, 8, 8), dtype=np.float32)
    cache: dict = {}
    for bits in (8, 7):  # the second width reuses the cached float conversion
        opts = CompileOptions(weight_bits=bits, timesteps=4, method=method, v_init=0.5)
        ref, got = compile_graph(ann, x, opts), fidelity.compile_staged(ann, x, opts, cache)
        assert [n.name for n in ref.topo()] == [n.name for n in got.topo()]
        for a, b in zip(ref.topo(), got.topo()):
            assert a.attrs() == b.attrs(), a.name
            ra, ga = a.arrays(), b.arrays()
            assert ra.keys() == ga.keys(), a.name
            for k in ra:
                assert np.array_equal(np.asarray(ra[k]), np.asarray(ga[k])), (a.name, k)
        assert np.array_equal(simulate(ref, x, 4).readout, simulate(got, x, 4).readout)
    assert len(cache) == (0 if method == "robust" else 1)


def test_combine_merges_runs(fidelity, tmp_path):
    """Two partial runs (different T and methods) combine into the union; the later run wins a duplicate."""
    model, data = _tiny_model(tmp_path), _dataset(tmp_path)
    common = ["--models", str(model), "--dataset", str(data), "--limit", "10", "--calib-samples", "30",
              "--sweep-bits", "--sweep-percentiles", "--no-progress"]
    fidelity.main(common + ["--timesteps", "4", "--methods", "rueckauer", "--out", str(tmp_path / "a")])
    fidelity.main(common + ["--timesteps", "4", "8", "--methods", "rueckauer+v0.5", "--out", str(tmp_path / "b")])
    merged = fidelity.main(["--combine", str(tmp_path / "a" / "fidelity.json"), str(tmp_path / "b" / "fidelity.json"),
                            "--out", str(tmp_path / "c")])
    assert merged["config"]["timesteps"] == [4, 8]
    assert merged["models"]["tiny"]["methods"] == ["rueckauer", "rueckauer+v0.5"]
    keys = sorted((r["method"], r["timesteps"]) for r in merged["runs"])
    assert keys == [("rueckauer", 4), ("rueckauer+v0.5", 4), ("rueckauer+v0.5", 8)]
    assert (tmp_path / "c" / "fidelity.png").stat().st_size > 0
    with pytest.raises(ValueError):
        other = json.loads((tmp_path / "a" / "fidelity.json").read_text())
        other["config"]["test_samples"] = 999
        fidelity.combine([merged, other])


def test_zoo_smoke(fidelity, tmp_path):
    """--zoo: its default methods, T and 7-/8-bit sweep per method; a *qcfs* checkpoint runs only qcfs; the
    summary's median and worst are those of the per-model losses; fidelity_zoo.* written, fidelity.* not."""
    models = [_tiny_model(tmp_path, "a", 0), _tiny_model(tmp_path, "b", 1), _tiny_model(tmp_path, "c_qcfs", 2)]
    data, out = _dataset(tmp_path), tmp_path / "results"
    results = fidelity.main(["--zoo", "--models", *map(str, models), "--dataset", str(data), "--limit", "12",
                             "--timesteps", "4", "--sweep-timesteps", "4", "--calib-samples", "30",
                             "--out", str(out), "--no-progress"])

    assert results["config"]["zoo"] and results["config"]["methods"] == list(fidelity.ZOO_METHODS)
    plain = ["rueckauer", "rueckauer+v0.5+channel", "robust", "ecc"]
    for m in ("a", "b"):
        assert results["models"][m]["methods"] == plain
        keys = {(r["method"], r["timesteps"], r["weight_bits"]) for r in results["runs"] if r["model"] == m}
        assert keys == {(label, 4, bits) for label in plain for bits in (7, 8)}
    assert results["models"]["c_qcfs"]["methods"] == ["qcfs"]
    assert {r["method"] for r in results["runs"] if r["model"] == "c_qcfs"} == {"qcfs"}
    for r in results["runs"]:
        if r["model"] != "c_qcfs":
            assert r["status"] == "ok", r

    summary = {(s["method"], s["timesteps"], s["weight_bits"]): s for s in results["zoo_summary"]}
    assert set(summary) == {(label, 4, bits) for label in plain + ["qcfs"] for bits in (7, 8)}
    for label in plain:
        s = summary[(label, 4, 8)]
        runs = {r["model"]: r for r in results["runs"] if (r["method"], r["weight_bits"]) == (label, 8)}
        loss = {m: 100 * (runs[m]["ann_accuracy"] - runs[m]["snn_accuracy"]) for m in ("a", "b")}
        assert s["loss_pp"] == pytest.approx(loss) and s["measured"] == s["models"] == 2
        assert s["median_loss_pp"] == pytest.approx(np.median(list(loss.values())))
        assert s["worst_loss_pp"] == pytest.approx(max(loss.values())) and loss[s["worst_model"]] == s["worst_loss_pp"]
        assert s["max_synops_per_mac"] == pytest.approx(max(runs[m]["synops_per_mac"] for m in ("a", "b")))

    md = (out / "fidelity_zoo.md").read_text()
    assert "## Zoo: loss vs each model's own float ANN" in md and "| ecc | 4 | 7 vs 8 |" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| rueckauer | 4 | 8 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:5] == [f"{summary[('rueckauer', 4, 8)]['loss_pp'][m]:.2f}" for m in ("a", "b")]
    assert json.loads((out / "fidelity_zoo.json").read_text())["zoo_summary"] == results["zoo_summary"]
    assert (out / "fidelity_zoo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "fidelity.json").exists() and not (out / "fidelity.md").exists()

    # restartable / combinable: an 8-bit run of both models and a 7-bit run of one merge into the same numbers
    common = ["--zoo", "--dataset", str(data), "--limit", "12", "--timesteps", "4", "--calib-samples", "30",
              "--methods", "rueckauer", "--sweep-bits", "--no-progress"]
    fidelity.main(common + ["--models", *map(str, models[:2]), "--out", str(tmp_path / "p8")])
    fidelity.main(common + ["--models", str(models[0]), "--weight-bits", "7", "--out", str(tmp_path / "p7")])
    merged = fidelity.main(["--combine", *(str(tmp_path / d / "fidelity_zoo.json") for d in ("p8", "p7")),
                            "--out", str(tmp_path / "merged")])
    assert merged["config"]["weight_bits"] == 8 and merged["config"]["sweep"]["weight_bits"] == [7, 8]
    got = {(s["method"], s["weight_bits"]): s["loss_pp"] for s in merged["zoo_summary"]}
    want = summary[("rueckauer", 4, 7)]["loss_pp"]
    assert got == {("rueckauer", 8): summary[("rueckauer", 4, 8)]["loss_pp"], ("rueckauer", 7): {"a": want["a"]}}
    assert "| rueckauer | 4 | 7 vs 8 |" in (tmp_path / "merged" / "fidelity_zoo.md").read_text()
