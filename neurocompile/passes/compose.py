"""Composed chains for targets that store one matrix per connection (docs/semantics.md, "Composed chains").

Loihi has no place for a linear signal between two synapse stages: the linear ops between spike sources and a
population (``ir.chains``) run as one matrix per source, what Lava's ``Sparse`` processes and the placement
hold. The integer IR composes each chain exactly (``ir.matrices.chain_matrices``); where weight ops sit in
series (a MobileNetV2 projection conv -> residual add -> next expansion conv, a DenseNet-BC BatchNorm after a
concat's conv) the composed entries are products of weights and outgrow the target's weight width. This pass
puts a :class:`~neurocompile.ir.ops.composed.Composed` op in place of such a chain: per source, the composed
matrix rounded to multiples of ``2^k`` (``fixedpoint.round_shift``), ``k`` the fewest low bits to drop for the
mantissas to fit ``max_bits`` (Lava: ``weight_exp = k``, applied to the summed input, exactly). The rounding is
that of quantising the fused float matrix to ``max_bits`` on its own scale, so accuracy is that of an
``max_bits`` weight layer, not of weights cut down until their products fit. Chains that fit are left alone.
"""

from __future__ import annotations

import numpy as np

from .. import fixedpoint as fx
from ..errors import QuantizationError
from ..ir import Graph
from ..ir.chains import chains
from ..ir.matrices import chain_matrices
from ..ir.names import layer
from ..ir.ops.composed import Composed
from .base import Pass


def _width(m) -> int:
    amax = int(np.abs(m.data).max()) if m.nnz else 0
    return fx.signed_width(-amax, amax) if amax else 0


def round_matrix(m, max_bits: int):
    """``(mantissa matrix, k)``: ``m`` (integer CSR) as ``mantissa << k`` with mantissas of at most ``max_bits``
    signed bits, exactly where the low bits are zero, else rounded (half away from zero) with the fewest
    dropped bits."""
    m = m.tocsr().astype(np.int64)
    k = fx.trailing_zeros(m.data)
    if _width(m) - k > max_bits:
        k = _width(m) - max_bits
    while True:
        out = m.copy()
        out.data = fx.round_shift(m.data, k)
        out.eliminate_zeros()
        if _width(out) <= max_bits:
            return out, k
        k += 1  # rounding up reached the next power of two


class ComposeWideChains(Pass):
    name = "compose"
    requires = ("integer",)
    ensures = ("composed",)

    def __init__(self, max_bits: int, target: str = "intsim"):
        self.max_bits, self.target = max_bits, target

    def run(self, graph: Graph) -> Graph:
        notes = graph.meta.setdefault("notes", [])
        for ch in chains(graph):
            if not ch.ops:
                continue
            try:
                mats = chain_matrices(graph, ch)
            except QuantizationError:  # a weight op with weight_exp: not composed (no such chain is stored)
                continue
            if all(_width(m) - fx.trailing_zeros(m.data) <= self.max_bits for m in mats.values()):
                continue
            rounded = [round_matrix(mats[s], self.max_bits) for s in ch.sources]
            last = graph.node(graph.inputs(ch.target.name)[0])
            widest = max(_width(m) for m in mats.values())
            shape = graph.infer_shapes()[last.name]
            for op in reversed(ch.ops):  # ``last`` first (the others feed only ops of the chain)
                graph.remove(op.name, rewire_to=ch.sources[0] if op is last else None)
            node = Composed.from_matrices(last.name, [m for m, _ in rounded], [k for _, k in rounded], shape,
                                          fused=tuple(op.name for op in ch.ops), source=last.source,
                                          module=last.module)
            graph.add(node, ch.sources)
            graph.replace_input(ch.target.name, ch.sources[0], node.name)
            notes.append(f"{layer(ch.target)}: its {len(ch.ops)} synaptic ops compose to weights of {widest} bits; "
                         f"target {self.target} stores {self.max_bits}: run as one matrix per source rounded to "
                         f"multiples of 2^k, k = {', '.join(str(k) for _, k in rounded)}")
        return graph
