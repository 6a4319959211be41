"""``Composed``: a synaptic chain stored as one integer matrix per source, each entry a multiple of a power of
two (``I = sum_i (M_i @ flat(x_i)) << shifts[i]``).

Only the integer IR has it: :class:`neurocompile.passes.compose.ComposeWideChains` puts one in place of a
chain whose composed matrix a target cannot store (weight ops in series multiply their weights: Loihi keeps
one matrix of at most 8-bit entries per connection). The mantissas ``M_i`` are the chain's exact composed
matrix rounded by ``fixedpoint.round_shift``; every target then runs that matrix (docs/semantics.md,
"Composed chains").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from ... import fixedpoint as fx
from ...errors import GraphError
from ..names import describe
from .base import Node, register_op


@register_op
@dataclass(eq=False)
class Composed(Node):
    """One integer matrix per input (COO: entry ``k`` connects column ``cols[k]`` of input ``part[k]`` to output
    unit ``rows[k]`` with mantissa ``vals[k]``), shifted left by that input's ``shifts``; ``shape``: the output
    shape (the chain target's input); ``fused``: the names of the ops it replaces (report, messages)."""

    shape: tuple[int, ...] = ()
    shifts: tuple[int, ...] = ()
    fused: tuple[str, ...] = ()
    part: np.ndarray = None
    rows: np.ndarray = None
    cols: np.ndarray = None
    vals: np.ndarray = None

    op: ClassVar[str] = "composed"
    arity: ClassVar[int | None] = None
    array_fields: ClassVar[tuple[str, ...]] = ("part", "rows", "cols", "vals")
    synaptic: ClassVar[bool] = True
    reported: ClassVar[bool] = True

    @classmethod
    def from_matrices(cls, name: str, mats: list[sp.csr_matrix], shifts: list[int], shape, **kw) -> "Composed":
        coo = [m.tocoo() for m in mats]
        cat = lambda f: np.concatenate([f(i, c) for i, c in enumerate(coo)]).astype(np.int64)  # noqa: E731
        return cls(name=name, shape=tuple(int(s) for s in shape), shifts=tuple(int(s) for s in shifts),
                   part=cat(lambda i, c: np.full(c.nnz, i)), rows=cat(lambda i, c: c.row),
                   cols=cat(lambda i, c: c.col), vals=cat(lambda i, c: c.data), **kw)

    def mantissas(self, sizes: list[int]) -> list[sp.csr_matrix]:
        """The per-input mantissa matrices (out units x ``sizes[i]``, int64 CSR)."""
        n_out = int(np.prod(self.shape))
        part = np.asarray(self.part)
        out = []
        for i, n_in in enumerate(sizes):
            k = part == i
            out.append(sp.csr_matrix((np.asarray(self.vals)[k], (np.asarray(self.rows)[k], np.asarray(self.cols)[k])),
                                     shape=(n_out, n_in), dtype=np.int64))
        return out

    def infer_shape(self, ins):
        if len(ins) != len(self.shifts):
            raise GraphError(f"{self.label}: {len(ins)} inputs, {len(self.shifts)} shifts")
        n_out = int(np.prod(self.shape))
        if len(self.part):
            sizes = np.array([int(np.prod(s)) for s in ins])
            part = np.asarray(self.part)
            if part.min() < 0 or part.max() >= len(ins) or np.asarray(self.rows).max() >= n_out \
                    or np.any(np.asarray(self.cols) >= sizes[part]) or min(np.asarray(self.rows).min(),
                                                                          np.asarray(self.cols).min()) < 0:
                raise GraphError(f"{self.label}: matrix entries outside the {n_out} outputs / input sizes "
                                 f"{sizes.tolist()}")
        return tuple(self.shape)

    def check(self, graph) -> None:
        if any(s < 0 for s in self.shifts):
            raise GraphError(f"{self.label}: negative shift in {list(self.shifts)}")

    def _sizes(self, xs) -> list[int]:
        return [int(np.prod(x.shape[1:])) for x in xs]

    def int_map(self, in_shape, out_shape, idx):
        k = np.asarray(self.part) == idx
        return sp.csr_matrix((np.asarray(self.vals)[k] << self.shifts[idx],
                              (np.asarray(self.rows)[k], np.asarray(self.cols)[k])),
                             shape=(int(np.prod(out_shape)), int(np.prod(in_shape))), dtype=np.int64)

    def _apply(self, xs, mats, shifts, dtype) -> torch.Tensor:
        """``sum_i (mats[i] << shifts[i]) @ flat(xs[i])`` per sample, scipy products in ``dtype``."""
        y = 0
        for x, m, s in zip(xs, mats, shifts):
            v = x.detach().reshape(x.shape[0], -1).cpu().numpy().astype(dtype)
            y = y + fx.shift(np.asarray(m.astype(dtype) @ v.T).T, s)
        return torch.as_tensor(np.asarray(y, dtype=dtype)).reshape(xs[0].shape[0], *self.shape)

    def int_forward(self, xs, bounds):
        mats = self.mantissas(self._sizes(xs))
        bound = sum((int(abs(m).sum(1).max()) << s if m.nnz else 0) * b
                    for m, s, b in zip(mats, self.shifts, bounds))
        dt = fx.exact_float(bound, describe(self))
        return self._apply(xs, mats, self.shifts, np.int64).to(dt), bound  # int64 products: exact

    def _torch(self, ins, weights) -> torch.Tensor:
        """``sum_i W_i @ flat(ins[i])`` with ``W_i`` torch sparse matrices of ``weights(mantissa CSR, shift)``
        (differentiable in the inputs: ``ir.cost`` counts paths by gradients)."""
        y = 0
        for x, m, s in zip(ins, self.mantissas(self._sizes(ins)), self.shifts):
            c = m.tocoo()
            idx = torch.as_tensor(np.vstack([c.row, c.col]).astype(np.int64))
            w = torch.sparse_coo_tensor(idx, torch.as_tensor(weights(c.data, s)), c.shape, dtype=x.dtype,
                                        check_invariants=True)
            y = y + torch.sparse.mm(w, x.reshape(x.shape[0], -1).T).T
        return y.reshape(ins[0].shape[0], *self.shape)

    def eval_float(self, ins, p, ctx):
        return self._torch(ins, lambda v, s: v.astype(np.float64) * float(1 << s))

    def indicator(self, ins):
        return self._torch([x.to(torch.float64) for x in ins], lambda v, s: (v != 0).astype(np.float64))

    def report_fields(self) -> dict:
        vals = np.asarray(self.vals)
        amax = int(np.abs(vals).max()) if vals.size else 0
        return {"synapses": int(vals.size), "weight_bits": fx.signed_width(-amax, amax) if amax else 0,
                "fused": list(self.fused), "shifts": list(self.shifts)}
