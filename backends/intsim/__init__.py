"""intsim: the bit-accurate reference integer simulator."""

from .rates import firing_rates
from .sim import macs_per_sample, simulate

__all__ = ["simulate", "macs_per_sample", "firing_rates"]
