"""Energy per operation: the figures every energy estimate uses, each with its source (docs/semantics.md,
"Energy").

An :class:`EnergySpec` is part of a hardware profile (``HardwareProfile.energy``; a user profile may set its
own); the ANN references (:data:`ANN_REFERENCES`) are the float and 8-bit integer network the SNN is
compared with. Figures are picojoules per operation; ``None``: the operation is not counted.

Sources:

* Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", IEEE Micro 38(1), 2018,
  Table 2 (Loihi, 14 nm).
* Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014 (45 nm, 0.9 V): integer
  add 8 / 32 bit 0.03 / 0.1 pJ, multiply 8 / 32 bit 0.2 / 3.1 pJ; float add 32 bit 0.9 pJ, multiply
  32 bit 3.7 pJ; a 64-bit read of an 8 KB SRAM 10 pJ.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DAVIES_2018 = "Davies et al., IEEE Micro 2018, Table 2"
HOROWITZ_2014 = "Horowitz, ISSCC 2014 (45 nm)"


class EnergySpec(BaseModel):
    """Energy of one operation of each kind a network performs, in picojoules (None: not counted)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    synop_pj: float | None = Field(default=None, ge=0, description="one synaptic operation: a spike (or a "
                                                                    "non-zero input value) through one synapse")
    neuron_update_pj: float | None = Field(default=None, ge=0, description="one neuron's update in one step")
    spike_pj: float | None = Field(default=None, ge=0, description="one spike message sent")
    mac_pj: float | None = Field(default=None, ge=0, description="one ANN multiply-accumulate")
    #: field -> where its figure comes from
    sources: dict[str, str] = Field(default_factory=dict)
    #: what the figures leave out or assume
    assumptions: str = ""


#: Loihi (Davies et al. 2018, Table 2)
LOIHI = EnergySpec(
    synop_pj=23.6,  # "Energy per synaptic spike op (min)"
    neuron_update_pj=81.0,  # "Energy per neuron update (active / inactive)": 81 pJ / 52 pJ
    spike_pj=1.7,  # "Within-tile spike energy"
    sources={"synop_pj": f"{DAVIES_2018}: energy per synaptic spike op (min)",
             "neuron_update_pj": f"{DAVIES_2018}: energy per neuron update, active (inactive: 52 pJ)",
             "spike_pj": f"{DAVIES_2018}: within-tile spike energy"},
    assumptions="every neuron updates at every simulated step at the active figure; one spike message per "
                "spike within its tile (3.0 / 4.0 pJ per E-W / N-S tile hop more for spikes that leave it, not "
                "counted: the placement does not fix where cores sit on the mesh); static power not counted",
)

#: Loihi 2: Intel has published no per-operation energies like Loihi's Table 2, so Loihi's are used
LOIHI2 = LOIHI.model_copy(update={"assumptions": (
    "Loihi's figures (Intel published no per-operation energies for Loihi 2; it is built in a newer process, "
    "Intel 4, so they likely overestimate it); " + LOIHI.assumptions)})

#: an FPGA IF core at 45 nm ASIC arithmetic (Horowitz 2014)
FPGA_45NM = EnergySpec(
    synop_pj=0.1,  # one 32-bit integer add: the synapse entry's weight into the membrane accumulator
    neuron_update_pj=0.2,  # two 32-bit integer adds: the step's input into the state, the threshold compare
    sources={"synop_pj": f"{HOROWITZ_2014}: 32-bit integer add",
             "neuron_update_pj": f"{HOROWITZ_2014}: two 32-bit integer adds"},
    assumptions="arithmetic only, at 45 nm ASIC figures, like the ANN reference: leaves out the synapse memory "
                "read of each SynOp (a 64-bit read of an 8 KB SRAM is 10 pJ at 45 nm), the FPGA fabric's "
                "overhead over an ASIC and static power, so it is a lower bound",
)

#: the ANN the SNN is compared with, at 45 nm (Horowitz 2014), arithmetic only
ANN_FP32_45NM = EnergySpec(
    mac_pj=4.6,  # 32-bit float multiply 3.7 pJ + add 0.9 pJ
    sources={"mac_pj": f"{HOROWITZ_2014}: 32-bit float multiply (3.7 pJ) + add (0.9 pJ)"},
    assumptions="arithmetic only (no memory access)",
)
ANN_INT8_45NM = EnergySpec(
    mac_pj=0.23,  # 8-bit integer multiply 0.2 pJ + add 0.03 pJ
    sources={"mac_pj": f"{HOROWITZ_2014}: 8-bit integer multiply (0.2 pJ) + add (0.03 pJ)"},
    assumptions="arithmetic only (no memory access)",
)

ANN_REFERENCES: dict[str, EnergySpec] = {"ann-fp32-45nm": ANN_FP32_45NM, "ann-int8-45nm": ANN_INT8_45NM}
