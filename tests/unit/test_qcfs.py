"""QCFS (Bu et al. 2022): the activation is the spike count of an IF neuron with a half-threshold initial potential
over T = L steps; its gradients; its export; ``--method qcfs``."""

import numpy as np
import pytest
import torch
from torch import nn

from neurocompile.backends.intsim import simulate
from neurocompile.compiler import METHODS, CompileOptions, compile_graph
from neurocompile.errors import ConversionError
from neurocompile.frontend import load_model
from neurocompile.ir import Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.ir.snn import simulate_float
from neurocompile.training import QCFS, ClampReLU, QReLU, calibrate_lambdas, swap_relu_qcfs, to_exportable


def if_spikes(x: float, lam: float, T: int, v0: float) -> int:
    """Integrate-and-fire by hand: constant input x, threshold lam, initial potential v0, reset by subtraction."""
    v, n = v0, 0
    for _ in range(T):
        v += x
        if v >= lam:
            v -= lam
            n += 1
    return n


def test_qcfs_hand_values():
    """L = 4, lam = 1: h(x) = clip(floor(4x + 1/2), 0, 4) / 4, i.e. x rounded to quarters, clipped to [0, 1]."""
    x = torch.tensor([-0.5, 0.1, 0.13, 0.3, 0.55, 0.8, 0.9, 1.5])
    assert QCFS(4, 1.0)(x).tolist() == pytest.approx([0.0, 0.0, 0.25, 0.25, 0.5, 0.75, 1.0, 1.0], abs=1e-5)
    # lam = 2, L = 2: levels 0, 1, 2 at x in [0, 0.5), [0.5, 1.5), [1.5, inf)
    got = QCFS(2, 2.0)(torch.tensor([0.49, 0.51, 1.49, 1.51, 7.0])).tolist()
    assert got == pytest.approx([0, 1, 1, 2, 2], abs=1e-5)
    # shift 0 floors: 0.3 -> 0.25, 0.8 -> 0.75, 0.24 -> 0
    assert QCFS(4, 1.0, shift=0.0)(torch.tensor([0.24, 0.3, 0.8])).tolist() == pytest.approx([0, 0.25, 0.75], abs=1e-5)


@pytest.mark.parametrize("L", [1, 2, 4, 8])
@pytest.mark.parametrize("lam", [1.0, 2.5])
def test_qcfs_is_the_if_spike_count(L, lam):
    """An IF neuron (threshold lam, initial potential lam/2, reset by subtraction) fed the constant x for T = L
    steps fires n spikes with n * lam / T == QCFS(x), for every x (ties at the level boundaries avoided)."""
    x = np.linspace(-0.7, 1.4 * lam, 211) + 1e-4
    h = QCFS(L, lam)(torch.as_tensor(x, dtype=torch.float64)).detach().numpy()
    n = np.array([if_spikes(float(v), lam, L, lam / 2) for v in x])
    np.testing.assert_allclose(n * lam / L, h, atol=1e-5)
    assert n.max() == L and n.min() == 0  # every count from silent to saturated occurs
    # the compiler's float SNN (ir/snn.py) agrees with the hand loop
    g = Graph("if")
    g.add(Input("x", shape=(len(x),)))
    g.add(Linear("w", weight=np.eye(len(x))), ["x"])
    g.add(Neurons("n", threshold=np.asarray(lam), v_init=np.asarray(lam / 2)), ["w"])
    g.add(Linear("r", weight=np.eye(len(x))), ["n"])
    g.add(Output("out"), ["r"])
    _, rates = simulate_float(g, x[None].astype(np.float32), L)
    np.testing.assert_allclose(rates["n"][0] * L, n, atol=1e-6)


def test_if_without_half_threshold_is_not_qcfs():
    """Negative control: the same neuron from v = 0 floors (4x = 0.8, 1.8, 2.8 -> 0, 1, 2 spikes) where QCFS
    rounds (1, 2, 3 quarters)."""
    x = (0.2, 0.45, 0.7)
    assert [if_spikes(v, 1.0, 4, 0.0) for v in x] == [0, 1, 2]
    assert [if_spikes(v, 1.0, 4, 0.5) for v in x] == [1, 2, 3]
    assert QCFS(4, 1.0)(torch.tensor(x)).tolist() == pytest.approx([0.25, 0.5, 0.75], abs=1e-5)


def test_shift_half_makes_the_expected_error_zero():
    """The paper's Theorem 2: for inputs spread uniformly over [0, lam], E[h(x) - x] = 0 at shift 1/2; the
    floor (shift 0) is low by lam / (2L)."""
    lam, L = 1.5, 4
    x = (np.arange(40_000) + 0.5) / 40_000 * lam
    xt = torch.as_tensor(x)
    assert abs(float((QCFS(L, lam)(xt) - xt).detach().mean())) < 1e-4
    assert float((QCFS(L, lam, shift=0.0)(xt) - xt).detach().mean()) == pytest.approx(-lam / (2 * L), abs=1e-4)


def test_qcfs_gradients():
    """Straight-through floor: dh/dx = 1 inside (0, lam), 0 outside; dh/dlam = floor(.)/L - x/lam inside,
    1 above lam, 0 below 0 (QReLU's PACT gradient would be 1 per input above lam and 0 inside)."""
    q = QCFS(4, 1.0)
    x = torch.tensor([-0.5, 0.3, 0.8, 1.5], requires_grad=True)
    q(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]
    # 0.3: floor(1.7) / 4 - 0.3 = -0.05; 0.8: floor(3.7) / 4 - 0.8 = -0.05; 1.5: 1
    assert float(q.lam.grad) == pytest.approx(0.9, abs=1e-5)
    p = QReLU(4, 1.0)
    p(x.detach()).sum().backward()
    assert float(p.lam.grad) == 1.0


def test_bad_shift():
    with pytest.raises(ValueError, match="shift"):
        QCFS(4, 1.0, shift=1.0)


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))


def test_swap_export_and_qcfs_conversion(tmp_path):
    """swap -> calibrate -> to_exportable -> torch.export (.pt2) -> --method qcfs: the thresholds are the trained
    clips, plain IF neurons start at half of them, and the first population's spike counts at T = L are the
    QCFS levels of the torch model."""
    torch.manual_seed(0)
    L = 4
    m = swap_relu_qcfs(_model(), L)
    assert sum(isinstance(c, QCFS) for c in m.modules()) == 2
    x = torch.rand(64, 1, 8, 8)
    lams = calibrate_lambdas(m, x)
    m.eval()
    with torch.no_grad():
        first = m[0:3](x)  # the first QCFS's output: lam / L * its level
    lam0 = abs(float(m[2].lam.detach()))
    to_exportable(m)
    assert sum(isinstance(c, ClampReLU) for c in m.modules()) == 2
    path = tmp_path / "q.pt2"
    torch.export.save(torch.export.export(m, (torch.zeros(1, 1, 8, 8),)), path)
    g = load_model(path)
    assert np.allclose(sorted(n.clip for n in g.nodes_of(Neurons)), sorted(lams.values()), rtol=1e-5)
    ann, _ = run_ann(g, x.numpy())
    np.testing.assert_allclose(ann, m(x).detach().numpy(), rtol=1e-4, atol=1e-5)

    # Bu et al.'s conversion, the baseline --method qcfs starts from (and may correct, tests/unit/test_robust.py):
    # what qrelu builds with plain IF neurons
    ig = compile_graph(g, x.numpy(), CompileOptions(method="qrelu", neuron="if", timesteps=L))
    assert ig.meta["neuron"]["kind"] == "if" and ig.meta["reset"] == "subtract" and ig.meta["v_init"] == 0.5
    assert set(ig.meta["clip_scales"]) == {n.name for n in ig.nodes_of(Neurons)}
    for n in ig.nodes_of(Neurons):
        assert not n.buffered
        assert np.all(np.abs(np.asarray(n.v_init) - np.asarray(n.threshold) / 2) <= 0.5)  # half, rounded
    r = simulate(ig, x.numpy(), L, record=True)
    pop = ig.nodes_of(Neurons)[0].name
    counts = r.spikes[pop].sum(0).reshape(len(x), -1).astype(np.int64)
    level = (first.numpy() * L / lam0).reshape(len(x), -1)
    np.testing.assert_allclose(level, np.round(level), atol=1e-3)  # QCFS output is on the levels
    # exact except within the 8-bit rounding of the integer network of a level boundary
    pre = m[0:2](x).detach().numpy().reshape(len(x), -1) * L / lam0 + 0.5
    clear = np.abs(pre - np.round(pre)) > 0.05
    assert clear.mean() > 0.8 and counts.max() == L and (counts > 0).mean() > 0.1
    assert np.array_equal(counts[clear], np.round(level).astype(np.int64)[clear])


def test_qcfs_method_registered_with_plain_if():
    assert METHODS["qcfs"].neuron == "if" and METHODS["qrelu"].neuron == "buffered" and METHODS["qcfs"].scored


def test_qcfs_method_needs_clipped_layers():
    g = load_model(_model().eval(), (1, 8, 8))
    with pytest.raises(ConversionError, match=r"method qcfs: .*no clipped ReLU.*neurocompile\.training\.qcfs"):
        compile_graph(g, np.random.rand(8, 1, 8, 8).astype(np.float32), CompileOptions(method="qcfs"))


@pytest.mark.parametrize("L", [2, 4])
def test_qcfs_reference_is_the_trained_network(L):
    """--method qcfs scores and corrects against the QCFS network with L levels (--qcfs-levels), not the
    exported clamp network: its reference readout equals the torch QCFS model's output, for any T."""
    from neurocompile.passes import PassManager
    from neurocompile.passes.convert import Calibrate, NeuronModel, UseClipScales
    from neurocompile.passes.robust import IntegerNetwork, RobustConversion

    torch.manual_seed(1)
    m = swap_relu_qcfs(_model(), L)
    x = torch.rand(64, 1, 8, 8)
    calibrate_lambdas(m, x)
    m.eval()
    with torch.no_grad():
        want = m(x).numpy()
    to_exportable(m)
    with torch.no_grad():
        clamp = m(x).numpy()
    g = load_model(m, (1, 8, 8))
    p = RobustConversion(x.numpy(), IntegerNetwork(list, simulate, 8), neuron=NeuronModel("subtract", 0.5),
                         prepare=(UseClipScales(method="qcfs"),), method="qcfs", reference="levels", levels=L)
    cal = PassManager([Calibrate(p.xa, 99.9, (99.9,)), UseClipScales()]).run(g)
    lam = {**{k: v["99.9"] for k, v in cal.meta["lambda_candidates"].items()}, **cal.meta["clip_scales"]}
    got, _ = p._reference(cal, p._snn(cal, lam), lam)(x.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert not np.allclose(got, clamp, rtol=1e-3, atol=1e-3)  # control: the clamp network differs
