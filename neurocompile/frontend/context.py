"""Shared state of one lowering run: values, where an fx node came from, node naming, argument binding.

A lowered fx value is one of

``Act``    an activation: the output of IR node ``name``, per-sample shape ``shape`` (batch excluded);
``Const``  a tensor known at conversion time (parameter, buffer, lifted constant, or folded from those);
anything else (int, float, list, str, None, tuple of values) is passed through as a Python value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..errors import ConversionError

#: the ops the front end lowers, quoted in every "unsupported op" message
SUPPORTED = (
    "conv2d, linear (also addmm / mm / matmul with a constant weight), batch_norm (eval; folded into the "
    "preceding conv2d/linear, else a per-channel weight op), relu, clamp(0, lambda) (a clipped ReLU), avg_pool2d, "
    "max_pool2d (padding, ceil_mode, dilation 1; on a ReLU's output or directly before a ReLU), adaptive_avg_pool2d "
    "(divisible), mean over (H, W), flatten/view/reshape, add, cat (along channels, or features after flatten), "
    "dropout, identity, softmax / log_softmax over the classes as the last op (dropped)"
)


@dataclass(frozen=True)
class Act:
    """An activation tensor: the output of IR node ``name`` with per-sample ``shape``."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Const:
    """A tensor known at conversion time. ``desc`` names it in messages (e.g. ``parameter fc.weight``)."""

    tensor: torch.Tensor
    desc: str


@dataclass(frozen=True)
class Site:
    """Where an fx node came from: module path ('' = root forward), module type and aten op name."""

    path: str
    mtype: str
    op: str

    @classmethod
    def of(cls, node: torch.fx.Node) -> "Site":
        stack = node.meta.get("nn_module_stack") or {}
        path, mtype = ("", "")
        if stack:
            path, mtype = list(stack.values())[-1]
            mtype = mtype if isinstance(mtype, str) else getattr(mtype, "__qualname__", str(mtype))
        return cls(str(path), _short_type(mtype), op_name(node.target))

    @property
    def leaf(self) -> bool:
        """True for a torch.nn layer (one op per module), False for user modules and the root forward."""
        return bool(self.path) and self.mtype.startswith("torch.nn.")

    @property
    def source(self) -> str:
        """Value of the IR ``source`` field: the module path ("" for code in the root's forward)."""
        return self.path

    @property
    def module(self) -> str:
        """Value of the IR ``module`` field: the type of a torch.nn layer (``Conv2d``); for a functional
        call the function, after the enclosing module's type if any (``BasicBlock, relu()``, ``relu()``)."""
        mtype = self.mtype.rsplit(".", 1)[-1]
        if self.leaf:
            return mtype
        call = f"{self.op.rsplit('.', 1)[-1].strip('_')}()"
        return f"{mtype}, {call}" if self.path and mtype else call

    def __str__(self) -> str:
        parts = ", ".join(p for p in (self.mtype, self.op) if p)
        return f"{self.path or '<root>'} ({parts})"

    def error(self, msg: str) -> ConversionError:
        """A ConversionError prefixed with this site, e.g. ``features.2 (torch.nn.MaxPool2d, aten.max_pool2d): msg``."""
        return ConversionError(f"{self}: {msg}")

    def unsupported(self, why: str = "unsupported op") -> ConversionError:
        return self.error(f"{why}; supported: {SUPPORTED}")


def _short_type(mtype: str) -> str:
    """``torch.nn.modules.pooling.MaxPool2d`` -> ``torch.nn.MaxPool2d``; other names unchanged."""
    m = re.match(r"torch\.nn\.modules\.[\w.]+\.(\w+)$", mtype or "")
    return f"torch.nn.{m.group(1)}" if m else (mtype or "")


def op_name(target) -> str:
    """``aten.conv2d`` for an OpOverload, the qualified name for other callables."""
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}.{target._opname}"
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or str(target)
    return f"{mod}.{name}" if mod and mod != "builtins" else name


class Namer:
    """Unique IR node names derived from module paths (``features.0`` -> ``features_0``)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, site: Site, suffix: str = "") -> str:
        short = site.op.split(".")[-1].strip("_")
        if not site.path:
            base = short
        elif site.leaf:
            base = _sanitize(site.path)
        else:
            base = f"{_sanitize(site.path)}_{short}"
        if base[:1].isdigit():  # top-level nn.Sequential: "0" -> "conv2d_0"
            prefix = self.mtype_prefix(site) if site.leaf else short
            base = f"{prefix}_{base}"
        return self.take(base + (f"_{suffix}" if suffix else ""))

    @staticmethod
    def mtype_prefix(site: Site) -> str:
        """``torch.nn.AvgPool2d`` -> ``avgpool2d``."""
        return site.mtype.rsplit(".", 1)[-1].lower()

    def take(self, base: str) -> str:
        """Reserve ``base`` or the first free ``base_1``, ``base_2``..."""
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def _sanitize(path: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", path)


def bind(node: torch.fx.Node, resolve) -> dict:
    """Map the schema argument names of ``node`` to resolved values (defaults filled in)."""
    schema = node.target._schema
    out = {}
    for i, a in enumerate(schema.arguments):
        if not a.kwarg_only and i < len(node.args):
            v = node.args[i]
        elif a.name in node.kwargs:
            v = node.kwargs[a.name]
        elif a.has_default_value():
            v = a.default_value
        else:
            v = None
        out[a.name] = resolve(v)
    return out


def pair(v, what: str, site: Site) -> tuple[int, int]:
    """An int or a 1- / 2-element int list as (h, w)."""
    if isinstance(v, int):
        return (v, v)
    v = list(v)
    if len(v) == 1:
        return (int(v[0]), int(v[0]))
    if len(v) == 2:
        return (int(v[0]), int(v[1]))
    raise site.error(f"{what} {v}: expected 1 or 2 values")


def activation(v, what: str, site: Site, ndim: int | None = None) -> Act:
    """Check that ``v`` is an activation (of per-sample rank ``ndim`` if given)."""
    if not isinstance(v, Act):
        got = v.desc if isinstance(v, Const) else repr(v)
        raise site.unsupported(f"{what} must be the network activation, got {got}")
    if ndim is not None and len(v.shape) != ndim:
        want = {1: "(F,)", 3: "(C, H, W)"}.get(ndim, f"rank {ndim}")
        raise site.error(f"{what} has per-sample shape {v.shape}, expected {want}")
    return v


def constant(v, what: str, site: Site, ndim: int | None = None, optional: bool = False) -> torch.Tensor | None:
    """Check that ``v`` is a constant tensor (of rank ``ndim`` if given); returns it as float64."""
    if v is None and optional:
        return None
    if not isinstance(v, Const):
        kind = "an activation" if isinstance(v, Act) else repr(v)
        raise site.unsupported(f"{what} must be a parameter or constant tensor, got {kind}")
    t = v.tensor
    if ndim is not None and t.dim() != ndim:
        raise site.error(f"{what} ({v.desc}) has shape {tuple(t.shape)}, expected rank {ndim}")
    if not t.is_floating_point():
        raise site.error(f"{what} ({v.desc}) has dtype {t.dtype}, expected a floating-point tensor")
    t = t.detach().to("cpu", torch.float64)
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise site.error(f"{v.desc}: {bad} non-finite values")
    return t
