"""Packing strategies over a core state, registered by name, and the packings built from them.

A *strategy* places slices onto cores through a :class:`~.state.CoreState`'s operations only: it places
every unplaced slice (the first fit, carving, filling, placing on given cores) or rearranges a finished
packing (emptying cores). Each is a small class with a registry name, :meth:`Strategy.applies` (is it tried
on this many slices) and :meth:`Strategy.run`; :func:`register` adds it to :data:`STRATEGIES`, and
:func:`strategy` makes one by name. The strategies are defined in ``pack.py`` (``first-fit``,
``first-fit+traffic``, ``assign``), ``carve.py`` (``carve``), ``fill.py`` (``fill``) and ``empty.py``
(``empty``).

A :class:`Packing` is what ``place.partition`` tries and names in ``placement.json``: strategies run in turn
on one fresh state of the split slices (``split+carve`` is carving, then emptying).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

from .connectivity import Box
from .state import CoreState


class Strategy(abc.ABC):
    """A way to place slices on cores, through a :class:`~.state.CoreState` (see the module doc)."""

    name: ClassVar[str]  #: the key in :data:`STRATEGIES`

    def applies(self, slices: int) -> bool:
        """Is the strategy tried on a packing of ``slices`` slices (strategies whose time grows fast with
        the slices are not tried on large networks; see ``tuning``)?"""
        return True

    @abc.abstractmethod
    def run(self, state: CoreState) -> None:
        """Place the state's unplaced slices, or rearrange its packing, with the state's operations."""


#: strategy classes by name
STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add a strategy class to :data:`STRATEGIES` under its ``name`` (names are unique)."""
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"strategy {cls.name!r} is registered already ({STRATEGIES[cls.name].__qualname__})")
    STRATEGIES[cls.name] = cls
    return cls


def strategy(name: str, **params) -> Strategy:
    """The strategy registered as ``name``, made with ``params``."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"no packing strategy {name!r}; registered: {', '.join(sorted(STRATEGIES))}") from None
    return cls(**params)


@dataclass(frozen=True)
class Packing:
    """Strategies run in turn on one state of the slices to pack.

    Attributes
    ----------
    name : str
        The name ``placement.json`` records when this packing is kept (``split+carve``, ...).
    steps : tuple of Strategy
        Run in this order on one :class:`~.state.CoreState`.
    detail : str
        Told in the progress message beside the name (e.g. a parameter).
    """

    name: str
    steps: tuple[Strategy, ...]
    detail: str = ""

    def applies(self, slices: int) -> bool:
        """Is every step tried on ``slices`` slices?"""
        return all(s.applies(slices) for s in self.steps)

    def run(self, model, items, cons, edges=None) -> list[tuple[str, Box, int, int]]:
        """Pack ``items`` ((layer, box, resources with exact output axons, origin 0..n-1), see
        :class:`~.state.CoreState`); (layer, box, origin, core) of every piece, cores numbered without gaps.
        ``edges``: symmetric traffic between origins (CSR)."""
        state = CoreState(model, items, cons, edges)
        for step in self.steps:
            step.run(state)
        return state.pieces()
