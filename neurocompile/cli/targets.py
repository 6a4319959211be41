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
    #: extra bundle files: {relative path: "module:function"}, function(int_graph) -> JSON document
    artifacts: dict = field(default_factory=dict)


TARGETS: dict[str, Target] = {
    "intsim": Target("intsim", "bit-accurate reference integer simulator", {}, ("intsim",)),
    "loihi2-sim": Target(
        "loihi2-sim",
        "Lava 0.10 Loihi 2 fixed-point simulator (Loihi2SimCfg fixed_pt), bit-exact with intsim",
        {"target": "loihi2-sim", "synapse_delay": 1, "state_shift": 6, "state_bits": 24, "input_wrap": 24,
         "bias_mant_bits": 13, "bias_exp_max": 7, "max_weight_bits": 8},
        ("lava", "intsim"),
        {"lava/processes.json": "neurocompile.backends.lava.network:describe"},
    ),
}

#: every backend of any target, in first-seen order
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b for t in TARGETS.values() for b in t.backends))


def artifacts(target: str, int_graph) -> dict[str, dict]:
    """The target's extra bundle files for ``int_graph`` (imported lazily: no backend at import time)."""
    import importlib

    out = {}
    for rel, ref in TARGETS[target].artifacts.items():
        mod, fn = ref.split(":")
        out[rel] = getattr(importlib.import_module(mod), fn)(int_graph)
    return out
