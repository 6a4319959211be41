"""``load_model``: the front end's entry point (nn.Module / ExportedProgram / .pt2 -> verified float IR)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..ir import Graph
from .export import ModelLike, to_program
from .lower import Lowering


def load_model(model: ModelLike, input_shape: tuple[int, ...] | None = None, name: str | None = None) -> Graph:
    """Convert a PyTorch CNN into the float IR.

    Parameters
    ----------
    model : nn.Module, torch.export.ExportedProgram, str or Path
        An ``nn.Module`` is exported with ``torch.export.export(model.eval(), (torch.zeros(1, *input_shape),))``
        (its training flag is restored afterwards). A path names a ``.pt2`` file saved with
        ``torch.export.save``. Programs must take one tensor input with a static batch of 1.
    input_shape : tuple of int, optional
        Per-sample input shape, ``(C, H, W)`` or ``(F,)``. Required for an ``nn.Module``; for a program or
        file it is read from the program and, if given, must match.
    name : str, optional
        Graph name; defaults to the module class name, the file stem, or the program's root module class.

    Returns
    -------
    Graph
        A verified graph with one ``Input`` and one ``Output``; BatchNorms folded (or per-channel weight ops
        where no conv / linear precedes them), dropout / identities and a final softmax / log_softmax removed
        (noted in ``meta["notes"]``), ReLUs as ``Neurons`` with default fields, float64 weights, every linear
        op with one consumer (copies ``<name>_copy<k>`` where the model's linear signal fans out). Node names
        derive from module paths (``features.0`` -> ``features_0``) and each node's ``source`` is its module
        path (or the aten op for code in the root ``forward``).

    Raises
    ------
    ConversionError
        For an unsupported op (naming the module path, module type and aten op), a BatchNorm after a max pool
        with a negative scale, a softmax that is not the last op, a linear signal that needs more than
        ``ir.rewrite.MAX_COPIES`` copies of one layer, a non-finite parameter / buffer, a missing or invalid
        file, or a bad input shape.
    """
    ep, where = to_program(model, input_shape)
    graph = Lowering(ep, name or _default_name(model, ep), where, input_shape).run()
    graph.meta.update({"frontend": "torch.export", "source_model": where, "torch_version": torch.__version__})
    return graph


def _default_name(model: ModelLike, ep: torch.export.ExportedProgram) -> str:
    if isinstance(model, torch.nn.Module):
        return type(model).__name__
    if isinstance(model, (str, Path)):
        return Path(model).stem
    for node in ep.graph.nodes:
        stack = node.meta.get("nn_module_stack") or {}
        for path, mtype in stack.values():
            if path == "" and isinstance(mtype, str):
                return mtype.rsplit(".", 1)[-1]
    return "net"
