"""``--target fpga``: everything under ``DIR/fpga/`` -- memory images and manifests per core, the rendered
Verilog (ROM, IF core, top level, testbench), ``network.json`` (global ids, widths, timing) and a README.

The HDL lives in ``hdl_templates/*.v.tmpl`` (``string.Template``; Python passes parameters only). The
simulator is run from ``DIR/fpga`` (``$readmemh`` paths are relative to the working directory).
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template

import numpy as np

from .gates import gate_memory
from .images import image_files
from .layout import NetworkLayout, build_layout, core_memories

MEM_DIR = "mem"
HDL_FILES = ("nc_rom.v", "nc_core.v", "nc_gate.v", "nc_top.v", "nc_tb.v")
NETWORK_JSON = "network.json"


def template(name: str) -> Template:
    return Template(resources.files("neurocompile.hdl_templates").joinpath(f"{name}.tmpl").read_text())


def render(name: str, **params) -> str:
    """Render template ``name`` (e.g. ``nc_top.v``); KeyError if a placeholder has no value."""
    return template(name).substitute(**{k: str(v) for k, v in params.items()})


def widths(net: NetworkLayout) -> dict:
    """Network-wide bus widths of the top level."""
    return {"src_bits": net.src_bits, "dest_bits": net.dest_bits, "val_bits": net.val_bits,
            "ro_bits": net.readout_bits}


def emit(graph, placement, profile, latency: int, timesteps: int) -> tuple[dict[str, str], NetworkLayout]:
    """``({path relative to fpga/: text}, layout)`` for the placed integer graph."""
    net = build_layout(graph, placement, profile, timesteps)
    w = widths(net)
    files: dict[str, str] = {}
    instances, cores_doc = [], []
    for slot, core in enumerate(net.cores):
        syn, ax, neu = core_memories(net, core)
        for m in (syn, ax, neu):
            files.update(image_files(m, f"{MEM_DIR}/"))
        p = dict(core=core.core, slot=slot, chip=core.chip, n_neurons=core.n_neurons, n_axons=core.n_axons,
                 naw=neu.addr_bits, axw=ax.addr_bits, syn_depth=syn.depth, saw=syn.addr_bits,
                 ax_depth=ax.depth, neu_depth=neu.depth, syn_used=syn.used, word_bits=syn.width, lanes=syn.lanes,
                 lane_bits=syn.lane_bits, idx_bits=net.index_bits, wgt_bits=net.weight_bits,
                 src_bits=w["src_bits"], start_bits=ax.fields[1].bits, len_bits=ax.fields[2].bits,
                 state_bits=net.state_bits, param_bits=net.param_bits, dest_bits=w["dest_bits"], acc_bits=net.acc_bits,
                 ro_bits=w["ro_bits"], val_bits=w["val_bits"],
                 syn_file=f"{MEM_DIR}/{syn.name}.mem", ax_file=f"{MEM_DIR}/{ax.name}.mem",
                 neu_file=f"{MEM_DIR}/{neu.name}.mem")
        instances.append(render("nc_core_inst.v", **p))
        cores_doc.append({"core": core.core, "chip": core.chip, "neurons": core.n_neurons, "axons": core.n_axons,
                          "synapse_entries": int(core.syn_index.size), "slices": core.slices,
                          "memories": {m.role: f"{MEM_DIR}/{m.name}.json" for m in (syn, ax, neu)},
                          "parameters": p})
    gate_instances, gates_doc = [], []
    for e, prog in enumerate(net.gates):
        mem = gate_memory(prog, w["dest_bits"])
        files.update(image_files(mem, f"{MEM_DIR}/"))
        p = dict(engine=e, core=prog.core, n_units=prog.n_units, n_counters=prog.n_counters,
                 index_bits=mem.fields[1].bits, count_bits=net.count_bits, prog_used=mem.used,
                 prog_depth=mem.depth, paw=mem.addr_bits, src_bits=w["src_bits"], dest_bits=w["dest_bits"],
                 prog_file=f"{MEM_DIR}/{mem.name}.mem")
        gate_instances.append(render("nc_gate_inst.v", **p))
        gates_doc.append({"engine": e, "core": prog.core, "units": prog.n_units, "counters": prog.n_counters,
                          "instructions": int(prog.op.size), "slices": prog.slices,
                          "memory": f"{MEM_DIR}/{mem.name}.json", "parameters": p})
    top = dict(network=graph.name, n_cores=len(net.cores), n_sources=net.n_sources,
               n_inputs=net.sources[graph.input.name][1], n_readout=net.readout[1], **w)
    files["nc_rom.v"] = render("nc_rom.v")
    files["nc_core.v"] = render("nc_core.v")
    files["nc_gate.v"] = render("nc_gate.v")
    files["nc_top.v"] = render("nc_top.v", instances="\n".join(instances), n_gate_engines=len(net.gates),
                               gate_rounds=net.gate_rounds,
                               gate_instances="\n".join(gate_instances) or render("nc_gate_none.v"), **top)
    files["nc_tb.v"] = render("nc_tb.v", run_steps=timesteps + latency, latency=latency, **top)
    doc = {"format": "neurocompile-fpga", "schema_version": 1, "network": graph.name, "profile": profile.name,
           "timesteps": timesteps, "latency": latency, "run_steps": timesteps + latency,
           "sources": {k: {"first": v[0], "units": v[1]} for k, v in net.sources.items()},
           "n_sources": net.n_sources, "input": graph.input.name,
           "readout": {"layer": net.readout[0], "units": net.readout[1]},
           "state_bits": net.state_bits, "param_bits": net.param_bits, "acc_bits": net.acc_bits, "weight_bits": net.weight_bits,
           "index_bits": net.index_bits, "lanes": net.lanes, "word_bits": net.word_bits,
           "input_bits": net.input_bits, "input_signed": net.input_signed, **w,
           "cores": cores_doc, "gates": {"rounds": net.gate_rounds, "count_bits": net.count_bits,
                                         "engines": gates_doc},
           "hdl": list(HDL_FILES)}
    files[NETWORK_JSON] = json.dumps(doc, indent=1, default=_np) + "\n"
    files["README.md"] = readme(doc)
    return files, net


def _np(o):
    if isinstance(o, np.integer):
        return int(o)
    raise TypeError(type(o).__name__)


def readme(doc: dict) -> str:
    n = len(doc["cores"])
    return f"""# FPGA build of {doc['network']} ({n} core(s), profile {doc['profile']})

Generated by neurocompile (`--target fpga`). Everything here is plain text; nothing needs neurocompile to use it.

| file | what |
|---|---|
| `nc_rom.v` | registered-output ROM (`$readmemh`), the shape synthesis maps to block RAM |
| `nc_core.v` | time-multiplexed integrate-and-fire core: axons -> synapse lists -> neuron updates |
| `nc_gate.v` | max-pool gate engine: the max-count gates of one core, run after the cores in each step |
| `nc_top.v` | the {n} placed core(s), their gate engines and the shared source memory (one timestep per `step` pulse) |
| `nc_tb.v` | testbench: reads input frames, runs {doc['run_steps']} steps per sample ({doc['latency']} pipeline + {doc['timesteps']} integration), writes spikes and readouts |
| `mem/coreN_{{syn,axon,neuron}}.{{mem,coe,mif}}` | per core: synapse lists, input-axon table, neuron parameters (`$readmemh`, Xilinx COE, Intel MIF) |
| `mem/coreN_gate.{{mem,coe,mif}}` | per core holding max-pool gate slices: the gate engine's program |
| `mem/coreN_*.json` | manifest of each memory: depth, word and lane bits, fields (lsb, bits, signedness), order |
| `network.json` | global source ids, widths, timing, per-core parameters |

Simulate one sample with Icarus Verilog, from this directory (`$readmemh` paths are relative to it):

```
iverilog -g2005 -s nc_tb -o sim.vvp -P nc_tb.N_SAMPLES=1 -P 'nc_tb.IN_FILE="inputs.mem"' nc_tb.v nc_top.v nc_gate.v nc_core.v nc_rom.v
vvp -n sim.vvp
```

`inputs.mem` holds one input frame ({doc['sources'][doc['input']]['units']} values of {doc['val_bits']} bits, two's
complement, one per line); `neurocompile simulate BUNDLE --backend rtl` writes it from a dataset, runs the
above and compares every spike with intsim. Semantics: the integer contract of neurocompile's
`docs/semantics.md` with `synapse_delay` 1.
"""
