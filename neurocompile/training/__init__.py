"""Training helpers for conversion methods that need training (HPC / QReLU)."""

from .qrelu import ClampReLU, QReLU, calibrate_lambdas, swap_relu, to_exportable

__all__ = ["QReLU", "ClampReLU", "swap_relu", "calibrate_lambdas", "to_exportable"]
