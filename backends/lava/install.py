"""Make lava-nc 0.10.0 usable on Python 3.11, and check that it is.

    python -m neurocompile.backends.lava.install           # verify version, patch (idempotent), check
    python -m neurocompile.backends.lava.install --check   # verify only, modify nothing

lava-nc 0.10.0 is the last release (upstream is archived) and declares ``Requires-Python <3.11``.
``make lava`` installs it with ``pip install --no-deps --ignore-requires-python`` plus its one missing
runtime dependency (asteval), then runs this module, which

1. refuses (exit 1) unless the installed ``lava-nc`` is exactly 0.10.0 and its declared runtime
   requirements (numpy, networkx, scipy, scikit-learn, asteval) are met by what is installed;
2. patches two files, each only when its sha256 is the one shipped in the lava-nc 0.10.0 wheel, and
   the result must hash to the known patched sha256; any other content is refused, and a file already
   at the patched hash is left alone, so re-running is a no-op:
   * ``lava/magma/compiler/var_model.py``: three dataclasses (CoreEncoder, ChipEncoder, AxonEncoder)
     use a ``ByteEncoder()`` instance as a field default, which Python 3.11 rejects at import time
     (``ValueError: mutable default ... use default_factory``). Those 8 fields get
     ``field(default_factory=ByteEncoder)`` (and ``field`` is imported). Only Loihi-hardware spike-IO
     encoders use them; the CPU simulation never does.
   * ``lava/magma/runtime/message_infrastructure/multiprocessing.py``: at import, Lava calls
     ``mp.set_start_method('fork')``, which raises ``RuntimeError: context has already been set`` in any
     process that used multiprocessing before (``make test`` does: an earlier test leaves the default
     'fork' context in use). The call is now skipped when the start method already is 'fork'; any
     other start method still raises as before. (Not specific to 3.11.)
   A marker ``NEUROCOMPILE_PATCH.json`` is written into lava-nc's ``.dist-info`` directory (and listed in
   its RECORD, so ``pip uninstall lava-nc`` removes it);
3. checks: lava imports, and two tiny ``Loihi2SimCfg(select_tag="fixed_pt")`` runs give the exact
   integers measured when the Lava target was verified (E1 below: a bias-driven LIF; and
   RingBuffer -> Dense -> LIF latency/threshold semantics), then prints ``lava-nc 0.10.0 OK (patched)``.

No other file of lava-nc 0.10.0 fails on Python 3.11: after the patch all 139 ``lava`` modules import
(in a venv without matplotlib only ``lava.utils.plots`` fails, with ModuleNotFoundError).

This module imports nothing from ``lava`` at import time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DIST_NAME = "lava-nc"
REQUIRED_VERSION = "0.10.0"
MARKER_NAME = "NEUROCOMPILE_PATCH.json"
PATCH_ID = "neurocompile-lava-0.10.0-py311-v2"


class LavaInstallError(RuntimeError):
    """The installed lava is not the one this module knows how to fix, or a check failed."""


@dataclass(frozen=True)
class FilePatch:
    path: str  # relative to the directory lava-nc is installed in (site-packages)
    original_sha256: str  # the file as shipped in lava_nc-0.10.0-py3-none-any.whl
    patched_sha256: str  # the file after `replacements`
    replacements: tuple[tuple[str, str], ...]  # each `old` must occur exactly once
    reason: str


_VAR_MODEL_OLD_IMPORT = "from dataclasses import dataclass, InitVar\n"
_VAR_MODEL_NEW_IMPORT = "from dataclasses import dataclass, InitVar, field\n"


def _encoder_block(cls: str, doc: str, names: tuple[str, ...], patched: bool) -> str:
    default = "field(default_factory=ByteEncoder)" if patched else "ByteEncoder()"
    body = "".join(f"    {n}: ByteEncoder = {default}\n" for n in names)
    return f"@dataclass\nclass {cls}:\n    {doc}\n{body}"


_ENCODERS = (
    ("CoreEncoder", '""" Encodes a core xyp """', ("x", "y", "p")),
    ("ChipEncoder", '""" Encoding for chip field """', ("x", "y", "z")),
    ("AxonEncoder", '""" Encoding for axon field """', ("hi", "lo")),
)

_MP_OLD = "if platform.system() != 'Windows':\n    mp.set_start_method('fork')\n"
_MP_NEW = (
    "if platform.system() != 'Windows':\n"
    "    # neurocompile: set_start_method raises once a context is in use, even if it is already 'fork'\n"
    "    if mp.get_start_method(allow_none=True) != 'fork':\n"
    "        mp.set_start_method('fork')\n"
)

PATCHES: tuple[FilePatch, ...] = (
    FilePatch(
        path="lava/magma/compiler/var_model.py",
        original_sha256="3b8acb73dc3ff38d159065aa0339b90f371f99f162e68d10a3117afbd916afa8",
        patched_sha256="2fc7130d0c978a12f364bdb0ff1182481230a56f816d21ee4042428d24f87f61",
        replacements=((_VAR_MODEL_OLD_IMPORT, _VAR_MODEL_NEW_IMPORT),)
        + tuple(
            (_encoder_block(c, d, n, False), _encoder_block(c, d, n, True)) for c, d, n in _ENCODERS
        ),
        reason="Python 3.11 dataclasses reject the unhashable default ByteEncoder() "
        "(ValueError: mutable default ... use default_factory)",
    ),
    FilePatch(
        path="lava/magma/runtime/message_infrastructure/multiprocessing.py",
        original_sha256="d86bd3b40edf9584280ac34d502dc07da5f73300ac6f7ec705de56edf0c64b0f",
        patched_sha256="591a66f8be01440a817a47df634c6c3a394a94c212670448de0ab5b68a81d70c",
        replacements=((_MP_OLD, _MP_NEW),),
        reason="importing lava's runtime raised `RuntimeError: context has already been set` whenever "
        "anything in the process had used multiprocessing before (e.g. an earlier test), even with 'fork'",
    ),
)


# --------------------------------------------------------------------------------------------------
# locating the installed distribution


def installed_version() -> str | None:
    try:
        return md.version(DIST_NAME)
    except md.PackageNotFoundError:
        return None


def _distribution() -> md.Distribution:
    version = installed_version()
    if version is None:
        raise LavaInstallError(
            f"{DIST_NAME} is not installed in {sys.prefix} "
            f"(run `make lava`, which installs {DIST_NAME}=={REQUIRED_VERSION})"
        )
    if version != REQUIRED_VERSION:
        raise LavaInstallError(
            f"installed {DIST_NAME} is {version}, but neurocompile's Python 3.11 fix is only known to be "
            f"correct for exactly {DIST_NAME}=={REQUIRED_VERSION}; refusing. Install "
            f"`pip install --no-deps --ignore-requires-python {DIST_NAME}=={REQUIRED_VERSION}` "
            f"(or run `make lava`)"
        )
    return md.distribution(DIST_NAME)


def _dist_info_dir(dist: md.Distribution) -> Path:
    for f in dist.files or ():
        if f.name == "METADATA" and f.parent.name.endswith(".dist-info"):
            return Path(f.locate()).parent
    raise LavaInstallError(f"cannot find the .dist-info directory of {DIST_NAME}")


def _target(dist: md.Distribution, patch: FilePatch) -> Path:
    p = Path(dist.locate_file(patch.path))
    if not p.is_file():
        raise LavaInstallError(f"{DIST_NAME} {REQUIRED_VERSION} is installed but {p} is missing")
    return p


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _requirement_class():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - pip always vendors it
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def unmet_requirements(dist: md.Distribution | None = None) -> list[str]:
    """lava-nc's declared runtime requirements that the installed packages do not satisfy.

    (Requires-Python is deliberately not checked: that is what the patch is for.)"""
    dist = dist or _distribution()
    Requirement = _requirement_class()
    problems = []
    for line in dist.requires or ():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            problems.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(have, prereleases=True):
            problems.append(f"{req} (installed: {have})")
    return problems


# --------------------------------------------------------------------------------------------------
# patching


def patch_state() -> dict[str, str]:
    """{relative path: 'original' | 'patched' | 'unknown:<sha256>'} for every file we patch."""
    dist = _distribution()
    state = {}
    for patch in PATCHES:
        digest = _sha256(_target(dist, patch))
        if digest == patch.patched_sha256:
            state[patch.path] = "patched"
        elif digest == patch.original_sha256:
            state[patch.path] = "original"
        else:
            state[patch.path] = f"unknown:{digest}"
    return state


def _patched_text(patch: FilePatch, text: str) -> str:
    for old, new in patch.replacements:
        n = text.count(old)
        if n != 1:
            raise LavaInstallError(
                f"{patch.path}: expected exactly one occurrence of {old.splitlines()[0]!r}..., found {n}"
            )
        text = text.replace(old, new)
    return text


def _write_atomic(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _marker_payload(dist: md.Distribution) -> dict:
    return {
        "patch": PATCH_ID,
        "distribution": f"{DIST_NAME}=={dist.version}",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "files": {p.path: {"original_sha256": p.original_sha256, "patched_sha256": p.patched_sha256} for p in PATCHES},
    }


def marker_path() -> Path:
    return _dist_info_dir(_distribution()) / MARKER_NAME


def apply_patches(log=print) -> bool:
    """Patch the installed lava-nc 0.10.0. Returns True if a file was changed, False if it already was."""
    dist = _distribution()
    problems = unmet_requirements(dist)
    if problems:
        raise LavaInstallError(f"{DIST_NAME} {REQUIRED_VERSION} runtime requirements not met: " + "; ".join(problems))
    # Decide everything before touching anything: refuse if any file is unknown.
    todo = []
    for patch in PATCHES:
        target = _target(dist, patch)
        digest = _sha256(target)
        if digest == patch.patched_sha256:
            continue
        if digest != patch.original_sha256:
            raise LavaInstallError(
                f"{target} has sha256 {digest}, which is neither the lava-nc {REQUIRED_VERSION} original "
                f"({patch.original_sha256}) nor the patched file ({patch.patched_sha256}); refusing to edit it. "
                f"Reinstall with `pip install --force-reinstall --no-deps --ignore-requires-python "
                f"{DIST_NAME}=={REQUIRED_VERSION}` and re-run."
            )
        new = _patched_text(patch, target.read_text(encoding="utf-8")).encode("utf-8")
        if hashlib.sha256(new).hexdigest() != patch.patched_sha256:
            raise LavaInstallError(f"{target}: patched text does not have the expected sha256; refusing")
        todo.append((patch, target, new))
    for patch, target, new in todo:
        _write_atomic(target, new)
        log(f"patched {target} ({patch.reason})")
    marker = _dist_info_dir(dist) / MARKER_NAME
    payload = _marker_payload(dist)
    if todo or not marker.is_file() or _read_marker(marker) != payload:
        marker.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _register_in_record(marker)
    if not todo:
        log(f"{DIST_NAME} {REQUIRED_VERSION}: already patched, nothing to do")
    return bool(todo)


def _register_in_record(marker: Path) -> None:
    """List the marker in lava-nc's RECORD so that `pip uninstall lava-nc` removes it (and the .dist-info
    directory) instead of leaving a dist-info without METADATA behind."""
    record = marker.parent / "RECORD"
    line = f"{marker.parent.name}/{marker.name},,"
    text = record.read_text(encoding="utf-8")
    if line in text.splitlines():
        return
    if text and not text.endswith("\n"):
        text += "\n"
    _write_atomic(record, (text + line + "\n").encode("utf-8"))


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------------
# fixed-point runs (import lava only here)

# E1 (the experiment docs/semantics.md's Lava section rests on): LIF(du=0, dv=0, vth=10, bias_mant=[100, 640, 700]),
# no input. Threshold 10<<6 = 640, strict '>', hard reset to 0. Rows = steps 1..8 (value after the step).
E1_PARAMS = {"du": 0, "dv": 0, "vth": 10, "bias_mant": [100, 640, 700], "bias_exp": 0}
E1_V = [
    [100, 640, 0],
    [200, 0, 0],
    [300, 640, 0],
    [400, 0, 0],
    [500, 640, 0],
    [600, 0, 0],
    [0, 640, 0],
    [100, 0, 0],
]
E1_S = [
    [0, 0, 1],
    [0, 1, 1],
    [0, 0, 1],
    [0, 1, 1],
    [0, 0, 1],
    [0, 1, 1],
    [1, 0, 1],
    [0, 1, 1],
]

# RingBuffer(1 x 8) -> Dense(W=[[10],[20]]) -> LIF(du=4095, dv=0, vth=20), §1 and §2.2:
# a spike in data column k (sent at step k+1) reaches u at step k+2 (one step per Dense);
# du=4095 makes u = a<<6 each step; dv=0 integrates; v must exceed 20<<6 = 1280.
CHAIN_DATA = [[1, 1, 0, 0, 1, 0, 0, 0]]
CHAIN_W = [[10], [20]]
CHAIN_PARAMS = {"du": 4095, "dv": 0, "vth": 20, "bias_mant": 0, "bias_exp": 0}
CHAIN_U = [[0, 0], [640, 1280], [640, 1280], [0, 0], [0, 0], [640, 1280], [0, 0], [0, 0]]
CHAIN_V = [[0, 0], [640, 1280], [1280, 0], [1280, 0], [1280, 0], [0, 1280], [0, 1280], [0, 1280]]
CHAIN_S = [[0, 0], [0, 0], [0, 1], [0, 0], [0, 0], [1, 0], [0, 0], [0, 0]]


def _monitored_run(sink, procs_to_probe, steps):
    """Run the network containing `sink` for `steps` steps with fixed_pt models; return recorded arrays."""
    import numpy as np
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    monitors = []
    for target in procs_to_probe:
        m = Monitor()
        m.probe(target=target, num_steps=steps)
        monitors.append((m, target))
    try:
        sink.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = []
        for m, target in monitors:
            data = m.get_data()[target.process.name][target.name]
            out.append(np.asarray(data).astype(np.int64))
        return out
    finally:
        sink.stop()


def run_e1(steps: int = 8):
    """E1: returns (v, s), each an int64 array of shape (steps, 3)."""
    import numpy as np
    from lava.proc.lif.process import LIF

    p = dict(E1_PARAMS, bias_mant=np.array(E1_PARAMS["bias_mant"]))
    lif = LIF(shape=(3,), **p)
    v, s = _monitored_run(lif, [lif.v, lif.s_out], steps)
    return v, s


def run_chain(steps: int = 8):
    """RingBuffer -> Dense -> LIF: returns (u, v, s), each an int64 array of shape (steps, 2)."""
    import numpy as np
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF

    src = RingBuffer(data=np.array(CHAIN_DATA))
    dense = Dense(weights=np.array(CHAIN_W))
    lif = LIF(shape=(2,), **CHAIN_PARAMS)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    u, v, s = _monitored_run(lif, [lif.u, lif.v, lif.s_out], steps)
    return u, v, s


def check(run: bool = True) -> str:
    """Verify without modifying: version, requirements, patch state, import, fixed-point runs.

    Returns the one-line summary; raises LavaInstallError on any failure."""
    dist = _distribution()
    problems = unmet_requirements(dist)
    if problems:
        raise LavaInstallError(f"{DIST_NAME} {REQUIRED_VERSION} runtime requirements not met: " + "; ".join(problems))
    state = patch_state()
    bad = {k: v for k, v in state.items() if v != "patched"}
    if bad:
        raise LavaInstallError(
            f"{DIST_NAME} {REQUIRED_VERSION} lacks neurocompile's patches: {bad} "
            f"(run `python -m neurocompile.backends.lava.install` or `make lava`)"
        )
    marker = _dist_info_dir(dist) / MARKER_NAME
    if _read_marker(marker) != _marker_payload(dist):
        raise LavaInstallError(f"patch marker {marker} is missing or stale (re-run the installer)")
    try:
        import lava.magma.core.run_configs  # noqa: F401
        from lava.magma.compiler import var_model
    except Exception as e:  # report any import failure, not only ImportError
        raise LavaInstallError(f"import lava failed: {type(e).__name__}: {e}") from e
    expected = Path(dist.locate_file(PATCHES[0].path)).resolve()
    if Path(var_model.__file__).resolve() != expected:
        raise LavaInstallError(f"`import lava` loads {var_model.__file__}, not the installed {expected}")
    if run:
        import numpy as np

        v, s = run_e1()
        if not (np.array_equal(v, E1_V) and np.array_equal(s, E1_S)):
            raise LavaInstallError(f"E1 fixed_pt LIF run differs from the reference:\nv={v.tolist()}\ns={s.tolist()}")
        u, v, s = run_chain()
        if not (np.array_equal(u, CHAIN_U) and np.array_equal(v, CHAIN_V) and np.array_equal(s, CHAIN_S)):
            raise LavaInstallError(
                "RingBuffer->Dense->LIF fixed_pt run differs from the reference:\n"
                f"u={u.tolist()}\nv={v.tolist()}\ns={s.tolist()}"
            )
    return f"{DIST_NAME} {dist.version} OK (patched)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m neurocompile.backends.lava.install",
        description=f"Patch {DIST_NAME} {REQUIRED_VERSION} for Python 3.11 (idempotent) and check it.",
    )
    ap.add_argument("--check", action="store_true", help="verify only; modify nothing")
    ap.add_argument("--no-run", action="store_true", help="skip the fixed-point simulation runs")
    args = ap.parse_args(argv)
    try:
        if not args.check:
            apply_patches()
        print(check(run=not args.no_run))
    except LavaInstallError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
