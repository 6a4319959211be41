"""Energy per sample = operation counts x the cited energy per operation (docs/semantics.md, "Energy"), on a
network small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neurocompile as nc
from neurocompile.backends.intsim import firing_rates, simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.energy import counts_from_rates, counts_from_run, energy_uj, estimate
from neurocompile.frontend import load_model
from neurocompile.targets import get_profile, profile_from_dict
from neurocompile.targets.energy import ANN_FP32_45NM, ANN_INT8_45NM, FPGA_45NM, LOIHI

T = 4


def test_figures_are_the_cited_ones():
    # Davies et al. 2018, Table 2; Horowitz, ISSCC 2014 (45 nm)
    assert (LOIHI.synop_pj, LOIHI.neuron_update_pj, LOIHI.spike_pj, LOIHI.mac_pj) == (23.6, 81.0, 1.7, None)
    assert (FPGA_45NM.synop_pj, FPGA_45NM.neuron_update_pj, FPGA_45NM.spike_pj) == (0.1, 0.2, None)
    assert ANN_FP32_45NM.mac_pj == pytest.approx(3.7 + 0.9) and ANN_INT8_45NM.mac_pj == pytest.approx(0.2 + 0.03)
    for spec in (LOIHI, FPGA_45NM, ANN_FP32_45NM, ANN_INT8_45NM):  # every figure names its source
        figures = [k for k in ("synop_pj", "neuron_update_pj", "spike_pj", "mac_pj") if getattr(spec, k) is not None]
        assert sorted(spec.sources) == sorted(figures)
    assert get_profile("loihi1").energy == LOIHI and get_profile("fpga-generic").energy == FPGA_45NM
    loihi2 = get_profile("loihi2")
    assert loihi2.energy.synop_pj == LOIHI.synop_pj and "energy" in loihi2.assumptions


@pytest.fixture(scope="module")
def tiny():
    """Linear(3 -> 2) - ReLU - Linear(2 -> 2) with every weight non-zero; inputs whose last value is 0."""
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[1.0, 0.5, -0.5], [0.25, 1.0, 0.5]]))
        m[0].bias.zero_()
        m[2].weight.copy_(torch.tensor([[1.0, -1.0], [-0.5, 1.0]]))
    x = np.array([[0.9, 0.6, 0.0], [0.3, 1.0, 0.0]], dtype=np.float32)
    g = compile_graph(load_model(m.eval(), (3,)), x, CompileOptions(timesteps=T))
    return g, x


def test_counts_and_energy_by_hand(tiny):
    g, x = tiny
    res = simulate(g, x, T, record=True)
    (hidden,) = res.spikes
    spikes = float(np.mean([(res.spikes[hidden][:, i] != 0).sum() for i in range(len(x))]))
    assert spikes > 0 and res.run_steps == T
    c = counts_from_run(g, x, float(np.mean(res.synops)), spikes, res.run_steps)
    # each hidden spike reaches both outputs; the input's 2 non-zero values reach both hidden units on every step
    assert c == {"synops": 2 * spikes, "input_ops": 2 * 2 * T, "neuron_updates": (2 + 2) * T, "spikes": spikes,
                 "macs": 3 * 2 + 2 * 2}
    e = energy_uj(LOIHI, c)
    assert e["synops"] == pytest.approx((2 * spikes + 16) * 23.6e-6)
    assert e["neuron_updates"] == pytest.approx(16 * 81e-6) and e["spikes"] == pytest.approx(spikes * 1.7e-6)
    assert e["total"] == pytest.approx(((2 * spikes + 16) * 23.6 + 16 * 81 + spikes * 1.7) * 1e-6)
    assert energy_uj(FPGA_45NM, c) == pytest.approx({"total": ((2 * spikes + 16) * 0.1 + 16 * 0.2) * 1e-6,
                                                      "synops": (2 * spikes + 16) * 0.1e-6,
                                                      "neuron_updates": 16 * 0.2e-6})
    assert energy_uj(ANN_FP32_45NM, c) == pytest.approx({"total": 10 * 4.6e-6, "macs": 10 * 4.6e-6})
    doc = estimate(c, basis="hand")  # no profile: every built-in profile's figures, then the ANN references
    assert list(doc["uj_per_sample"]) == ["loihi1", "loihi2", "fpga-generic", "ann-fp32-45nm", "ann-int8-45nm"]
    assert doc["uj_per_sample"]["loihi1"] == e and doc["counts"] == c
    assert list(estimate(c, get_profile("fpga-generic"))["uj_per_sample"]) == [
        "fpga-generic", "ann-fp32-45nm", "ann-int8-45nm"]


def test_build_estimate_from_rates_equals_the_run_on_the_same_images(tiny):
    g, x = tiny
    res = simulate(g, x, T)
    run = counts_from_run(g, x, float(np.mean(res.synops)), float(np.mean(sum(res.spike_counts.values()))),
                          res.run_steps)
    est = counts_from_rates(g, firing_rates(g, x, T), x, T)
    assert est == pytest.approx(run) and run["synops"] > 0


def test_report_and_simulation_carry_the_estimate():
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    b = nc.compile(m.eval(), target="intsim", calib="digits", calib_samples=50, timesteps=8, progress=False)
    e = b.report["energy"]
    assert e["basis"].startswith("intsim firing rates on 2 calibration images")
    assert e["counts"]["macs"] == 8 * 8 * 4 * 9 + 64 * 10 and e["counts"]["neuron_updates"] == (256 + 10) * 8
    r = nc.simulate(b, "digits", limit=5, progress=False)
    assert r.to_dict()["energy"] == r.energy and r.energy["counts"]["macs"] == e["counts"]["macs"]
    assert r.energy["uj_per_sample"]["loihi1"]["total"] > 0
    none = nc.compile(m, target="intsim", calib="digits", calib_samples=50, timesteps=8, rate_samples=0,
                      progress=False)
    assert "energy" not in none.report  # no firing rates, no estimate
    placed = nc.compile(m, target="loihi2", calib="digits", calib_samples=50, timesteps=8, dry_run=True,
                        progress=False)  # the placement's firing rates, the profile's figures alone
    assert list(placed.report["energy"]["uj_per_sample"]) == ["loihi2", "ann-fp32-45nm", "ann-int8-45nm"]
    assert placed.report["energy"]["counts"]["synops"] > 0


def test_a_user_profile_replaces_the_figures_with_their_sources():
    own = profile_from_dict({"base": "loihi2", "name": "mine",
                             "energy": {"synop_pj": 10, "sources": {"synop_pj": "my chip's data sheet"}}})
    assert own.energy.synop_pj == 10.0 and own.energy.neuron_update_pj is None  # not Loihi's, uncited
    assert own.energy.sources == {"synop_pj": "my chip's data sheet"}
    c = {"synops": 3.0, "input_ops": 2.0, "neuron_updates": 7, "spikes": 3.0, "macs": 9}
    assert estimate(c, own)["uj_per_sample"]["mine"] == pytest.approx({"total": 50e-6, "synops": 50e-6})
    assert profile_from_dict({"base": "loihi2", "name": "same"}).energy == get_profile("loihi2").energy


def test_targets_lists_the_figures_with_their_sources():
    from click.testing import CliRunner

    from neurocompile.cli import cli

    out = CliRunner().invoke(cli, ["targets", "-v"]).stdout
    assert "energy synop: 23.6 pJ (Davies et al., IEEE Micro 2018, Table 2" in out
    assert "energy synop: 0.1 pJ (Horowitz, ISSCC 2014 (45 nm): 32-bit integer add)" in out
