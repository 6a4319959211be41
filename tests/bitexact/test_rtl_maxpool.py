"""Max-pool gates on the FPGA target: the RTL gate engines (hdl_templates/nc_gate.v.tmpl) against intsim, every
spike of every population and gate at every step and the readout, exact.

Random networks with padded and ceil-mode max pools (tests/netgen.py ``padded``: gates on spikes, gates on
gates, residual adds, a padded average pool) on small cores so gate layers are split over several cores, and a
ResNet stem (conv - BatchNorm - ReLU - MaxPool2d(3, 2, 1)) exported from torch. A negative control changes one
instruction of a gate program; a max pool on the analog input is refused.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from netgen import ensure_activity, random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import ConversionError
from neurocompile.ir import MaxPool2d, Neurons
from neurocompile.results import RunResult, quantize_input, spike_mismatches
from test_rtl_bitexact import design, rtl_result, small_profile

pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (make setup)")]
T = 8


def fpga_opts(**kw) -> CompileOptions:
    return CompileOptions(target="fpga", synapse_delay=1, **{"method": "rueckauer", **kw})


def check_exact(ref: RunResult, rtl: RunResult, ig) -> None:
    """Every population's and gate's spikes at every step, and the readout: equal; spikes in each of them."""
    names = {n.name for n in ig.nodes_of(Neurons)} | {n.name for n in ig.nodes_of(MaxPool2d)}
    assert set(rtl.spikes) == names and set(ref.spikes) == names
    assert spike_mismatches(ref, rtl) == 0
    for k in names:
        assert np.array_equal(ref.spikes[k], rtl.spikes[k]), k
        assert ref.spikes[k].any(), f"no spikes in layer {k}"
    assert np.array_equal(ref.readout, rtl.readout)


def padded_net(seed: int):
    g = random_graph(seed, size=8 if seed % 3 else 7, residual=True if seed % 4 == 1 else None, maxpool=True,
                     padded=True)
    gates = g.nodes_of(MaxPool2d)
    assert gates and any(p.padding != (0, 0) or p.ceil_mode for p in gates)
    return g


@pytest.mark.parametrize("seed", [0, 1, 3, 5, 7])  # gates on gates (0, 3, 7), the stem's (3, 2, 1), padding (1, 0)
def test_padded_maxpool_rtl_bit_exact(tmp_path, seed):
    g = padded_net(seed)
    opts = fpga_opts(weight_bits=7 + seed % 3, reset="zero" if seed % 3 == 2 else "subtract",
                     v_init=0.5 if seed % 2 else 0.0)
    ig = compile_graph(g, random_inputs(g, 32, seed), opts)
    x = random_inputs(g, 3, seed + 100)
    ensure_activity(ig, x, T)
    fpga, pl = design(ig, tmp_path, small_profile(neurons=24))
    assert pl.n_cores > 1
    net = json.loads((fpga / "network.json").read_text())
    assert net["gates"]["engines"] and net["gates"]["rounds"] >= 1
    ref = simulate(ig, x, T, record=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)


class Stem(nn.Module):
    """A ResNet stem: conv 3x3 / 2 - BN - ReLU - MaxPool2d(3, 2, 1), then a conv block and a linear head."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(2, 6, 3, 2, 1, bias=False), nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 3 * 3, 4)

    def forward(self, x):
        y = self.pool(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.relu(self.conv2(y)).flatten(1))


def stem_graph():
    from neurocompile.frontend import load_model

    torch.manual_seed(3)
    m = Stem().eval()
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-0.2, 0.2)
        m.bn1.running_var.uniform_(0.5, 1.5)
        m.bn1.weight.uniform_(0.5, 1.5)
        m.bn1.bias.uniform_(0.0, 0.3)
    return load_model(m, (2, 11, 11))


def test_resnet_stem_rtl_bit_exact_and_negative_control(tmp_path):
    g = stem_graph()
    (gate,) = g.nodes_of(MaxPool2d)
    assert (gate.kernel_size, gate.stride, gate.padding) == ((3, 3), (2, 2), (1, 1))
    rng = np.random.default_rng(0)
    ig = compile_graph(g, rng.random((32, 2, 11, 11)).astype(np.float32), fpga_opts(weight_bits=8))
    x = rng.random((3, 2, 11, 11)).astype(np.float32)
    ensure_activity(ig, x, T)
    fpga, pl = design(ig, tmp_path, small_profile(neurons=32))
    ref = simulate(ig, x, T, record=True)
    check_exact(ref, rtl_result(ig, fpga, x), ig)
    # negative control: gate engine 0 counts the spikes of the wrong source (input pixel 0, never a spike)
    _perturb_gate_program(fpga)
    bad = rtl_result(ig, fpga, x)
    assert spike_mismatches(ref, bad) > 0


def _perturb_gate_program(fpga) -> None:
    """Point every 'count' instruction of gate engine 0's program at global source 0 (an input pixel, which a
    gate engine never sees spike): its gate units stop spiking."""
    net = json.loads((fpga / "network.json").read_text())
    man = json.loads((fpga / net["gates"]["engines"][0]["memory"]).read_text())
    f = {x["name"]: x for x in man["fields"]}
    path = fpga / "mem" / man["files"]["mem"]
    words = [int(t, 16) for t in re.sub(r"//[^\n]*", "", path.read_text()).split()]
    get = (lambda w, k: (w >> f[k]["lsb"]) & ((1 << f[k]["bits"]) - 1))
    changed = 0
    for i, w in enumerate(words[: man["used_words"]]):
        if get(w, "op") == 0:  # count a, id
            words[i] = w & ~(((1 << f["id"]["bits"]) - 1) << f["id"]["lsb"])
            changed += 1
    assert changed
    nd = -(-man["word_bits"] // 4)
    path.write_text("\n".join(format(w, f"0{nd}x") for w in words) + "\n")


def test_maxpool_on_the_analog_input_is_refused(tmp_path):
    g = random_graph(1, maxpool=True, input_pool=True, padded=True)
    ig = compile_graph(g, random_inputs(g, 16, 1), fpga_opts())
    with pytest.raises(ConversionError, match=r"layer xpool: max pooling of the analog input x is not supported by "
                                              r"the fpga target"):
        design(ig, tmp_path)
