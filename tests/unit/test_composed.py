"""Composed chains (docs/semantics.md, "Composed chains"): ``fixedpoint.round_shift`` and the rounding of a composed
matrix, the ``Composed`` op (exact integer products, serialisation), the ``compose`` pass (only the chains a target
cannot store, rounded to what it stores), and the Loihi 2 targets agreeing on it (``loihi2 --dry-run`` places the
network ``loihi2-sim`` runs)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import fanout_models as fm
import neurocompile as nc
from neurocompile import fixedpoint as fx
from neurocompile.backends.intsim import simulate
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.frontend import load_model
from neurocompile.ir import Composed, Graph, load, save
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices
from neurocompile.passes.compose import ComposeWideChains, round_matrix
from neurocompile.targets import get_target


def test_round_shift_and_trailing_zeros():
    assert fx.round_shift(np.array([5, -5, 6, -6, 7, -7, 2, -2, 1, -1]), 2).tolist() == [1, -1, 2, -2, 2, -2, 1, -1, 0, 0]
    assert fx.round_shift(np.array([3, -3]), 0).tolist() == [3, -3]
    assert fx.trailing_zeros(np.array([8, -24, 0, 16])) == 3
    assert fx.trailing_zeros(np.array([3, 4])) == 0 and fx.trailing_zeros(np.array([0, 0])) == 0


def test_round_matrix_exact_when_low_bits_are_zero_and_fits_after_carry():
    m = sp.csr_matrix(np.array([[512, -256], [0, 1024]]))  # 12-bit entries, 8 low zero bits: exact at 8 bits
    out, k = round_matrix(m, 8)
    assert k == 8 and ((out.toarray() << k) == m.toarray()).all()
    m = sp.csr_matrix(np.array([[255, -3, 0, 1]]))  # 9 bits; k = 1 gives 128 (9 bits again): one more bit
    out, k = round_matrix(m, 8)
    assert k == 2 and out.toarray().tolist() == [[64, -1, 0, 0]]
    rng = np.random.default_rng(0)
    m = sp.random(40, 50, 0.2, format="csr", random_state=1, data_rvs=lambda n: rng.integers(-40000, 40000, n))
    m.data = m.data.astype(np.int64)
    out, k = round_matrix(m, 8)
    assert np.abs(out.data).max() <= 127 and np.abs(out.data).max() >= 64  # the range is used, not wasted
    assert np.abs((out.toarray() << k) - m.toarray()).max() <= 1 << (k - 1)  # nearest multiple of 2^k


def _int_graph(name="convconv", max_bits=None, seed=3):
    g = load_model(fm.make(name, seed=seed), (1, 8, 8))
    opts = CompileOptions(**{**get_target("loihi2-sim").compile_overrides(), "max_weight_bits": max_bits,
                             "method": "rueckauer"})
    return compile_graph(g, fm.inputs(64, seed + 1).numpy(), opts)


def test_compose_pass_rounds_only_what_does_not_fit():
    plain = _int_graph()  # no weight limit: the chain of two convs composes exactly, beyond 8 bits
    wide = {ch.target.name: chain_matrices(plain, ch) for ch in chains(plain)}
    g = ComposeWideChains(8, "test").run(plain.copy())
    g.verify()
    composed = g.nodes_of(Composed)
    assert len(composed) >= 1
    for ch in chains(g):
        mats = chain_matrices(g, ch)
        if not any(isinstance(op, Composed) for op in ch.ops):
            assert all((mats[s] != wide[ch.target.name][s]).nnz == 0 for s in mats)  # untouched
            continue
        (op,) = ch.ops
        for i, s in enumerate(ch.sources):
            want, k = round_matrix(wide[ch.target.name][s], 8)
            assert k == op.shifts[i] and (mats[s] != want * (1 << k)).nnz == 0
            assert np.abs(mats[s].data >> k).max() <= 127
    assert ComposeWideChains(30, "test").run(plain.copy()).nodes_of(Composed) == []


def test_composed_int_forward_is_the_exact_matrix_product():
    g = ComposeWideChains(8, "test").run(_int_graph().copy())
    op = g.nodes_of(Composed)[0]
    shapes = g.infer_shapes()
    ins = g.inputs(op.name)
    rng = np.random.default_rng(2)
    xs = [torch.as_tensor(rng.integers(-3, 4, (5, *shapes[i])), dtype=torch.float32) for i in ins]
    y, bound = op.int_forward(xs, [3] * len(xs))
    want = sum(op.int_map(shapes[i], shapes[op.name], k) @ xs[k].reshape(5, -1).numpy().astype(np.int64).T
               for k, i in enumerate(ins)).T
    assert (y.reshape(5, -1).numpy().astype(np.int64) == want).all() and np.abs(want).max() <= bound
    assert torch.allclose(op.eval_float([x.double() for x in xs], {}, None).reshape(5, -1),
                          torch.as_tensor(want, dtype=torch.float64))


def test_composed_graph_round_trips_and_runs_the_same(tmp_path):
    g = ComposeWideChains(8, "test").run(_int_graph().copy())
    x = fm.inputs(4, 9).numpy()
    save(g, tmp_path / "snn")
    back = load(tmp_path / "snn.json")
    a = simulate(g, x, 12, record=True)
    b = simulate(back, x, 12, record=True)
    assert sum(int(np.abs(v).sum()) for v in a.spikes.values()) > 0
    for k, v in a.spikes.items():
        assert np.array_equal(v, b.spikes[k]), k
    assert np.array_equal(a.readout, b.readout)


def test_loihi2_dry_run_places_what_loihi2_sim_runs():
    torch.manual_seed(0)
    model = fm.make("mobilenetv2", seed=4)
    rng = np.random.default_rng(0)
    calib = (rng.random((32, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 32))
    sim = nc.compile(model, method="rueckauer", target="loihi2-sim", calib=calib, progress=False)
    dry = nc.compile(model, method="rueckauer", target="loihi2", calib=calib, progress=False, dry_run=True)
    assert sim.snn.nodes_of(Composed) and [n.name for n in sim.snn.topo()] == [n.name for n in dry.snn.topo()]
    for a, b in zip(sim.snn.topo(), dry.snn.topo()):
        for key, arr in a.arrays().items():
            assert np.array_equal(arr, b.arrays()[key]), (a.name, key)
