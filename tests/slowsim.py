"""A slow, obviously-correct integer simulator written independently of intsim: Python ints, one
sample, one timestep and one synapse at a time (and one max-pool window at a time), straight from
docs/semantics.md."""

from __future__ import annotations

import numpy as np

from neurocompile.ir import Add, AvgPool2d, Concat, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d, Neurons, Output


def _conv(x, n: Conv2d):
    _C, H, W = len(x), len(x[0]), len(x[0][0])
    O, ipg, KH, KW = n.weight.shape
    w = n.weight.tolist()
    (sh, sw), (ph, pw), (dh, dw), g = n.stride, n.padding, n.dilation, n.groups
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    opg = O // g
    out = [[[0] * Wo for _ in range(Ho)] for _ in range(O)]
    for o in range(O):
        grp = o // opg
        for i in range(Ho):
            for j in range(Wo):
                acc = 0
                for ci in range(ipg):
                    c = grp * ipg + ci
                    for a in range(KH):
                        for b in range(KW):
                            r, q = i * sh - ph + a * dh, j * sw - pw + b * dw
                            if 0 <= r < H and 0 <= q < W:
                                acc += w[o][ci][a][b] * x[c][r][q]
                out[o][i][j] = acc >> -n.weight_exp if n.weight_exp < 0 else acc << n.weight_exp
    return out


def _out_len(n, k, s, p, ceil):
    """PyTorch's pooled length, written out: floor or ceil of (n + 2p - k) / s, plus 1; in ceil mode a last
    window starting in the right padding is dropped."""
    span = n + 2 * p - k
    out = (span + s - 1) // s + 1 if ceil else span // s + 1
    return out - 1 if ceil and (out - 1) * s >= n + p else out


def _windows(n, C, H, W):
    """(c, i, j, [input pixels (r, q) of window (i, j) that lie inside the input]) for every window."""
    (kh, kw), (sh, sw) = n.kernel_size, n.stride
    ph, pw = getattr(n, "padding", (0, 0))
    ceil = getattr(n, "ceil_mode", False)
    Ho, Wo = _out_len(H, kh, sh, ph, ceil), _out_len(W, kw, sw, pw, ceil)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                yield c, i, j, Ho, Wo, [(i * sh - ph + a, j * sw - pw + b) for a in range(kh) for b in range(kw)
                                        if 0 <= i * sh - ph + a < H and 0 <= j * sw - pw + b < W]


def _pool(x, n: AvgPool2d):
    """Sum pool over the zero-padded input: padding adds 0."""
    C, H, W = len(x), len(x[0]), len(x[0][0])
    out = None
    for c, i, j, Ho, Wo, pix in _windows(n, C, H, W):
        out = out or [[[0] * Wo for _ in range(Ho)] for _ in range(C)]
        out[c][i][j] = sum(x[c][r][q] for r, q in pix)
    return out


def _gate_step(x, n: MaxPool2d, counts, prev_max):
    """One step of the max-count gate, one window at a time: add this step's values to the running
    counts, then each window emits (largest count among its real inputs) - (that after the previous step)."""
    C, H, W = len(x), len(x[0]), len(x[0][0])
    for c in range(C):
        for i in range(H):
            for j in range(W):
                counts[c][i][j] += int(x[c][i][j])
    out = [[[0] * len(prev_max[0][0]) for _ in range(len(prev_max[0]))] for _ in range(C)]
    for c, i, j, _Ho, _Wo, pix in _windows(n, C, H, W):
        m = max(counts[c][r][q] for r, q in pix)
        out[c][i][j] = m - prev_max[c][i][j]
        prev_max[c][i][j] = m
    return out


def _flat(x):
    if isinstance(x, list) and x and isinstance(x[0], list):
        return [v for row in x for v in _flat(row)]
    return list(x)


def _map2(f, a, b):
    if isinstance(a, list):
        return [_map2(f, u, v) for u, v in zip(a, b)]
    return f(a, b)


def _zeros_like(a):
    return [_zeros_like(u) for u in a] if isinstance(a, list) else 0


def _pow2_floor(k: int) -> int:
    """Largest power of two <= k (k >= 1)."""
    p = 1
    while 2 * p <= k:
        p *= 2
    return p


def slow_simulate(graph: Graph, x_int: np.ndarray, timesteps: int, steps: int):
    """Returns (readout list, {layer: spikes[step][...]}) for ONE sample ``x_int`` (integer array); layers are
    the populations and the MaxPool2d gates (a gate on the Input: its analog values)."""
    d = int(graph.meta.get("synapse_delay", 0))
    order = graph.topo()
    hist: dict[str, list] = {}  # node -> per-step value (sources only)
    state = {n.name: None for n in order if isinstance(n, Neurons)}
    held: dict[str, list[int]] = {}  # net spikes emitted so far (HPC buffer), per neuron
    spikes = {n.name: [] for n in order if isinstance(n, (Neurons, MaxPool2d))}
    gate_state: dict[str, tuple] = {}  # gate -> (running count per input neuron, last max per window)
    readout = None
    sources = {n.name for n in order if isinstance(n, (Input, Neurons, MaxPool2d))}
    for t in range(steps):
        val = {}
        for n in order:
            ins = graph.inputs(n.name)

            def get(name):
                if name in sources:
                    k = t - d
                    return hist[name][k] if k >= 0 else _zeros_like(hist[name][0] if hist[name] else val[name])
                return val[name]

            if isinstance(n, Input):
                val[n.name] = x_int.tolist()
                hist.setdefault(n.name, []).append(val[n.name])
            elif isinstance(n, Conv2d):
                val[n.name] = _conv(get(ins[0]), n)
            elif isinstance(n, Linear):
                v = _flat(get(ins[0]))
                acc = [sum(int(w) * int(a) for w, a in zip(row, v)) for row in n.weight.tolist()]
                val[n.name] = [a >> -n.weight_exp if n.weight_exp < 0 else a << n.weight_exp for a in acc]
            elif isinstance(n, AvgPool2d):
                val[n.name] = _pool(get(ins[0]), n)
            elif isinstance(n, MaxPool2d):  # no delay: this step's value of its source
                x = val[ins[0]]
                if n.name not in gate_state:
                    C, H, W = len(x), len(x[0]), len(x[0][0])
                    Ho = _out_len(H, n.kernel_size[0], n.stride[0], n.padding[0], n.ceil_mode)
                    Wo = _out_len(W, n.kernel_size[1], n.stride[1], n.padding[1], n.ceil_mode)
                    gate_state[n.name] = ([[[0] * W for _ in range(H)] for _ in range(C)],
                                          [[[0] * Wo for _ in range(Ho)] for _ in range(C)])
                out = _gate_step(x, n, *gate_state[n.name])
                val[n.name] = out
                hist.setdefault(n.name, []).append(out)
                spikes[n.name].append(out)
            elif isinstance(n, Flatten):
                val[n.name] = _flat(get(ins[0]))
            elif isinstance(n, Add):
                gains = n.gains or (1,) * len(ins)
                tot = None
                for gk, name in zip(gains, ins):
                    term = _map2(lambda a, _b: int(gk) * a, get(name), get(name))
                    tot = term if tot is None else _map2(lambda a, b: a + b, tot, term)
                val[n.name] = tot
            elif isinstance(n, Concat):  # inputs side by side on axis 0 (channels or features), times gains
                out = []
                for gk, name in zip(n.gains or (1,) * len(ins), ins):
                    v = get(name)
                    out.extend(_map2(lambda a, _b: int(gk) * int(a), v, v))
                val[n.name] = out
            elif isinstance(n, Neurons):
                inp = np.array(get(ins[0]), dtype=object)
                shape = inp.shape
                th = np.broadcast_to(np.asarray(n.threshold), shape)
                b = np.broadcast_to(np.asarray(0 if n.bias is None else n.bias), shape)
                m = 2 ** (n.state_bits - 1) - 1
                if state[n.name] is None:
                    v0 = np.broadcast_to(np.asarray(0 if n.v_init is None else n.v_init), shape)
                    state[n.name] = [int(a) for a in v0.ravel()]
                    held[n.name] = [0] * len(state[n.name])
                v, hb = state[n.name], held[n.name]
                s = []
                for k, (iv, tv, bv) in enumerate(zip(inp.ravel(), th.ravel(), b.ravel())):
                    cur = int(iv) * 2**n.state_shift
                    if n.input_wrap:  # Lava's one-shot wrap of u, written from the reference text
                        half = 2 ** (n.input_wrap - 1)
                        if cur > half:
                            cur -= 2 * half
                        elif cur <= -half:
                            cur += 2 * half
                    nv = min(max(v[k] + cur + int(bv), -m), m)
                    tv = int(tv)
                    out = 0
                    if nv > tv:  # thresholds strictly crossed: ceil(nv / tv) - 1, then a power of two
                        out = _pow2_floor(min(-(-nv // tv) - 1, n.spike_max))
                    elif n.buffered and nv < 0 and hb[k] > 0:  # thresholds needed to get back to >= 0
                        out = -_pow2_floor(min(-(nv // tv), hb[k], n.spike_max))
                    if out:
                        nv = nv - out * tv if n.reset == "subtract" else 0
                    v[k] = nv
                    hb[k] += out
                    s.append(out)
                sp = np.array(s, dtype=object).reshape(shape).tolist()
                val[n.name] = sp
                hist.setdefault(n.name, []).append(sp)
                spikes[n.name].append(sp)
            elif isinstance(n, Output):
                if t >= steps - timesteps:
                    inp = [int(a) for a in get(ins[0])]
                    b = [0] * len(inp) if n.bias is None else [int(a) for a in n.bias]
                    cur = [a + c for a, c in zip(inp, b)]
                    readout = cur if readout is None else [a + c for a, c in zip(readout, cur)]
    return readout, spikes
