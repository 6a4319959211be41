"""Typed errors. Each names the layer / file and the numbers; the CLI prints one line and exits 2."""


class NeurocompileError(Exception):
    """Base class of every error the CLI reports as a one-line message with exit code 2."""


class ConversionError(NeurocompileError):
    """The model cannot be converted (unsupported op, bad parameter, NaN weight...)."""


class GraphError(NeurocompileError):
    """The IR graph is malformed (shape mismatch, dangling edge, cycle...)."""


class QuantizationError(NeurocompileError):
    """A value does not fit the requested integer format."""


class PartitionError(NeurocompileError):
    """No placement satisfies the target's per-core limits."""


class ProfileError(NeurocompileError):
    """A hardware profile (built-in name or user file) is unknown or invalid."""


class BundleError(NeurocompileError):
    """A bundle on disk is missing, corrupt or of an unknown schema version."""


class DatasetError(NeurocompileError):
    """A dataset cannot be found or read."""


class TargetError(ProfileError):
    """A compile target is unknown or registered twice, or a target plugin failed to load."""


class OptionError(NeurocompileError):
    """An option of ``compile`` / ``simulate`` is unknown or its value is out of range."""


class ToolError(NeurocompileError):
    """An external tool a command needs (Lava, iverilog, verilator, yosys) is missing or failed."""
