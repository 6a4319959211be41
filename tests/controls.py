"""Negative controls shared by the bit-exact suites: a network that must disagree with the original."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Conv2d


def first_conv_one_lsb_off(graph):
    """A copy of the integer graph with the first convolution's largest weight moved one LSB toward 0."""
    bad = graph.copy()
    first = bad.nodes_of(Conv2d)[0]
    w = first.weight.copy()
    idx = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    w[idx] += -1 if w[idx] > 0 else 1
    first.weight = w
    return bad
