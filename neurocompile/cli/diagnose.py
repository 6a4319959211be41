"""``neurocompile diagnose``: where does a converted network lose accuracy? Per population, the ANN's
normalised activation (a / lambda) against the SNN's firing rate (spikes per step) on the same images
(for STCSNN encoders: the decoded spike train as a fraction of the block's range)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .common import load_dataset, write_json_atomic


def layer_diagnosis(snn, ann, x: np.ndarray, timesteps: int) -> tuple[list[dict], dict]:
    """Rows per population: Pearson correlation of ANN activation / lambda with the SNN rate, their means,
    the fraction of neurons the ANN drives past one spike per step (saturated) and the silent fraction;
    plus the prediction agreement of SNN and ANN."""
    from ..backends.intsim import simulate
    from ..ir.timing import chain_depths
    from ..ir import Encoder, Neurons
    from ..ir.ann import run_ann
    from ..passes.scales import as_unit

    out, acts = run_ann(ann, x, record=True)
    res = simulate(snn, x, timesteps, record=True)
    lam = snn.meta.get("lambda") or {}
    shapes = snn.infer_shapes()
    rows = []
    for n in snn.nodes_of((Neurons, Encoder)):
        a = (acts[n.name] / as_unit(lam.get(n.name, 1.0), shapes[n.name])).reshape(len(x), -1)
        if isinstance(n, Encoder):  # the decoded train as a fraction of the block's range
            th = np.asarray(n.thresholds, dtype=np.float64)
            s = res.spikes[n.name].reshape(res.run_steps, len(x), -1)
            start = (chain_depths(snn)[n.name] - 1) * len(th)  # the block's window
            r = np.tensordot(th, s[start:start + len(th)].astype(np.float64), axes=1) / th.sum()
        else:
            r = res.spikes[n.name].sum(0).reshape(len(x), -1) / timesteps
        corr = float(np.corrcoef(a.ravel(), r.ravel())[0, 1]) if a.std() > 0 and r.std() > 0 else float("nan")
        rows.append({"layer": n.name, "correlation": corr, "ann_mean": float(a.mean()), "snn_rate": float(r.mean()),
                     "saturated": float((a > 1).mean()), "silent_snn": float((r == 0).mean()),
                     "rmse": float(np.sqrt(np.mean((np.minimum(a, 1) - r) ** 2)))})
    summary = {"samples": len(x), "timesteps": timesteps,
               "agreement": float(np.mean(res.predictions == out.argmax(1)))}
    return rows, summary


@click.command("diagnose")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, metavar="NAME", help="Images to diagnose on (test split).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="First N test images (spikes of every layer are kept in memory).")
@click.option("--timesteps", type=click.IntRange(min=1), metavar="T", show_default="the bundle's timesteps",
              help="Integration steps.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the rows as JSON.")
def diagnose_cmd(bundle_dir: Path, dataset: str, limit: int, timesteps: int | None, json_path: Path | None) -> None:
    """Per-layer ANN-vs-SNN diagnosis of bundle DIR: activation/rate correlation, firing rates, saturation.

    The ANN activation of each population is divided by its calibration scale lambda, so a perfect
    conversion gives SNN rate = min(activation, 1): a low correlation or a high rmse marks the layer where
    accuracy is lost; many saturated neurons call for a larger percentile, a low rate for a smaller one
    or more timesteps.
    """
    from ..bundle import read_bundle
    from ..report import format_table

    b = read_bundle(bundle_dir)
    T = timesteps or b.timesteps
    x, _ = load_dataset(dataset, "test", tuple(b.snn.input.shape), "dataset")
    rows, summary = layer_diagnosis(b.snn, b.ann, x[:limit], T)
    keys = ("layer", "correlation", "ann_mean", "snn_rate", "saturated", "silent_snn", "rmse")
    click.echo(format_table(("layer", "corr", "ANN a/λ", "SNN rate", "saturated", "silent", "rmse"),
                            [[r[k] for k in keys] for r in rows]))
    click.echo(f"\nSNN/ANN prediction agreement: {100 * summary['agreement']:.2f} % "
               f"({summary['samples']} images, T = {T})")
    if json_path is not None:
        write_json_atomic({**summary, "layers": rows}, json_path)
