"""``synth``: logic synthesis of a saved bundle with its target's synthesizer (the fpga target: yosys per
core), recorded in the bundle's report.json under ``synthesis``."""

from __future__ import annotations

from pathlib import Path

from ..bundle import Bundle, read_manifest, update_report
from ..errors import BundleError, TargetError
from ..targets import get_target, list_targets, load_ref


def synth(bundle, *, family: str = "xilinx", cores: list[int] | None = None, roms_only: bool = False,
          timeout: float | None = 1800, progress: bool = True) -> dict:
    """Synthesise the saved bundle ``bundle`` (a directory, or a Bundle with a path) and record the result in
    its ``report.json`` (re-hashed in the manifest).

    Parameters
    ----------
    family : str
        The fpga target's yosys flow: ``ice40``, ``ecp5`` or ``xilinx`` (7 series).
    cores : list of int, optional
        Core numbers to synthesise (default every core).
    roms_only : bool
        Only each core's three ROMs (the quick check that every image lands in block RAM).
    timeout : float, optional
        Seconds one core may take.

    Returns
    -------
    dict
        The ``synthesis`` document: ``family``, ``tool``, ``scope``, ``small_rom_bits``, ``cores`` (per core
        ``bram``, ``lut``, ``ff``, ``roms``, ``seconds``), ``totals``, ``roms_not_in_bram``.

    Raises
    ------
    BundleError
        Not a saved bundle, its target has no synthesis, or it has no design (a dry run).
    ToolError
        yosys is missing or failed.
    """
    path = bundle.path if isinstance(bundle, Bundle) else Path(bundle)
    if path is None:
        raise BundleError("synth works on a saved bundle; call bundle.save(path) first")
    manifest = read_manifest(path)
    try:
        ref = get_target(manifest["target"]).synthesizer
    except TargetError:
        ref = None
    if ref is None:
        can = " or ".join(t.name for t in list_targets() if t.synthesizer) or "a target with synthesis"
        raise BundleError(f"bundle {path}: target {manifest['target']} has no synthesis flow and so no fpga/ design "
                          f"(build it with --target {can}, without --dry-run)")
    doc = load_ref(ref)(path, family=family, cores=cores, roms_only=roms_only, timeout=timeout, progress=progress)
    update_report(path, "synthesis", doc)
    return doc
