"""The compile targets and simulation backends the CLI offers -- the one place later targets are added.

A target fixes the compile options its hardware dictates (``overrides``, applied on top of the user's
``CompileOptions``) and the backends that can run its bundles. To add e.g. ``loihi2-sim``: add an entry
here (``overrides={"synapse_delay": 1, "state_shift": 6}``, ``backends=("lava",)``) and the backend's
runner in ``simulate.py``; ``--target`` / ``--backend`` choices follow automatically.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    name: str
    description: str  # one line, shown in docs and `inspect`
    overrides: dict = field(default_factory=dict)  # CompileOptions fields the target fixes
    backends: tuple[str, ...] = ()  # backends that can simulate / run a bundle for this target


TARGETS: dict[str, Target] = {
    "intsim": Target("intsim", "bit-accurate reference integer simulator", {}, ("intsim",)),
}

#: every backend of any target, in first-seen order
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b for t in TARGETS.values() for b in t.backends))
