"""``neurocompile simulate``: run a bundle's SNN on a dataset's test split and compare with its ANN."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from ..errors import BundleError
from .common import load_dataset, progress_enabled, progress_option, write_json_atomic
from .targets import BACKENDS, TARGETS

#: keys of the --json document, in this order (more may follow them)
JSON_KEYS = ("backend", "dataset", "samples", "timesteps", "ann_accuracy", "snn_accuracy",
             "synops_per_sample", "macs_per_sample", "seconds")


def _run_intsim(b, x, timesteps, batch_size, bar):
    from ..backends.intsim import simulate

    return simulate(b.snn, x, timesteps, batch_size=batch_size, progress=bar.update)


def _compare(res, graph, x, timesteps):
    """Set ``res.mismatches`` (differing spike values, all layers) and ``res.readout_mismatches`` (samples)
    against intsim on the same inputs."""
    from ..backends.intsim import simulate
    from ..results import spike_mismatches

    ref = simulate(graph, x, timesteps, record=True)
    res.mismatches = spike_mismatches(ref, res)
    res.readout_mismatches = int((ref.readout != res.readout).any(axis=1).sum())
    return res


def _run_rtl(b, x, timesteps, batch_size, bar, simulator="iverilog"):
    """The bundle's fpga/ testbench in Icarus Verilog or Verilator; compared with intsim spike by spike."""
    from ..backends.verilog.rtl import simulate_rtl

    res = simulate_rtl(b.path, b.snn, x, timesteps, batch_size=batch_size, progress=bar.update,
                       simulator=simulator)
    return _compare(res, b.snn, x, timesteps)


def _run_lava(b, x, timesteps, batch_size, bar):
    """Lava's fixed-point simulator; also runs intsim on the same inputs and counts differing spike bits."""
    from ..backends.lava import require_lava
    from ..backends.lava.run import simulate_lava

    require_lava()
    t0 = time.perf_counter()
    res = simulate_lava(b.snn, x, timesteps, batch_size=batch_size or 32, progress=bar.update)
    res.wall = time.perf_counter() - t0  # the Lava run alone, not the intsim comparison below
    return _compare(res, b.snn, x, timesteps)


#: backend name -> runner(bundle, x, timesteps, batch_size, progress bar) -> SimResult
RUNNERS = {"intsim": _run_intsim, "lava": _run_lava, "rtl": _run_rtl}


@click.command("simulate")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, metavar="NAME",
              help="Test data: digits, fashion-mnist or a path to an .npz with x, y (test split is used).")
@click.option("--backend", default=BACKENDS[0], show_default=True, type=click.Choice(BACKENDS),
              help="Simulator to run the bundle on.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Use only the first N test samples.")
@click.option("--timesteps", type=click.IntRange(min=1), metavar="T",
              show_default="the bundle's timesteps", help="Integration steps at the output.")
@click.option("--batch-size", type=click.IntRange(min=1), metavar="N",
              show_default="chosen from the graph size", help="Samples simulated at once.")
@click.option("--rtl-simulator", type=click.Choice(["iverilog", "verilator"]), default="iverilog", show_default=True,
              help="--backend rtl: Icarus Verilog (starts at once, ~40 k cycles/s) or Verilator (~10 s to build "
                   "per batch, ~50x faster to run).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the results as JSON to FILE (written atomically).")
@progress_option
def simulate_cmd(bundle_dir: Path, dataset: str, backend: str, limit: int | None, timesteps: int | None,
                 batch_size: int | None, rtl_simulator: str, json_path: Path | None, progress: bool | None) -> None:
    """Simulate the SNN of bundle DIR on the test split of --dataset.

    Reports the ANN accuracy (float graph stored in the bundle), the SNN accuracy, synaptic operations
    per sample against the ANN's multiply-accumulates, wall time of the SNN run and spikes per layer.
    """
    from tqdm import tqdm

    from ..backends.intsim import macs_per_sample
    from ..bundle import read_bundle
    from ..ir.ann import run_ann
    from ..report import format_table

    b = read_bundle(bundle_dir)
    target = TARGETS.get(b.target)
    if target is None or backend not in target.backends:
        ok = ", ".join(target.backends) if target else "none known to this version"
        raise BundleError(f"bundle {bundle_dir}: target {b.target!r} cannot run on backend {backend!r} (use: {ok})")
    T = timesteps if timesteps is not None else b.timesteps
    x, y = load_dataset(dataset, "test", tuple(b.snn.input.shape), "dataset")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    n = len(x)

    ann_out, _ = run_ann(b.ann, x)
    ann_acc = float(np.mean(ann_out.argmax(1) == y))

    t0 = time.perf_counter()
    with tqdm(total=n, unit="img", desc=f"{backend} T={T}", disable=not progress_enabled(progress),
              leave=False) as bar:
        extra = {"simulator": rtl_simulator} if backend == "rtl" else {}
        res = RUNNERS[backend](b, x, T, batch_size, bar, **extra)
    seconds = getattr(res, "wall", time.perf_counter() - t0)

    snn_acc = float(np.mean(res.predictions == y))
    synops = float(np.mean(res.synops))
    macs = int(macs_per_sample(b.snn))
    ratio = synops / macs if macs else None
    spikes = {k: float(np.mean(v)) for k, v in res.spike_counts.items()}

    rows = [("backend", backend), ("dataset", f"{dataset} (test split)"), ("samples", n), ("timesteps", T),
            ("ANN accuracy", f"{100 * ann_acc:.2f} %"), ("SNN accuracy", f"{100 * snn_acc:.2f} %"),
            ("SynOps/sample", f"{synops:,.0f}"), ("MACs/sample", f"{macs:,}"),
            ("SynOps/MAC", "-" if ratio is None else f"{ratio:.3f}"), ("seconds", f"{seconds:.2f}")]
    mismatches = getattr(res, "mismatches", None)
    if mismatches is not None:
        rows.append(("spike mismatches vs intsim", f"{mismatches:,}"))
        rows.append(("readout mismatches vs intsim", f"{res.readout_mismatches:,} samples"))
    click.echo(format_table(("metric", "value"), rows, (False, True)))
    shapes = b.snn.infer_shapes()  # populations and max-pool gates (a gate's outputs count as its neurons)
    counts = {k: int(np.prod(shapes[k])) for k in spikes}
    lrows = [(k, v, counts[k], v / (counts[k] * res.run_steps) if counts[k] else None) for k, v in spikes.items()]
    click.echo()
    click.echo(format_table(("layer", "spikes/sample", "neurons", "spikes/neuron/step"), lrows))

    if json_path is not None:
        doc = dict(zip(JSON_KEYS, (backend, dataset, n, T, ann_acc, snn_acc, synops, macs, seconds)))
        if mismatches is not None:
            doc["mismatches"] = mismatches
            doc["readout_mismatches"] = res.readout_mismatches
        doc["spikes_per_sample"] = spikes
        doc.update({"synops_per_mac": ratio, "run_steps": int(res.run_steps), "bundle": str(bundle_dir),
                    "target": b.target})
        if backend == "rtl":
            doc.update({"simulator": rtl_simulator, "cycles": int(res.cycles)})
        write_json_atomic(doc, json_path)
        click.echo(f"results written to {json_path}")
