"""Lava (Loihi 2 simulator) backend: the integer IR as a Lava process graph, run in
``Loihi2SimCfg(select_tag="fixed_pt")``.

Importing this package must not import ``lava``: lava-nc 0.10.0 only works on Python 3.11 after
``python -m neurocompile.backends.lava.install`` has patched it (``make lava`` does this). Use
``HAS_LAVA`` / ``require_lava()`` before touching ``network`` or ``run`` (``network.describe`` needs no Lava).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from neurocompile.errors import ToolError

LAVA_VERSION = "0.10.0"
try:  # the distribution, not find_spec("lava"): an uninstall can leave an empty lava/ directory behind
    _INSTALLED = version("lava-nc")
except PackageNotFoundError:
    _INSTALLED = None
HAS_LAVA = _INSTALLED is not None


def require_lava() -> None:
    """Raise a one-line error saying how to install lava when it is missing or not the patched 0.10.0."""
    if not HAS_LAVA:
        raise ToolError("lava-nc is not installed; run `make lava` (installs lava-nc "
                        f"{LAVA_VERSION} into .venv and patches it for Python 3.11)")
    if _INSTALLED != LAVA_VERSION:
        raise ToolError(f"lava-nc {_INSTALLED} is installed; this backend is verified with {LAVA_VERSION} "
                        "only (run `make lava`)")
