"""Training helpers for conversion methods that need training (HPC / QReLU, QCFS, STCSNN)."""

from .qcfs import QCFS, swap_relu_qcfs
from .qrelu import ClampReLU, QReLU, calibrate_lambdas, swap_relu, to_exportable
from .stcsnn import SpikeTrainReLU, calibrate_stc, swap_relu_stc, to_exportable_stc

__all__ = ["QReLU", "QCFS", "swap_relu_qcfs", "ClampReLU", "swap_relu", "calibrate_lambdas", "to_exportable",
           "SpikeTrainReLU", "swap_relu_stc", "calibrate_stc", "to_exportable_stc"]
