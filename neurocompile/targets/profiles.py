"""Hardware profiles: the per-core and per-chip budgets a placement must respect (pydantic models).

Part of a target (:class:`neurocompile.targets.Target`); the partitioner, the bundle, the CLI and the FPGA
backend read them from here.

Three built-in profiles (:data:`BUILTIN`): ``loihi1`` (public limits, nengo-loihi's accounting),
``loihi2`` (limits that are not public are marked in ``assumptions`` and can be overridden) and
``fpga-generic`` (a user-set FPGA: neurons and weight memory per core, weight widths, core count).

A user profile is a JSON or YAML file holding a profile's fields; ``base: NAME`` starts from a built-in
profile and overrides only the fields given (nested tables are merged key by key, except ``energy``, whose
figures and sources are replaced together)::

    base: loihi2
    name: my-loihi2
    core: {input_axons: 4096}

Sizes are per core unless a field says otherwise; ``None`` (``null``) means "not limited".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ProfileError
from .energy import FPGA_45NM, LOIHI, LOIHI2 as LOIHI2_ENERGY, EnergySpec

FAMILIES = ("loihi1", "loihi2", "fpga")


class _Strict(BaseModel):
    # strict: a YAML `true` or a string is not a count
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CoreSpec(_Strict):
    """What one core holds. ``None`` = not limited."""

    neurons: int = Field(gt=0, description="neurons (compartments) per core")
    input_axons: int | None = Field(default=None, gt=0, description="distinct input axons per core")
    output_axons: int | None = Field(default=None, gt=0, description="output axons per core (one per source "
                                                                      "unit and destination slice)")
    synapse_words: int | None = Field(default=None, gt=0, description="synaptic memory words per core")
    populations: int | None = Field(default=None, gt=0, description="layer slices (neuron configurations) per core")
    param_bits: int | None = Field(default=None, gt=0, description="neuron parameter memory (state, bias, initial "
                                                                   "potential, threshold) in bits per core")


class ChipSpec(_Strict):
    cores_per_chip: int = Field(gt=0)
    max_chips: int | None = Field(default=None, gt=0, description="chips available (None = as many as needed)")


class SynapseEncoding(_Strict):
    """How a core stores its synapses: per input axon a list of entries (weight, target index, delay, tag),
    packed into memory words.

    ``packing="groups"`` (Loihi, nengo-loihi's ``bits_per_axon``): the list is cut into groups of at most
    ``group_size`` entries; a group costs ``n * entry_bits + group_overhead_bits`` rounded up to whole
    words. The group size is a field of the synapse format, so each connection of a slice uses the size
    (<= ``group_size``) that needs the fewest words (``resources.format_words``). ``packing="lanes"`` (FPGA
    ROM): ``word_bits // entry_bits`` entries per word, each list starting on a new word; one entry width for
    the whole network, that of its widest (composed) weight.

    ``conv_sharing`` (convolution-like connections, which need ``pixel_axons``): ``none``, one list per
    source unit; ``variants``, each distinct weight set once (nengo-loihi's population weights: the kernel
    once per boundary variant, e.g. 9 sets for a padded 3 x 3 kernel on a large map); ``kernel``, the kernel
    once (the taps the slice uses, for its output channels; the core computes the boundary cases).
    ``pixel_axons``: a convolution's input arrives on one axon per source pixel, the channel travelling with
    the spike (population axons).
    """

    word_bits: int = Field(gt=0)
    packing: Literal["groups", "lanes"] = "groups"
    group_size: int | None = Field(default=None, gt=0)
    group_overhead_bits: int = Field(default=0, ge=0)
    index_bits: int | None = Field(default=None, ge=0, description="per-entry target index bits; None = enough "
                                                                   "to address every neuron of the core")
    delay_bits: int = Field(default=0, ge=0)
    tag_bits: int = Field(default=0, ge=0)
    conv_sharing: Literal["none", "variants", "kernel"] = "none"
    pixel_axons: bool = False


class HardwareProfile(_Strict):
    name: str = Field(min_length=1)
    family: Literal["loihi1", "loihi2", "fpga"]
    description: str = ""
    core: CoreSpec
    chip: ChipSpec
    synapses: SynapseEncoding
    min_weight_bits: int = Field(default=2, ge=1, le=16)
    max_weight_bits: int = Field(default=8, ge=1, le=16)
    state_bits: int = Field(default=24, ge=8, le=48, description="neuron state width used for parameter memory")
    #: field path ("core.input_axons") -> why the value is an assumption rather than a published limit
    assumptions: dict[str, str] = Field(default_factory=dict)
    #: energy per operation (picojoules, each figure with its source; ``targets/energy.py``); None: no estimate
    energy: EnergySpec | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.min_weight_bits > self.max_weight_bits:
            raise ValueError(f"min_weight_bits {self.min_weight_bits} > max_weight_bits {self.max_weight_bits}")
        if self.synapses.conv_sharing != "none" and not self.synapses.pixel_axons:
            raise ValueError("synapses.conv_sharing needs synapses.pixel_axons (a shared weight set is per pixel)")
        entry = self.entry_bits(self.max_weight_bits)
        if self.synapses.packing == "lanes" and entry > self.synapses.word_bits:
            raise ValueError(f"a {entry}-bit synapse entry does not fit a {self.synapses.word_bits}-bit word")
        return self

    @property
    def limits(self) -> dict[str, int | None]:
        """Per-core limit of every placement resource (see ``resources.RESOURCES``)."""
        c = self.core
        return {"neurons": c.neurons, "input_axons": c.input_axons, "output_axons": c.output_axons,
                "synapse_words": c.synapse_words, "populations": c.populations, "param_bits": c.param_bits}

    def entry_bits(self, weight_bits: int) -> int:
        """Bits of one synapse entry for ``weight_bits``-bit weights (several slices share a core, so a target
        index addresses any neuron of the core)."""
        s = self.synapses
        idx = s.index_bits if s.index_bits is not None else math.ceil(math.log2(max(2, self.core.neurons)))
        return weight_bits + idx + s.delay_bits + s.tag_bits


LOIHI1 = HardwareProfile(
    name="loihi1", family="loihi1",
    description="Intel Loihi 1: 1024 compartments, 4096 in / 4096 out axons, 16384 x 64-bit synapse words per "
                "core, 128 cores per chip, weights <= 8 bits (nengo-loihi's limits and accounting)",
    core=CoreSpec(neurons=1024, input_axons=4096, output_axons=4096, synapse_words=16384, populations=8),
    chip=ChipSpec(cores_per_chip=128),
    synapses=SynapseEncoding(word_bits=64, packing="groups", group_size=64, group_overhead_bits=10,
                             conv_sharing="variants", pixel_axons=True),
    min_weight_bits=1, max_weight_bits=8, energy=LOIHI,
    assumptions={"core.populations": "8 threshold (vth) configurations per core: one per layer slice, since each "
                                     "population has its own threshold"},
)

LOIHI2 = HardwareProfile(
    name="loihi2", family="loihi2",
    description="Intel Loihi 2 (Lava fixed-point semantics): 8192 neurons per core, 128 cores per chip; axon "
                "and memory limits are not public (assumptions, override with --profile)",
    core=CoreSpec(neurons=8192, input_axons=8192, output_axons=8192, synapse_words=16384),
    chip=ChipSpec(cores_per_chip=128),
    synapses=SynapseEncoding(word_bits=64, packing="groups", group_size=64, group_overhead_bits=10,
                             conv_sharing="kernel", pixel_axons=True),
    min_weight_bits=1, max_weight_bits=8,
    assumptions={
        "core.neurons": "1,048,576 neurons / 128 cores; the per-core figure is inferred",
        "core.input_axons": "not public; assumed one input axon per neuron slot",
        "core.output_axons": "not public; assumed one output axon per neuron slot",
        "core.synapse_words": "'128 KB local SRAM, flexibly partitioned' (secondary source); assumed all of it "
                              "holds synapses, as 16384 64-bit words",
        "synapses": "Loihi 1's synapse list format (groups of 64, 10 overhead bits) is assumed, and that a "
                    "convolution's kernel is stored once per core (Loihi 2's convolutional connectivity)",
        "energy": "Loihi's per-operation energies (Intel published none for Loihi 2)",
    },
    energy=LOIHI2_ENERGY,
)

FPGA_GENERIC = HardwareProfile(
    name="fpga-generic", family="fpga",
    description="user-set FPGA: time-multiplexed IF cores, each with state for 1024 neurons and a 16384 x 36-bit "
                "synapse ROM (entries of weight + target index, as many per word as fit); 64 cores on one device",
    core=CoreSpec(neurons=1024, synapse_words=16384),
    chip=ChipSpec(cores_per_chip=64, max_chips=1),
    synapses=SynapseEncoding(word_bits=36, packing="lanes", conv_sharing="none", pixel_axons=False),
    min_weight_bits=2, max_weight_bits=16, energy=FPGA_45NM,
    assumptions={"core": "defaults for a mid-size FPGA; set your device's numbers in a profile file",
                 "energy": "45 nm ASIC arithmetic per operation (Horowitz 2014), no memory, fabric or static "
                           "power: a lower bound"},
)

BUILTIN: dict[str, HardwareProfile] = {p.name: p for p in (LOIHI1, LOIHI2, FPGA_GENERIC)}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise ProfileError(f"profile {path}: cannot read ({e.strerror})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except Exception as e:  # json / yaml syntax errors
        msg = " ".join(str(e).split())
        kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"
        raise ProfileError(f"profile {path}: not valid {kind} ({msg})") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"profile {path}: expected a table of profile fields, got {type(doc).__name__}")
    return doc


def profile_from_dict(doc: dict, where: str = "profile") -> HardwareProfile:
    """A profile from a dict of fields; ``base`` names a built-in profile to start from."""
    doc = dict(doc)
    base = doc.pop("base", None)
    if base is not None:
        if base not in BUILTIN:
            raise ProfileError(f"{where}: base {base!r} is not a built-in profile ({', '.join(BUILTIN)})")
        own = doc.get("energy", False)
        doc = _merge(BUILTIN[base].model_dump(), doc)
        if own is not False:  # the figures and their sources go together: replaced whole, not merged
            doc["energy"] = own
    try:
        return HardwareProfile.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ProfileError(f"{where}: field {loc}: {err['msg']}{more}") from None


def load_profile(path: str | Path) -> HardwareProfile:
    """Read a JSON (``.json``) or YAML (``.yaml`` / ``.yml``) profile file."""
    path = Path(path)
    return profile_from_dict(_read(path), f"profile {path}")


def get_profile(name: str) -> HardwareProfile:
    try:
        return BUILTIN[name]
    except KeyError:
        raise ProfileError(f"no built-in profile {name!r}; use one of {', '.join(BUILTIN)} or a profile file") from None
