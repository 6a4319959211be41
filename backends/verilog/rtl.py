"""Run the emitted testbench in Icarus Verilog and read back what the hardware did."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocompile import fixedpoint as fx
from neurocompile.errors import ToolError

from .emit import HDL_FILES, NETWORK_JSON


class RtlError(ToolError):
    """The Verilog simulator is missing or failed."""


@dataclass
class RtlResult:
    readout: np.ndarray  # (N, F) int64
    spikes: dict[str, np.ndarray]  # source layer -> (run_steps, N, *shape) bool (empty without dump_spikes)
    cycles: int  # clock cycles of the init and step phases, all samples
    seconds: float  # simulator wall time (compile + run)

    @property
    def predictions(self) -> np.ndarray:
        return self.readout.argmax(1)


SIMULATORS = ("iverilog", "verilator")
#: ``auto`` picks Verilator (when installed) above this many cycles of work, bounded from above as
#: samples x run steps x (neurons + synapse words): every word read once per step, as if every axon spiked.
#: Icarus runs about 40 k cycles/s and a design's real cycles were about a tenth of this bound (the digits CNN);
#: Verilator first spends ~10 s building. 4 M is ~3 digits-CNN images at T = 8, where the two meet
#: (docs/fpga.md, "Simulation").
AUTO_VERILATOR_WORK = 4_000_000


def design_work(doc: dict, samples: int) -> int:
    """The ``auto`` rule's bound on the cycles of simulating ``samples`` images on the design ``doc``
    (``fpga/network.json``)."""
    lanes = max(int(doc.get("lanes", 1)), 1)
    per_step = sum(int(c["neurons"]) + -(-int(c["synapse_entries"]) // lanes) for c in doc["cores"])
    return samples * int(doc["run_steps"]) * per_step


def choose_simulator(simulator: str, doc: dict, samples: int) -> str:
    """``simulator`` itself, or for ``auto``: Verilator when it is on PATH and :func:`design_work` is above
    ``AUTO_VERILATOR_WORK``, otherwise Icarus."""
    if simulator != "auto":
        return simulator
    if shutil.which("verilator") is not None and design_work(doc, samples) > AUTO_VERILATOR_WORK:
        return "verilator"
    return "iverilog"


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pkg = "iverilog" if name in ("iverilog", "vvp") else name
        raise RtlError(f"{name} not found on PATH; install the Debian package {pkg} (`make setup` does)")
    return path


def _commands(sim: str, fpga_dir: Path, tmp: Path, params: dict) -> list[list[str]]:
    """Compile and run commands for ``sim`` (run from ``fpga_dir``; ``$readmemh`` paths are relative to it)."""
    srcs = [str(fpga_dir / f) for f in HDL_FILES]
    if sim == "iverilog":
        p = [a for k, v in params.items() for a in ("-P", f"nc_tb.{k}={v}")]
        return [[find_tool("iverilog"), "-g2005", "-s", "nc_tb", "-o", str(tmp / "sim.vvp"), *p, *srcs],
                [find_tool("vvp"), "-n", str(tmp / "sim.vvp")]]
    if sim == "verilator":
        p = [f"-G{k}={v}" for k, v in params.items()]
        return [[find_tool("verilator"), "--binary", "-j", "2", "-Wno-fatal", "-Wno-WIDTH", "--top-module", "nc_tb",
                 "--Mdir", str(tmp / "obj"), *p, *srcs],
                [str(tmp / "obj" / "Vnc_tb")]]
    raise RtlError(f"unknown simulator {sim!r}; use one of {', '.join(SIMULATORS)} or auto")


def write_inputs(path: Path, x_int: np.ndarray, val_bits: int) -> None:
    flat = fx.twos_complement(np.asarray(x_int, dtype=np.int64).reshape(-1), val_bits)
    nd = -(-val_bits // 4)
    path.write_text("\n".join(format(int(v), f"0{nd}x") for v in flat) + "\n")


def run(fpga_dir: str | Path, shapes: dict[str, tuple], x_int: np.ndarray, dump_spikes: bool = True,
        work: str | Path | None = None, timeout: float | None = None, simulator: str = "iverilog") -> RtlResult:
    """Simulate samples ``x_int`` (N, *input shape, integers) on the design in ``fpga_dir`` with Icarus Verilog
    (starts at once, runs slowly) or Verilator (compiles the design first, then runs far faster; docs/fpga.md
    has measured figures).

    ``shapes``: per-sample shape of every source layer (to unflatten spikes)."""
    fpga_dir = Path(fpga_dir).resolve()
    doc = json.loads((fpga_dir / NETWORK_JSON).read_text())
    n = len(x_int)
    tmp = Path(tempfile.mkdtemp(prefix="nc-rtl-", dir=work))
    try:
        write_inputs(tmp / "inputs.mem", x_int, doc["val_bits"])
        out = tmp / "rtl_out.txt"
        params = {"N_SAMPLES": n, "IN_FILE": f'"{tmp / "inputs.mem"}"', "OUT_FILE": f'"{out}"',
                  "DUMP_SPIKES": int(dump_spikes)}
        build, go = _commands(simulator, fpga_dir, tmp, params)
        t0 = time.perf_counter()
        _check(subprocess.run(build, cwd=fpga_dir, capture_output=True, text=True, timeout=timeout), simulator)
        r = subprocess.run(go, cwd=fpga_dir, capture_output=True, text=True, timeout=timeout)
        _check(r, f"the {simulator} simulation")
        for bad in ("Excess hex digits", "Not enough words", "Unable to open"):
            if bad in r.stdout + r.stderr:
                raise RtlError(f"vvp: {bad} ({(r.stdout + r.stderr).strip().splitlines()[0]})")
        seconds = time.perf_counter() - t0
        return _parse(out, doc, shapes, n, dump_spikes, seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(r: subprocess.CompletedProcess, what: str) -> None:
    if r.returncode != 0:
        msg = (r.stderr + "\n" + r.stdout).strip().splitlines()
        errors = [m for m in msg if "error" in m.lower()] or msg
        raise RtlError(f"{what} failed (exit {r.returncode}): {errors[0].strip() if errors else 'no output'}")


def _parse(path: Path, doc: dict, shapes, n: int, dump_spikes: bool, seconds: float) -> RtlResult:
    if not path.is_file():
        raise RtlError(f"the testbench wrote no {path.name}")
    steps, units = doc["run_steps"], doc["readout"]["units"]
    readout = np.zeros((n, units), dtype=np.int64)
    flat = {k: np.zeros((steps, n, v["units"]), dtype=bool) for k, v in doc["sources"].items() if k != doc["input"]}
    owners = sorted(((v["first"], k) for k, v in doc["sources"].items() if k != doc["input"]))
    firsts = np.array([f for f, _ in owners])
    cycles = None
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "s":
            s, t, i = int(parts[1]), int(parts[2]), int(parts[3])
            k = owners[int(np.searchsorted(firsts, i, side="right")) - 1][1]
            flat[k][t - 1, s, i - doc["sources"][k]["first"]] = True
        elif parts[0] == "r":
            readout[int(parts[1]), int(parts[2])] = int(parts[3])
        elif parts[0] == "done":
            cycles = int(parts[1])
    if cycles is None:
        raise RtlError(f"the testbench did not finish ({path.name} has no 'done' line)")
    spikes = {k: v.reshape(steps, n, *shapes[k]) for k, v in flat.items()} if dump_spikes else {}
    return RtlResult(readout, spikes, cycles, seconds)


def simulate_rtl(bundle_path, graph, x: np.ndarray, timesteps: int, batch_size: int | None = None,
                 progress=None, dump_spikes: bool = True, simulator: str = "auto"):
    """Run the bundle's ``fpga/`` design on float inputs ``x`` (quantised as intsim does) in batches; returns an
    ``RunResult`` as intsim's (spikes of every population, readout, SynOps from the spikes) plus ``cycles`` and
    ``simulator`` (the one used: ``auto`` chooses by :func:`choose_simulator`)."""
    from neurocompile.results import RunResult, quantize_input, spike_stats

    from . import FPGA_DIR

    fpga = Path(bundle_path) / FPGA_DIR
    doc = json.loads((fpga / NETWORK_JSON).read_text())
    if timesteps != doc["timesteps"]:
        raise RtlError(f"bundle {bundle_path}: the RTL testbench was generated for T={doc['timesteps']}, "
                       f"not {timesteps}; rebuild with --timesteps {timesteps}")
    simulator = choose_simulator(simulator, doc, len(x))
    shapes = graph.infer_shapes()
    x_int = quantize_input(graph, x)
    batch = batch_size or (8 if simulator == "iverilog" else 256)  # verilator: one build per batch
    parts, cycles, seconds = [], 0, 0.0
    for i in range(0, len(x_int), batch):
        r = run(fpga, shapes, x_int[i:i + batch], dump_spikes=dump_spikes, simulator=simulator)
        parts.append(r)
        cycles += r.cycles
        seconds += r.seconds
        if progress is not None:
            progress(len(x_int[i:i + batch]))
    readout = np.concatenate([p.readout for p in parts])
    spikes = {k: np.concatenate([p.spikes[k] for p in parts], axis=1) for k in parts[0].spikes} if parts else {}
    counts, synops = spike_stats(graph, spikes, len(x_int))
    res = RunResult(readout, timesteps, doc["run_steps"], counts, synops, spikes)
    res.cycles, res.wall, res.simulator = cycles, seconds, simulator
    return res


def simulate_design(graph, x: np.ndarray, timesteps: int, *, design, rtl_simulator: str = "auto",
                    record: bool = True, batch_size: int | None = None, progress=None):
    """The ``rtl`` simulator of the target registry: :func:`simulate_rtl` on the ``fpga/`` design in the
    directory ``design`` (a bundle). Spikes are always dumped (the pipeline compares them with intsim);
    ``extra`` holds the simulator used and the clock cycles for the ``simulate`` document."""
    res = simulate_rtl(design, graph, x, timesteps, batch_size=batch_size, progress=progress, simulator=rtl_simulator)
    res.extra = {"simulator": res.simulator, "cycles": int(res.cycles)}
    return res
