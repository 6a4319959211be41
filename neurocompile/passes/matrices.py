"""Integer synaptic chains as sparse matrices (no Lava needed).

A chain (the linear ops between spike sources and one target population, see
``neurocompile.passes.chains``) is, for each source, one integer matrix ``M`` with
``I_target = sum_sources M_source @ s_source``. Conv2d, sum pooling, Flatten, Linear and Add are
composed exactly in int64 with scipy.sparse; the result is what one Lava ``Sparse`` process per
(source, target) pair holds, and what the FPGA backend's synapse images list per input axon.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import QuantizationError
from ..ir import Add, AvgPool2d, Conv2d, Flatten, Graph, Linear
from ..ir.graph import conv_out
from .chains import Chain


def conv_matrix(op: Conv2d, in_shape: tuple[int, int, int]) -> sp.csr_matrix:
    """(O*Ho*Wo, C*H*W) int64 matrix of a zero-padded, strided, dilated, grouped convolution."""
    C, H, W = in_shape
    O, ipg, KH, KW = op.weight.shape
    (sh, sw), (ph, pw), (dh, dw) = op.stride, op.padding, op.dilation
    Ho, Wo = conv_out(H, KH, sh, ph, dh), conv_out(W, KW, sw, pw, dw)
    opg = O // op.groups
    o, i, j, c, a, b = np.meshgrid(np.arange(O), np.arange(Ho), np.arange(Wo), np.arange(ipg),
                                   np.arange(KH), np.arange(KW), indexing="ij")
    r, q = i * sh - ph + a * dh, j * sw - pw + b * dw
    ok = (r >= 0) & (r < H) & (q >= 0) & (q < W)
    cin = (o // opg) * ipg + c
    w = np.asarray(op.weight, dtype=np.int64)[o, c, a, b]
    ok &= w != 0
    rows = ((o * Ho + i) * Wo + j)[ok]
    cols = ((cin * H + r) * W + q)[ok]
    return sp.csr_matrix((w[ok], (rows, cols)), shape=(O * Ho * Wo, C * H * W), dtype=np.int64)


def pool_matrix(op: AvgPool2d, in_shape: tuple[int, int, int]) -> sp.csr_matrix:
    """Sum pooling as a 0/1 matrix (the integer IR pools by summing, divisor 1)."""
    if op.divisor != 1:
        raise QuantizationError(f"layer {op.name}: expected an integer sum pool (divisor 1), got {op.divisor}")
    C, H, W = in_shape
    (kh, kw), (sh, sw) = op.kernel_size, op.stride
    Ho, Wo = conv_out(H, kh, sh, 0, 1), conv_out(W, kw, sw, 0, 1)
    c, i, j, a, b = np.meshgrid(np.arange(C), np.arange(Ho), np.arange(Wo), np.arange(kh), np.arange(kw),
                                indexing="ij")
    rows = ((c * Ho + i) * Wo + j).ravel()
    cols = ((c * H + i * sh + a) * W + j * sw + b).ravel()
    return sp.csr_matrix((np.ones(rows.size, np.int64), (rows, cols)), shape=(C * Ho * Wo, C * H * W))


def chain_matrices(graph: Graph, chain: Chain) -> dict[str, sp.csr_matrix]:
    """``{source name: M}`` with the target's input = sum_source M @ flat(source)."""
    shapes = graph.infer_shapes()
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    mats: dict[str, dict[str, sp.csr_matrix]] = {s: {s: sp.identity(size[s], np.int64, format="csr")}
                                                 for s in chain.sources}
    for op in chain.ops:
        if getattr(op, "weight_exp", 0):
            raise QuantizationError(f"layer {op.name}: weight_exp {op.weight_exp} cannot be composed into one matrix")
        ins = graph.inputs(op.name)
        out: dict[str, sp.csr_matrix] = {}
        if isinstance(op, Add):
            gains = [int(g) for g in (op.gains or (1,) * len(ins))]
            for g, i in zip(gains, ins):
                for s, m in mats[i].items():
                    out[s] = out[s] + g * m if s in out else g * m
        else:
            (i,) = ins
            if isinstance(op, Conv2d):
                a = conv_matrix(op, shapes[i])
            elif isinstance(op, AvgPool2d):
                a = pool_matrix(op, shapes[i])
            elif isinstance(op, Linear):
                a = sp.csr_matrix(np.asarray(op.weight, dtype=np.int64))
            elif isinstance(op, Flatten):
                a = None
            else:
                raise TypeError(f"layer {op.name}: not a synaptic op ({op.op})")
            out = {s: (m if a is None else (a @ m).tocsr()) for s, m in mats[i].items()}
        mats[op.name] = out
    last = graph.inputs(chain.target.name)[0]
    result = {s: m.tocsr() for s, m in mats[last].items()}
    for m in result.values():
        m.eliminate_zeros()
    return result
