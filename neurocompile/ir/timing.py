"""Network timing (docs/semantics.md, "One timestep"): the depth of every spike source and target in
synaptic chains, the pipeline latency, the steps a run simulates, and the block timing of STCSNN
networks. Every simulator and emitter (intsim, Lava, the FPGA testbench) reads it from here."""

from __future__ import annotations

from ..errors import GraphError
from .chains import chains
from .graph import Graph


def chain_depths(graph: Graph) -> dict[str, int]:
    """Depth of each spike source / target: Input 0, a gate that of its input (no delay), a target one
    more than its deepest source."""
    st = {graph.input.name: 0}
    targets = {ch.target.name: ch for ch in chains(graph)}
    for n in graph.topo():
        if n.gate:
            st[n.name] = st[graph.inputs(n.name)[0]]
        elif n.name in targets:
            st[n.name] = 1 + max(st[s] for s in targets[n.name].sources)
    return st


def latency(graph: Graph) -> int:
    """Steps before the readout receives its first input: ``synapse_delay`` x chains on the longest
    input-to-readout path (the input itself crosses one chain, as a RingBuffer -> Dense in Lava)."""
    d = int(graph.meta.get("synapse_delay", 0))
    return d * chain_depths(graph)[graph.output.name]


def block_populations(graph: Graph) -> list:
    """The block-coded populations (STCSNN encoders), topological order; empty for rate-coded networks."""
    return [n for n in graph.topo() if n.block_coded]


def is_block_graph(graph: Graph) -> bool:
    return bool(block_populations(graph))


def block_timesteps(graph: Graph) -> int:
    """The spike-train length T every encoder of the graph was built for."""
    return block_populations(graph)[0].timesteps


def block_run_steps(graph: Graph, depth: dict[str, int] | None = None) -> int:
    """Steps until the readout of a block-coded network is ready: (depth of the readout - 1) x T."""
    depth = depth if depth is not None else chain_depths(graph)
    return max(1, (depth[graph.output.name] - 1) * block_timesteps(graph))


def check_block_timesteps(graph: Graph, timesteps: int) -> None:
    T = block_timesteps(graph)
    if timesteps != T:
        raise GraphError(f"graph {graph.name}: its STCSNN encoders were built for T = {T} steps per block; "
                         f"simulate with {T} timesteps, not {timesteps} (or rebuild with --timesteps {timesteps})")


def run_steps(graph: Graph, timesteps: int) -> int:
    """Simulated steps: T + latency for rate-coded graphs; (depth of the readout - 1) x T block steps for
    STCSNN graphs (each block's spike train follows the previous block's)."""
    if is_block_graph(graph):
        return block_run_steps(graph)
    return timesteps + latency(graph)
