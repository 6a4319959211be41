"""One synaptic connection in Lava: the composed integer matrix of a (source, target) chain as a ``Sparse``
process (Lava imported lazily), and its description for ``lava/processes.json``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neurocompile import fixedpoint as fx

from neurocompile.errors import QuantizationError
from neurocompile.ir import Graph
from neurocompile.ir.chains import payload_bits
from neurocompile.ir.names import describe_of, layer_of


def message_bits(graph: Graph, src: str) -> int:
    """Spike payload width of a source (``num_message_bits``): the input's bits (graded), a graded population's
    signed spike width (``spike_max`` plus a sign bit), 0 for binary spikes (populations, STCSNN encoders); a
    max-count gate sends what its origin sends (values within the same bounds)."""
    return payload_bits(graph, src)


def encode(m: sp.csr_matrix, where: str, weight_bits: int) -> tuple[sp.csr_matrix, int]:
    """Integer matrix -> (Lava weights, weight_exp) that Lava's Sparse of ``weight_bits``-bit weights turns
    back into exactly ``m @ s``: the mantissas ``m >> j`` (``j``: the low bits every entry has zero, as in a
    composed chain's rounded matrix) moved to the top of the stored range, ``weight_exp`` undoing both."""
    j = fx.trailing_zeros(m.data)
    amax = (int(np.abs(m.data).max()) if m.nnz else 0) >> j  # the stored entries: no sparse copy of |m|
    bits = fx.signed_width(-amax, amax)
    if bits > weight_bits:
        raise QuantizationError(f"{where}: composed weight {amax << j} needs {bits + j} bits; Lava stores at most "
                                f"{weight_bits}")
    k = weight_bits + 1 - bits
    return (m * (1 << k) if j == 0 else _shifted(m, k - j)).astype(np.int32).tocsr(), j - k


def _shifted(m: sp.csr_matrix, e: int) -> sp.csr_matrix:
    out = m.tocsr().astype(np.int64, copy=True)
    out.data = fx.shift(out.data, e)  # exact: the low bits shifted out are zero
    return out


def _where(graph: Graph, target: str, src: str) -> str:
    """How an error names the connection from ``src`` into layer ``target``."""
    return f"{layer_of(graph, target)}: connection from {describe_of(graph, src)}"


def sparse(graph: Graph, target: str, src: str, m: sp.csr_matrix, n: int, limits, perturb=None):
    """The ``Sparse`` process of ``n`` samples side by side (block-diagonal ``m``), weights of the target's
    ``limits.max_weight_bits``. ``perturb=(target, source, row, col)`` changes that entry of the per-sample
    matrix by one LSB of its stored mantissa (a negative control)."""
    from lava.proc.sparse.process import Sparse

    if perturb is not None and perturb[:2] == (target, src):
        lsb = 1 << fx.trailing_zeros(m.data)  # one LSB of the stored mantissa (a composed chain's 2^k)
        m = m.tolil()
        r, c = perturb[2:]
        m[r, c] += -lsb if m[r, c] > 0 else lsb
        m = m.tocsr()
    wb = limits.max_weight_bits
    w, e = encode(m.tocsr(), _where(graph, target, src), wb)
    return Sparse(weights=block_diagonal(w, n), weight_exp=e, num_weight_bits=wb,
                  num_message_bits=message_bits(graph, src), name=f"{src}->{target}")


def block_diagonal(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``n`` copies of ``m`` on the diagonal (``sp.kron(identity(n), m)``), made from ``m``'s arrays at once:
    kron's COO round trip and sort took seconds on a ResNet-20 batch."""
    m = m.tocsr()
    if n == 1:
        return m
    m.sort_indices()
    rows, cols = m.shape
    nnz = m.indptr[-1]
    indptr = (m.indptr[:-1][None, :] + nnz * np.arange(n)[:, None]).reshape(-1)
    indptr = np.append(indptr, n * nnz)
    indices = (m.indices[None, :nnz] + cols * np.arange(n)[:, None]).reshape(-1)
    data = np.tile(m.data[:nnz], n)
    return sp.csr_matrix((data, indices, indptr), shape=(n * rows, n * cols))


def describe_sparse(graph: Graph, target: str, src: str, m: sp.csr_matrix, limits) -> dict:
    """The JSON entry of one sample's ``Sparse`` process."""
    wb = limits.max_weight_bits
    _, e = encode(m, _where(graph, target, src), wb)
    return {"name": f"{src}->{target}", "type": "lava.proc.sparse.process.Sparse", "shape": list(m.shape),
            "nnz": int(m.nnz), "weight_exp": e, "num_weight_bits": wb, "num_message_bits": message_bits(graph, src),
            "weights": f"composed integer matrix << {-e}"}
