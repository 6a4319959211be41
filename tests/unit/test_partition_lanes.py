"""Lanes packing (the FPGA ROMs): the FPGA target writes every synapse entry of the network at one width, that
of its widest composed weight, so the placement's resource model must count each slice's lists at that width
too; otherwise a core the partitioner filled overflows its synapse memory when the emitter lays it out."""

from __future__ import annotations

import pytest

from netgen import arch_graph, random_inputs
from neurocompile.compiler import CompileOptions, compile_graph
from neurocompile.partition import partition
from neurocompile.partition.resources import ResourceModel
from neurocompile.backends.verilog.layout import build_layout
from neurocompile.targets import profile_from_dict

#: 72-bit words: several lanes per word, so the entry width decides the word count
PROFILE = profile_from_dict({"base": "fpga-generic", "name": "fpga-wide", "synapses": {"word_bits": 72},
                             "core": {"neurons": 64}})


@pytest.mark.parametrize("seed", [0, 3])
def test_lanes_count_entries_at_the_networks_widest_weight(seed):
    g = arch_graph(seed)  # inverted residuals: weight ops in series, composed entries wider than 8 bits
    ig = compile_graph(g, random_inputs(g, 16, seed), CompileOptions(method="rueckauer",
                                                                     target="fpga", synapse_delay=1, weight_bits=8))
    prof = PROFILE
    model = ResourceModel(ig, prof)
    widths = {c.weight_bits for cs in model.conns.values() for c in cs if c.weight_bits}
    assert len(widths) > 1  # chains of different widths: the case the uniform entry width matters for
    pl = partition(ig, prof)
    net = build_layout(ig, pl, prof, 8)
    usage = pl.core_usage()
    assert net.lanes >= 2
    for core in net.cores:
        used = int((-(-core.axon_len // net.lanes)).sum())
        assert used <= usage[core.core]["synapse_words"], core.core
