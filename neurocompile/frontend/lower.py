"""Driver: walk the aten graph of an ExportedProgram in order and build the float IR.

Placeholders become the ``Input`` node or constants; ``call_function`` nodes whose inputs are all constants
are evaluated right away (e.g. ``permute`` of a weight); the rest go to the rules in :mod:`.ops`; the
program output becomes the ``Output`` node. BatchNorms and max pools on a concat are distributed over its
inputs (:mod:`.concat`), a linear op with several consumers is copied, one copy per consumer
(``ir.rewrite.split_linear_fanout``), BatchNorms are folded (or become per-channel weight ops), dead nodes
removed, max pools moved onto spikes (:mod:`.maxpool`), and the graph verified.
"""

from __future__ import annotations

import functools
import operator

import torch
from torch.fx.node import map_aggregate

from ..errors import ConversionError, GraphError
from ..ir import Graph, Input, Node, Output
from ..ir.rewrite import split_linear_fanout
from .context import Act, Const, Namer, Site, bind
from .concat import through_concats
from .export import check_finite, lifted_tensors, user_input
from .fold import fold_batchnorms, prune_dead
from .maxpool import move_batchnorms, place_maxpools
from .ops import HANDLERS


class Lowering:
    """One conversion of one ExportedProgram into a :class:`Graph`.

    Parameters
    ----------
    ep : torch.export.ExportedProgram
        The program; its user input must be a single tensor with a static batch of 1.
    name : str
        Name of the resulting graph.
    where : str
        Describes the model in messages (file path, module class...).
    input_shape : tuple of int, optional
        Expected per-sample input shape; a mismatch with the program is a ConversionError.
    """

    def __init__(self, ep: torch.export.ExportedProgram, name: str, where: str, input_shape=None):
        self.ep = ep
        self.where = where
        self.input_shape = input_shape
        self.graph = Graph(name)
        self.namer = Namer()
        self.values: dict[torch.fx.Node, object] = {}
        self.current: torch.fx.Node | None = None

    # ------------------------------------------------------------------------------------------------ driver
    def run(self) -> Graph:
        consts = lifted_tensors(self.ep, self.where)
        in_name, in_shape = user_input(self.ep, self.input_shape, self.where)
        for node in self.ep.graph.nodes:
            self.current = node
            kind = node.op  # torch.fx's node kind
            if kind == "placeholder":
                self.values[node] = self._input(node, in_shape) if node.name == in_name else consts[node.name]
            elif kind == "call_function":
                self.values[node] = self._call(node)
            elif kind == "output":
                self._output(node)
            elif kind == "get_attr":  # e.g. the body of a higher-order op; that op is then rejected
                obj = functools.reduce(getattr, node.target.split("."), self.ep.graph_module)
                self.values[node] = Const(obj.detach(), f"attribute {node.target}") if isinstance(obj, torch.Tensor) else obj
            else:
                raise Site.of(node).unsupported(f"fx node kind {node.op!r} ({node.target}) is not supported")
        through_concats(self.graph)  # BN / max pool on a concat: one per concat input
        move_batchnorms(self.graph)  # conv -> maxpool -> BN: BN in front of the pool, so it folds
        split_linear_fanout(self.graph)  # a linear op with several consumers: one copy each (chains are trees)
        fold_batchnorms(self.graph)  # each copy folds its own BatchNorm; the rest become per-channel weight ops
        prune_dead(self.graph)
        place_maxpools(self.graph)  # conv -> maxpool -> relu: the pool onto the spikes
        self.graph.renumber()
        try:
            self.graph.verify()
        except GraphError as e:
            raise ConversionError(f"{self.where}: the converted graph is invalid: {e}") from e
        return self.graph

    def _input(self, node: torch.fx.Node, shape: tuple[int, ...]) -> Act:
        name = self.namer.take("input")
        self.graph.add(Input(name, shape=shape, source=node.name))
        return Act(name, shape)

    def _call(self, node: torch.fx.Node):
        site = Site.of(node)
        if node.target is operator.getitem:
            seq, idx = self.resolve(node.args)
            return seq[idx]
        args, kwargs = self.resolve(node.args), self.resolve(node.kwargs)
        if not _has_act((args, kwargs)):
            return self._fold_constant(node, site, args, kwargs)
        handler = HANDLERS.get(site.op) if isinstance(node.target, torch._ops.OpOverload) else None
        if handler is None:
            raise site.unsupported()
        return handler(self, node, site, bind(node, self.resolve))

    def _fold_constant(self, node: torch.fx.Node, site: Site, args, kwargs):
        """Evaluate an op on constants only (e.g. ``t``/``permute`` of a weight) at conversion time."""
        unwrap = lambda v: v.tensor if isinstance(v, Const) else v  # noqa: E731
        try:
            with torch.no_grad():
                out = node.target(*map_aggregate(args, unwrap), **map_aggregate(kwargs, unwrap))
        except Exception as e:  # noqa: BLE001
            raise site.error(f"cannot evaluate this op on constant inputs ({type(e).__name__}: {e})") from e
        desc = f"constant computed by {site.op} at {site.path or '<root>'}"

        def wrap(v):
            if isinstance(v, torch.Tensor):
                check_finite(v, desc)
                return Const(v.detach(), desc)
            return v

        return tuple(wrap(v) for v in out) if isinstance(out, (tuple, list)) else wrap(out)

    def _output(self, node: torch.fx.Node) -> None:
        outs = self.resolve(node.args[0])
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        if len(outs) != 1:
            raise ConversionError(f"{self.where}: the model returns {len(outs)} values; expected exactly one tensor")
        if not isinstance(outs[0], Act):
            what = outs[0].desc if isinstance(outs[0], Const) else repr(outs[0])
            raise ConversionError(f"{self.where}: the model output is not computed from the input ({what})")
        self.graph.add(Output(self.namer.take("output"), source="output"), [outs[0].name])

    # ------------------------------------------------------------------------------------------------ helpers
    def resolve(self, v):
        """Replace fx nodes (also inside lists / tuples / dicts) by their lowered values."""
        return map_aggregate(v, lambda x: self.values[x] if isinstance(x, torch.fx.Node) else x)

    def out_shape(self, node: torch.fx.Node) -> tuple[int, ...]:
        """Per-sample shape of ``node``'s traced result; the leading batch dimension must be 1."""
        val = node.meta.get("val")
        val = val[0] if isinstance(val, (tuple, list)) else val
        site = Site.of(node)
        if not isinstance(val, torch.Tensor):
            raise site.error("result has no traced tensor shape")
        full = tuple(int(s) for s in val.shape)
        if len(full) < 2 or full[0] != 1:
            raise site.error(f"result has shape {full}; the batch dimension must stay first with size 1")
        return full[1:]

    def emit(self, site: Site, cls: type[Node], inputs: list[Act], suffix: str = "", shape=None, **fields) -> Act:
        """Add an IR node of type ``cls`` named after ``site``; returns its activation."""
        name = self.namer(site, suffix)
        self.graph.add(cls(name, source=site.source, module=site.module, **fields), [x.name for x in inputs])
        return Act(name, tuple(shape) if shape is not None else self.out_shape(self.current))


def _has_act(v) -> bool:
    found = []
    map_aggregate(v, lambda x: found.append(x) if isinstance(x, Act) else None)
    return bool(found)
