"""HPC / QReLU: the training activation is exactly the IF neuron's T-step rate; export and conversion."""

import numpy as np
import pytest
import torch
from torch import nn

from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir import Graph, Input, Linear, Neurons, Output
from neurocompile.ir.ann import run_ann
from neurocompile.ir.snn import simulate_float
from neurocompile.training import ClampReLU, QReLU, calibrate_lambdas, swap_relu, to_exportable


@pytest.mark.parametrize("T", [4, 8, 16])
@pytest.mark.parametrize("lam", [0.7, 2.0])
def test_qrelu_is_the_if_rate_function(T, lam):
    """IF neuron, threshold lam, initial potential lam/2, reset by subtraction, constant input x for T
    steps: spikes * lam / T == QReLU(x), for every x."""
    x = np.linspace(-1, 1.3 * lam, 157) + 1e-5
    g = Graph("if")
    g.add(Input("x", shape=(len(x),)))
    g.add(Linear("w", weight=np.eye(len(x))), ["x"])
    g.add(Neurons("n", threshold=np.asarray(lam), v_init=np.asarray(lam / 2)), ["w"])
    g.add(Linear("r", weight=np.eye(len(x))), ["n"])
    g.add(Output("out"), ["r"])
    _, rates = simulate_float(g, x[None].astype(np.float32), T)
    q = QReLU(T, lam)(torch.as_tensor(x, dtype=torch.float64)).detach().numpy()
    np.testing.assert_allclose(rates["n"][0] * T * lam / T, q, atol=1e-5)


def test_qrelu_gradients():
    q = QReLU(8, 1.0)
    x = torch.tensor([-0.5, 0.31, 0.77, 1.5, 3.0], requires_grad=True)
    q(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]  # STE inside (0, lam), zero outside
    assert float(q.lam.grad) == 2.0  # PACT: one per input at or above lam


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))


def test_export_and_qrelu_conversion(tmp_path):
    torch.manual_seed(0)
    m = swap_relu(_model(), 8)
    x = torch.rand(64, 1, 8, 8)
    lams = calibrate_lambdas(m, x)
    assert len(lams) == 2 and all(v > 0 for v in lams.values())
    m.eval()
    want_q = m(x)
    to_exportable(m)
    assert sum(isinstance(c, ClampReLU) for c in m.modules()) == 2
    path = tmp_path / "q.pt2"
    torch.export.save(torch.export.export(m, (torch.zeros(1, 1, 8, 8),)), path)
    g = load_model(path)
    clips = sorted(n.clip for n in g.nodes_of(Neurons))
    assert np.allclose(clips, sorted(lams.values()), rtol=1e-5)
    ann, _ = run_ann(g, x.numpy())
    np.testing.assert_allclose(ann, m(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    ig = compile_graph(g, x.numpy(), CompileOptions(method="qrelu", timesteps=8))
    assert ig.meta["clip_scales"] and all(np.isclose(ig.meta["lambda"][k], v) for k, v in ig.meta["clip_scales"].items())
    # the SNN at T=8 tracks the QReLU network (the function it was trained as) closely
    r = simulate(ig, x.numpy(), 8)
    assert (r.predictions == want_q.argmax(1).numpy()).mean() >= 0.9


def test_qrelu_method_needs_clipped_layers():
    from neurocompile.errors import ConversionError

    g = load_model(_model().eval(), (1, 8, 8))
    with pytest.raises(ConversionError, match="no clipped ReLU"):
        compile_graph(g, np.random.rand(8, 1, 8, 8).astype(np.float32), CompileOptions(method="qrelu"))
