"""FPGA memory images decode, through their manifests alone, back to exactly the integer IR.

The decoder (tests/fpgadecode.py) is independent of the writer: it reads the text files, cuts words into lanes
and fields with ``bitstring`` from the manifest's numbers, rebuilds every (target, source) synapse matrix and
every population's threshold, bias and initial potential, and compares them with the chain matrices and the
IR. The three formats (.mem, .coe, .mif) must hold the same words.
"""

from __future__ import annotations

import numpy as np
import pytest

from fpgadecode import check_images_decode_to_ir, run_gate_programs
from netgen import random_graph, random_inputs
from neurocompile.backends.verilog import write_design
from neurocompile.backends.verilog.images import Field, Memory, render
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.errors import ConversionError
from neurocompile.partition import partition, profile_from_dict


@pytest.mark.parametrize("seed,bits", [(0, 7), (1, 8), (2, 9), (3, 10), (5, 10)])
def test_images_decode_to_the_integer_ir(tmp_path, seed, bits):
    g = random_graph(seed, residual=True if seed % 2 else None)
    ig = compile_graph(g, random_inputs(g, 32, seed), CompileOptions(method="rueckauer", target="fpga", synapse_delay=1,
                                                                     weight_bits=bits, v_init=0.5))
    prof = profile_from_dict({"base": "fpga-generic", "name": "t", "core": {"neurons": 40, "synapse_words": 700},
                              "chip": {"max_chips": None}})
    pl = partition(ig, prof)
    fpga = write_design(ig, pl, prof, 8, tmp_path)
    assert pl.n_cores > 2
    check_images_decode_to_ir(ig, fpga)


def test_memory_formats_by_hand():
    """A 2-lane memory of {4-bit unsigned index, 7-bit signed weight}: bits and text checked by hand."""
    m = Memory("m", "synapses", (Field("index", 4, False), Field("weight", 7, True)),
               {"index": np.array([1, 15, 3]), "weight": np.array([-64, 63, -3])}, lanes=2, word_bits=24)
    # lane = weight << 4 | index; word = lane1 << 11 | lane0
    lane = [((w & 0x7F) << 4) | i for i, w in ((1, -64), (15, 63), (3, -3))]
    want = [lane[1] << 11 | lane[0], lane[2], 0, 0]
    assert m.used == 2 and m.depth == 2 and m.words() == want[:2]
    assert render(m, "mem").splitlines()[1:] == [format(w, "06x") for w in want[:2]]
    assert "DEPTH = 2;\nWIDTH = 24;" in render(m, "mif")
    assert render(m, "coe").rstrip().endswith(format(want[1], "06x") + ";")
    with pytest.raises(ValueError, match="field weight value out of 7-bit signed range"):
        Memory("m", "synapses", (Field("index", 4, False), Field("weight", 7, True)),
               {"index": np.array([1]), "weight": np.array([64])}).words()


@pytest.mark.parametrize("seed", range(4))
def test_gate_programs_decode_and_run_as_intsim(tmp_path, seed):
    """Padded / ceil-mode max-pool gates split over small cores: the gate engines' programs, decoded from their
    images alone and run by an independent interpreter on intsim's population spikes, give intsim's gate spikes
    at every step; the cores' images still decode to the integer IR."""
    from neurocompile.backends.intsim import simulate
    from neurocompile.ir import MaxPool2d

    g = random_graph(seed, maxpool=True, padded=True, residual=True if seed % 2 else None)
    ig = compile_graph(g, random_inputs(g, 32, seed), CompileOptions(method="rueckauer",
                                                                     target="fpga", synapse_delay=1, v_init=0.5))
    prof = profile_from_dict({"base": "fpga-generic", "name": "t", "core": {"neurons": 24, "synapse_words": 700},
                              "chip": {"max_chips": None}})
    pl = partition(ig, prof)
    fpga = write_design(ig, pl, prof, 8, tmp_path)
    check_images_decode_to_ir(ig, fpga)
    ref = simulate(ig, random_inputs(g, 2, seed + 9), 8, record=True)
    gates = {n.name for n in ig.nodes_of(MaxPool2d)}
    pops = {k: v for k, v in ref.spikes.items() if k not in gates}
    got = run_gate_programs(fpga, pops)
    assert set(got) == gates
    for k in gates:
        want = ref.spikes[k].reshape(got[k].shape)
        assert want.any() and np.array_equal(got[k], want), k


def test_fpga_refuses_a_max_pool_on_the_input(tmp_path):
    from neurocompile.backends.verilog.layout import check_supported

    g = random_graph(4, maxpool=True, input_pool=True)
    ig = compile_graph(g, random_inputs(g, 16, 4), CompileOptions(method="rueckauer", target="fpga", synapse_delay=1))
    with pytest.raises(ConversionError, match=r"^layer xpool: max pooling of the analog input x is not supported "
                                              r"by the fpga target \(its gate engines count binary spikes"):
        check_supported(ig)
