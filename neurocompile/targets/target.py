"""What a compile target is: a name, its hardware profile, its arithmetic limits, its emitter and its simulators.

A :class:`Target` is one frozen object. The compiler reads its :class:`ArithmeticLimits` (as the
``CompileOptions`` fields they fix, :meth:`Target.compile_overrides`), the partitioner its
:class:`~neurocompile.targets.profiles.HardwareProfile`, and the backends receive the limits from it when the
pipeline calls them. Backends are named by ``"module:function"`` strings and imported only when called
(:func:`load_ref`), so defining or listing targets imports no backend.
"""

from __future__ import annotations

import importlib
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import TargetError
from .profiles import HardwareProfile

#: a backend function, ``"package.module:function"``
REF_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArithmeticLimits(_Frozen):
    """The integer arithmetic a target's hardware dictates; ``None``: not fixed by the target.

    The fields named like :class:`~neurocompile.compiler.CompileOptions` fields override the user's options
    (:meth:`options`); the others only the backends read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # a string or a YAML true is no width

    max_weight_bits: int | None = Field(default=None, ge=1, le=16, description="widest signed weight stored")
    state_bits: int | None = Field(default=None, ge=8, le=48, description="membrane state width (saturating)")
    state_shift: int | None = Field(default=None, ge=0, description="synaptic input << state_shift enters the "
                                                                     "state (Lava: 6)")
    synapse_delay: int | None = Field(default=None, ge=0, description="steps a spike takes through one synaptic "
                                                                       "chain")
    input_wrap: int | None = Field(default=None, ge=2, description="the shifted synaptic input wraps at this "
                                                                    "width (Lava's current u)")
    bias_mant_bits: int | None = Field(default=None, ge=2, description="bias stored as a signed mantissa of this "
                                                                        "width << exponent")
    bias_exp_max: int | None = Field(default=None, ge=0, description="largest bias exponent")
    vth_max: int | None = Field(default=None, gt=0, description="largest threshold mantissa (threshold >> "
                                                                 "state_shift; Lava's vth)")
    graded_neurons: bool | None = Field(default=None, description="False: the target runs binary IF neurons only "
                                                                  "(no buffered / multi-bit ones)")

    #: fields that are also CompileOptions fields, applied over the user's options
    OPTION_FIELDS: ClassVar[tuple[str, ...]] = ("synapse_delay", "state_shift", "state_bits", "input_wrap",
                                                "bias_mant_bits", "bias_exp_max", "max_weight_bits",
                                                "graded_neurons")

    def options(self) -> dict[str, int | bool]:
        """The ``CompileOptions`` fields these limits fix (the fields that are set)."""
        return {k: getattr(self, k) for k in self.OPTION_FIELDS if getattr(self, k) is not None}

    def require(self, *names: str, who: str) -> None:
        """Raise TargetError unless every field in ``names`` is set (``who``: the backend that needs them)."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise TargetError(f"{who} needs the target's arithmetic limits {', '.join(missing)}; they are not set")


class Simulator(_Frozen):
    """A backend that runs a target's bundles.

    ``run`` is called as ``run(graph, x, timesteps, record=, batch_size=, progress=, **context)`` and returns
    intsim's raw result (readout, spike counts, SynOps, spikes; optionally ``wall``, the seconds of the run
    itself, and ``extra``, keys for the ``simulate`` document). ``context`` lists the further keywords it
    takes: ``limits`` (the target's :class:`ArithmeticLimits`), ``design`` (a directory holding the bundle's
    files) and ``rtl_simulator``. A ``checked`` simulator is compared spike by spike with intsim.
    """

    name: str = Field(min_length=1)
    run: str = Field(pattern=REF_PATTERN)
    description: str = ""
    context: tuple[Literal["limits", "design", "rtl_simulator"], ...] = ()
    checked: bool = False


class Target(_Frozen):
    """A compile target.

    ``emitter`` (``"module:function"``, or None) writes the target's own bundle files:
    ``emitter(graph, placement=, profile=, timesteps=, limits=) -> {relative path: text or JSON document}``.
    ``synthesizer`` (or None) runs logic synthesis on a saved bundle (``synth``):
    ``synthesizer(path, family=, cores=, roms_only=, timeout=, progress=) -> synthesis document``. ``aliases`` are
    other names ``--target`` accepts for it; ``family_default``: the target a user profile of its profile's family
    compiles for when no target is named.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][\w.-]*$")
    description: str = ""
    profile: HardwareProfile | None = None
    limits: ArithmeticLimits = ArithmeticLimits()
    emitter: str | None = Field(default=None, pattern=REF_PATTERN)
    simulators: tuple[Simulator, ...] = Field(min_length=1)
    synthesizer: str | None = Field(default=None, pattern=REF_PATTERN)
    aliases: tuple[str, ...] = ()
    family_default: bool = False

    @field_validator("simulators")
    @classmethod
    def _unique(cls, sims: tuple[Simulator, ...]) -> tuple[Simulator, ...]:
        names = [s.name for s in sims]
        if len(set(names)) != len(names):
            raise ValueError(f"simulator names repeat: {names}")
        return sims

    @model_validator(mode="after")
    def _check(self):
        if self.family_default and self.profile is None:
            raise ValueError("family_default needs a profile (its family is what it is the default for)")
        return self

    @property
    def backends(self) -> tuple[str, ...]:
        """Names of the simulators that can run this target's bundles."""
        return tuple(s.name for s in self.simulators)

    def simulator(self, name: str) -> Simulator | None:
        return next((s for s in self.simulators if s.name == name), None)

    def compile_overrides(self, profile: HardwareProfile | None = None) -> dict:
        """The ``CompileOptions`` fields this target fixes: its name, its limits, and the widest weight of
        ``profile`` (the profile the network is placed on) when that is narrower."""
        out = {"target": self.name, **self.limits.options()}
        if profile is not None:
            out["max_weight_bits"] = min(out.get("max_weight_bits", profile.max_weight_bits), profile.max_weight_bits)
        return out

    def emit(self, graph, placement, profile, timesteps: int) -> dict:
        """The target's own bundle files for the placed integer graph (``{}`` without an emitter)."""
        if self.emitter is None:
            return {}
        return load_ref(self.emitter)(graph, placement=placement, profile=profile, timesteps=timesteps,
                                      limits=self.limits)


def load_ref(ref: str):
    """The function named by ``"module:function"``, imported now."""
    mod, _, fn = ref.partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise TargetError(f"cannot load {ref} ({type(e).__name__}: {e})") from None
