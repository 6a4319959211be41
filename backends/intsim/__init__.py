"""intsim: the bit-accurate reference integer simulator."""

from .rates import firing_rates
from .sim import (SimResult, chain_depths, latency, macs_per_sample, quantize_input, run_steps, simulate,
                  spike_mismatches)

__all__ = ["SimResult", "simulate", "latency", "run_steps", "chain_depths", "macs_per_sample", "quantize_input",
           "firing_rates", "spike_mismatches"]
