"""Chain matrices (what the Lava backend loads into Sparse processes) reproduce intsim exactly when
stepped with the contract's neuron update: a third, matrix-based implementation of the semantics."""

import numpy as np
import pytest

from netgen import random_graph, random_inputs
from neurocompile.backends.intsim import simulate
from neurocompile.results import quantize_input
from neurocompile.ir.matrices import chain_matrices
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.ir import Neurons, Output
from neurocompile.ir.chains import chains


def matrix_sim(ig, x_int, T, steps):
    d = int(ig.meta.get("synapse_delay", 0))
    chs = chains(ig)
    mats = {ch.target.name: chain_matrices(ig, ch) for ch in chs}
    n = len(x_int)
    hist = {ig.input.name: [x_int.reshape(n, -1).astype(np.int64)] * steps}
    state, readout = {}, 0
    for t in range(steps):
        for ch in chs:
            tgt = ch.target
            cur = 0
            for s, m in mats[tgt.name].items():
                k = t - d
                src = hist[s][k] if k >= 0 else np.zeros_like(hist[s][0])
                cur = cur + (m @ src.T).T
            if isinstance(tgt, Output):
                if t >= steps - T:
                    readout = readout + cur + (0 if tgt.bias is None else tgt.bias)
                continue
            th = np.broadcast_to(tgt.threshold, (cur.shape[1],)) if np.ndim(tgt.threshold) == 0 else tgt.threshold.ravel()
            b = 0 if tgt.bias is None else tgt.bias.reshape(-1)
            v = state.get(tgt.name)
            if v is None:
                v = np.zeros_like(cur) + (0 if tgt.v_init is None else np.broadcast_to(tgt.v_init, ig.infer_shapes()[tgt.name]).reshape(-1))
            m = 2 ** (tgt.state_bits - 1) - 1
            u = cur << tgt.state_shift
            if tgt.input_wrap:
                half = 1 << (tgt.input_wrap - 1)
                u = np.where(u > half, u - 2 * half, np.where(u <= -half, u + 2 * half, u))
            v = np.clip(v + u + b, -m, m)
            s = v > th
            v = np.where(s, v - th, v) if tgt.reset == "subtract" else np.where(s, 0, v)
            state[tgt.name] = v
            hist.setdefault(tgt.name, [None] * steps)[t] = s.astype(np.int64)
    return readout, {k: np.array(v) for k, v in hist.items() if k != ig.input.name}


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("lava_like", [False, True])
def test_matrices_reproduce_intsim(seed, lava_like):
    g = random_graph(seed)
    opts = CompileOptions(method="rueckauer",
                          v_init=0.5 if seed % 2 else 0.0, reset="zero" if seed % 3 == 0 else "subtract")
    if lava_like:
        opts.synapse_delay, opts.state_shift, opts.input_wrap, opts.bias_mant_bits, opts.bias_exp_max = 1, 6, 24, 13, 7
    ig = compile_graph(g, random_inputs(g, 32, seed), opts)
    x = random_inputs(g, 4, seed + 1)
    r = simulate(ig, x, 7, record=True)
    ro, sp = matrix_sim(ig, quantize_input(ig, x), 7, r.run_steps)
    assert np.array_equal(ro, r.readout)
    for name in [n.name for n in ig.nodes_of(Neurons)]:
        assert np.array_equal(sp[name].reshape(r.spikes[name].shape), r.spikes[name].astype(np.int64)), name
        assert r.spikes[name].any(), name


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 2, 5])
def test_block_diagonal_equals_kron(seed, n):
    """The Lava batch's block-diagonal matrix, assembled from the arrays, is kron(I_n, M) entry for entry
    (explicit zeros and unsorted indices included)."""
    import scipy.sparse as sp

    from neurocompile.backends.lava.conns import block_diagonal

    rng = np.random.default_rng(seed)
    dense = rng.integers(-9, 10, (7, 5)) * (rng.random((7, 5)) < 0.4)
    m = sp.csr_matrix(dense)
    m.data[:2] = 0  # explicit zeros stay out of the comparison's way
    m.indices[: m.indptr[1]] = m.indices[: m.indptr[1]][::-1]  # unsorted in row 0
    m.has_sorted_indices = False
    got = block_diagonal(m, n)
    want = sp.kron(sp.identity(n, np.int64), sp.csr_matrix(m.toarray()), format="csr")
    assert got.shape == want.shape == (7 * n, 5 * n)
    assert np.array_equal(got.toarray(), want.toarray())
    assert np.any(got.toarray())


def test_default_lava_batch_shares_a_synapse_budget():
    from neurocompile.backends.lava import run

    ig = compile_graph(random_graph(3), random_inputs(random_graph(3), 64, 3), CompileOptions(method="rueckauer"))
    per_sample = sum(m.nnz for ch in chains(ig) for m in chain_matrices(ig, ch).values())
    assert per_sample > 0
    assert run.default_batch(ig) == max(1, min(run.MAX_BATCH, run.MAX_BATCH_SYNAPSES // per_sample))
    old = run.MAX_BATCH_SYNAPSES
    try:
        run.MAX_BATCH_SYNAPSES = 3 * per_sample
        assert run.default_batch(ig) == 3
        run.MAX_BATCH_SYNAPSES = per_sample // 2
        assert run.default_batch(ig) == 1  # a sample larger than the budget still runs, alone
    finally:
        run.MAX_BATCH_SYNAPSES = old
