"""``neurocompile synth``: yosys synthesis of a bundle's FPGA cores (block RAM / LUT / FF per core)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from ..errors import BundleError
from .common import progress_enabled, progress_option


@click.command("synth")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--family", default="xilinx", show_default=True, type=click.Choice(["ice40", "ecp5", "xilinx"]),
              help="yosys flow: synth_ice40, synth_ecp5 or synth_xilinx (7 series).")
@click.option("--cores", metavar="LIST", help="Comma-separated core numbers (default: every core).")
@click.option("--roms-only", is_flag=True,
              help="Synthesise only each core's three ROMs (quick check that every image lands in block RAM).")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True, metavar="S",
              help="Seconds one core may take.")
@progress_option
def synth_cmd(bundle_dir: Path, family: str, cores: str | None, roms_only: bool, timeout: float,
              progress: bool | None) -> None:
    """Synthesise the cores of the --target fpga bundle DIR with yosys and record block RAM, LUT and
    flip-flop counts per core (and per ROM: whether it landed in block RAM) in DIR/report.json under
    "synthesis". Each core is synthesised alone (nc_core with its parameters and images). Without yosys on
    PATH it says so and exits 0 without changing the bundle.
    """
    from tqdm import tqdm

    from ..backends.verilog import FPGA_DIR
    from ..backends.verilog.synth import SMALL_ROM_BITS, synth_core, synth_roms
    from ..bundle import read_manifest, update_report
    from ..report import format_table

    manifest = read_manifest(bundle_dir)
    fpga = Path(bundle_dir) / FPGA_DIR
    if manifest["target"] != "fpga" or not (fpga / "network.json").is_file():
        raise BundleError(f"bundle {bundle_dir}: no fpga/ design (build it with --target fpga, without --dry-run)")
    if shutil.which("yosys") is None:
        click.echo("yosys not found on PATH: synthesis skipped (install the Debian package yosys; `make setup` "
                   "does)")
        return
    net = json.loads((fpga / "network.json").read_text())
    todo = net["cores"]
    if cores:
        try:
            want = {int(c) for c in cores.split(",")}
        except ValueError:
            raise BundleError(f"--cores {cores!r}: expected comma-separated core numbers") from None
        bad = sorted(want - {c["core"] for c in todo})
        if bad:
            raise BundleError(f"--cores: core {bad[0]} not in bundle {bundle_dir} ({len(todo)} cores)")
        todo = [c for c in todo if c["core"] in want]
    results = []
    for core in tqdm(todo, unit="core", desc=f"yosys synth_{family}", disable=not progress_enabled(progress),
                     leave=False):
        results.append((synth_roms if roms_only else synth_core)(fpga, core, family, timeout))
    rows = [(r["core"], r["bram"], r["lut"], r["ff"],
             " ".join(f"{x['role']}:{'BRAM' if x['in_bram'] else 'LUT'}" for x in r["roms"]), r["seconds"])
            for r in results]
    click.echo(format_table(("core", "BRAM", "LUT", "FF", "ROMs", "seconds"), rows))
    left = [(r["core"], x["role"], x["bits"]) for r in results for x in r["roms"]
            if not x["in_bram"] and not x["small"]]
    doc = {"family": family, "tool": "yosys", "scope": "roms" if roms_only else "cores",
           "small_rom_bits": SMALL_ROM_BITS, "cores": results,
           "totals": {k: sum(r[k] for r in results) for k in ("bram", "lut", "ff")},
           "roms_not_in_bram": [{"core": c, "role": role, "bits": b} for c, role, b in left]}
    update_report(bundle_dir, "synthesis", doc)
    click.echo(f"block RAM {doc['totals']['bram']:,}, LUT {doc['totals']['lut']:,}, FF {doc['totals']['ff']:,}; "
               + (f"{len(left)} ROM(s) above {SMALL_ROM_BITS} bits left in LUTs" if left else
                  "every ROM above the small size is in block RAM") + f"; recorded in {bundle_dir}/report.json")
