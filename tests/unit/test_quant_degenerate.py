"""No silent degenerate builds: the quantiser refuses a weight layer whose non-zero weights all round to 0 and
warns (``warning:`` note) when more than ``LOST_WEIGHTS_WARN`` of them round to 0 or saturate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import QuantizationError
from neurocompile.frontend import load_model
from neurocompile.quant.quantize import LOST_WEIGHTS_WARN, WARNING, QuantizeInteger, _check_weights


def _net(w1: list[list[float]]) -> nn.Module:
    """Linear(4 -> 2) with weights ``w1`` (no bias), ReLU, Linear(2 -> 2)."""
    m = nn.Sequential(nn.Linear(4, 2, bias=False), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor(w1))
        m[2].weight.copy_(torch.tensor([[1.0, -0.5], [0.25, 1.0]]))
        m[2].bias.zero_()
    return m.eval()


def _build(w1, **opts):
    x = np.random.default_rng(0).uniform(0, 1, (200, 4)).astype(np.float32)
    return compile_graph(load_model(_net(w1), (4,)), x, CompileOptions(**opts))


def _warnings(graph) -> list[str]:
    return [n for n in graph.meta.get("notes", []) if n.startswith(WARNING)]


def test_all_weights_rounding_to_zero_is_an_error_naming_the_layer():
    # an 8-bit state caps the first population's threshold at 2^5: with the 8-bit input's unit of 255, its
    # weights' scale is at most 32 / 255 = 0.125, and every weight below 4 (after normalisation) rounds to 0
    w = [[1.0, -1.0, 0.5, 0.25], [0.5, 0.5, -0.25, 1.0]]
    with pytest.raises(QuantizationError) as e:
        _build(w, state_bits=8)
    msg = str(e.value)
    assert "layer 0 (Linear) [linear_0]: all 8 non-zero weights round to 0 as 8-bit integers" in msg
    assert "< 0.5" in msg and "--state-bits" in msg
    g = _build(w, state_bits=24)  # control: the same layer with a 24-bit state keeps its weights
    assert np.count_nonzero(g.node("linear_0").weight) == 8 and not _warnings(g)


def test_most_weights_rounding_to_zero_warns_and_builds():
    # 4-bit weights, scale 7 / 10 per unit of the largest: 0.3 x 0.7 = 0.21 rounds to 0, 3 of 4 non-zero
    # weights of each row (6 of 8 of the layer, 75 % > 50 %)
    w = [[10.0, 0.3, 0.3, -0.3], [10.0, 0.3, -0.3, 0.3]]
    g = _build(w, weight_bits=4)
    (note,) = _warnings(g)
    assert note.startswith(f"{WARNING}layer 0 (Linear) [linear_0]: of its 8 non-zero weights, 6 round to 0 "
                           "as 4-bit integers (75 % > 50 %")
    assert note in g.meta["notes"] and np.count_nonzero(g.node("linear_0").weight) == 2
    # control: 8-bit weights keep them (0.3 x 12.7 = 3.81 -> 4), no warning
    g8 = _build(w, weight_bits=8)
    assert not _warnings(g8) and np.count_nonzero(g8.node("linear_0").weight) == 8


def _fake(scale: float, bits: int, in_sum: bool = False):
    """A quantised weight op and the quantiser state ``_check_weights`` reads (``in_sum``: the op feeds a sum)."""
    node = SimpleNamespace(name="fc", source="fc", module="Linear", weight_scale=scale, weight_bits=bits)
    units = SimpleNamespace(g=SimpleNamespace(meta={}), q=QuantizeInteger(weight_bits=bits),
                            sole_sum=lambda name: object() if in_sum else None)
    return node, units


def test_share_counts_zeros_and_saturation_against_the_threshold():
    assert LOST_WEIGHTS_WARN == 0.5
    # 4-bit (+-7), scale 1: 0.4 -> 0, 9 -> saturates; 2 of 4 non-zero weights lost = 50 %: not above, no note
    node, units = _fake(1.0, 4)
    _check_weights(units, node, np.array([0.0, 0.4, 9.0, 3.0, -5.0]))
    assert units.g.meta == {}
    # a third lost (-0.2 -> 0): 3 of 5 = 60 % > 50 %
    _check_weights(units, node, np.array([0.0, 0.4, 9.0, 3.0, -5.0, -0.2]))
    (note,) = units.g.meta["notes"]
    assert note == (f"{WARNING}layer fc (Linear): of its 5 non-zero weights, 2 round to 0 and 1 saturate at +-7 "
                    "as 4-bit integers (60 % > 50 %; weight scale 1, largest |w| x scale = 9)")


def test_zero_float_weights_are_not_lost():
    node, units = _fake(1.0, 4)
    _check_weights(units, node, np.zeros(6))  # zero in the float model: nothing to lose, no error
    _check_weights(units, node, np.array([0.0, 0.0, 3.0]))
    assert units.g.meta == {}
    with pytest.raises(QuantizationError, match=r"layer fc \(Linear\): all 2 non-zero weights round to 0 as "
                                                r"4-bit integers \(weight scale 1: largest \|w\| x scale = 0.4"):
        _check_weights(units, node, np.array([0.0, 0.4, -0.3]))


def test_a_branch_of_a_sum_left_without_weights_warns():
    # a pre-activation block's stem conv in the skip: the sum's unit leaves it nothing, but the sum still
    # carries the block's other input, so the network is not cut; a warning, not an error
    node, units = _fake(0.01, 6, in_sum=True)
    _check_weights(units, node, np.array([1.0, -2.0, 0.5]))  # x 0.01: all below 0.5
    (note,) = units.g.meta["notes"]
    assert note.startswith(f"{WARNING}layer fc (Linear): of its 3 non-zero weights, 3 round to 0 as 6-bit "
                           "integers (100 % > 50 %")
    assert "the sum it feeds gives it a unit" in note
    node, units = _fake(0.01, 6)  # control: the same layer not in a sum is cut off
    with pytest.raises(QuantizationError, match="all 3 non-zero weights round to 0"):
        _check_weights(units, node, np.array([1.0, -2.0, 0.5]))
