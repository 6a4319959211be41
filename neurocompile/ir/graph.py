"""Graph wrapper over ``networkx.DiGraph``: ordered inputs, topological order, shape inference, verify().

Passes use this API only; they never touch networkx directly.
"""

from __future__ import annotations

from typing import Iterator

import networkx as nx
import numpy as np

from ..errors import GraphError
from .ops import Input, Node, Output


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
            shapes[n.name] = n.infer_shape(ins)
        return shapes

    # ---------------------------------------------------------------- checks
    def verify(self) -> dict[str, tuple[int, ...]]:
        """Check structure, arities, parameter sanity (each op's ``check``) and shapes. Returns the shapes."""
        if not nx.is_directed_acyclic_graph(self._g):
            raise GraphError(f"graph {self.name}: contains a cycle")
        self.input, self.output  # noqa: B018 - exactly one of each
        present: dict[type, list[Node]] = {}
        for n in self.topo():
            k = len(self.inputs(n.name))
            if n.arity is None and k < 1 or n.arity is not None and k != n.arity:
                raise GraphError(f"{n.label}: {k} inputs, expected {n.arity or '>= 1'}")
            if n.readout and self.consumers(n.name):
                raise GraphError(f"{n.label}: Output must not have consumers")
            if not n.readout and not self.consumers(n.name):
                raise GraphError(f"{n.label}: result is never used")
            n.check(self)
            for key, arr in n.arrays().items():
                a = np.asarray(arr)
                if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise GraphError(f"{n.label}: {key} has {int((~np.isfinite(a)).sum())} non-finite values")
            present.setdefault(type(n), []).append(n)
        for cls, nodes in present.items():
            cls.check_graph(self, nodes)
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
