"""The ``neurocompile`` command group and its error policy.

Every :class:`~neurocompile.errors.NeurocompileError` becomes exactly one line on stderr,
``neurocompile: error: <message>``, and exit code 2. Usage errors are click's (also exit 2). Any other
exception is a bug and propagates with its traceback.
"""

from __future__ import annotations

import click

from .. import __version__
from ..errors import NeurocompileError


def error_line(e: BaseException) -> str:
    msg = " ".join(str(e).split("\n")).strip() or type(e).__name__
    return f"neurocompile: error: {msg}"


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NeurocompileError as e:
            click.echo(error_line(e), err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="neurocompile")
def cli() -> None:
    """Compile trained PyTorch CNNs into integer spiking networks and simulate them.

    \b
    Typical use:
      neurocompile build examples/digits_cnn.pt2 --target intsim
      neurocompile simulate build/digits_cnn --dataset digits --json results.json
      neurocompile inspect build/digits_cnn
      neurocompile targets
      neurocompile build examples/digits_cnn.pt2 --target loihi1 --dry-run

    Errors print one line `neurocompile: error: ...` on stderr and exit with code 2; SIGINT / SIGTERM stop
    the command (and any Lava run) with one line and exit code 130 / 143.
    """


def _register() -> None:
    from .build import build
    from .diagnose import diagnose_cmd
    from .inspect_bundle import inspect_cmd
    from .simulate import simulate_cmd
    from .synth import synth_cmd
    from .targets_cmd import targets_cmd

    cli.add_command(build)
    cli.add_command(simulate_cmd)
    cli.add_command(inspect_cmd)
    cli.add_command(diagnose_cmd)
    cli.add_command(targets_cmd)
    cli.add_command(synth_cmd)


_register()


class Interrupted(BaseException):
    """SIGINT / SIGTERM during a command (a BaseException, so that no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum, frame) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``neurocompile = neurocompile.cli:main``).

    SIGINT and SIGTERM end the command with one line on stderr and exit code 128 + the signal's number (130,
    143), after whatever was running has been stopped (a Lava run kills its processes first:
    ``backends/lava/guard.py``); files are written atomically, so nothing is left half-written."""
    import signal
    import sys

    for s in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(s) is not signal.SIG_IGN:  # nohup and friends keep their meaning
            signal.signal(s, _interrupt)
    try:
        cli.main(args=argv, prog_name="neurocompile")
    except Interrupted as e:
        name = signal.Signals(e.signum).name
        click.echo(f"neurocompile: interrupted by {name}; stopped", err=True)
        sys.exit(128 + e.signum)
