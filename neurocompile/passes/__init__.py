"""Conversion passes and the pass manager."""

from .base import Pass, PassManager
from .convert import Calibrate, FoldBiases, NeuronModel, Normalize, default_conversion

__all__ = ["Pass", "PassManager", "Calibrate", "Normalize", "FoldBiases", "NeuronModel", "default_conversion"]
