"""A QCFS-trained CNN (``neurocompile.training.qcfs``, 8x8 digits, trained here in a second), exported as users
export (``to_exportable``, ``torch.export``, ``.pt2``) and built with ``--method qcfs`` at T = 4: intsim, Lava
(loihi2-sim) and the FPGA RTL simulation produce the same spikes in every population at every step, every
population spikes, and one weight one LSB off is caught (Lava) / one ROM word flipped is caught (RTL).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import neurocompile as nc
from controls import first_conv_one_lsb_off
from digits_training import train_digits
from neurocompile.datasets import load
from neurocompile.ir import Neurons
from neurocompile.results import spike_mismatches

T = 4  # the QCFS levels the model is trained with


@functools.cache
def qcfs_model_file(tmp: str) -> Path:
    """conv-BN-QCFS-avgpool, conv-QCFS-maxpool, fc-QCFS, fc: ReLU for a moment, then QCFS (L = 4) with
    thresholds from the 99.9th percentile, trained on, exported."""
    from neurocompile.training import calibrate_lambdas, swap_relu_qcfs, to_exportable

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
                      nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))
    train_digits(m, steps=60)
    swap_relu_qcfs(m, T)
    calibrate_lambdas(m, torch.as_tensor(load("digits", "train")[0][:500]))
    train_digits(m, steps=60, seed=1)
    to_exportable(m.eval())
    path = Path(tmp) / "digits_qcfs.pt2"
    torch.export.save(torch.export.export(m, (torch.zeros(1, 1, 8, 8),)), path)
    return path


def build(target: str, tmp_path_factory) -> nc.Bundle:
    path = qcfs_model_file(str(tmp_path_factory.getbasetemp()))
    xc, yc = load("digits", "train")
    return nc.compile(path, target=target, method="qcfs", timesteps=T, calib=(xc[:300], yc[:300]),
                      progress=False)


def test_qcfs_build_uses_the_clips(tmp_path_factory):
    b = build("intsim", tmp_path_factory)
    pops = b.snn.nodes_of(Neurons)
    assert len(pops) == 3 and set(b.snn.meta["clip_scales"]) == {n.name for n in pops}
    assert b.snn.meta["neuron"]["kind"] == "if" and b.snn.meta["v_init"] == 0.5
    x, y = load("digits", "test")
    r = nc.simulate(b, (x, y), progress=False)
    assert r.snn_accuracy > 0.8 and r.ann_accuracy > 0.8  # a real (trained) network, not noise


def _inputs(n: int = 3):
    x, y = load("digits", "test")
    return x[:n], y[:n]


def _check(r, b):
    assert r.mismatches == 0 and r.readout_mismatches == 0
    silent = [n.name for n in b.snn.nodes_of(Neurons) if r.spikes_per_sample.get(n.name, 0) == 0]
    assert not silent, f"populations without a spike: {silent}"


@pytest.mark.lava
def test_qcfs_lava_equals_intsim(tmp_path_factory):
    from neurocompile.backends.intsim import simulate
    from neurocompile.backends.lava.run import simulate_lava
    from neurocompile.targets import get_target

    b = build("loihi2-sim", tmp_path_factory)
    x, y = _inputs()
    _check(nc.simulate(b, (x, y), backend="lava", progress=False), b)
    # negative control: the first conv's largest weight one LSB off in the network Lava runs
    ref = simulate(b.snn, x, T, record=True)
    bad = first_conv_one_lsb_off(b.snn)
    assert spike_mismatches(ref, simulate_lava(bad, x, T, limits=get_target("loihi2-sim").limits)) > 0


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")
def test_qcfs_rtl_equals_intsim(tmp_path_factory, tmp_path):
    from neurocompile.backends.intsim import simulate
    from neurocompile.backends.verilog import write_design
    from neurocompile.backends.verilog.rtl import run
    from neurocompile.results import RunResult, quantize_input

    b = build("fpga", tmp_path_factory)
    x, y = _inputs()
    _check(nc.simulate(b, (x, y), backend="rtl", progress=False), b)
    # negative control: the same design written from a graph with one weight one LSB off
    ref = simulate(b.snn, x, T, record=True)
    bad = first_conv_one_lsb_off(b.snn)
    prof = nc.get_target("fpga").profile
    d = write_design(bad, b.placement, prof, T, tmp_path / "bad")
    got = run(d, bad.infer_shapes(), quantize_input(bad, x))
    assert spike_mismatches(ref, RunResult(got.readout, T, 0, {}, np.zeros(len(x)), dict(got.spikes))) > 0


ZOO_QCFS = sorted((Path(__file__).resolve().parents[2] / "examples" / "zoo").glob("*_qcfs.pt2"))


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("path", ZOO_QCFS[:1], ids=lambda p: p.stem)
def test_zoo_qcfs_lava_equals_intsim(path):
    """A QCFS-trained Fashion-MNIST zoo checkpoint (examples/zoo/train_qcfs.py) at T = 4 in Lava: 0 mismatches."""
    xc, yc = load("fashion-mnist", "train")
    b = nc.compile(path, target="loihi2-sim", method="qcfs", timesteps=T, calib=(xc[:200], yc[:200]),
                   progress=False)
    x, y = load("fashion-mnist", "test")
    _check(nc.simulate(b, (x[:1], y[:1]), backend="lava", progress=False), b)
