"""The compile targets and simulation backends the CLI offers -- the one place later targets are added.

A target fixes the compile options its hardware dictates (``overrides``, applied on top of the user's
``CompileOptions``), the hardware profile its cores are placed on (``profile``; None = no placement) and the
backends that can run its bundles. ``--target`` takes a target name or a built-in profile name (``loihi1``,
``loihi2``, ``fpga-generic``); ``--profile FILE`` places on a user profile instead (its ``family`` picks the
target when ``--target`` is not given). ``--target`` / ``--backend`` choices follow this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ProfileError

#: integer semantics of Lava's Loihi 2 fixed-point models (issue 3), shared by loihi2-sim and loihi2
LOIHI2_OVERRIDES = {"synapse_delay": 1, "state_shift": 6, "state_bits": 24, "input_wrap": 24,
                    "bias_mant_bits": 13, "bias_exp_max": 7, "max_weight_bits": 8}


@dataclass(frozen=True)
class Target:
    name: str
    description: str  # one line, shown in docs and `targets`
    overrides: dict = field(default_factory=dict)  # CompileOptions fields the target fixes
    backends: tuple[str, ...] = ()  # backends that can simulate / run a bundle for this target
    #: extra bundle files: {relative path: "module:function"}, function(int_graph) -> JSON document
    artifacts: dict = field(default_factory=dict)
    profile: str | None = None  # built-in hardware profile the target places on (None: no placement)
    #: "module:function" writing the target's outputs from the placed graph:
    #: function(int_graph, placement, profile, timesteps) -> {relative path: text or JSON document}
    emitter: str | None = None


TARGETS: dict[str, Target] = {
    "intsim": Target("intsim", "bit-accurate reference integer simulator (no placement)", {}, ("intsim",)),
    "loihi2-sim": Target(
        "loihi2-sim",
        "Lava 0.10 Loihi 2 fixed-point simulator (Loihi2SimCfg fixed_pt), bit-exact with intsim; placed on loihi2",
        {"target": "loihi2-sim", **LOIHI2_OVERRIDES},
        ("lava", "intsim"),
        {"lava/processes.json": "neurocompile.backends.lava.network:describe"},
        "loihi2",
    ),
    "loihi1": Target("loihi1", "Intel Loihi 1 placement (weights <= 8 bits); run in intsim",
                     {"target": "loihi1", "max_weight_bits": 8}, ("intsim",), {}, "loihi1"),
    "loihi2": Target("loihi2", "Intel Loihi 2 placement with Lava's fixed-point semantics; run in intsim or Lava",
                     {"target": "loihi2", **LOIHI2_OVERRIDES}, ("intsim", "lava"), {}, "loihi2"),
    "fpga": Target("fpga", "FPGA cores of the fpga-generic profile (or --profile): memory images, Verilog ROMs, "
                           "IF cores and a testbench in fpga/; run in intsim or the RTL simulation (iverilog)",
                   {"target": "fpga", "synapse_delay": 1}, ("intsim", "rtl"), {}, "fpga-generic",
                   "neurocompile.backends.verilog:bundle_files"),
}
#: a built-in profile name given as --target means this target
PROFILE_TARGETS = {"loihi1": "loihi1", "loihi2": "loihi2", "fpga-generic": "fpga"}
#: a user profile's family -> the target it compiles for when --target is not given
FAMILY_TARGETS = {"loihi1": "loihi1", "loihi2": "loihi2", "fpga": "fpga"}
#: what --target accepts
TARGET_CHOICES = tuple(dict.fromkeys([*TARGETS, *PROFILE_TARGETS]))

#: every backend of any target, in first-seen order
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b for t in TARGETS.values() for b in t.backends))


def resolve(target: str | None, profile_file: str | Path | None):
    """(Target, HardwareProfile or None) for ``--target`` and ``--profile``; a profile's weight limits become
    the target's ``max_weight_bits``."""
    from ..partition import get_profile, load_profile

    profile = load_profile(profile_file) if profile_file is not None else None
    if target is None:
        if profile is None:
            raise ProfileError("give --target or --profile")
        target = FAMILY_TARGETS[profile.family]
    name = PROFILE_TARGETS.get(target, target)
    if name not in TARGETS:
        raise ProfileError(f"unknown target {target!r}; use one of {', '.join(TARGET_CHOICES)}")
    t = TARGETS[name]
    if profile is None and t.profile is not None:
        profile = get_profile(target if target in PROFILE_TARGETS else t.profile)
    if profile is not None and t.profile is not None:
        fam = get_profile(t.profile).family
        if profile.family != fam:
            raise ProfileError(f"profile {profile.name} is a {profile.family} profile; target {name} needs a "
                               f"{fam} profile")
    return t, profile


def compile_overrides(t: Target, profile) -> dict:
    """The target's CompileOptions overrides, with the profile's widest weight."""
    out = dict(t.overrides)
    if profile is not None:
        out["max_weight_bits"] = min(out.get("max_weight_bits", profile.max_weight_bits), profile.max_weight_bits)
    return out


def emit(target: str, int_graph, placement, profile, timesteps: int) -> dict:
    """The target's emitted files (``Target.emitter``; imported lazily), ``{}`` for targets without one."""
    import importlib

    ref = TARGETS[target].emitter
    if ref is None:
        return {}
    mod, fn = ref.split(":")
    return getattr(importlib.import_module(mod), fn)(int_graph, placement, profile, timesteps)


def artifacts(target: str, int_graph) -> dict[str, dict]:
    """The target's extra bundle files for ``int_graph`` (imported lazily: no backend at import time)."""
    import importlib

    out = {}
    for rel, ref in TARGETS[target].artifacts.items():
        mod, fn = ref.split(":")
        out[rel] = getattr(importlib.import_module(mod), fn)(int_graph)
    return out
