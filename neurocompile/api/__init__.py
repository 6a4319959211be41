"""The library: ``compile``, ``load``, ``simulate``, ``diagnose`` and ``synth``, which the CLI commands call.

:mod:`.build` compiles (front end, conversion, quantisation, :mod:`.place` placement, the target's emitter),
:mod:`.simulation` runs a bundle on one of its target's simulators (:mod:`.result` holds what it returns),
:mod:`.diagnosis` and :mod:`.synthesis` are the two analyses; :mod:`.options` is the table of build options,
:mod:`.data` turns datasets into arrays and :mod:`.progress` prints stages and bars. Backends are reached
only through the target registry (:mod:`neurocompile.targets`), when a function is called.
"""

from ..bundle import Bundle
from .build import compile
from .diagnosis import diagnose
from .result import SimResult
from .simulation import load, simulate
from .synthesis import synth

__all__ = ["Bundle", "SimResult", "compile", "diagnose", "load", "simulate", "synth"]
