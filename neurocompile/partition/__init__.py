"""Partitioner: hardware profiles, the per-slice resource model, splitting and placement onto cores and chips,
and an independent validator (issue 5). Works on the integer IR; never imports a backend."""

from .placement import Placement, PlacedSlice
from .place import lower_bound, naive_boxes, partition
from ..targets.profiles import BUILTIN, HardwareProfile, get_profile, load_profile, profile_from_dict
from .resources import RESOURCES, ResourceModel
from .validate import validate

__all__ = ["BUILTIN", "HardwareProfile", "Placement", "PlacedSlice", "RESOURCES", "ResourceModel", "get_profile",
           "load_profile", "lower_bound", "naive_boxes", "partition", "profile_from_dict", "validate"]
