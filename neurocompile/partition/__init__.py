"""Partitioner: hardware profiles, the per-slice resource model, splitting, packing strategies over one core
state and placement onto cores and chips, the bounds placements are compared with, and an independent
validator (issue 5). Works on the integer IR; never imports a backend."""

from .bounds import layer_bound, lower_bound, naive_boxes
from .place import partition
from .placement import Placement, PlacedSlice
from ..targets.profiles import BUILTIN, HardwareProfile, get_profile, load_profile, profile_from_dict
from .resources import RESOURCES, ResourceModel
from .validate import validate

__all__ = ["BUILTIN", "HardwareProfile", "Placement", "PlacedSlice", "RESOURCES", "ResourceModel", "get_profile",
           "layer_bound", "load_profile", "lower_bound", "naive_boxes", "partition", "profile_from_dict",
           "validate"]
