"""``neurocompile diagnose``: parse the options, call :func:`neurocompile.diagnose`, print the per-layer table."""

from __future__ import annotations

from pathlib import Path

import click

from .common import progress_enabled, progress_option


@click.command("diagnose")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, metavar="NAME", help="Images to diagnose on (test split).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="First N test images (spikes of every layer are kept in memory).")
@click.option("--timesteps", type=click.IntRange(min=1), metavar="T", show_default="the bundle's timesteps",
              help="Integration steps.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the rows as JSON.")
@progress_option
def diagnose_cmd(bundle_dir: Path, dataset: str, limit: int, timesteps: int | None, json_path: Path | None,
                 progress: bool | None) -> None:
    """Per-layer ANN-vs-SNN diagnosis of bundle DIR: activation/rate correlation, firing rates, saturation.

    The ANN activation of each population is divided by its calibration scale lambda, so a perfect
    conversion gives SNN rate = min(activation, 1): a low correlation or a high rmse marks the layer where
    accuracy is lost; many saturated neurons call for a larger percentile, a low rate for a smaller one
    or more timesteps.
    """
    from ..api import diagnose
    from ..bundle import write_json_atomic
    from ..report import format_table

    doc = diagnose(bundle_dir, dataset, limit=limit, timesteps=timesteps, progress=progress_enabled(progress))
    keys = ("layer", "module", "correlation", "ann_mean", "snn_rate", "saturated", "silent_snn", "rmse")
    click.echo(format_table(("layer", "module", "corr", "ANN a/λ", "SNN rate", "saturated", "silent", "rmse"),
                            [[r[k] for k in keys] for r in doc["layers"]]))
    click.echo(f"\nSNN/ANN prediction agreement: {100 * doc['agreement']:.2f} % "
               f"({doc['samples']} images, T = {doc['timesteps']})")
    if json_path is not None:
        write_json_atomic(doc, json_path)
