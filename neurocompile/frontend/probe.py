"""What a model file is, when it is not a ``.pt2`` ExportedProgram: read without running any of its code.

Users often hand over what they have: a ``state_dict`` or a whole module saved with ``torch.save``, a
TorchScript file from ``torch.jit.save``. ``torch.export.load`` fails on all of them with torch's own
multi-line log, so :func:`what_is` looks first (the zip member names, the opcodes of a pickle, never
unpickling anything that could run code) and the front end turns the answer into one line with the recipe.
"""

from __future__ import annotations

import contextlib
import logging
import pickletools
import warnings
import zipfile
from pathlib import Path

#: the export recipe every wrong-file message ends with
RECIPE = 'torch.export.save(torch.export.export(model.eval(), (example_input,)), "model.pt2")'

#: top-level packages whose globals a pickled state_dict or checkpoint of tensors names; a global from any
#: other package, or a torch.nn module class, means a pickled model object
_DATA_PACKAGES = ("torch", "collections", "builtins", "__builtin__", "copyreg", "_codecs", "numpy")


def what_is(path: Path) -> str | None:
    """A description (``a state_dict saved with torch.save``...) if ``path`` is certainly not a ``.pt2``
    archive, None if it may be one (``torch.export.load`` then decides)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                if any(n.rsplit("/", 1)[-1] == "archive_format" for n in names):
                    return None
                if any("/code/" in n or n.endswith("constants.pkl") for n in names):
                    return "a TorchScript module (torch.jit.save / torch.jit.script / torch.jit.trace)"
                pkl = next((n for n in names if n.rsplit("/", 1)[-1] == "data.pkl"), None)
                if pkl is None:
                    return "a zip archive without the files of a .pt2 archive"
                data = z.read(pkl)
        except (zipfile.BadZipFile, OSError, KeyError):
            return None
        return _torch_save(data, path, legacy=False)
    if head[:1] == b"\x80":  # a pickle (protocol >= 2): torch.save's legacy format or plain pickle
        return _torch_save(path.read_bytes(), path, legacy=True)
    return "neither a .pt2 archive nor a file written by torch.save (unrecognised contents)"


def _torch_save(data: bytes, path: Path, legacy: bool) -> str:
    """Describe the object a ``torch.save`` file holds from the globals its pickle names."""
    try:
        classes = _classes(data, legacy)
    except Exception:  # noqa: BLE001 - a damaged pickle: say what we know
        return "a damaged file written by torch.save or pickle"
    model = [c for c in classes if c.split(".")[0] not in _DATA_PACKAGES or c.startswith("torch.nn.modules.")]
    if model:
        user = [c for c in model if not c.startswith("torch.")]
        return f"a whole pickled model (torch.save(model), class {(user or model)[0]})"
    obj = _load_data(path)
    if isinstance(obj, dict):
        import torch

        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return f"a state_dict ({len(obj)} tensors: only weights, no network structure)"
        keys = ", ".join(map(str, list(obj)[:4])) + (", ..." if len(obj) > 4 else "")
        return f"a checkpoint dictionary saved with torch.save (keys {keys})"
    return f"a {type(obj).__name__} saved with torch.save" if obj is not None else "a file written by torch.save"


def _classes(data: bytes, legacy: bool) -> list[str]:
    """``module.name`` of every global a pickle names (for torch.save's legacy format: the 4th pickle, the
    object; the first three are a magic number, the protocol and system information)."""
    import io

    stream = io.BytesIO(data)
    for _ in range(3 if legacy else 0):
        for _op in pickletools.genops(stream):
            pass
    out, strings = [], []
    for op, arg, _pos in pickletools.genops(stream):
        if op.name == "GLOBAL":
            out.append(".".join(str(arg).split(" ", 1)))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            out.append(f"{strings[-2]}.{strings[-1]}")
        elif isinstance(arg, str):
            strings.append(arg)
    return out


def _load_data(path: Path):
    """The object of a torch.save file loaded with ``weights_only=True`` (tensors and containers only; no
    code runs), or None if that loader refuses it."""
    import torch

    try:
        with quiet():
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything the restricted loader refuses
        return None


@contextlib.contextmanager
def quiet():
    """Silence torch's warnings and log records (``torch.export.load`` logs a traceback per failure) while
    probing a file: the caller reports the outcome in one line."""
    before = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(before)
