"""Command-line interface: ``neurocompile build | simulate | inspect | diagnose | targets | synth`` (see
docs/cli.md), a thin shell over the library (:mod:`neurocompile.api`): each command parses its options, calls
one library function and prints."""

from .main import cli, main

__all__ = ["cli", "main"]
