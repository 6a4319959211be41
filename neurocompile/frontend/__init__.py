"""Front end: PyTorch CNN (nn.Module, torch.export program or .pt2 file) -> float IR.

``load_model`` traces the model with ``torch.export``, lowers the aten graph to IR nodes (:mod:`.ops`),
folds each BatchNorm into the conv / linear before it with its own ``eps`` (:mod:`.fold`) and verifies
the result. Anything it cannot represent exactly raises :class:`~neurocompile.errors.ConversionError`.
"""

from ..errors import ConversionError
from .context import SUPPORTED
from .convert import load_model

__all__ = ["load_model", "ConversionError", "SUPPORTED"]
