"""Hardware profiles: the per-core budgets the partitioner places neurons under (pydantic, user-writable).

A profile is what a user may write in JSON or YAML (``--profile FILE``); the built-in ones are
:data:`PROFILES`. Limits that are not public are listed in ``assumptions`` (and every one of them can be
overridden in a profile file). Resources of one core (all per core, ``None`` = not limited):

* ``neurons``        compartments (neurons, max-pool gate outputs, encoder units, readout accumulators)
* ``input_axons``    distinct presynaptic neurons whose spikes reach the core's slices (fan-in sources)
* ``output_axons``   (neuron, destination slice) pairs leaving the core's slices
* ``synapse_bits``   synaptic memory, counted by the profile's :class:`SynapseMemory` encoding
* ``param_bits``     bias / threshold / initial-potential memory: ``param_bits_per_neuron`` per neuron

How synaptic memory is counted (``synapses.encoding``):

* ``per-axon`` (Loihi 1, nengo-loihi's accounting, ``block.py`` ``bits_per_axon``): every synapse is stored
  under the axon it comes from, in groups of at most ``group_size`` synapses; a group of ``n`` costs
  ``n * (weight_bits + index_bits) + group_overhead_bits``, rounded up to ``word_bits``. Dense fan-in (a
  linear layer: each axon reaches every neuron of the slice) needs no index bits; sparse fan-in
  (convolution, pooling) stores ``index_bits`` per synapse.
* ``shared`` (weight sharing: Loihi 2 convolution, FPGA ROMs): a slice stores the weights of its chain
  once (a convolution kernel for the slice's output channels, a linear layer's rows), packed
  ``word_bits // weight_bits`` to a word of ``word_bits``; ``synapse_bits`` is then the core's memory in
  bits (words x word width).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from ..errors import PartitionError

RESOURCES = ("neurons", "input_axons", "output_axons", "synapse_bits", "param_bits")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoreSpec(_Strict):
    """Budget of one core (``None``: the resource is not limited)."""

    neurons: PositiveInt = Field(description="neurons (compartments) per core")
    input_axons: PositiveInt | None = Field(None, description="distinct presynaptic neurons per core")
    output_axons: PositiveInt | None = Field(None, description="(neuron, destination slice) pairs per core")
    synapse_bits: PositiveInt | None = Field(None, description="synaptic memory per core, bits")
    param_bits: PositiveInt | None = Field(None, description="bias / threshold memory per core, bits")

    def limit(self, resource: str) -> int | None:
        return getattr(self, resource)


class SynapseMemory(_Strict):
    """How a slice's synapses are counted in ``synapse_bits`` (see the module docstring)."""

    encoding: Literal["per-axon", "shared"] = "shared"
    word_bits: PositiveInt = Field(64, description="memory word width; per-axon groups round up to it")
    index_bits: int = Field(0, ge=0, description="per-axon: bits per stored synapse beyond the weight (sparse)")
    group_size: PositiveInt = Field(64, description="per-axon: synapses per group")
    group_overhead_bits: int = Field(10, ge=0, description="per-axon: bits per group beyond its synapses")


class HardwareProfile(_Strict):
    """A chip family: its core budget, cores per chip and the integer formats it accepts."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    core: CoreSpec
    cores_per_chip: PositiveInt
    chips: PositiveInt | None = Field(None, description="chips available (None: as many as needed)")
    weight_bits: tuple[int, int] = Field((2, 16), description="narrowest and widest weight the cores store")
    param_bits_per_neuron: int = Field(0, ge=0, description="bias / threshold / v_init memory per neuron, bits")
    synapses: SynapseMemory = SynapseMemory()
    assumptions: tuple[str, ...] = Field((), description="limits that are not public, with what was assumed")

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.weight_bits
        if not 2 <= lo <= hi <= 16:
            raise ValueError(f"weight_bits {self.weight_bits}: need 2 <= narrowest <= widest <= 16")
        return self

    def max_cores(self) -> int | None:
        return None if self.chips is None else self.chips * self.cores_per_chip

    def check_weight_bits(self, bits: int) -> None:
        lo, hi = self.weight_bits
        if not lo <= bits <= hi:
            raise PartitionError(f"profile {self.name}: weight bits {bits} outside the {lo}..{hi} the cores store")


LOIHI_1 = HardwareProfile(
    name="loihi1",
    description="Intel Loihi 1 neuro core (nengo-loihi's limits and synapse memory accounting)",
    core=CoreSpec(neurons=1024, input_axons=4096, output_axons=4096, synapse_bits=16384 * 64),
    cores_per_chip=128,
    weight_bits=(2, 8),
    synapses=SynapseMemory(encoding="per-axon", word_bits=64, index_bits=10, group_size=64,
                           group_overhead_bits=10),
)

LOIHI_2 = HardwareProfile(
    name="loihi2",
    description="Intel Loihi 2 neuro core (8192 neurons; convolution weight sharing)",
    core=CoreSpec(neurons=8192, input_axons=4096, output_axons=4096, synapse_bits=128 * 1024 * 8),
    cores_per_chip=128,
    weight_bits=(2, 8),
    synapses=SynapseMemory(encoding="shared", word_bits=64),
    assumptions=(
        "neurons per core: 1,048,576 neurons per chip / 128 cores (not published per core)",
        "input and output axons per core: not public; assumed equal to Loihi 1 (4096)",
        "synaptic memory: 128 KiB per core (secondary sources), weights stored once per kernel",
    ),
)

FPGA_GENERIC = HardwareProfile(
    name="fpga-generic",
    description="user-set FPGA cores: time-multiplexed IF neurons reading one weight ROM per core",
    core=CoreSpec(neurons=4096, synapse_bits=16384 * 72, param_bits=4096 * 64),
    cores_per_chip=16,
    weight_bits=(2, 16),
    param_bits_per_neuron=64,
    synapses=SynapseMemory(encoding="shared", word_bits=72),
    assumptions=(
        "a starting point, not a device: set neurons per core, weight memory words x width "
        "(synapse_bits = words x word_bits) and cores to those of your design",
    ),
)

PROFILES: dict[str, HardwareProfile] = {p.name: p for p in (LOIHI_1, LOIHI_2, FPGA_GENERIC)}


def load_profile(path: str | Path) -> HardwareProfile:
    """A profile from a JSON or YAML file (by suffix: .json, .yaml / .yml). A file may name a built-in
    profile in ``base`` and give only what differs (nested fields merge)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PartitionError(f"profile {p}: cannot read ({e.strerror or e})") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is the file's fault
        raise PartitionError(f"profile {p}: not valid {p.suffix.lstrip('.') or 'JSON'}: "
                             f"{str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PartitionError(f"profile {p}: expected a mapping of fields, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is not None:
        if base not in PROFILES:
            raise PartitionError(f"profile {p}: base {base!r} is not one of {', '.join(PROFILES)}")
        data = _merge(PROFILES[base].model_dump(), data)
    try:
        return HardwareProfile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "profile"
        raise PartitionError(f"profile {p}: {where}: {err['msg']}") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_profile(name_or_path: str) -> HardwareProfile:
    """A built-in profile by name, else a profile file."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    return load_profile(name_or_path)
