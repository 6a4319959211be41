"""Compile targets: each one object holding its hardware profile, arithmetic limits, emitter and simulators.

:mod:`.profiles` holds the hardware profiles (per-core and per-chip budgets), :mod:`.target` the ``Target``
model, :mod:`.builtin` the built-in targets and :mod:`.registry` the registry with its entry-point plugins.
Importing this package imports no backend and loads no plugin.
"""

from .profiles import (BUILTIN, ChipSpec, CoreSpec, HardwareProfile, SynapseEncoding, get_profile, load_profile,
                       profile_from_dict)
from .registry import (GROUP, backend_names, get_target, list_targets, load_errors, register_target, resolve,
                       target_names)
from .target import ArithmeticLimits, Simulator, Target, load_ref

__all__ = ["ArithmeticLimits", "BUILTIN", "ChipSpec", "CoreSpec", "GROUP", "HardwareProfile", "Simulator",
           "SynapseEncoding", "Target", "backend_names", "get_profile", "get_target", "list_targets", "load_errors",
           "load_profile", "load_ref", "profile_from_dict", "register_target", "resolve", "target_names"]
