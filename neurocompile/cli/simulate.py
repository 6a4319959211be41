"""``neurocompile simulate``: parse the options, call :func:`neurocompile.simulate`, print the tables."""

from __future__ import annotations

from pathlib import Path

import click

from ..api.result import JSON_KEYS
from .common import BackendChoice, progress_enabled, progress_option

__all__ = ["JSON_KEYS", "simulate_cmd"]


@click.command("simulate")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, metavar="NAME",
              help="Test data: digits, fashion-mnist or a path to an .npz with x, y (test split is used).")
@click.option("--backend", default="intsim", show_default=True, type=BackendChoice(),
              help="Simulator to run the bundle on.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Use only the first N test samples.")
@click.option("--timesteps", type=click.IntRange(min=1), metavar="T",
              show_default="the bundle's timesteps", help="Integration steps at the output.")
@click.option("--batch-size", type=click.IntRange(min=1), metavar="N",
              show_default="chosen from the graph size", help="Samples simulated at once.")
@click.option("--rtl-simulator", type=click.Choice(["auto", "iverilog", "verilator"]), default="auto",
              show_default=True,
              help="--backend rtl: Icarus Verilog (starts at once, ~40 k cycles/s) or Verilator (compiles the design "
                   "for each batch, ~10 s, then runs much faster); auto: Verilator when it is installed and "
                   "images x run steps x (neurons + synapse words) of the design is above 4 M (about 3 digits-CNN "
                   "images at T=8), Icarus otherwise; see docs/fpga.md.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the results as JSON to FILE (written atomically).")
@progress_option
def simulate_cmd(bundle_dir: Path, dataset: str, backend: str, limit: int | None, timesteps: int | None,
                 batch_size: int | None, rtl_simulator: str, json_path: Path | None, progress: bool | None) -> None:
    """Simulate the SNN of bundle DIR on the test split of --dataset.

    Reports the ANN accuracy (float graph stored in the bundle), the SNN accuracy, synaptic operations
    per sample against the ANN's multiply-accumulates, wall time of the SNN run, the steps until the readout,
    the energy per sample on the target profile(s) and the ANN references (docs/semantics.md, "Energy") and
    spikes per layer.
    Ctrl-C / SIGTERM stop the run (a Lava run with every process Lava started) and exit 130 / 143.
    """
    from ..api import simulate
    from ..bundle import write_json_atomic
    from ..energy import summary
    from ..report import format_table

    r = simulate(bundle_dir, dataset, backend=backend, limit=limit, timesteps=timesteps, batch_size=batch_size,
                 rtl_simulator=rtl_simulator, progress=progress_enabled(progress))
    rows = [("backend", r.backend), ("dataset", f"{r.dataset} (test split)"), ("samples", r.samples),
            ("timesteps", r.timesteps), ("ANN accuracy", f"{100 * r.ann_accuracy:.2f} %"),
            ("SNN accuracy", f"{100 * r.snn_accuracy:.2f} %"), ("SynOps/sample", f"{r.synops_per_sample:,.0f}"),
            ("MACs/sample", f"{r.macs_per_sample:,}"),
            ("SynOps/MAC", "-" if r.synops_per_mac is None else f"{r.synops_per_mac:.3f}"),
            ("seconds", f"{r.seconds:.2f}"), ("steps to readout", r.run_steps)]
    rows += [(f"energy/sample {name}", f"{e['total']:.3g} uJ") for name, e in r.energy["uj_per_sample"].items()]
    if r.mismatches is not None:
        rows.append(("spike mismatches vs intsim", f"{r.mismatches:,}"))
        rows.append(("readout mismatches vs intsim", f"{r.readout_mismatches:,} samples"))
    click.echo(format_table(("metric", "value"), rows, (False, True)))
    n = r.neurons
    lrows = [(k, v, n[k], v / (n[k] * r.run_steps) if n[k] else None) for k, v in r.spikes_per_sample.items()]
    click.echo()
    click.echo(format_table(("layer", "spikes/sample", "neurons", "spikes/neuron/step"), lrows))
    click.echo()
    click.echo(f"SNN {100 * r.snn_accuracy:.2f} % (ANN {100 * r.ann_accuracy:.2f} %), readout after {r.run_steps} "
               f"steps, energy/sample: {summary(r.energy)}")
    if json_path is not None:
        write_json_atomic(r.to_dict(), json_path)
        click.echo(f"results written to {json_path}")
