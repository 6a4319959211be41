"""STCSNN training helper: the forward pass is the STEB's greedy spike train decoded by the CAB, the backward
pass the ReLU's; swap / calibrate / export."""

import numpy as np
import pytest
import torch
from torch import nn

from neurocompile.passes.stcsnn import stc_schedule
from neurocompile.training import ClampReLU, SpikeTrainReLU, calibrate_stc, swap_relu_stc, to_exportable_stc


def _greedy(x: np.ndarray, theta: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-element reference: v = x + delta * theta[-1]; fire when v >= theta_k, then subtract it."""
    q = np.zeros_like(x)
    spikes = np.zeros((len(theta), *x.shape))
    for i, xi in np.ndenumerate(x):
        v, acc = float(xi) + delta * float(theta[-1]), 0.0
        for k, t in enumerate(theta):
            if v >= t:
                v -= t
                acc += t
                spikes[(k, *i)] = 1.0
        q[i] = acc
    return q, spikes


@pytest.mark.parametrize("T,tau,lam,delta", [(8, 2.0, 1.0, 0.5), (8, 2.0, 3.7, 0.0), (5, 1.0, 0.4, 0.5),
                                             (12, 3.0, 2.5, 0.25), (1, 2.0, 1.5, 0.5)])
def test_forward_is_the_greedy_spike_train(T, tau, lam, delta):
    rng = np.random.default_rng(T)
    x = rng.uniform(-0.5 * lam, 1.5 * lam, size=(7, 9, 11))
    m = SpikeTrainReLU(T, tau, lam, delta)
    assert float(m.lam) == pytest.approx(lam, rel=1e-7)  # a float32 buffer: the thresholds use its stored value
    want_q, want_s = _greedy(x, float(m.lam) * stc_schedule(T, tau), delta)
    xt = torch.as_tensor(x)
    assert np.array_equal(m(xt).detach().numpy(), want_q)
    assert np.array_equal(m.spike_train(xt).numpy(), want_s)
    assert 0 < want_s.mean() < 1  # non-trivial: spikes and silences both happened
    assert m(xt.float()).dtype == torch.float32


def test_hand_computed_case():
    m = SpikeTrainReLU(timesteps=3, tau=1.0, lam=7.0, delta=0.5)
    assert m.thresholds().tolist() == pytest.approx([4.0, 2.0, 1.0], abs=1e-12)
    x = torch.tensor([5.0, 6.6, -1.0, 100.0, 0.0], dtype=torch.float64)
    assert m(x).tolist() == pytest.approx([5.0, 7.0, 0.0, 7.0, 0.0], abs=1e-12)
    assert m.spike_train(x[:1]).flatten().tolist() == [1.0, 0.0, 1.0]  # v0 = 5.5: 4 fires, 2 not, 1 fires
    assert m.spike_train(x[1:2]).flatten().tolist() == [1.0, 1.0, 1.0]  # v0 = 7.1


def test_is_a_rounded_clipped_relu():
    """With the paper's tau = 2 (threshold ratio sqrt 2) the greedy train rounds: |q - clamp(x)| <= theta_min / 2."""
    m = SpikeTrainReLU(8, 2.0, 2.0, 0.5)
    x = torch.linspace(-1.0, 3.0, 40001, dtype=torch.float64)
    err = (m(x) - x.clamp(0, 2.0)).abs().max()
    assert float(err) <= 0.5 * float(m.thresholds()[-1]) + 1e-12


def test_gradient_is_the_relu_mask():
    m = SpikeTrainReLU(8, 2.0, 1.0)
    x = torch.tensor([-0.5, -1e-3, 0.0, 1e-3, 0.31, 0.77, 1.0, 1.5, 30.0], requires_grad=True)
    w = torch.arange(1.0, 10.0)
    (m(x) * w).sum().backward()
    assert torch.equal(x.grad, (x.detach() > 0).float() * w)
    assert m.lam.grad is None and not m.lam.requires_grad and "lam" in dict(m.named_buffers())


def test_rejects_bad_arguments():
    for kw in [dict(timesteps=0), dict(timesteps=4, tau=0.0), dict(timesteps=4, lam=0.0),
               dict(timesteps=4, delta=1.0)]:
        with pytest.raises(ValueError):
            SpikeTrainReLU(**kw)


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Sequential(nn.Linear(64, 16), nn.ReLU()), nn.Linear(16, 3))


def test_swap_calibrate_export():
    torch.manual_seed(0)
    m = swap_relu_stc(_model(), 8, tau=2.0, delta=0.5)
    blocks = [b for b in m.modules() if isinstance(b, SpikeTrainReLU)]
    assert len(blocks) == 2 and not any(isinstance(b, nn.ReLU) for b in m.modules())  # nested one swapped too
    assert "timesteps=8" in repr(m)
    x = torch.rand(32, 1, 8, 8)
    m.train()
    lams = calibrate_stc(m, x, percentile=99.0)
    assert set(lams) == {"1", "4.1"} and m.training
    pre = m[0](x).flatten()
    assert lams["1"] == pytest.approx(float(np.percentile(pre[pre > 0].detach().numpy(), 99.0)), rel=1e-6)
    assert [float(b.lam) for b in blocks] == [lams["1"], lams["4.1"]]
    m.eval()
    with torch.no_grad():
        h = m[0](x)
        assert torch.equal(m[1](h), blocks[0](h))
        to_exportable_stc(m)
        assert sum(isinstance(c, ClampReLU) for c in m.modules()) == 2
        assert not any(isinstance(c, SpikeTrainReLU) for c in m.modules())
        ep = torch.export.export(m, (torch.zeros(1, 1, 8, 8),))
        ops = {str(n.target) for n in ep.graph_module.graph.nodes if n.op == "call_function"}
        assert any("clamp" in o for o in ops)
        assert torch.equal(m[1](h), h.clamp(0.0, lams["1"]))
        assert torch.allclose(ep.module()(x[:1]), m(x[:1]))


def test_swap_without_relu_raises():
    with pytest.raises(ValueError, match="no nn.ReLU"):
        swap_relu_stc(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), 8)


def test_negative_control_other_schedule_differs():
    """The comparison above can fail: the reference with another tau (or no delta) disagrees."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 1.5, size=500)
    got = SpikeTrainReLU(8, 2.0, 1.0, 0.5)(torch.as_tensor(x)).detach().numpy()
    assert np.array_equal(got, _greedy(x, stc_schedule(8, 2.0), 0.5)[0])
    assert not np.array_equal(got, _greedy(x, stc_schedule(8, 1.0), 0.5)[0])
    assert not np.array_equal(got, _greedy(x, stc_schedule(8, 2.0), 0.0)[0])
