"""benchmarks/qcfs.py's summary, tables and --combine on hand-made run records (the runs themselves need the
Fashion-MNIST checkpoints and minutes; the conversion they measure is tested in test_qcfs.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "qcfs.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("qcfs_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def _doc(models: dict, stc_error: bool = False) -> dict:
    """models: name -> (ann, qcfs ann, {T: snn accuracy}) for the qcfs label; depth 3."""
    runs = []
    for m, (ann, q, accs) in models.items():
        for T, a in accs.items():
            runs.append({"model": m, "method": "qcfs", "timesteps": T, "depth": 3, "synapse_delay": 0,
                         "snn_accuracy": a, "synops_per_sample": 100.0 * T, "synops_per_mac": 0.25 * T,
                         "latency": T, "loss_vs_ann": ann - a, "loss_vs_qcfs_ann": q - a})
        if stc_error:
            runs.append({"model": m, "method": "stcsnn", "timesteps": 2,
                         "error": "pass stc_blocks: layer 2 (MaxPool2d) [m]: max pooling is not supported with "
                                  "method stcsnn (why); use another method"})
    return {"config": {"dataset": "fashion-mnist", "test_samples": 100, "calib_samples": 10, "calib_seed": 0,
                       "weight_bits": 8, "timesteps": [2, 4], "stcsnn_timesteps": [2], "backend": "intsim"},
            "models": {m: {"ann_accuracy": v[0], "qcfs_ann_accuracy": v[1], "levels": 4, "macs_per_sample": 400}
                       for m, v in models.items()},
            "runs": runs}


def test_summary_median_and_worst(bench):
    doc = _doc({"a": (0.90, 0.89, {2: 0.85, 4: 0.895}), "b": (0.92, 0.92, {2: 0.90, 4: 0.91}),
                "c": (0.91, 0.90, {2: 0.70, 4: 0.88})})
    s = bench.summary(doc)["qcfs"]["L=4"]
    assert s["4"]["median_loss"] == pytest.approx(0.01) and s["4"]["worst_loss"] == pytest.approx(0.03)
    assert s["2"]["median_loss"] == pytest.approx(0.05) and s["2"]["worst_loss"] == pytest.approx(0.21)
    assert s["4"]["median_loss_vs_qcfs_ann"] == pytest.approx(0.01)
    assert s["4"]["median_synops_per_mac"] == pytest.approx(1.0)
    doc["summary"] = bench.summary(doc)
    md = bench.format_markdown(doc)
    assert "qcfs, L=4 models, T = 4: median loss +1.00 pp" in md and "qcfs, L=4 models, T = 2: median loss +5.00 pp" in md
    assert "| **median, L=4** |" in md


def test_models_with_other_levels_are_summarised_apart(bench):
    doc = _doc({"a": (0.90, 0.89, {2: 0.85, 4: 0.895}), "b": (0.92, 0.92, {2: 0.90, 4: 0.91}),
                "a_l2": (0.88, 0.89, {2: 0.88, 4: 0.87})})
    doc["models"]["a_l2"]["levels"] = 2
    s = bench.summary(doc)["qcfs"]
    assert s["L=4"]["2"]["models"] == 2 and s["L=2"]["2"]["models"] == 1
    assert s["L=2"]["2"]["median_loss"] == pytest.approx(0.0) and s["L=4"]["2"]["worst_loss"] == pytest.approx(0.05)
    doc["summary"] = bench.summary(doc)
    assert "qcfs, L=2 models, T = 2: median loss +0.00 pp" in bench.format_markdown(doc)


def test_combine_and_refusals(bench):
    one = _doc({"a": (0.90, 0.89, {2: 0.85, 4: 0.895})}, stc_error=True)
    two = _doc({"b": (0.92, 0.92, {2: 0.90, 4: 0.91})})
    both = bench.combine([one, two])
    assert set(both["models"]) == {"a", "b"} and len(both["runs"]) == 5
    both["summary"] = bench.summary(both)
    assert both["summary"]["qcfs"]["L=4"]["4"]["models"] == 2 and "stcsnn" not in both["summary"]
    assert "| a | | stcsnn | 2 | not supported: max pooling is not supported with method stcsnn |" in \
        bench.format_markdown(both)
    two["config"]["test_samples"] = 50
    with pytest.raises(SystemExit, match="test_samples"):
        bench.combine([one, two])
