"""Graph wrapper over ``networkx.DiGraph``: ordered inputs, topological order, shape inference, verify().

Passes use this API only; they never touch networkx directly.
"""

from __future__ import annotations

from typing import Iterator

import networkx as nx
import numpy as np

from ..errors import GraphError
from .nodes import (GATE_SOURCE_OPS, RESET_MODES, Add, AvgPool2d, Conv2d, Encoder, Flatten, Input, Linear, MaxPool2d,
                    Neurons, Node, Output)


def conv_out(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Output length of a convolution / pooling window along one axis (floor mode)."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


class Graph:
    """A directed acyclic graph of IR nodes with ordered inputs."""

    def __init__(self, name: str = "net", meta: dict | None = None):
        self.name = name
        self.meta: dict = dict(meta or {})
        self._g = nx.DiGraph()
        self._seq = 0

    # ---------------------------------------------------------------- construction
    def add(self, node: Node, inputs: list[str] | tuple[str, ...] = ()) -> Node:
        if node.name in self._g:
            raise GraphError(f"node {node.name}: name already used")
        if len(set(inputs)) != len(inputs):
            raise GraphError(f"node {node.name}: repeated input in {list(inputs)}; use Add gains instead")
        for src in inputs:
            if src not in self._g:
                raise GraphError(f"node {node.name}: input {src!r} does not exist")
        self._g.add_node(node.name, node=node, seq=self._seq)
        self._seq += 1
        for i, src in enumerate(inputs):
            self._g.add_edge(src, node.name, index=i)
        return node

    def remove(self, name: str, rewire_to: str | None = None) -> None:
        """Remove node ``name``; if ``rewire_to`` is given, its consumers read ``rewire_to`` instead."""
        consumers = [(c, self._g.edges[name, c]["index"]) for c in self._g.successors(name)]
        self._g.remove_node(name)
        for c, idx in consumers:
            if rewire_to is None:
                raise GraphError(f"node {name}: still consumed by {c}")
            self._g.add_edge(rewire_to, c, index=idx)

    def replace_node(self, node: Node) -> None:
        """Put ``node`` in place of the node of the same name, keeping its edges."""
        if node.name not in self._g:
            raise GraphError(f"no node named {node.name!r}")
        self._g.nodes[node.name]["node"] = node

    def replace_input(self, consumer: str, old: str, new: str) -> None:
        idx = self._g.edges[old, consumer]["index"]
        self._g.remove_edge(old, consumer)
        self._g.add_edge(new, consumer, index=idx)

    # ---------------------------------------------------------------- queries
    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def node(self, name: str) -> Node:
        try:
            return self._g.nodes[name]["node"]
        except KeyError:
            raise GraphError(f"no node named {name!r}") from None

    def inputs(self, name: str) -> list[str]:
        preds = [(self._g.edges[p, name]["index"], p) for p in self._g.predecessors(name)]
        return [p for _, p in sorted(preds)]

    def consumers(self, name: str) -> list[str]:
        return sorted(self._g.successors(name))

    def topo(self) -> list[Node]:
        try:
            order = list(nx.lexicographical_topological_sort(self._g, key=self._order_key))
        except nx.NetworkXUnfeasible:
            raise GraphError(f"graph {self.name}: contains a cycle") from None
        return [self.node(n) for n in order]

    def _order_key(self, name: str):
        return self._g.nodes[name].get("seq", 0), name

    def __iter__(self) -> Iterator[Node]:
        return iter(self.topo())

    def nodes_of(self, cls) -> list:
        return [n for n in self.topo() if isinstance(n, cls)]

    @property
    def input(self) -> Input:
        ins = self.nodes_of(Input)
        if len(ins) != 1:
            raise GraphError(f"graph {self.name}: expected exactly one Input node, found {len(ins)}")
        return ins[0]

    @property
    def output(self) -> Output:
        outs = self.nodes_of(Output)
        if len(outs) != 1:
            raise GraphError(f"graph {self.name}: expected exactly one Output node, found {len(outs)}")
        return outs[0]

    def renumber(self) -> None:
        """Remember the current insertion order so topo() is stable and matches the source model."""
        for i, n in enumerate(self._g.nodes):
            self._g.nodes[n]["seq"] = i
        self._seq = len(self._g)

    # ---------------------------------------------------------------- shapes
    def infer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample output shape of every node; raises GraphError naming the node on mismatch."""
        shapes: dict[str, tuple[int, ...]] = {}
        for n in self.topo():
            ins = [shapes[p] for p in self.inputs(n.name)]
            shapes[n.name] = _infer(n, ins)
        return shapes

    # ---------------------------------------------------------------- checks
    def verify(self) -> dict[str, tuple[int, ...]]:
        """Check structure, arities, parameter sanity and shapes. Returns the shapes."""
        if not nx.is_directed_acyclic_graph(self._g):
            raise GraphError(f"graph {self.name}: contains a cycle")
        self.input, self.output  # noqa: B018 - exactly one of each
        for n in self.topo():
            k = len(self.inputs(n.name))
            if n.arity is None and k < 1 or n.arity is not None and k != n.arity:
                raise GraphError(f"node {n.name} ({n.op}): {k} inputs, expected {n.arity or '>= 1'}")
            if isinstance(n, Output) and self.consumers(n.name):
                raise GraphError(f"node {n.name}: Output must not have consumers")
            if not isinstance(n, Output) and not self.consumers(n.name):
                raise GraphError(f"node {n.name} ({n.op}): result is never used")
            if isinstance(n, Neurons) and n.reset not in RESET_MODES:
                raise GraphError(f"node {n.name}: reset {n.reset!r} not in {RESET_MODES}")
            if isinstance(n, MaxPool2d) and k == 1:
                src = self.node(self.inputs(n.name)[0])
                if src.op not in GATE_SOURCE_OPS:
                    raise GraphError(f"node {n.name} (maxpool2d): reads {src.op} {src.name}; a max pool (the max-count "
                                     "gate) must read a spike source: the Input, a Neurons population or a MaxPool2d")
            if isinstance(n, Neurons) and (n.spike_max < 1 or n.spike_max & (n.spike_max - 1)):
                raise GraphError(f"node {n.name}: spike_max {n.spike_max} is not a power of two >= 1")
            if isinstance(n, Encoder):
                _verify_encoder(n)
            for key, arr in n.arrays().items():
                a = np.asarray(arr)
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise GraphError(f"node {n.name}: {key} has {int((~np.isfinite(a)).sum())} non-finite values")
        encoders = self.nodes_of(Encoder)
        if encoders:
            lengths = {e.timesteps for e in encoders}
            if len(lengths) != 1:
                raise GraphError(f"graph {self.name}: encoders with different spike-train lengths {sorted(lengths)}")
            mixed = self.nodes_of(Neurons)
            if mixed:
                raise GraphError(f"graph {self.name}: node {mixed[0].name} is a rate-coded population in a network "
                                 "of STCSNN encoders; convert every ReLU the same way")
        return self.infer_shapes()

    def copy(self) -> "Graph":
        """Deep copy (arrays copied)."""
        import copy

        return copy.deepcopy(self)

    def summary(self) -> str:
        shapes = self.infer_shapes()
        lines = [f"graph {self.name}"]
        for n in self.topo():
            lines.append(f"  {n.name:<16} {n.op:<10} {str(shapes[n.name]):<16} <- {', '.join(self.inputs(n.name))}")
        return "\n".join(lines)


def _verify_encoder(n: Encoder) -> None:
    th = np.asarray(n.thresholds) if n.thresholds is not None else np.zeros(0)
    if th.ndim != 1 or th.size < 1:
        raise GraphError(f"node {n.name}: encoder thresholds must be a non-empty (T,) array, got shape {th.shape}")
    if np.any(th <= 0):
        raise GraphError(f"node {n.name}: encoder thresholds must be > 0, min is {th.min()}")
    if not n.tau > 0:
        raise GraphError(f"node {n.name}: tau {n.tau} must be > 0")


def _infer(n: Node, ins: list[tuple[int, ...]]) -> tuple[int, ...]:
    where = f"node {n.name} ({n.op})"
    if isinstance(n, Input):
        return tuple(int(s) for s in n.shape)
    x = ins[0] if ins else ()
    if isinstance(n, Conv2d):
        if len(x) != 3:
            raise GraphError(f"{where}: expects (C, H, W) input, got {x}")
        o, ipg, kh, kw = n.weight.shape
        if x[0] != ipg * n.groups or o % n.groups:
            raise GraphError(f"{where}: {x[0]} input channels, weight {n.weight.shape} with groups={n.groups}")
        if n.bias is not None and np.shape(n.bias) != (o,):
            raise GraphError(f"{where}: bias shape {np.shape(n.bias)} != ({o},)")
        h = conv_out(x[1], kh, n.stride[0], n.padding[0], n.dilation[0])
        w = conv_out(x[2], kw, n.stride[1], n.padding[1], n.dilation[1])
        if h < 1 or w < 1:
            raise GraphError(f"{where}: output size {h}x{w} from input {x}")
        return (o, h, w)
    if isinstance(n, Linear):
        if len(x) != 1 or x[0] != n.weight.shape[1]:
            raise GraphError(f"{where}: input {x} does not match weight {n.weight.shape}")
        if n.bias is not None and np.shape(n.bias) != (n.weight.shape[0],):
            raise GraphError(f"{where}: bias shape {np.shape(n.bias)} != ({n.weight.shape[0]},)")
        return (n.weight.shape[0],)
    if isinstance(n, (AvgPool2d, MaxPool2d)):
        if len(x) != 3:
            raise GraphError(f"{where}: expects (C, H, W) input, got {x}")
        if isinstance(n, MaxPool2d) and tuple(n.padding) != (0, 0):
            raise GraphError(f"{where}: padding {tuple(n.padding)} is not supported; only (0, 0)")
        if min(*n.kernel_size, *n.stride) < 1:
            raise GraphError(f"{where}: kernel {tuple(n.kernel_size)} / stride {tuple(n.stride)} must be >= 1")
        h = conv_out(x[1], n.kernel_size[0], n.stride[0], 0, 1)
        w = conv_out(x[2], n.kernel_size[1], n.stride[1], 0, 1)
        if h < 1 or w < 1:
            raise GraphError(f"{where}: output size {h}x{w} from input {x}")
        return (x[0], h, w)
    if isinstance(n, Flatten):
        return (int(np.prod(x)),)
    if isinstance(n, Add):
        if any(s != ins[0] for s in ins):
            raise GraphError(f"{where}: input shapes differ: {ins}")
        if n.gains is not None and len(n.gains) != len(ins):
            raise GraphError(f"{where}: {len(n.gains)} gains for {len(ins)} inputs")
        return ins[0]
    if isinstance(n, Neurons):
        for key in ("threshold", "bias", "v_init"):
            a = getattr(n, key)
            if a is not None:
                try:
                    np.broadcast_to(np.asarray(a), x)
                except ValueError:
                    raise GraphError(f"{where}: {key} shape {np.shape(a)} does not broadcast to {x}") from None
        if n.threshold is not None and np.any(np.asarray(n.threshold) <= 0):
            raise GraphError(f"{where}: threshold must be > 0, min is {np.min(n.threshold)}")
        return x
    if isinstance(n, Encoder):
        if n.bias is not None:
            try:
                np.broadcast_to(np.asarray(n.bias), x)
            except ValueError:
                raise GraphError(f"{where}: bias shape {np.shape(n.bias)} does not broadcast to {x}") from None
        return x
    if isinstance(n, Output):
        if n.bias is not None and np.shape(n.bias) != x:
            raise GraphError(f"{where}: bias shape {np.shape(n.bias)} != {x}")
        return x
    raise GraphError(f"{where}: unknown node type")
