"""neurocompile: a deployment compiler for spiking neural networks converted from PyTorch CNNs.

The library (docs/api.md)::

    import neurocompile as nc

    bundle = nc.compile(model, target="intsim", calib="digits")   # an nn.Module, ExportedProgram or .pt2 path
    bundle.save("build/net")
    result = nc.simulate("build/net", "digits")                    # result.snn_accuracy, result.to_dict()

Importing this package is light: the functions below are imported when first used.
"""

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access)
_LAZY = {
    "compile": "neurocompile.api", "load": "neurocompile.api", "simulate": "neurocompile.api",
    "diagnose": "neurocompile.api", "synth": "neurocompile.api", "Bundle": "neurocompile.api",
    "SimResult": "neurocompile.api", "Target": "neurocompile.targets", "ArithmeticLimits": "neurocompile.targets",
    "Simulator": "neurocompile.targets", "HardwareProfile": "neurocompile.targets",
    "get_target": "neurocompile.targets", "list_targets": "neurocompile.targets",
    "register_target": "neurocompile.targets",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neurocompile' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
