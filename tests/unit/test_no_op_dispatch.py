"""Per-op behaviour lives in the op registry: outside ``neurocompile/ir/ops/`` no code tests a node's type
(``isinstance(node, Conv2d)``) or compares op names (``node.op == "conv2d"``); it asks the node's roles and
facets, or a backend's per-op table. Selecting the nodes of one op (``graph.nodes_of(Neurons)``) is allowed."""

from __future__ import annotations

import ast
from pathlib import Path

from neurocompile.ir import OPS

ROOT = Path(__file__).resolve().parents[2]
OP_CLASSES = {cls.__name__ for cls in OPS.values()} | {"Node", "PendingBatchNorm"}


def _names_an_op(side: ast.expr) -> bool:
    """An op name, a collection holding one, or a name that may hold some (``GATE_SOURCE_OPS``)."""
    if isinstance(side, ast.Constant):
        return side.value in OPS
    if isinstance(side, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_an_op(e) for e in side.elts)
    return isinstance(side, (ast.Name, ast.Attribute)) and not (isinstance(side, ast.Attribute) and side.attr == "op")


def dispatch_sites(source: str, filename: str = "<snippet>") -> list[str]:
    """``file:line: what`` for every isinstance test against an op class (imported by name) and every
    comparison of a node's ``.op`` with an op name (torch.fx's ``node.op == "placeholder"`` is no IR op)."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            names = {k.id for k in kinds if isinstance(k, ast.Name)}
            if names & OP_CLASSES:
                out.append(f"{filename}:{node.lineno}: isinstance(..., {', '.join(sorted(names & OP_CLASSES))})")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "op" for s in sides) and \
                    any(_names_an_op(s) for s in sides):
                out.append(f"{filename}:{node.lineno}: comparison of .op with an op name")
    return out


def test_no_type_dispatch_on_ops_outside_the_registry():
    files = [p for d in ("neurocompile", "backends") for p in sorted((ROOT / d).rglob("*.py"))
             if "ir/ops" not in p.relative_to(ROOT).as_posix()]
    assert len(files) > 50
    sites = [s for p in files for s in dispatch_sites(p.read_text(), str(p.relative_to(ROOT)))]
    assert sites == []


def test_the_check_finds_what_it_forbids():
    """Negative control: the scan must flag a type ladder and an op-name comparison."""
    snippet = ("def f(n):\n"
               "    if isinstance(n, Conv2d):\n        return 1\n"
               "    elif isinstance(n, (Linear, AvgPool2d)):\n        return 2\n"
               "    return n.op == 'flatten' or n.op in ('add',)\n")
    assert len(dispatch_sites(snippet)) == 4
    assert dispatch_sites("def f(n):\n    return n.synaptic and isinstance(n.weight, list)\n") == []
    assert dispatch_sites("def f(node):\n    return node.op == 'placeholder'\n") == []
    assert len(dispatch_sites("def f(n):\n    return n.op not in GATE_SOURCE_OPS\n")) == 1


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against ``package``)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
    return out


def test_layers_core_imports_no_backend_and_backends_not_each_other():
    """The core reaches backends only through the target registry's "module:function" references."""
    bad = []
    for path in sorted((ROOT / "neurocompile").rglob("*.py")):
        pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        bad += [f"{path.relative_to(ROOT)} imports {m}" for m in imported_modules(path.read_text(), pkg)
                if m.startswith("neurocompile.backends")]
    for path in sorted((ROOT / "backends").rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = f"neurocompile.backends.{rel.parts[1]}" if len(rel.parts) > 2 else "neurocompile.backends"
        pkg = ".".join(("neurocompile",) + rel.with_suffix("").parts[:-1])
        bad += [f"{rel} imports {m}" for m in imported_modules(path.read_text(), pkg)
                if m.startswith("neurocompile.backends.") and not m.startswith(own)]
    assert bad == []
    # negative control: the scan sees an import of another backend
    assert imported_modules("from ..intsim import simulate\n", "neurocompile.backends.lava") == \
        {"neurocompile.backends.intsim"}
