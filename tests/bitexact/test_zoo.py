"""The model zoo (tests/zoo.py: ResNet-18 / -20, MobileNetV1 / V2, SqueezeNet 1.1, DenseNet-121-style,
DenseNet-BC, GoogLeNet; random weights, randomised BatchNorms) end to end, as a user runs it (issue 22, 8.):

- every model, exported with ``torch.export`` and saved as ``.pt2`` (or handed over as an ``nn.Module``),
  builds for intsim and places on ``loihi2`` (``dry_run``); the bundle's float ANN equals the torch model on 32
  inputs (argmax equal, logits within float64 rounding); intsim spikes in every population;
- the small ones (8x8 inputs; concats, inverted residuals, a max pool and an average pool feeding a skip) run in Lava's
  fixed-point simulator and three of them in the RTL simulation with 0 spike mismatches against intsim, every
  population spiking; a one-LSB change of a weight in the Lava run is caught.
"""

from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest
import torch

import neurocompile as nc
from controls import first_conv_one_lsb_off
import zoo
from neurocompile.datasets import load
from neurocompile.ir import Concat, Neurons
from neurocompile.ir.ann import run_ann

CALIB = 64  # calibration images: enough for the percentiles of random networks, few enough to stay fast
T = 16
T_HW = 8  # Lava / RTL runs: fewer steps, the same integer machinery
SMALL_LAVA = ["resnet18_small", "resnet20", "mobilenet_v1", "mobilenet_v2", "squeezenet1_1_small", "densenet_bc"]
SMALL_RTL = ["mobilenet_v2", "squeezenet1_1_small", "densenet_bc"]


@functools.cache
def data(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The project's data at the model's input size: digits (8x8) or Fashion-MNIST (28x28); CALIB train images."""
    x, y = load("digits" if shape[-1] == 8 else "fashion-mnist", "train")
    return x[:CALIB], y[:CALIB]


def inputs_for(shape, n: int = 32) -> np.ndarray:
    """The first n test images of the model's dataset."""
    x, _ = load("digits" if shape[-1] == 8 else "fashion-mnist", "test")
    return x[:n]




def compile_zoo(name: str, target: str, tmp_path, via_file: bool, seed: int | None = None, **kw):
    model, shape = zoo.build(name, seed)
    src = model
    if via_file:  # as the README tells users to export
        src = tmp_path / f"{name}.pt2"
        torch.export.save(torch.export.export(model.eval(), (torch.zeros(1, *shape),)), src)
    return model, shape, nc.compile(src, target=target, calib=data(shape), progress=False,
                                    **{"method": "rueckauer", **kw})


@pytest.mark.parametrize("name", list(zoo.MODELS))
def test_zoo_builds_and_ann_equals_torch(name, tmp_path):
    model, shape, b = compile_zoo(name, "intsim", tmp_path, via_file=list(zoo.MODELS).index(name) % 2 == 0,
                                  timesteps=T)
    assert zoo.EXPECTED_OPS[name] <= {type(n).__name__ for n in b.snn.topo()}
    x = inputs_for(shape)
    want = model.double()(torch.as_tensor(x, dtype=torch.float64)).detach().numpy()
    got, _ = run_ann(b.ann, x, dtype=torch.float64)
    assert got.shape == want.shape == (32, 10)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9 * np.abs(want).max())
    assert np.array_equal(got.argmax(1), want.argmax(1))
    assert np.ptp(want, axis=0).max() > 1e-3 * np.abs(want).max()  # the logits depend on the input

    r = nc.simulate(b, (x[:4], np.zeros(4, np.int64)), progress=False)
    pops = {n.name for n in b.snn.nodes_of(Neurons)}
    assert pops and set(r.spikes_per_sample) >= pops
    silent = sorted(k for k in pops if r.spikes_per_sample[k] == 0)
    assert not silent, f"{name}: populations without a spike: {silent}"

    placed = nc.compile(model, method="rueckauer",
                        target="loihi2", calib=data(shape), dry_run=True, rate_samples=1, progress=False,
                        timesteps=T)
    assert placed.placement is not None and placed.report["placement"]["cores"] >= 1
    assert not any(k.startswith("lava/") for k in placed.files)  # dry run: no target files


def _check_run(name, r, b):
    assert r.mismatches == 0 and r.readout_mismatches == 0, name
    pops = {n.name for n in b.snn.nodes_of(Neurons)}
    silent = sorted(k for k in pops if r.spikes_per_sample.get(k, 0) == 0)
    assert not silent, f"{name}: populations without a spike: {silent}"


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL_LAVA)
def test_zoo_lava_equals_intsim(name, tmp_path):
    _, shape, b = compile_zoo(name, "loihi2-sim", tmp_path, via_file=False, timesteps=T_HW)
    x = inputs_for(shape, 2)
    r = nc.simulate(b, (x, np.zeros(len(x), np.int64)), backend="lava", progress=False)
    _check_run(name, r, b)


@pytest.mark.lava
def test_zoo_lava_negative_control(tmp_path):
    """One weight one LSB off in the network Lava runs: intsim of the original disagrees."""
    from neurocompile.backends.intsim import simulate
    from neurocompile.backends.lava.run import simulate_lava
    from neurocompile.results import spike_mismatches
    from neurocompile.targets import get_target

    _, shape, b = compile_zoo("mobilenet_v1", "loihi2-sim", tmp_path, via_file=False, timesteps=T_HW)
    x = inputs_for(shape, 2)
    ref = simulate(b.snn, x, T_HW, record=True)
    bad = first_conv_one_lsb_off(b.snn)
    lav = simulate_lava(bad, x, T_HW, limits=get_target("loihi2-sim").limits)
    assert spike_mismatches(ref, lav) > 0


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")
@pytest.mark.parametrize("name", SMALL_RTL)
def test_zoo_rtl_equals_intsim(name, tmp_path):
    _, shape, b = compile_zoo(name, "fpga", tmp_path, via_file=False, timesteps=T_HW)
    x = inputs_for(shape, 2)
    r = nc.simulate(b, (x, np.zeros(len(x), np.int64)), backend="rtl", progress=False)
    _check_run(name, r, b)


@pytest.mark.parametrize("seed", range(4))
def test_densenet_concat_gains_on_the_weight_input(seed, tmp_path):
    """DenseNet-BC: a dense layer's conv beside a finer pre-activation input (the transition's pool, the
    previous concat) at the Concat. Before, that input's gain rounded to 0 for seeds 0 and 1 (a
    QuantizationError); now the conv takes U / k and the Concat an integer gain k on it. Seed 0 (gains > 1)
    is the DenseNet-BC that runs in Lava and the RTL above."""
    _, shape, b = compile_zoo("densenet_bc", "intsim", tmp_path, via_file=False, seed=seed, timesteps=T_HW)
    cats = b.snn.nodes_of(Concat)
    assert cats
    if seed == 0:  # the seed whose gain rounded to 0
        assert any(c.gains is not None and max(c.gains) > 1 for c in cats)
