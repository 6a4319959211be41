"""yosys synthesis of the emitted cores: block RAM, LUT and flip-flop counts per core and per ROM.

Each core is synthesised on its own (``nc_core`` with the core's parameters, its three ``nc_rom``
instances loading the core's images), with ``synth_ice40``, ``synth_ecp5`` or ``synth_xilinx`` (7 series).
``stat -json`` gives the cells of every module: a ROM module with block RAM cells is "in BRAM"; a ROM of at
most ``SMALL_ROM_BITS`` bits may be left in LUTs by yosys (too small for a block RAM to pay off).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .rtl import RtlError

FAMILIES = ("ice40", "ecp5", "xilinx")
#: cell types that are block RAMs / LUTs / flip-flops, per family
BRAM = {"ice40": ("SB_RAM40_4K",), "ecp5": ("DP16KD", "PDPW16KD"), "xilinx": ("RAMB18E1", "RAMB36E1")}
LUT = {"ice40": ("SB_LUT4",), "ecp5": ("LUT4",), "xilinx": tuple(f"LUT{i}" for i in range(1, 7))}
FF = {"ice40": re.compile(r"^SB_DFF"), "ecp5": re.compile(r"^TRELLIS_FF$"), "xilinx": re.compile(r"^FD[CPRS]E?$")}
#: ROMs this small (bits) may stay in LUTs
SMALL_ROM_BITS = 1024
#: nc_core parameter -> key of network.json's per-core "parameters"
PARAMS = {"N_NEU": "n_neurons", "NAW": "naw", "N_AX": "n_axons", "AXW": "axw", "SYN_DEPTH": "syn_depth",
          "SAW": "saw", "AX_DEPTH": "ax_depth", "NEU_DEPTH": "neu_depth", "WORD_BITS": "word_bits",
          "LANES": "lanes", "LANE_BITS": "lane_bits", "IDX_BITS": "idx_bits", "WGT_BITS": "wgt_bits",
          "SRC_BITS": "src_bits", "START_BITS": "start_bits", "LEN_BITS": "len_bits", "SB": "state_bits", "PB": "param_bits",
          "DEST_BITS": "dest_bits", "ACC_BITS": "acc_bits", "RO_BITS": "ro_bits", "VAL_BITS": "val_bits",
          "SYN_FILE": "syn_file", "AX_FILE": "ax_file", "NEU_FILE": "neu_file"}


def script(params: dict, family: str, pre: Path, post: Path) -> str:
    sets = " ".join(f"-set {k} {json.dumps(params[v]) if isinstance(params[v], str) else int(params[v])}"
                    for k, v in PARAMS.items())
    return (f"read_verilog -defer nc_rom.v nc_core.v\nchparam {sets} nc_core\nhierarchy -top nc_core\nproc\n"
            f"tee -q -o {pre} stat -json\nsynth_{family} -top nc_core\ntee -q -o {post} stat -json\n")


def _count(cells: dict, family: str) -> dict:
    return {"bram": sum(n for c, n in cells.items() if c in BRAM[family]),
            "lut": sum(n for c, n in cells.items() if c in LUT[family]),
            "ff": sum(n for c, n in cells.items() if FF[family].match(c))}


def _yosys() -> str:
    path = shutil.which("yosys")
    if path is None:
        raise RtlError("yosys not found on PATH; install the Debian package yosys (`make setup` does)")
    return path


def _failed(r: subprocess.CompletedProcess, what: str) -> RtlError:
    msg = [m for m in (r.stderr + r.stdout).splitlines() if "ERROR" in m] or ["no statistics written"]
    return RtlError(f"yosys {what} failed: {msg[0].strip()}")


def synth_core(fpga_dir: Path, core: dict, family: str, timeout: float | None = None) -> dict:
    """Synthesise one core: block RAM / LUT / FF cells of the core, and per ROM its size, its cells and
    whether it landed in block RAM; plus the seconds yosys took."""
    yosys = _yosys()
    with tempfile.TemporaryDirectory(prefix="nc-synth-") as tmp:
        pre, post = Path(tmp) / "pre.json", Path(tmp) / "post.json"
        (Path(tmp) / "run.ys").write_text(script(core["parameters"], family, pre, post))
        t0 = time.perf_counter()
        r = subprocess.run([yosys, "-q", "-l", str(Path(tmp) / "yosys.log"), "-s", str(Path(tmp) / "run.ys")],
                           cwd=fpga_dir, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        if r.returncode != 0 or not post.is_file():
            raise _failed(r, f"synth_{family} of core {core['core']}")
        before, after = json.loads(pre.read_text())["modules"], json.loads(post.read_text())
    sizes = rom_sizes(core, fpga_dir)
    roms = []
    for name, m in after["modules"].items():
        if not name.endswith("nc_rom"):
            continue
        bits = int(before.get(name, {}).get("num_memory_bits", 0))
        role = next((k for k, v in sizes.items() if v == bits and k not in {r["role"] for r in roms}), None)
        c = _count(m.get("num_cells_by_type", {}), family)
        roms.append({"role": role, "bits": bits, **c, "in_bram": c["bram"] > 0,
                     "small": bits <= SMALL_ROM_BITS})
    total = _count(after.get("design", {}).get("num_cells_by_type", {}), family)
    return {"core": core["core"], "family": family, **total, "roms": sorted(roms, key=lambda r: str(r["role"])),
            "seconds": round(seconds, 2)}


def rom_sizes(core: dict, fpga_dir: Path) -> dict[str, int]:
    """Bits of each of the core's ROMs (depth x word bits), from their manifests."""
    out = {}
    for role, rel in core["memories"].items():
        man = json.loads((fpga_dir / rel).read_text())
        out[role] = int(man["depth"]) * int(man["word_bits"])
    return out


def synth_roms(fpga_dir: Path, core: dict, family: str, timeout: float | None = None) -> dict:
    """Synthesise only the core's three ROMs (``nc_rom`` alone, each with its manifest's geometry and image):
    the quick check that every image lands in block RAM."""
    yosys = _yosys()
    lines, mans = [], {}
    with tempfile.TemporaryDirectory(prefix="nc-synth-") as tmp:
        for role, rel in core["memories"].items():
            man = mans[role] = json.loads((fpga_dir / rel).read_text())
            init = json.dumps(f"{Path(rel).parent.as_posix()}/{man['files']['mem']}")
            lines += ["design -reset", "read_verilog -defer nc_rom.v",
                      f"chparam -set WIDTH {man['word_bits']} -set DEPTH {man['depth']} -set AW {man['addr_bits']} "
                      f"-set INIT_FILE {init} nc_rom", "hierarchy -top nc_rom",
                      f"synth_{family} -top nc_rom", f"tee -q -o {Path(tmp) / (role + '.json')} stat -json"]
        (Path(tmp) / "run.ys").write_text("\n".join(lines) + "\n")
        t0 = time.perf_counter()
        r = subprocess.run([yosys, "-q", "-s", str(Path(tmp) / "run.ys")], cwd=fpga_dir, capture_output=True,
                           text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        roms = []
        for role, man in mans.items():
            f = Path(tmp) / f"{role}.json"
            if r.returncode != 0 or not f.is_file():
                raise _failed(r, f"synth_{family} of core {core['core']} ROMs")
            c = _count(json.loads(f.read_text()).get("design", {}).get("num_cells_by_type", {}), family)
            bits = int(man["depth"]) * int(man["word_bits"])
            roms.append({"role": role, "bits": bits, **c, "in_bram": c["bram"] > 0, "small": bits <= SMALL_ROM_BITS})
    total = {k: sum(x[k] for x in roms) for k in ("bram", "lut", "ff")}
    return {"core": core["core"], "family": family, **total, "roms": roms, "seconds": round(seconds, 2),
            "scope": "roms"}


def synth_bundle(path: Path, *, family: str = "xilinx", cores: list[int] | None = None, roms_only: bool = False,
                 timeout: float | None = 1800, progress: bool = False) -> dict:
    """Synthesise the cores of the fpga bundle at ``path`` (``cores``: their numbers, default every core; each
    core alone, or only its three ROMs with ``roms_only``); returns the ``synthesis`` document of report.json
    (per core and per ROM block RAM, LUT, FF; totals; the ROMs above ``SMALL_ROM_BITS`` left in LUTs) without
    writing it (the fpga target's synthesizer).

    Raises
    ------
    BundleError
        The bundle has no ``fpga/`` design, or ``cores`` names a core it does not have.
    RtlError
        yosys is not on PATH, or it failed.
    """
    from neurocompile.api.progress import bar
    from neurocompile.errors import BundleError

    from . import FPGA_DIR
    from .emit import NETWORK_JSON

    fpga = Path(path) / FPGA_DIR
    if not (fpga / NETWORK_JSON).is_file():
        raise BundleError(f"bundle {path}: no fpga/ design (build it with --target fpga, without --dry-run)")
    if family not in FAMILIES:
        raise RtlError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    _yosys()
    todo = json.loads((fpga / NETWORK_JSON).read_text())["cores"]
    if cores is not None:
        bad = sorted(set(cores) - {c["core"] for c in todo})
        if bad:
            raise BundleError(f"--cores: core {bad[0]} not in bundle {path} ({len(todo)} cores)")
        todo = [c for c in todo if c["core"] in set(cores)]
    results = []
    with bar(len(todo), "core", f"yosys synth_{family}", progress) as pbar:
        for core in todo:
            results.append((synth_roms if roms_only else synth_core)(fpga, core, family, timeout))
            pbar.update(1)
    left = [(r["core"], x["role"], x["bits"]) for r in results for x in r["roms"]
            if not x["in_bram"] and not x["small"]]
    return {"family": family, "tool": "yosys", "scope": "roms" if roms_only else "cores",
            "small_rom_bits": SMALL_ROM_BITS, "cores": results,
            "totals": {k: sum(r[k] for r in results) for k in ("bram", "lut", "ff")},
            "roms_not_in_bram": [{"core": c, "role": role, "bits": b} for c, role, b in left]}
