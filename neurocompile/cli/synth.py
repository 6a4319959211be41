"""``neurocompile synth``: parse the options, call :func:`neurocompile.synth`, print block RAM / LUT / FF per core."""

from __future__ import annotations

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
    PATH it fails with exit code 2 and leaves the bundle as it was.
    """
    from ..api import synth
    from ..report import format_table

    want = None
    if cores:
        try:
            want = [int(c) for c in cores.split(",")]
        except ValueError:
            raise BundleError(f"--cores {cores!r}: expected comma-separated core numbers") from None
    doc = synth(bundle_dir, family=family, cores=want, roms_only=roms_only, timeout=timeout,
                progress=progress_enabled(progress))
    rows = [(r["core"], r["bram"], r["lut"], r["ff"],
             " ".join(f"{x['role']}:{'BRAM' if x['in_bram'] else 'LUT'}" for x in r["roms"]), r["seconds"])
            for r in doc["cores"]]
    click.echo(format_table(("core", "BRAM", "LUT", "FF", "ROMs", "seconds"), rows))
    left, t = doc["roms_not_in_bram"], doc["totals"]
    click.echo(f"block RAM {t['bram']:,}, LUT {t['lut']:,}, FF {t['ff']:,}; "
               + (f"{len(left)} ROM(s) above {doc['small_rom_bits']} bits left in LUTs" if left else
                  "every ROM above the small size is in block RAM") + f"; recorded in {bundle_dir}/report.json")
