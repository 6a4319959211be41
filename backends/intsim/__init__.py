"""intsim: the bit-accurate reference integer simulator."""

from .sim import SimResult, latency, macs_per_sample, quantize_input, simulate

__all__ = ["SimResult", "simulate", "latency", "macs_per_sample", "quantize_input"]
