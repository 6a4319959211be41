"""The built-in targets and the simulators they run on.

Every arithmetic limit of a built-in target is written here, once: the Loihi 2 numbers are those of Lava's
fixed-point models (docs/semantics.md, "Configurations emitted for Lava"), which the ``loihi2-sim`` and
``loihi2`` targets share.
"""

from __future__ import annotations

from .profiles import FPGA_GENERIC, LOIHI1, LOIHI2
from .target import ArithmeticLimits, Simulator, Target

#: the reference simulator of the integer contract: every target's bundles run on it
INTSIM = Simulator(name="intsim", run="neurocompile.backends.intsim:simulate",
                   description="bit-accurate reference integer simulator")
LAVA = Simulator(name="lava", run="neurocompile.backends.lava.run:simulate_bundle", context=("limits",),
                 checked=True, description='Lava 0.10 Loihi2SimCfg(select_tag="fixed_pt"), compared with intsim')
RTL = Simulator(name="rtl", run="neurocompile.backends.verilog.rtl:simulate_design",
                context=("design", "rtl_simulator"), checked=True,
                description="the fpga/ testbench in Icarus Verilog or Verilator, compared with intsim")

#: the reference simulator's per-unit firing rates (the placement's traffic estimate)
FIRING_RATES = "neurocompile.backends.intsim:firing_rates"

#: Lava's Loihi 2 fixed-point models: 8-bit weights (Sparse), 24-bit state, input << 6 wrapping at 24 bits
#: (the current u), one step per synapse, biases as 13-bit mantissa << exponent <= 7, 17-bit vth
LOIHI2_LIMITS = ArithmeticLimits(max_weight_bits=8, state_bits=24, state_shift=6, synapse_delay=1, input_wrap=24,
                                 bias_mant_bits=13, bias_exp_max=7, vth_max=(1 << 17) - 1)

BUILTIN_TARGETS: tuple[Target, ...] = (
    Target(name="intsim", description="bit-accurate reference integer simulator (no placement)",
           simulators=(INTSIM,)),
    Target(name="loihi2-sim",
           description="Lava 0.10 Loihi 2 fixed-point simulator (Loihi2SimCfg fixed_pt), bit-exact with intsim; "
                       "placed on loihi2",
           profile=LOIHI2, limits=LOIHI2_LIMITS, emitter="neurocompile.backends.lava.network:bundle_files",
           simulators=(LAVA, INTSIM)),
    Target(name="loihi1", description="Intel Loihi 1 placement (weights <= 8 bits); run in intsim",
           profile=LOIHI1, limits=ArithmeticLimits(max_weight_bits=8), simulators=(INTSIM,), family_default=True),
    Target(name="loihi2", description="Intel Loihi 2 placement with Lava's fixed-point semantics; run in intsim or "
                                      "Lava",
           profile=LOIHI2, limits=LOIHI2_LIMITS, simulators=(INTSIM, LAVA), family_default=True),
    Target(name="fpga", description="FPGA cores of the fpga-generic profile (or --profile): memory images, Verilog "
                                    "ROMs, IF cores and a testbench in fpga/; run in intsim or the RTL simulation "
                                    "(iverilog)",
           profile=FPGA_GENERIC, limits=ArithmeticLimits(synapse_delay=1, graded_neurons=False),
           emitter="neurocompile.backends.verilog:bundle_files", simulators=(INTSIM, RTL),
           synthesizer="neurocompile.backends.verilog.synth:synth_bundle", aliases=("fpga-generic",),
           family_default=True),
)
