"""Ops and synaptic chains as sparse integer matrices (no Lava needed).

:func:`window_matrix` is the one place that turns a sliding window (a convolution's kernel, a pool's
taps) into an (output units x input units) matrix; the ops' ``int_map`` and ``structure`` facets use it.
:func:`chain_matrices` composes a chain (the linear ops between spike sources and one target, see
``ir.chains``) into one integer matrix per source, ``I_target = sum_sources M_source @ s_source``,
exactly in int64 with scipy.sparse: what one Lava ``Sparse`` process per (source, target) pair holds,
and what the FPGA backend's synapse images list per input axon.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import QuantizationError
from .names import layer


def window_matrix(values: np.ndarray, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int],
                  stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int] = (1, 1)
                  ) -> sp.csr_matrix:
    """(O*Ho*Wo, I*H*W) CSR matrix of a zero-padded, strided, dilated sliding window whose non-zero
    ``values[o, i, ky, kx]`` (an (O, I, kh, kw) array) connect input channel i at tap (ky, kx) to output
    channel o; the matrix has the values' dtype. Taps that land in the padding connect nothing."""
    I, H, W = in_shape
    O, Ho, Wo = out_shape
    (s0, s1), (p0, p1), (d0, d1) = stride, padding, dilation
    o, i, ky, kx = np.nonzero(values)
    v = values[o, i, ky, kx]
    ho, wo = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    y = ho.reshape(1, -1) * s0 - p0 + (ky * d0)[:, None]
    x = wo.reshape(1, -1) * s1 - p1 + (kx * d1)[:, None]
    ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
    rows = o[:, None] * Ho * Wo + (ho * Wo + wo).reshape(1, -1)
    cols = (i[:, None] * H + y) * W + x
    data = np.broadcast_to(v[:, None], ok.shape)[ok]
    return sp.csr_matrix((data, (rows[ok], cols[ok])), shape=(O * Ho * Wo, I * H * W), dtype=values.dtype)


def chain_matrices(graph, chain) -> dict[str, sp.csr_matrix]:
    """``{source name: M}`` with the target's input = sum_source M @ flat(source) (int64, no explicit zeros)."""
    shapes = graph.infer_shapes()
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    mats: dict[str, dict[str, sp.csr_matrix]] = {s: {s: sp.identity(size[s], np.int64, format="csr")}
                                                 for s in chain.sources}
    for op in chain.ops:
        if getattr(op, "weight_exp", 0):
            raise QuantizationError(f"{layer(op)}: weight_exp {op.weight_exp} cannot be composed into one matrix")
        out: dict[str, sp.csr_matrix] = {}
        for idx, i in enumerate(graph.inputs(op.name)):
            a = op.int_map(shapes[i], shapes[op.name], idx)
            for s, m in mats[i].items():
                term = (a @ m).tocsr() if sp.issparse(a) else int(a) * m
                out[s] = out[s] + term if s in out else term
        mats[op.name] = out
    last = graph.inputs(chain.target.name)[0]
    result = {s: m.tocsr() for s, m in mats[last].items()}
    for m in result.values():
        m.eliminate_zeros()
    return result
