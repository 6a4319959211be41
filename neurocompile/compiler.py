"""The compile pipeline: float IR -> (conversion passes) -> float SNN IR -> (quantiser) -> integer IR.

One explicit list of pass objects, run by the PassManager, which verifies the graph after each pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np

from .ir import Graph
from .errors import ConversionError
from .passes import PassManager, default_conversion
from .passes.convert import NeuronModel, UseClipScales, ecc_conversion, qrelu_conversion, stcsnn_conversion
from .passes.robust import ROBUST_PERCENTILES, IntegerNetwork, RobustConversion
from .quant import QuantizeInteger
from .passes.compose import ComposeWideChains


@dataclass
class CompileOptions:
    weight_bits: int = 8  # signed weight width, 2..16
    state_bits: int = 24  # membrane state width (saturating)
    input_bits: int = 8  # width of the integer analog input
    percentile: float = 99.9  # robust normalisation percentile (100 = max-norm)
    reset: str = "subtract"  # subtract | zero
    v_init: float | None = None  # initial membrane potential as a fraction of the threshold; None = the method's
    # default (0.5 for robust, 0 otherwise)
    state_shift: int = 0  # synaptic input << state_shift before it enters v
    synapse_delay: int = 0  # steps a spike needs to cross one synaptic chain (Lava: 1)
    timesteps: int = 32  # default integration steps at the output
    method: str = "robust"  # conversion method: robust (default) | rueckauer (baseline) | ecc | qrelu | qcfs | stcsnn
    tre: float = 0.5  # ecc / qrelu / qcfs: initial charge in thresholds (residual elimination / rounding); stcsnn: in
    # smallest thresholds of the spike train (0.5 rounds the decoded value to the nearest level)
    qcfs_levels: int | None = None  # qcfs: the activation levels L the model was trained with; None = timesteps
    stc_tau: float = 2.0  # stcsnn: threshold time constant, theta_k ~ 2^(-k / tau) (the paper's 2)
    neuron: str | None = None  # if | buffered (HPC: negative spikes); None = the method's default
    spike_max: int = 1  # largest spike magnitude, a power of two (HPC multi-bit spikes); 1 = binary
    normalization: str | None = None  # layer | channel (one scale per channel where allowed); None = the method's default
    # target limits (set by the target, not by users): the target's ArithmeticLimits (neurocompile/targets/)
    target: str = "intsim"
    input_wrap: int | None = None  # shifted input wraps once at this width (Lava's u: 24)
    bias_mant_bits: int | None = None  # bias stored as mantissa << exponent (Lava: 13-bit signed mantissa)
    bias_exp_max: int = 0  # largest bias exponent (Lava: 7)
    max_weight_bits: int | None = None  # widest weight the target stores (Loihi: 8)
    graded_neurons: bool = True  # the target runs buffered / multi-bit neurons (the FPGA core does not)


NORMALIZATIONS = ("layer", "channel")


def _rueckauer(x, opts, neuron, cw, net):
    return default_conversion(x, opts.percentile, opts.reset, opts.v_init, neuron, opts.spike_max, cw)


def _qrelu(x, opts, neuron, cw, net):
    return qrelu_conversion(x, opts.tre, opts.reset, opts.percentile, neuron, opts.spike_max, cw)


def _qcfs(x, opts, neuron, cw, net):
    # Bu et al.'s conversion (the trained clips as thresholds, initial potential tre) is the baseline of the
    # robust pass, which corrects each layer's mean error on the integer network and keeps that only if it
    # does no worse on held-out images; at T <= 4 the uneven arrival of spikes leaves such a mean error. The
    # reference is the model's L-level network: its exported clamp activations are not what it was trained as
    return [RobustConversion(x, net, opts.percentile, neuron=NeuronModel(opts.reset, opts.tre, neuron, opts.spike_max),
                             channelwise=cw, prepare=(UseClipScales(method="qcfs"),), method="qcfs", reference="levels",
                             levels=opts.qcfs_levels or opts.timesteps)]


def _ecc(x, opts, neuron, cw, net):
    return ecc_conversion(x, opts.timesteps, opts.tre, opts.reset, opts.percentile, neuron, opts.spike_max, cw)


def _stcsnn(x, opts, neuron, cw, net):
    if neuron != "if" or opts.spike_max != 1:
        raise ConversionError("method stcsnn: its encoders are their own neuron model; "
                              "--neuron buffered and --spike-max do not apply")
    return stcsnn_conversion(x, opts.timesteps, opts.stc_tau, opts.tre, opts.percentile, cw)


def _robust(x, opts, neuron, cw, net):
    # HPC's buffered neuron is a candidate where neither the user nor the target fixed the neuron model
    signed = NeuronModel(opts.reset, opts.v_init, "buffered", opts.spike_max) \
        if opts.neuron is None and opts.graded_neurons else None
    return [RobustConversion(x, net, opts.percentile, candidates=ROBUST_PERCENTILES,
                             neuron=NeuronModel(opts.reset, opts.v_init, neuron, opts.spike_max), channelwise=cw,
                             signed=signed)]


@dataclass(frozen=True)
class Method:
    """A conversion method: the passes it runs (``passes(x_calib, opts, neuron, channelwise, net)``; ``net``, an
    ``IntegerNetwork``, completes a float SNN with the integer passes below and runs it in the reference
    simulator, for methods that score candidates) and the neuron kind and normalisation it uses unless
    ``CompileOptions.neuron`` / ``normalization`` say otherwise."""

    passes: Callable
    neuron: str = "if"
    normalization: str = "layer"
    v_init: float = 0.0  # initial potential (in thresholds) unless CompileOptions.v_init says otherwise
    calib_samples: int = 1000  # the build's calibration images unless --calib-samples says otherwise
    scored: bool = False  # its conversion runs the integer passes (it depends on every option, bits included)


#: conversion methods by name (HPC's QReLU includes its buffered neuron; ECC and robust their channel-wise scales;
#: robust chooses on half its calibration images and checks on the other half, so it takes twice as many; QCFS is
#: the QReLU scales with plain IF neurons, as Bu et al. 2022 convert, checked and corrected like robust)
METHODS: dict[str, Method] = {
    "robust": Method(_robust, normalization="channel", v_init=0.5, calib_samples=2000, scored=True),
    "rueckauer": Method(_rueckauer),
    "ecc": Method(_ecc, normalization="channel"),
    "qrelu": Method(_qrelu, neuron="buffered"),
    "qcfs": Method(_qcfs, calib_samples=2000, scored=True),
    "stcsnn": Method(_stcsnn),
}


def integer_passes(opts: CompileOptions) -> list:
    """The passes after conversion: the quantiser with the build's widths and the target's limits, and composed
    chains where the target stores narrower weights than a chain composes to."""
    passes = [QuantizeInteger(opts.weight_bits, opts.state_bits, opts.input_bits, opts.state_shift,
                              input_wrap=opts.input_wrap, bias_mant_bits=opts.bias_mant_bits,
                              bias_exp_max=opts.bias_exp_max, max_weight_bits=opts.max_weight_bits,
                              target=opts.target)]
    if opts.max_weight_bits is not None:  # the target stores each chain as one matrix of such weights
        passes.append(ComposeWideChains(opts.max_weight_bits, opts.target))
    return passes


def reference_simulator() -> Callable:
    """intsim's ``simulate``, reached through the target registry (the core imports no backend)."""
    from .targets import load_ref
    from .targets.builtin import INTSIM

    return load_ref(INTSIM.run)


def _reference_run(*args, **kwargs):
    return reference_simulator()(*args, **kwargs)


def pipeline(x_calib: np.ndarray, opts: CompileOptions, simulate: Callable | None = None) -> PassManager:
    """The compile passes for ``opts``; ``simulate`` (default: the reference simulator) runs the integer
    candidates of methods that score them."""
    method = METHODS.get(opts.method)
    if method is None:
        raise ConversionError(f"unknown conversion method {opts.method!r}; use one of {', '.join(METHODS)}")
    neuron = opts.neuron or method.neuron
    norm = opts.normalization or method.normalization
    if norm not in NORMALIZATIONS:
        raise ConversionError(f"normalization {norm!r}: use one of {', '.join(NORMALIZATIONS)}")
    net = IntegerNetwork(lambda: integer_passes(opts), simulate or _reference_run, int(opts.timesteps))
    if opts.v_init is None:
        opts = replace(opts, v_init=method.v_init)
    passes = method.passes(x_calib, opts, neuron, norm == "channel", net)
    return PassManager(passes + integer_passes(opts))


def compile_graph(graph: Graph, x_calib: np.ndarray, opts: CompileOptions | None = None,
                  simulate: Callable | None = None) -> Graph:
    """Convert and quantise a float IR graph (the input is copied, never modified); ``simulate``: see
    :func:`pipeline`."""
    opts = opts or CompileOptions()
    g = graph.copy()
    g.meta["synapse_delay"] = int(opts.synapse_delay)
    g.meta["timesteps"] = int(opts.timesteps)
    g.meta["options"] = asdict(opts)
    return pipeline(x_calib, opts, simulate).run(g)
