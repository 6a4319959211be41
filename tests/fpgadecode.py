"""Independent decoding of FPGA memory images (tests only): reads the text files, cuts words into lanes and
fields with ``bitstring`` using only each memory's manifest, and rebuilds every (target, source) synapse
matrix and every neuron's parameters. Shared by tests/unit/test_fpga_images.py and tests/cli/test_cli_fpga.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import scipy.sparse as sp
from bitstring import Bits

from neurocompile.ir import Neurons, Output
from neurocompile.ir.chains import chains
from neurocompile.ir.matrices import chain_matrices


def read_mem(path) -> list[int]:
    return [int(t, 16) for t in re.sub(r"//[^\n]*", "", path.read_text()).split()]


def read_coe(path) -> list[int]:
    text = "\n".join("" if line.strip().startswith(";") else line for line in path.read_text().splitlines())
    assert re.search(r"memory_initialization_radix\s*=\s*16;", text)
    vec = text.split("memory_initialization_vector=")[1].split(";")[0]
    return [int(t, 16) for t in vec.replace(",", " ").split()]


def read_mif(path) -> tuple[list[int], int, int]:
    text = re.sub(r"--[^\n]*", "", path.read_text())
    depth = int(re.search(r"DEPTH\s*=\s*(\d+);", text).group(1))
    width = int(re.search(r"WIDTH\s*=\s*(\d+);", text).group(1))
    body = text.split("BEGIN")[1].split("END;")[0]
    words = [0] * depth
    for addr, val in re.findall(r"([0-9A-Fa-f]+)\s*:\s*([0-9A-Fa-f]+);", body):
        words[int(addr, 16)] = int(val, 16)
    return words, depth, width


def decode(man: dict, words: list[int]) -> list[list[dict]]:
    """Per word, per lane, {field: value} -- using only the manifest."""
    out = []
    for w in words:
        bits = Bits(uint=w, length=man["word_bits"])
        lanes = []
        for k in range(man["lanes"]):
            lo = k * man["lane_bits"]
            lane = bits[man["word_bits"] - lo - man["lane_bits"]: man["word_bits"] - lo]  # MSB-first indexing
            vals = {}
            for f in man["fields"]:
                piece = lane[man["lane_bits"] - f["lsb"] - f["bits"]: man["lane_bits"] - f["lsb"]]
                vals[f["name"]] = piece.int if f["signed"] else piece.uint
            lanes.append(vals)
        out.append(lanes)
    return out


def load_memory(fpga, rel: str) -> tuple[dict, list[list[dict]]]:
    man = json.loads((fpga / rel).read_text())
    words = read_mem(fpga / "mem" / man["files"]["mem"])
    assert len(words) == man["depth"] and man["depth"] >= man["used_words"]
    nd = -(-man["word_bits"] // 4)
    lines = [t for t in re.sub(r"//[^\n]*", "", (fpga / "mem" / man["files"]["mem"]).read_text()).split()]
    assert all(len(t) == nd for t in lines) and all(w < 1 << man["word_bits"] for w in words)
    assert read_coe(fpga / "mem" / man["files"]["coe"]) == words
    mif, depth, width = read_mif(fpga / "mem" / man["files"]["mif"])
    assert (mif, depth, width) == (words, man["depth"], man["word_bits"])
    return man, decode(man, words)


def rebuild(ig, fpga):
    """Matrices {(target, source): csr} and per-layer neuron parameters, from the images alone."""
    net = json.loads((fpga / "network.json").read_text())
    shapes = ig.infer_shapes()
    owners = sorted((v["first"], k, v["units"]) for k, v in net["sources"].items())
    entries, params = {}, {}
    for core in net["cores"]:
        nman, neu = load_memory(fpga, core["memories"]["neurons"])
        aman, ax = load_memory(fpga, core["memories"]["axons"])
        sman, syn = load_memory(fpga, core["memories"]["synapses"])
        local = []  # local neuron -> (layer, flat index)
        for sl in core["slices"]:
            shape = shapes[sl["layer"]]
            idx = np.arange(int(np.prod(shape))).reshape(shape)[tuple(slice(a, b) for a, b in sl["box"])].ravel()
            local += [(sl["layer"], int(i)) for i in idx]
        assert len(local) == core["neurons"]
        for j, (layer, i) in enumerate(local):
            p = neu[j][0]
            params.setdefault(layer, {})[i] = p
            if isinstance(ig.node(layer), Output):
                assert p["kind"] == 2 and p["dest"] == i
            else:
                first = net["sources"][layer]["first"]
                assert p["dest"] == first + i and p["kind"] == (1 if ig.node(layer).reset == "zero" else 0)
        lanes = sman["lanes"]
        for a in range(aman["used_words"]):
            src_id, start, length = (ax[a][0][k] for k in ("source", "start", "length"))
            first, src, _ = max(o for o in owners if o[0] <= src_id)
            for e in range(length):
                ent = syn[start + e // lanes][e % lanes]
                layer, i = local[ent["index"]]
                entries.setdefault((layer, src), []).append((i, src_id - first, ent["weight"]))
            for e in range(length, -(-length // lanes) * lanes):  # padding lanes are zero
                assert syn[start + e // lanes][e % lanes] == {f["name"]: 0 for f in sman["fields"]}
    size = {k: int(np.prod(v)) for k, v in shapes.items()}
    mats = {}
    for (t, s), ents in entries.items():
        r, c, w = zip(*ents)
        mats[(t, s)] = sp.csr_matrix((w, (r, c)), shape=(size[t], size[s]), dtype=np.int64)
    return mats, params


def check_images_decode_to_ir(ig, fpga) -> None:
    """Every image of the design in ``fpga`` decodes to exactly the chain matrices and neuron parameters of
    the integer IR ``ig``."""
    mats, params = rebuild(ig, fpga)
    shapes = ig.infer_shapes()
    expect = {(ch.target.name, s): m for ch in chains(ig) for s, m in chain_matrices(ig, ch).items()}
    assert set(mats) == {k for k, m in expect.items() if m.nnz}
    for k, m in mats.items():
        assert (m != expect[k]).nnz == 0, k
    for n in ig.nodes_of(Neurons):
        size = int(np.prod(shapes[n.name]))
        got = params[n.name]
        assert sorted(got) == list(range(size))
        for field, arr in (("threshold", n.threshold), ("bias", n.bias), ("v_init", n.v_init)):
            want = np.zeros(size, np.int64) if arr is None else np.broadcast_to(arr, shapes[n.name]).ravel()
            assert [got[i][field] for i in range(size)] == want.tolist(), (n.name, field)
    out = ig.output
    want = np.zeros(shapes[out.name]).ravel() if out.bias is None else np.asarray(out.bias).ravel()
    assert [params[out.name][i]["bias"] for i in range(want.size)] == want.tolist()


def run_gate_programs(fpga, spikes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the gate engines' programs, decoded from their images alone, on the populations' spikes
    ``{layer: (steps, N, *shape)}`` (e.g. intsim's): per step, per round, every engine up to its next barrier
    (count / win / emit as docs/fpga.md says). Returns every gate layer's spikes in the same form."""
    net = json.loads((fpga / "network.json").read_text())
    engines = net["gates"]["engines"]
    progs = []
    for e in engines:
        man, words = load_memory(fpga, e["memory"])
        progs.append([w[0] for w in words[: man["used_words"]]])
    owners = sorted((v["first"], k, v["units"]) for k, v in net["sources"].items())
    gate_layers = {sl["layer"] for e in engines for sl in e["slices"]}
    steps, n = next(iter(spikes.values())).shape[:2]
    first = {k: v["first"] for k, v in net["sources"].items()}
    out = {g: np.zeros((steps, n, net["sources"][g]["units"]), dtype=bool) for g in gate_layers}
    for s in range(n):
        cnt = [dict() for _ in engines]
        mx = [dict() for _ in engines]
        for t in range(steps):
            fired = set()
            for layer, sp in spikes.items():
                if layer in first:
                    fired |= {first[layer] + int(i) for i in np.flatnonzero(sp[t, s].reshape(-1))}
            pc = [0] * len(engines)
            for _round in range(net["gates"]["rounds"]):
                for e, prog in enumerate(progs):
                    m = 0
                    while True:
                        ins = prog[pc[e]]
                        pc[e] += 1
                        if ins["op"] == 0:
                            cnt[e][ins["index"]] = cnt[e].get(ins["index"], 0) + (ins["id"] in fired)
                        elif ins["op"] == 1:
                            m = max(m, cnt[e].get(ins["index"], 0))
                        elif ins["op"] == 2:
                            if m > mx[e].get(ins["index"], 0):
                                fired.add(ins["id"])
                                f, layer, _ = max(o for o in owners if o[0] <= ins["id"])
                                out[layer][t, s, ins["id"] - f] = True
                            mx[e][ins["index"]] = m
                            m = 0
                        else:
                            break
    return out
