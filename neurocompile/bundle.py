"""Deployment bundles: one directory holding a compiled SNN, the ANN it came from and its report.

Layout (see docs/bundle.md for every key)::

    <bundle>/manifest.json      format, schema_version, version, created, target, options, files {path: sha256}
    <bundle>/ir/snn.json, .npz  the integer IR (neurocompile.ir.save)
    <bundle>/ir/ann.json, .npz  the float ANN graph the SNN was compiled from
    <bundle>/report.json        neurocompile.report.build_report(...)
    <bundle>/placement.json     targets with a hardware profile: the placement (neurocompile.partition)
    <bundle>/profile.json       the hardware profile it was placed on

A bundle is written into a temporary sibling directory (``.<name>.tmp-XXXX``) and renamed into place
only when every file is complete, so a failure never leaves a half-written bundle behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path, PurePosixPath

from . import __version__
from .errors import BundleError, NeurocompileError
from .ir import Graph
from .ir import load as load_graph
from .ir import save as save_graph
from .ir.serialize import json_default

FORMAT = "neurocompile-bundle"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SNN_STEM = "ir/snn"
ANN_STEM = "ir/ann"
REPORT = "report.json"
PLACEMENT = "placement.json"  # targets with a hardware profile: slices -> cores -> chips (partition.Placement)
PROFILE = "profile.json"  # the hardware profile the placement was made for
#: files every bundle of this schema must list in its manifest
REQUIRED_FILES = (f"{SNN_STEM}.json", f"{SNN_STEM}.npz", f"{ANN_STEM}.json", f"{ANN_STEM}.npz", REPORT)


@dataclass(eq=False)
class Bundle:
    """A compiled network: what a bundle directory holds, in memory.

    ``compile`` returns one (with ``path`` None until :meth:`save`); :func:`read_bundle` reads one from disk
    (every file's sha256 already checked), with ``path`` and ``manifest`` set and its other files read when
    asked for.
    """

    snn: Graph  # integer IR
    ann: Graph  # float ANN graph the SNN came from
    report: dict  # report.json
    target: str = "intsim"  # the target it was compiled for
    options: dict = field(default_factory=dict)  # the CompileOptions used, as a dict
    source: dict | None = None  # provenance: model, calibration data (manifest "source")
    #: every other file, {relative path: JSON document or text}: placement.json, profile.json and the target's
    #: outputs (lava/processes.json, fpga/...)
    files: Mapping[str, object] = field(default_factory=dict)
    path: Path | None = None  # the bundle directory, once saved or when read
    manifest: dict | None = None  # manifest.json, once saved or when read

    @cached_property
    def placement(self):
        """The bundle's :class:`~neurocompile.partition.Placement`, or None for targets without placement."""
        if PLACEMENT not in self.files:
            return None
        from .partition import Placement

        return Placement.from_json(self.json_document(PLACEMENT), f"bundle {self.path}: {PLACEMENT}")

    @cached_property
    def profile(self):
        """The hardware profile of the placement, or None."""
        if PROFILE not in self.files:
            return None
        from .targets import profile_from_dict

        return profile_from_dict(self.json_document(PROFILE), f"bundle {self.path}: {PROFILE}")

    @property
    def timesteps(self) -> int:
        """The integration steps the bundle was compiled for (``graph.meta['timesteps']``, else options)."""
        return int(self.snn.meta.get("timesteps", self.options.get("timesteps", 32)))

    def json_document(self, rel: str):
        """The JSON file ``rel`` of :attr:`files` as a document (parsed when it is held as text)."""
        doc = self.files[rel]
        if not isinstance(doc, str):
            return doc
        try:
            return json.loads(doc)
        except json.JSONDecodeError as e:
            raise BundleError(f"bundle {self.path}: {rel} is not valid JSON ({e})") from None

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write the bundle to the directory ``path`` atomically (:func:`write_bundle`); from then on ``path``
        and ``manifest`` are set. Returns the absolute path.

        Raises
        ------
        BundleError
            ``path`` exists and ``force`` is False, or it exists and is not a bundle or an empty directory.
        """
        out = write_bundle(path, self.snn, self.ann, self.report, force, target=self.target, options=self.options,
                           source=self.source, extra=dict(self.files))
        self.path, self.manifest = out, read_manifest(out)
        return out


class _Files(Mapping):
    """The files of a bundle on disk beyond the IR and report, read as text when asked for."""

    def __init__(self, path: Path, manifest: dict):
        self.path, self.names = path, [f for f in manifest["files"] if f not in REQUIRED_FILES]

    def __getitem__(self, rel: str) -> str:
        if rel not in self.names:
            raise KeyError(rel)
        try:
            return (self.path / rel).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise BundleError(f"bundle {self.path}: cannot read {rel} ({e})") from None

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: a list of more objects than this is written one compact object per line (:func:`json_text`)
ROW_LIST = 64


def json_text(obj, level: int = 0) -> str:
    """``obj`` as JSON laid out like ``json.dumps(obj, indent=1)``, except that a list of more than
    ``ROW_LIST`` objects has one compact object per line: readable row by row, and written by json's C
    encoder (the placement of VGG-16 on 12,570 cores, 15 MB indented, in a quarter of the time)."""
    pad = " " * (level + 1)
    if isinstance(obj, dict) and obj:
        rows = [f"{pad}{json.dumps(str(k))}: {json_text(v, level + 1)}" for k, v in obj.items()]
    elif isinstance(obj, list) and len(obj) > ROW_LIST and all(isinstance(x, dict) for x in obj):
        rows = [pad + json.dumps(x, default=json_default) for x in obj]
    elif isinstance(obj, list) and obj:
        rows = [pad + json_text(x, level + 1) for x in obj]
    else:
        return json.dumps(obj, default=json_default)
    ends = "{}" if isinstance(obj, dict) else "[]"
    return ends[0] + "\n" + ",\n".join(rows) + "\n" + " " * level + ends[1]


def dump_json(obj, path: str | Path) -> None:
    """Write ``obj`` as JSON (:func:`json_text`; numpy scalars and arrays converted) with a trailing newline."""
    Path(path).write_text(json_text(obj) + "\n")


def _is_replaceable(path: Path) -> bool:
    """True for an empty directory or a directory holding a neurocompile bundle manifest."""
    if not path.is_dir() or path.is_symlink():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def check_destination(out_dir: str | Path, force: bool = False) -> Path:
    """Raise BundleError if ``out_dir`` cannot receive a bundle (exists without ``force``, or is not a bundle).

    Called by :func:`write_bundle`; the CLI calls it before compiling so a doomed build fails fast.
    """
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not force:
            raise BundleError(f"{out}: already exists; use --force (force=True) to replace it")
        if not _is_replaceable(out):
            raise BundleError(
                f"{out}: exists and is not a neurocompile bundle (no {MANIFEST} with format {FORMAT!r}); "
                "refusing to replace it even with --force")
    return out


def write_bundle(out_dir: str | Path, int_graph: Graph, ann_graph: Graph, report: dict, force: bool = False,
                 *, target: str = "intsim", options: dict | None = None, source: dict | None = None,
                 extra: dict[str, dict] | None = None) -> Path:
    """Write a bundle to ``out_dir`` atomically; returns its path.

    Parameters
    ----------
    out_dir : directory to create. If it exists, BundleError unless ``force``; with ``force`` an existing
        bundle (or empty directory) is replaced: old renamed away, new renamed in, old deleted.
    int_graph : integer IR (output of ``compile_graph``).
    ann_graph : the float ANN graph ``int_graph`` was compiled from.
    report : ``build_report(int_graph, ann_graph)``.
    target : the target the graph was compiled for (recorded in the manifest).
    options : CompileOptions as a dict; default ``int_graph.meta['options']``.
    source : optional provenance (model path, calibration set...) recorded as manifest ``source``.
    extra : target artifacts, ``{relative path: JSON document or text}`` (e.g. ``lava/processes.json``,
        ``fpga/nc_top.v``), hashed in the manifest like every other file.
    """
    out = check_destination(out_dir, force).absolute()
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the bundle gets ordinary permissions
        (tmp / "ir").mkdir()
        save_graph(int_graph, tmp / SNN_STEM)
        save_graph(ann_graph, tmp / ANN_STEM)
        dump_json(report, tmp / REPORT)
        write_files(tmp, extra or {})
        files = {rel: sha256(tmp / rel) for rel in (*REQUIRED_FILES, *(extra or {}))}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "format": FORMAT,
            "neurocompile_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "target": target,
            "options": dict(options if options is not None else int_graph.meta.get("options") or {}),
            "files": files,
        }
        if source:
            manifest["source"] = dict(source)
        dump_json(manifest, tmp / MANIFEST)
        _move_into_place(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_files(root: Path, files: Mapping[str, object]) -> None:
    """Write ``{relative path: text or JSON document}`` below ``root`` (directories created as needed)."""
    for rel, doc in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(doc, str):
            path.write_text(doc)
        else:
            dump_json(doc, path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    if not (out.exists() or out.is_symlink()):
        try:
            os.rename(tmp, out)
        except OSError as e:  # e.g. created concurrently by someone else
            raise BundleError(f"{out}: cannot move the finished bundle into place ({e.strerror})") from None
        return
    check_destination(out, force)  # re-check: it may have appeared since the first check
    graveyard = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old = graveyard / "bundle"
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError as e:
        os.rename(old, out)  # put the previous bundle back
        shutil.rmtree(graveyard, ignore_errors=True)
        raise BundleError(f"{out}: cannot move the finished bundle into place ({e.strerror})") from None
    shutil.rmtree(graveyard, ignore_errors=True)


def _check_rel(rel: str, where: Path) -> Path:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise BundleError(f"bundle {where}: manifest lists an invalid file path {rel!r}")
    return where / p


def read_manifest(path: str | Path) -> dict:
    """Read and check ``manifest.json`` of bundle ``path`` (format, schema_version, files); no hashing."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle {path}: " + ("not a directory" if path.exists() else "not found"))
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"bundle {path}: {MANIFEST} missing (not a neurocompile bundle?)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"bundle {path}: {MANIFEST} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"bundle {path}: {MANIFEST} format is {got!r}, expected {FORMAT!r}")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
        raise BundleError(
            f"bundle {path}: schema_version {version!r} not supported (this build reads 1..{SCHEMA_VERSION})")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"bundle {path}: {MANIFEST} has no 'files' table")
    missing = [f for f in REQUIRED_FILES if f not in files]
    if missing:
        raise BundleError(f"bundle {path}: {MANIFEST} does not list {', '.join(missing)}")
    if not isinstance(manifest.get("target"), str):
        raise BundleError(f"bundle {path}: {MANIFEST} has no 'target'")
    return manifest


def verify_files(path: str | Path, manifest: dict) -> None:
    """Check that every file listed in the manifest exists and has the recorded sha256."""
    path = Path(path)
    for rel, want in manifest["files"].items():
        f = _check_rel(rel, path)
        if not f.is_file():
            raise BundleError(f"bundle {path}: file {rel} missing")
        got = sha256(f)
        if got != want:
            raise BundleError(
                f"bundle {path}: file {rel} sha256 mismatch (manifest {str(want)[:12]}..., file {got[:12]}...); "
                "it was modified after the bundle was written")


def read_bundle(path: str | Path) -> Bundle:
    """Read bundle ``path``: check manifest, schema_version and every file's sha256, then load the graphs."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    try:
        snn = load_graph(path / SNN_STEM)
        ann = load_graph(path / ANN_STEM)
    except BundleError:
        raise
    except NeurocompileError as e:  # e.g. GraphError from a structurally broken graph
        raise BundleError(f"bundle {path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a well-hashed but malformed document
        raise BundleError(f"bundle {path}: malformed IR ({type(e).__name__}: {e})") from None
    try:
        report = json.loads((path / REPORT).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"bundle {path}: {REPORT} is not valid JSON ({e})") from None
    return Bundle(snn, ann, report, manifest["target"], manifest.get("options") or {}, manifest.get("source"),
                  _Files(path, manifest), path, manifest)


def write_json_atomic(obj, path: str | Path) -> Path:
    """Write ``obj`` as JSON to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(obj, indent=1, default=json_default) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def update_report(path: str | Path, key: str, value) -> None:
    """Set ``report.json[key] = value`` in bundle ``path`` (e.g. synthesis results added after the build) and
    re-hash it in the manifest; report and manifest are each replaced atomically (report first)."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest)
    report = json.loads((path / REPORT).read_text())
    report[key] = value
    write_json_atomic(report, path / REPORT)
    manifest["files"][REPORT] = sha256(path / REPORT)
    write_json_atomic(manifest, path / MANIFEST)
