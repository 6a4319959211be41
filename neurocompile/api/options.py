"""The build options: one table of names, defaults, ranges and help that ``compile(**options)`` checks and the
``build`` command turns into its command-line options (``weight_bits`` is ``--weight-bits``)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

from ..compiler import METHODS, NORMALIZATIONS
from ..errors import OptionError
from ..ir import RESET_MODES

#: seed of the shuffle that picks the calibration subset (recorded in the bundle manifest)
CALIB_SEED = 0


@dataclass(frozen=True)
class Option:
    """One build option. ``kind``: ``int``, ``float``, ``str`` (one of ``choices``), ``flag`` (a bool) or
    ``profile`` (a file path or a HardwareProfile); ``minimum`` bounds numbers from below; ``default_text``
    is the default as the help shows it when it is not ``default`` itself."""

    name: str
    kind: str
    default: object
    help: str
    choices: tuple | None = None
    minimum: int | None = None
    metavar: str | None = None
    default_text: str | None = None

    @property
    def flag(self) -> str:
        """The command-line name, ``--`` and the name with ``-`` for ``_``."""
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("profile", "profile", None, metavar="FILE",
           help="Place on the hardware profile in FILE (JSON or YAML, `base: loihi2` to start from a built-in "
                "one) instead of the target's own; without --target its family picks the target."),
    Option("dry_run", "flag", False,
           help="Stop after partitioning: write the bundle (IR, report, placement) without target outputs; a "
                "quick deployability check."),
    Option("rate_samples", "int", 2, minimum=0, metavar="N",
           help="Calibration images intsim runs to measure firing rates for the placement's traffic estimate "
                "and the report's energy estimate (0: every unit counts as one spike per step in the placement; "
                "no energy estimate)."),
    Option("timesteps", "int", 32, minimum=1,
           help="Integration steps at the output; stored as the bundle's default for `simulate`."),
    Option("weight_bits", "int", 8, help="Signed weight width in bits (2..16), one shared scale per layer."),
    Option("state_bits", "int", 24, help="Membrane state width in bits (8..48, saturating). Too narrow a state "
                                          "caps the weight scales: a layer left with no weight is an error, one "
                                          "that loses more than half of them a warning."),
    Option("input_bits", "int", 8, help="Width of the integer analog input in bits (2..16)."),
    Option("calib_samples", "int", None, minimum=1, metavar="N", default_text="2000 for robust and qcfs, 1000 otherwise",
           help=f"Use the first N calibration images after a shuffle with seed {CALIB_SEED} (methods robust and qcfs "
                "choose on the first half and check on the second)."),
    Option("percentile", "float", 99.9,
           help="Activation percentile used as each layer's scale (0 < p <= 100; 100 = max-norm)."),
    Option("reset", "str", "subtract", choices=RESET_MODES,
           help="Membrane reset after a spike: subtract the threshold or set to zero."),
    Option("v_init", "float", None, default_text="0.5 for robust, 0 otherwise",
           help="Initial membrane potential as a fraction of the threshold (methods rueckauer and robust)."),
    Option("method", "str", "robust", choices=METHODS,
           help="Conversion method: robust (the default: rueckauer with --v-init 0.5 and channel-wise scales, or "
                "the same at another percentile (99..100), plus each layer's mean rate error corrected in its bias, "
                "chosen on the integer network as it will run "
                "on half the calibration images and kept only if it does no worse on the other half), "
                "rueckauer (the baseline: data-based normalisation with biases, percentile --percentile), "
                "ecc (per-layer, per-channel scales searched for --timesteps, thresholding for residual "
                "elimination), qrelu (a QReLU-trained model: each clipped layer's learned lambda is its "
                "threshold, HPC's buffered neuron), qcfs (a QCFS-trained model, Bu et al. 2022: each clipped layer's "
                "learned lambda is the threshold of a plain IF neuron starting at half of it; T = its levels; corrected "
                "and checked like robust) "
                "or stcsnn (spatio-temporal conversion blocks: each ReLU encodes its value into a "
                "--timesteps-step spike train with thresholds decaying as 2^(-k/--stc-tau), decoded by the next "
                "layer's current accumulator; runs block by block)."),
    Option("tre", "float", 0.5,
           help="ecc / qrelu / qcfs: initial charge per neuron, in thresholds (ECC's delta; 0.5 = QReLU's "
                "rounding, QCFS's shift); "
                "stcsnn: extra charge in smallest thresholds of the train (0.5 rounds instead of flooring)."),
    Option("qcfs_levels", "int", None, minimum=1, metavar="L", default_text="--timesteps",
           help="qcfs: the activation levels L the model was trained with (its QCFS function is what the build "
                "is checked against and corrected towards; the exported clamp activations do not record L)."),
    Option("stc_tau", "float", 2.0,
           help="stcsnn: threshold time constant in steps, V_th(k) = V_th0 * 2^(-k/tau) (the paper uses 2; "
                "1 makes each train the binary code of its value)."),
    Option("neuron", "str", None, choices=("if", "buffered"),
           default_text="buffered for qrelu; robust chooses (buffered only where it wins by 1 % of its choice "
                        "images and the target runs it); if otherwise",
           help="Neuron model: plain integrate-and-fire, or HPC's buffered IF, which emits a negative spike "
                "when its potential falls below 0 after it has fired (takes back over-fired spikes)."),
    Option("spike_max", "int", 1, metavar="N",
           help="Largest spike magnitude, a power of two (HPC multi-bit spikes: a neuron whose potential "
                "crosses several thresholds at once emits 2, 4, ... up to N); 1 = binary spikes."),
    Option("normalization", "str", None, choices=NORMALIZATIONS, default_text="channel for robust and ecc, layer otherwise",
           help="Scale per layer, or per channel of each conv feature map (channel-wise normalisation: "
                "channels with small activations keep useful firing rates; layers that feed a residual "
                "Add directly stay layer-wise)."),
)
BY_NAME = {o.name: o for o in OPTIONS}


def build_options(given: dict) -> dict:
    """Every build option: the defaults updated with ``given``, each value checked.

    Raises
    ------
    OptionError
        An unknown option (naming it and listing the valid ones) or a value of the wrong type or range.
    """
    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise OptionError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; valid options: "
                          f"{', '.join(sorted(BY_NAME))}")
    out = {o.name: o.default for o in OPTIONS}
    out.update({k: _check(BY_NAME[k], v) for k, v in given.items()})
    method = METHODS[out["method"]]
    if out["calib_samples"] is None:
        out["calib_samples"] = method.calib_samples
    if out["v_init"] is None:
        out["v_init"] = method.v_init
    return out


def check_counts(**counts) -> None:
    """OptionError unless each of ``counts`` (``limit=``, ``timesteps=``...) is None or a positive int."""
    for name, v in counts.items():
        if v is not None and (not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1):
            raise OptionError(f"option {name}: expected a positive int or None, got {v!r}")


def _check(o: Option, v):
    if v is None and o.default is None:
        return v
    if o.kind == "flag" and isinstance(v, bool):
        return v
    if o.kind == "int" and isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = int(v)
    elif o.kind == "float" and isinstance(v, numbers.Real) and not isinstance(v, bool):
        v = float(v)
    elif o.kind == "str" and v in o.choices:
        return v
    elif o.kind == "profile":
        from ..targets import HardwareProfile

        if isinstance(v, (str, Path, HardwareProfile)):
            return v
        raise OptionError(f"option profile: expected a file path or a HardwareProfile, got {type(v).__name__}")
    else:
        want = {"flag": "True or False", "int": "an int", "float": "a number",
                "str": f"one of {', '.join(map(str, o.choices or ()))}"}[o.kind]
        raise OptionError(f"option {o.name}: expected {want}, got {v!r}")
    if o.minimum is not None and v < o.minimum:
        raise OptionError(f"option {o.name}: {v} is below its minimum {o.minimum}")
    return v
