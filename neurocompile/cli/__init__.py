"""Command-line interface: ``neurocompile build | simulate | inspect`` (see docs/cli.md)."""

from .main import cli, main

__all__ = ["cli", "main"]
