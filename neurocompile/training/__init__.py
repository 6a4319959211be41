"""Training helpers for conversion methods that need training (HPC / QReLU, STCSNN)."""

from .qrelu import ClampReLU, QReLU, calibrate_lambdas, swap_relu, to_exportable
from .stcsnn import SpikeTrainReLU, calibrate_stc, swap_relu_stc, to_exportable_stc

__all__ = ["QReLU", "ClampReLU", "swap_relu", "calibrate_lambdas", "to_exportable",
           "SpikeTrainReLU", "swap_relu_stc", "calibrate_stc", "to_exportable_stc"]
