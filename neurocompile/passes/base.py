"""Pass infrastructure: small pass classes run by one explicit pipeline.

A pass declares what it ``requires`` of the graph (meta keys set by earlier passes), ``run``s and
records what it ``ensures``. The manager verifies the graph after every pass and names the pass in
any error it raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import GraphError, NeurocompileError
from ..ir import Graph


class Pass:
    """Base class. Subclasses set ``name``, ``requires``, ``ensures`` and implement ``run``."""

    name: str = "pass"
    requires: tuple[str, ...] = ()
    ensures: tuple[str, ...] = ()

    def run(self, graph: Graph) -> Graph:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class PassManager:
    passes: list[Pass] = field(default_factory=list)

    def run(self, graph: Graph) -> Graph:
        done = set(graph.meta.get("passes", []))
        for p in self.passes:
            missing = [r for r in p.requires if r not in done]
            if missing:
                raise GraphError(f"pass {p.name}: requires {missing} which no earlier pass ensured")
            try:
                graph = p.run(graph)
                graph.verify()
            except NeurocompileError as e:
                msg = str(e)
                # a pass that runs passes of its own (method robust scores candidates through the quantiser)
                # passes their error on as it is: it names the pass and layer where it happened
                raise type(e)(msg if msg.startswith("pass ") else f"pass {p.name}: {msg}") from None
            done.update(p.ensures)
            done.add(p.name)
            graph.meta["passes"] = sorted(done)
        return graph
