"""neurocompile: a deployment compiler for spiking neural networks converted from PyTorch CNNs."""

__version__ = "0.1.0"
