"""``compile``: a PyTorch CNN -> float IR -> calibrated, quantised integer IR -> placement -> target files,
as an in-memory :class:`~neurocompile.bundle.Bundle` (written only when asked)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from ..bundle import PLACEMENT, PROFILE, Bundle, check_destination, sha256
from ..errors import QuantizationError
from ..targets import resolve
from . import data
from .options import CALIB_SEED, build_options
from .progress import Stages


def compile(model, *, target: str | None = "intsim", calib="digits", out: str | Path | None = None,
            force: bool = False, progress: bool = True, **options) -> Bundle:
    """Compile a trained CNN into an integer spiking network for ``target``.

    Parameters
    ----------
    model : nn.Module, torch.export.ExportedProgram, str or Path
        An ``nn.Module`` is exported with ``torch.export`` at a static batch of 1, its input shape taken from
        the calibration data; a path names a ``.pt2`` file written by ``torch.export.save``.
    target : str or None
        A registered target or alias (:func:`neurocompile.targets.target_names`). None: the family of
        ``profile`` picks it.
    calib : str, Path, (x, y) pair or torch Dataset
        Calibration data: ``digits``, ``fashion-mnist`` or an ``.npz`` path (their train split), or all of an
        ``(x, y)`` pair of arrays or a torch ``Dataset``.
    out : str or Path, optional
        Also write the bundle to this directory (refused before anything slow runs if it exists without
        ``force``). None: nothing is written; call :meth:`Bundle.save`.
    force : bool
        Replace an existing bundle (or empty directory) at ``out``.
    progress : bool
        Print stage messages on stderr.
    **options
        The ``build`` command's options, same names and defaults (:data:`neurocompile.api.options.OPTIONS`):
        ``timesteps`` 32, ``weight_bits`` 8, ``state_bits`` 24, ``input_bits`` 8, ``calib_samples`` None (the
        method's own: 2000 for robust and qcfs, 1000 otherwise), ``percentile`` 99.9, ``method`` "robust",
        ``normalization`` None, ``reset`` "subtract", ``v_init`` None (the method's own: 0.5 for robust, 0
        otherwise), ``tre`` 0.5, ``qcfs_levels`` None, ``stc_tau`` 2.0, ``neuron`` None, ``spike_max`` 1,
        ``profile`` None (a file or a HardwareProfile), ``dry_run`` False, ``rate_samples`` 2.

    Returns
    -------
    Bundle
        The integer IR, the float ANN, the report (with the energy estimate, ``report["energy"]``), the
        placement and the target's files; ``path`` set when ``out`` was given. A weight layer that lost more
        than half of its weights to rounding is a ``warning: `` line in ``report["notes"]``.

    Raises
    ------
    OptionError, TargetError, ProfileError, ConversionError, DatasetError, QuantizationError, PartitionError,
    BundleError
        See docs/api.md; nothing is left at ``out`` after an error.
    """
    opts = build_options(options)
    tgt, profile = resolve(target, opts["profile"])
    wb = opts["weight_bits"]
    if profile is not None and not profile.min_weight_bits <= wb <= profile.max_weight_bits:
        hint = "" if profile.family == "fpga" or wb < profile.min_weight_bits else \
            "; use an FPGA target (--target fpga) for wider weights"
        raise QuantizationError(f"{wb}-bit weights requested, but profile {profile.name} stores "
                                f"{profile.min_weight_bits}..{profile.max_weight_bits}-bit weights{hint}")
    if out is not None:
        check_destination(out, force)  # fail before the slow part
    stage = Stages(5 if profile is not None else 4, progress)
    ann, x_cal = _model_and_calibration(model, calib, opts["calib_samples"], stage)

    stage(f"compiling for {tgt.name} ({len(x_cal)} calibration samples)")
    int_graph, report, compile_options = _convert(ann, x_cal, opts, tgt.compile_overrides(profile))
    files, placement, rates = {}, None, None
    x_rates = x_cal[:opts["rate_samples"]]
    if profile is not None:
        from .place import place

        stage(f"placing on {profile.name} ({opts['rate_samples']} images for firing rates)")
        placement, rates = place(int_graph, profile, x_rates, opts["timesteps"], stage.note)
        report["placement"] = placement.summary()
        files = {PLACEMENT: placement.to_json(), PROFILE: profile.model_dump(mode="json")}
    if len(x_rates):
        report["energy"] = _energy(int_graph, rates, x_rates, opts["timesteps"], profile, stage.note)

    stage(f"writing bundle {out}" if out is not None else f"assembling the {tgt.name} bundle")
    if not opts["dry_run"]:
        files.update(tgt.emit(int_graph, placement, profile, opts["timesteps"]))
    source = {"model": _model_name(model)}
    if _is_path(model):
        source["model_sha256"] = sha256(model)
    source.update({"calib": data.describe(calib), "calib_split": "train", "calib_samples": int(len(x_cal)),
                   "calib_seed": CALIB_SEED})
    bundle = Bundle(int_graph, ann, report, tgt.name, compile_options, source, files)
    if out is not None:
        bundle.save(out, force)
    stage.done()
    return bundle


def _is_path(model) -> bool:
    return isinstance(model, (str, Path))


def _is_module(model) -> bool:
    torch = sys.modules.get("torch")  # an nn.Module exists only once torch is imported
    return torch is not None and isinstance(model, torch.nn.Module)


def _model_name(model) -> str:
    """The model as the manifest names it: the path as given, ``nn.Module <class>`` or the object's type."""
    if _is_path(model):
        return str(model)
    return f"nn.Module {type(model).__name__}" if _is_module(model) else type(model).__name__


def _model_and_calibration(model, calib, n: int, stage: Stages):
    """(float IR, calibration images): an nn.Module is exported at the calibration data's input shape, a
    program or file is loaded first and the data checked against its input shape."""
    from ..frontend import load_model

    what = f"loading calibration data {data.describe(calib)} (train split)"
    if not _is_module(model):
        stage(f"loading model {_model_name(model)}")
        ann = load_model(model)
        stage(what)
        x, _ = data.arrays(calib, "train", tuple(ann.input.shape), "calibration dataset")
    else:
        stage(what)
        x, _ = data.arrays(calib, "train", None, "calibration dataset")
        stage(f"exporting model {_model_name(model)} (input {tuple(x.shape[1:])})")
        ann = load_model(model, tuple(x.shape[1:]))
    return ann, data.calibration_subset(x, n)


def _energy(int_graph, rates, x_rates, timesteps: int, profile, say) -> dict:
    """The report's energy estimate from intsim's firing rates on ``x_rates`` (the placement's, else measured
    here)."""
    from ..energy import counts_from_rates, estimate
    from ..targets import load_ref
    from ..targets.builtin import FIRING_RATES

    if rates is None:
        say(f"firing rates for the energy estimate: intsim on {len(x_rates)} calibration images")
        rates = load_ref(FIRING_RATES)(int_graph, x_rates, timesteps)
    counts = counts_from_rates(int_graph, rates, x_rates, timesteps)
    return estimate(counts, profile, f"intsim firing rates on {len(x_rates)} calibration images, T={timesteps}")


def _convert(ann, x_cal, opts: dict, overrides: dict):
    """(integer IR, report, CompileOptions as a dict): the conversion and quantisation pipeline with the
    target's overrides applied."""
    from ..compiler import CompileOptions, compile_graph
    from ..report import build_report

    co = CompileOptions(weight_bits=opts["weight_bits"], state_bits=opts["state_bits"],
                        input_bits=opts["input_bits"], percentile=opts["percentile"], reset=opts["reset"],
                        v_init=opts["v_init"], timesteps=opts["timesteps"], method=opts["method"], tre=opts["tre"],
                        qcfs_levels=opts["qcfs_levels"], stc_tau=opts["stc_tau"], neuron=opts["neuron"],
                        spike_max=opts["spike_max"], normalization=opts["normalization"])
    for k, v in overrides.items():
        setattr(co, k, v)
    int_graph = compile_graph(ann, x_cal, co)
    return int_graph, build_report(int_graph, ann), asdict(co)
