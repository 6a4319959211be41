"""Integer quantiser (float SNN IR -> integer IR)."""

from .quantize import QuantizeInteger

__all__ = ["QuantizeInteger"]
