"""The hardware profiles, which live in :mod:`neurocompile.targets.profiles`; re-exported for the partitioner's
modules that import them from here."""

from ..targets.profiles import (BUILTIN, FAMILIES, ChipSpec, CoreSpec, HardwareProfile, SynapseEncoding, get_profile,
                                load_profile, profile_from_dict)

__all__ = ["BUILTIN", "FAMILIES", "ChipSpec", "CoreSpec", "HardwareProfile", "SynapseEncoding", "get_profile",
           "load_profile", "profile_from_dict"]
