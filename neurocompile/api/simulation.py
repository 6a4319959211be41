"""``simulate``: run a bundle's SNN on one of its target's simulators, compare it with its float ANN and, for a
checked simulator, spike by spike with intsim."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from ..bundle import Bundle, read_bundle, write_files
from ..errors import BundleError, TargetError
from ..targets import get_target, load_ref
from ..results import spike_mismatches
from ..targets.builtin import INTSIM
from . import data
from .options import check_counts
from .progress import bar
from .result import SimResult


def load(path: str | Path) -> Bundle:
    """Read the bundle directory ``path``: manifest, schema version and every file's sha256 are checked.

    Raises
    ------
    BundleError
        Missing, corrupt or tampered bundle, or a schema version this build cannot read.
    """
    return read_bundle(path)


def simulate(bundle, dataset, *, backend: str = "intsim", limit: int | None = None, timesteps: int | None = None,
             record: bool = False, batch_size: int | None = None, rtl_simulator: str = "auto",
             progress: bool = True) -> SimResult:
    """Simulate the SNN of ``bundle`` (a Bundle or a bundle directory) on the test split of ``dataset``.

    Parameters
    ----------
    dataset : str, Path, (x, y) pair or torch Dataset
        ``digits``, ``fashion-mnist`` or an ``.npz`` path (their test split), or all of an ``(x, y)`` pair of
        arrays or a torch ``Dataset``.
    backend : str
        A simulator of the bundle's target (``intsim`` runs every bundle; ``lava``, ``rtl``).
    limit : int, optional
        Only the first ``limit`` samples.
    timesteps : int, optional
        Integration steps; default the bundle's.
    record : bool
        Keep every population's spikes on the result (``SimResult.spikes``).
    batch_size : int, optional
        Samples simulated at once (speed and memory only); default the simulator's choice.
    rtl_simulator : str
        ``rtl``: ``iverilog``, ``verilator`` or ``auto`` (Verilator, when installed, for runs above a size
        where Icarus is slower than Verilator's build; docs/fpga.md).
    progress : bool
        A progress bar on stderr.

    Raises
    ------
    BundleError, DatasetError, OptionError, QuantizationError, ToolError
        See docs/api.md.
    """
    check_counts(limit=limit, timesteps=timesteps, batch_size=batch_size)
    b = bundle if isinstance(bundle, Bundle) else read_bundle(bundle)
    where = bundle if not isinstance(bundle, Bundle) else b.path
    try:
        target = get_target(b.target)
    except TargetError:
        target = None
    sim = target.simulator(backend) if target is not None else None
    if sim is None:
        ok = ", ".join(target.backends) if target else "none known to this version"
        raise BundleError(f"bundle {where}: target {b.target!r} cannot run on backend {backend!r} (use: {ok})")
    T = timesteps if timesteps is not None else b.timesteps
    x, y = data.arrays(dataset, "test", tuple(b.snn.input.shape), "dataset")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    from ..energy import counts_from_run, estimate
    from ..ir.ann import run_ann
    from ..ir.cost import ann_macs

    ann_out, _ = run_ann(b.ann, x)
    ann_acc = float(np.mean(ann_out.argmax(1) == y))

    context = {"limits": target.limits, "rtl_simulator": rtl_simulator}
    t0 = time.perf_counter()
    with bar(len(x), "img", f"{backend} T={T}", progress) as pbar, _design(b, sim.context) as design:
        context["design"] = design
        res = load_ref(sim.run)(b.snn, x, T, record=record, batch_size=batch_size, progress=pbar.update,
                                **{k: context[k] for k in sim.context})
    seconds = getattr(res, "wall", time.perf_counter() - t0)
    mismatches = readout_mismatches = None
    if sim.checked:
        ref = load_ref(INTSIM.run)(b.snn, x, T, record=True)
        mismatches = spike_mismatches(ref, res)
        readout_mismatches = int((ref.readout != res.readout).any(axis=1).sum())

    synops = float(np.mean(res.synops))
    macs = int(sum(ann_macs(b.snn).values()))
    spikes = {k: float(np.mean(v)) for k, v in res.spike_counts.items()}
    counts = counts_from_run(b.snn, x, synops, sum(spikes.values()), int(res.run_steps))
    energy = estimate(counts, b.profile, f"{backend} on {len(x)} samples, T={T}")
    shapes = b.snn.infer_shapes()  # populations and max-pool gates (a gate's outputs count as its neurons)
    return SimResult(
        backend=backend, dataset=data.describe(dataset), samples=len(x), timesteps=T, ann_accuracy=ann_acc,
        snn_accuracy=float(np.mean(res.predictions == y)), synops_per_sample=synops, macs_per_sample=macs,
        seconds=seconds, mismatches=mismatches, readout_mismatches=readout_mismatches,
        spikes_per_sample=spikes, synops_per_mac=synops / macs if macs else None, run_steps=int(res.run_steps),
        bundle=None if where is None else str(where), target=b.target, energy=energy,
        extra=dict(getattr(res, "extra", {})),
        neurons={k: int(np.prod(shapes[k])) for k in res.spike_counts}, readout=res.readout,
        spikes=res.spikes if record else None)


@contextlib.contextmanager
def _design(b: Bundle, context: tuple[str, ...]):
    """A directory holding the bundle's files for a simulator that reads them (``design`` in its context):
    the bundle's own directory, or, for a bundle not saved, a temporary one with its target files."""
    if "design" not in context or b.path is not None:
        yield b.path
        return
    with tempfile.TemporaryDirectory(prefix="nc-design-") as tmp:
        write_files(Path(tmp), b.files)
        yield Path(tmp)
