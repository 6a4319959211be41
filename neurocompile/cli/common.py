"""Helpers shared by the CLI commands: the progress switch, and target and backend choices from the registry."""

from __future__ import annotations

import sys

import click


def progress_option(f):
    """``--progress/--no-progress``: stage messages and progress bars on stderr (default: if it is a TTY)."""
    return click.option(
        "--progress/--no-progress", default=None,
        help="Show stage messages and progress bars on stderr [default: only when stderr is a terminal].",
    )(f)


def progress_enabled(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


class _RegistryChoice(click.Choice):
    """A ``click.Choice`` whose choices are read from the target registry when click needs them (so building
    the command line loads no plugin)."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return self._names()

    @choices.setter
    def choices(self, _value) -> None:
        pass

    @staticmethod
    def _names() -> tuple[str, ...]:
        raise NotImplementedError


class TargetChoice(_RegistryChoice):
    """``--target``: every registered target name and alias."""

    @staticmethod
    def _names() -> tuple[str, ...]:
        from ..targets import target_names

        return target_names()


class BackendChoice(_RegistryChoice):
    """``--backend``: every simulator of any registered target."""

    @staticmethod
    def _names() -> tuple[str, ...]:
        from ..targets import backend_names

        return backend_names()
