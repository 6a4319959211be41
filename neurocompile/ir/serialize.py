"""IR serialisation: ``<stem>.json`` (structure, attributes, ``schema_version``) + ``<stem>.npz`` (arrays).

Arrays keep their dtype exactly; the npz keys are ``"<node>/<field>"``. Older schema versions stay
loadable: add a migration to ``_MIGRATIONS`` when the format changes.
"""

from __future__ import annotations

import io
import zipfile
import json
from pathlib import Path, PurePath

import numpy as np

from ..errors import BundleError
from .graph import Graph
from .ops import OPS

SCHEMA_VERSION = 1
_MIGRATIONS: dict[int, callable] = {}  # version -> function(doc) -> doc of version+1


def to_dict(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """Return the JSON document and the arrays of ``graph``."""
    nodes, arrays = [], {}
    for n in graph.topo():
        nodes.append({"name": n.name, "op": n.op, "inputs": graph.inputs(n.name), "attrs": n.attrs()})
        for key, arr in n.arrays().items():
            arrays[f"{n.name}/{key}"] = np.asarray(arr)
    doc = {"schema_version": SCHEMA_VERSION, "name": graph.name, "meta": graph.meta, "nodes": nodes}
    return doc, arrays


def from_dict(doc: dict, arrays: dict[str, np.ndarray], where: str = "graph") -> Graph:
    version = doc.get("schema_version")
    if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
        raise BundleError(f"{where}: schema_version {version!r} not supported (this build reads 1..{SCHEMA_VERSION})")
    while version < SCHEMA_VERSION:
        doc = _MIGRATIONS[version](doc)
        version += 1
    g = Graph(doc.get("name", "net"), doc.get("meta", {}))
    for entry in doc["nodes"]:
        cls = OPS.get(entry["op"])
        if cls is None:
            raise BundleError(f"{where}: node {entry['name']}: unknown op {entry['op']!r}")
        kwargs = {}
        for k, v in entry["attrs"].items():
            kwargs[k] = tuple(v) if isinstance(v, list) else v
        for k in cls.array_fields:
            key = f"{entry['name']}/{k}"
            kwargs[k] = arrays[key] if key in arrays else None
        try:
            node = cls(name=entry["name"], **kwargs)
        except TypeError as e:
            raise BundleError(f"{where}: node {entry['name']}: {e}") from None
        g.add(node, entry["inputs"])
    g.renumber()
    return g


def save(graph: Graph, path: str | Path) -> tuple[Path, Path]:
    """Write ``path.json`` and ``path.npz`` (``path`` without suffix). Returns both paths."""
    path = Path(path)
    doc, arrays = to_dict(graph)
    jpath, npath = path.with_suffix(".json"), path.with_suffix(".npz")
    jpath.write_text(json.dumps(doc, indent=1, default=json_default) + "\n")
    buf = io.BytesIO()
    # integer arrays in the narrowest signed type that holds them (loaded back as int64), deflated at level 1;
    # float arrays stored as they are (their mantissas hardly compress, and deflating a large float graph
    # costs seconds); entries dated 1980, so the same graph gives the same bytes
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for key, a in arrays.items():
            a = np.asarray(a)
            if a.dtype.kind in "iu" and a.size:
                a = a.astype(np.result_type(np.min_scalar_type(-abs(int(a.min())) - 1),
                                            np.min_scalar_type(-abs(int(a.max())) - 1)))
            data = io.BytesIO()
            np.lib.format.write_array(data, a, allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy")
            entry.external_attr = 0o644 << 16
            packed = a.dtype.kind in "iub"
            zf.writestr(entry, data.getbuffer(), compress_type=zipfile.ZIP_DEFLATED if packed else zipfile.ZIP_STORED,
                        compresslevel=1 if packed else None)
    npath.write_bytes(buf.getvalue())
    return jpath, npath


def load(path: str | Path) -> Graph:
    path = Path(path)
    jpath, npath = path.with_suffix(".json"), path.with_suffix(".npz")
    for p in (jpath, npath):
        if not p.exists():
            raise BundleError(f"{p}: missing")
    try:
        doc = json.loads(jpath.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{jpath}: invalid JSON ({e})") from None
    try:
        with np.load(npath, allow_pickle=False) as z:
            arrays = {k: z[k].astype(np.int64) if z[k].dtype.kind in "iu" else z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise BundleError(f"{npath}: cannot read ({e})") from None
    return from_dict(doc, arrays, where=str(jpath))


def json_default(o):
    """``json.dumps`` fallback: numpy scalars / arrays and paths to plain JSON values."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, PurePath):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
