"""FPGA backend (``--target fpga``): per-core memory images, Verilog ROMs, an IF core, a top level and a
testbench (``emit``), the Icarus Verilog run that checks them against intsim (``rtl``) and yosys synthesis
(``synth``). See docs/fpga.md."""

from __future__ import annotations

from pathlib import Path

FPGA_DIR = "fpga"


def bundle_files(int_graph, *, placement, profile, timesteps: int, limits=None) -> dict[str, str]:
    """``{"fpga/<path>": text}`` for the bundle (the ``fpga`` target's emitter). The widths come from the
    integer graph, which the target's arithmetic ``limits`` already shaped; they are not read here."""
    from neurocompile.ir.timing import latency

    from .emit import emit

    files, _ = emit(int_graph, placement, profile, latency(int_graph), timesteps)
    return {f"{FPGA_DIR}/{k}": v for k, v in files.items()}


def write_design(int_graph, placement, profile, timesteps: int, out_dir) -> Path:
    """Write the ``fpga/`` files of a placed graph into ``out_dir`` (tests, notebooks); returns ``out_dir``."""
    from neurocompile.ir.timing import latency

    from .emit import emit

    out = Path(out_dir)
    files, _ = emit(int_graph, placement, profile, latency(int_graph), timesteps)
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return out
