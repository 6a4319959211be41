"""``neurocompile build``: model -> float IR -> calibrated, quantised integer IR -> bundle directory."""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path

import click

from ..ir import RESET_MODES
from .common import CALIB_SEED, Stages, calibration_subset, load_dataset, progress_enabled, progress_option
from ..bundle import PLACEMENT, PROFILE
from ..errors import QuantizationError
from ..partition.text import format_placement_summary
from .targets import TARGET_CHOICES, artifacts, compile_overrides, emit, resolve


@click.command("build")
@click.argument("model", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--target", default=None, type=click.Choice(list(TARGET_CHOICES)),
              help="Hardware target the integer graph is compiled for: intsim (no placement), loihi2-sim (Lava), "
                   "fpga, or a hardware profile (loihi1, loihi2, fpga-generic; see `neurocompile targets`). "
                   "Required unless --profile is given.")
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Place on the hardware profile in FILE (JSON or YAML, `base: loihi2` to start from a built-in "
                   "one) instead of the target's own; without --target its family picks the target.")
@click.option("--dry-run", is_flag=True,
              help="Stop after partitioning: write the bundle (IR, report, placement) without target outputs; a "
                   "quick deployability check.")
@click.option("--rate-samples", default=2, show_default=True, type=click.IntRange(min=0), metavar="N",
              help="Calibration images intsim runs to measure firing rates for the placement's traffic estimate "
                   "(0: every unit counts as one spike per step).")
@click.option("--timesteps", default=32, show_default=True, type=click.IntRange(min=1),
              help="Integration steps at the output; stored as the bundle's default for `simulate`.")
@click.option("--weight-bits", default=8, show_default=True, type=int,
              help="Signed weight width in bits (2..16), one shared scale per layer.")
@click.option("--state-bits", default=24, show_default=True, type=int,
              help="Membrane state width in bits (8..48, saturating).")
@click.option("--input-bits", default=8, show_default=True, type=int,
              help="Width of the integer analog input in bits (2..16).")
@click.option("--calib", default="digits", show_default=True, metavar="NAME",
              help="Calibration dataset (train split): digits, fashion-mnist or a path to an .npz with x, y.")
@click.option("--calib-samples", default=1000, show_default=True, type=click.IntRange(min=1), metavar="N",
              help=f"Use the first N calibration images after a shuffle with seed {CALIB_SEED}.")
@click.option("--percentile", default=99.9, show_default=True, type=float,
              help="Activation percentile used as each layer's scale (0 < p <= 100; 100 = max-norm).")
@click.option("--reset", default="subtract", show_default=True, type=click.Choice(RESET_MODES),
              help="Membrane reset after a spike: subtract the threshold or set to zero.")
@click.option("--v-init", default=0.0, show_default=True, type=float,
              help="Initial membrane potential as a fraction of the threshold (method rueckauer).")
@click.option("--method", default="rueckauer", show_default=True,
              type=click.Choice(["rueckauer", "ecc", "qrelu", "stcsnn"]),
              help="Conversion method: rueckauer (data-based normalisation with biases, percentile --percentile), "
                   "ecc (per-layer, per-channel scales searched for --timesteps, thresholding for residual "
                   "elimination), qrelu (a QReLU-trained model: each clipped layer's learned lambda is its "
                   "threshold) or stcsnn (spatio-temporal conversion blocks: each ReLU encodes its value into a "
                   "--timesteps-step spike train with thresholds decaying as 2^(-k/--stc-tau), decoded by the next "
                   "layer's current accumulator; runs block by block).")
@click.option("--tre", default=0.5, show_default=True, type=float,
              help="ecc / qrelu: initial charge per neuron, in thresholds (ECC's delta; 0.5 = QReLU's rounding); "
                   "stcsnn: extra charge in smallest thresholds of the train (0.5 rounds instead of flooring).")
@click.option("--stc-tau", default=2.0, show_default=True, type=float,
              help="stcsnn: threshold time constant in steps, V_th(k) = V_th0 * 2^(-k/tau) (the paper uses 2; "
                   "1 makes each train the binary code of its value).")
@click.option("--neuron", default=None, type=click.Choice(["if", "buffered"]),
              show_default="buffered for qrelu, if otherwise",
              help="Neuron model: plain integrate-and-fire, or HPC's buffered IF, which emits a negative spike "
                   "when its potential falls below 0 after it has fired (takes back over-fired spikes).")
@click.option("--spike-max", default=1, show_default=True, type=int, metavar="N",
              help="Largest spike magnitude, a power of two (HPC multi-bit spikes: a neuron whose potential "
                   "crosses several thresholds at once emits 2, 4, ... up to N); 1 = binary spikes.")
@click.option("--normalization", default=None, type=click.Choice(["layer", "channel"]),
              show_default="channel for ecc, layer otherwise",
              help="Scale per layer, or per channel of each conv feature map (channel-wise normalisation: "
                   "channels with small activations keep useful firing rates; layers that feed a residual "
                   "Add directly stay layer-wise).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              show_default="build/<model stem>", help="Bundle directory to create.")
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out.")
@progress_option
def build(model: Path, target: str | None, profile_file: Path | None, dry_run: bool, rate_samples: int,
          timesteps: int, weight_bits: int, state_bits: int, input_bits: int,
          calib: str, calib_samples: int, percentile: float, reset: str, v_init: float, method: str, tre: float,
          stc_tau: float, neuron: str | None, spike_max: int, normalization: str | None, out: Path | None, force: bool,
          progress: bool | None) -> None:
    """Compile MODEL (a .pt2 file written by torch.export.save) into a bundle directory.

    Loads the model, calibrates the conversion on the training split of --calib, quantises to the
    requested bit widths, places the network on the target's cores (targets with a hardware profile) and
    writes the bundle (see docs/bundle.md). The bundle appears only when complete; on any error nothing is
    left behind.
    """
    from ..bundle import check_destination, sha256, write_bundle
    from ..compiler import CompileOptions, compile_graph
    from ..frontend import load_model
    from ..report import build_report, format_report

    tgt, profile = resolve(target, profile_file)
    target = tgt.name
    if profile is not None and not profile.min_weight_bits <= weight_bits <= profile.max_weight_bits:
        hint = "" if profile.family == "fpga" or weight_bits < profile.min_weight_bits else \
            "; use an FPGA target (--target fpga) for wider weights"
        raise QuantizationError(f"{weight_bits}-bit weights requested, but profile {profile.name} stores "
                                f"{profile.min_weight_bits}..{profile.max_weight_bits}-bit weights{hint}")
    out = out if out is not None else Path("build") / model.stem
    check_destination(out, force)  # fail before the slow part
    stage = Stages(5 if profile is not None else 4, progress_enabled(progress))

    stage(f"loading model {model}")
    ann = load_model(model)

    stage(f"loading calibration data {calib} (train split)")
    x, _ = load_dataset(calib, "train", tuple(ann.input.shape), "calibration dataset")
    x_cal = calibration_subset(x, calib_samples)

    stage(f"compiling for {target} ({len(x_cal)} calibration samples)")
    opts = CompileOptions(weight_bits=weight_bits, state_bits=state_bits, input_bits=input_bits,
                          percentile=percentile, reset=reset, v_init=v_init, timesteps=timesteps,
                          method=method, tre=tre, stc_tau=stc_tau, neuron=neuron, spike_max=spike_max,
                          normalization=normalization)
    for k, v in compile_overrides(tgt, profile).items():
        setattr(opts, k, v)
    int_graph = compile_graph(ann, x_cal, opts)
    report = build_report(int_graph, ann)
    extra, placement = {}, None
    if profile is not None:
        stage(f"placing on {profile.name} ({rate_samples} images for firing rates)")
        placement = place(int_graph, profile, x_cal[:rate_samples], timesteps, stage.note)
        report["placement"] = placement.summary()
        extra = {PLACEMENT: placement.to_json(), PROFILE: profile.model_dump(mode="json")}

    stage(f"writing bundle {out}")
    source = {"model": str(model), "model_sha256": sha256(model), "calib": calib,
              "calib_split": "train", "calib_samples": int(len(x_cal)), "calib_seed": CALIB_SEED}
    if not dry_run:
        extra.update(artifacts(target, int_graph))
        extra.update(emit(target, int_graph, placement, profile, timesteps))
    path = write_bundle(out, int_graph, ann, report, force, target=target, options=asdict(opts), source=source,
                        extra=extra)
    stage.done()

    click.echo(format_report(report))
    if profile is not None:
        click.echo(format_placement_summary(report["placement"]))
    what = "dry run: no target outputs; " if dry_run else ""
    click.echo(f"bundle written to {_display(path)} ({what}target {target}, {timesteps} timesteps)")


def place(int_graph, profile, x_rates, timesteps: int, progress=None):
    """Partition ``int_graph`` onto ``profile`` (firing rates from intsim on ``x_rates``) and check the result
    with the independent validator; ``progress``: callable(str) for step messages."""
    say = progress or (lambda _msg: None)
    from ..partition import partition, validate, workers

    rates, source = None, "uniform (--rate-samples 0): one spike per unit and step"
    if len(x_rates):  # measured beside the split (a forked worker on 2+ CPUs); the packings need them
        say(f"firing rates: intsim on {len(x_rates)} calibration images")
        rates = workers.start(functools.partial(_rates_one_thread, int_graph, x_rates, timesteps))
        source = f"intsim on {len(x_rates)} calibration images, T={timesteps}"
    try:
        placement = partition(int_graph, profile, rates, source, say)
    finally:
        if isinstance(rates, workers.Pending):
            rates.close()  # a placement that failed before the packings did not wait for them
    say(f"validating {placement.n_cores} cores")
    validate(int_graph, profile, placement)
    return placement


def _rates_one_thread(int_graph, x_rates, timesteps: int):
    """intsim's firing rates; in a forked worker with torch on one thread (torch's OpenMP thread pool hangs
    after a fork; intsim's integer arithmetic gives the same rates on any number of threads)."""
    import multiprocessing

    import torch

    from ..backends.intsim import firing_rates
    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    return firing_rates(int_graph, x_rates, timesteps)


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
