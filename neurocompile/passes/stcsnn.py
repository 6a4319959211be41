"""STCSNN (spatio-temporal conversion blocks, "STCSNN: High energy efficiency spike-train level spiking
neural networks with spatio-temporal conversion"): the threshold schedule.

A spike-train encoding block (STEB) takes its input as the initial membrane potential and, at step
k = 0 .. T-1, fires when ``v >= theta_k`` and then subtracts ``theta_k``, with the decaying threshold
``theta_k = V_th0 * 2^(-k / tau)``. The current accumulator block (CAB) after the next convolution weights
step k by the same ``theta_k``, so STEB -> conv -> CAB computes ``conv(sum_k theta_k s_k)``: the convolution
of the spike train's decoded value.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConversionError
from ..ir import Encoder, Graph, Neurons
from ..ir.names import layer
from .base import Pass


def stc_schedule(timesteps: int, tau: float) -> np.ndarray:
    """Normalised thresholds ``theta_k / sum_j theta_j`` (k = 0 .. T-1) of ``theta_k = 2^(-k / tau)``: the
    spike train of a block whose range is 1 (a layer's scale lambda maps to 1) decodes to at most 1."""
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    th = 2.0 ** (-np.arange(timesteps, dtype=np.float64) / float(tau))
    return th / th.sum()


class SpikeTrainBlocks(Pass):
    """Turn every (normalised) ReLU population into an STCSNN ``Encoder`` with thresholds
    ``stc_schedule(T, tau)`` (x its normalised threshold): the block represents [0, lambda] like the ReLU's
    calibrated range, with ``delta`` x the smallest threshold of extra initial charge (0.5 rounds the
    decoded value to the nearest level instead of down; the paper's block is delta = 0). The first
    convolution keeps reading the analog input, as in the paper; the readout takes the last block's
    accumulated current once."""

    name = "stc_blocks"
    requires = ("normalized", "biases_on_neurons")
    ensures = ("snn",)

    def __init__(self, timesteps: int, tau: float = 2.0, delta: float = 0.5):
        if timesteps < 1:
            raise ConversionError(f"stcsnn: timesteps {timesteps} must be >= 1")
        if not tau > 0:
            raise ConversionError(f"stcsnn: tau {tau} must be > 0")
        if not 0 <= delta < 1:
            raise ConversionError(f"stcsnn: delta {delta} outside [0, 1)")
        self.T, self.tau, self.delta = int(timesteps), float(tau), float(delta)

    def run(self, graph: Graph) -> Graph:
        sched = stc_schedule(self.T, self.tau)
        pools = [n for n in graph.topo() if n.gate]
        if pools:
            raise ConversionError(f"{layer(pools[0])}: max pooling is not supported with method stcsnn (the "
                                  "max-count gate compares spike counts, an encoder's train weights its steps); "
                                  "use average pooling or another method")
        pops = graph.nodes_of(Neurons)
        if not pops:
            raise ConversionError("stcsnn: the model has no ReLU to turn into a spike-train block")
        for n in pops:
            th = np.asarray(1.0 if n.threshold is None else n.threshold, dtype=np.float64)
            if th.size != 1:
                raise ConversionError(f"{layer(n)}: per-neuron thresholds cannot become one STCSNN schedule")
            th = float(th.reshape(()))
            thresholds = th * sched
            extra = self.delta * thresholds[-1]
            bias = np.asarray(extra) if n.bias is None else np.asarray(n.bias, dtype=np.float64) + extra
            graph.replace_node(Encoder(n.name, source=n.source, module=n.module, thresholds=thresholds, bias=bias, tau=self.tau))
        graph.meta["stcsnn"] = {"timesteps": self.T, "tau": self.tau, "delta": self.delta}
        return graph
