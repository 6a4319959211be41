"""The target registry: the built-in targets plus those other packages register through entry points.

A package adds targets with an entry point in the group ``neurocompile.targets`` whose object is a
:class:`~neurocompile.targets.Target` or a callable that is handed :func:`register_target` (and may call it
several times)::

    [project.entry-points."neurocompile.targets"]
    mychip = "mychip.neuro:register"        # def register(register_target): register_target(Target(...))

Nothing is loaded at import: the first lookup registers the built-in targets, then loads every plugin. A
plugin that fails (import error, exception, a name that is already taken) is skipped and recorded in
:func:`load_errors`, which ``neurocompile targets`` prints; other commands go on with the targets that loaded.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from ..errors import ProfileError, TargetError
from .profiles import HardwareProfile, load_profile
from .target import Target

#: entry-point group of target plugins
GROUP = "neurocompile.targets"

_targets: dict[str, Target] | None = None
_aliases: dict[str, str] = {}
_errors: list[str] = []


def _registry() -> dict[str, Target]:
    global _targets
    if _targets is None:
        from .builtin import BUILTIN_TARGETS

        _targets = {}
        for t in BUILTIN_TARGETS:
            register_target(t)
        _load_plugins()
    return _targets


def _load_plugins() -> None:
    try:
        eps = list(entry_points(group=GROUP))
    except Exception as e:  # noqa: BLE001 - unreadable package metadata on sys.path
        _errors.append(f"target plugins: cannot read the entry points ({type(e).__name__}: {e})")
        return
    for ep in eps:
        try:
            obj = ep.load()
            if isinstance(obj, Target):
                register_target(obj)
            elif callable(obj):
                obj(register_target)
            else:
                raise TargetError(f"{type(obj).__name__} is neither a Target nor a callable")
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break unrelated commands
            msg = " ".join(str(e).split()) or "no message"
            _errors.append(f"target plugin {ep.name} ({ep.value}): {type(e).__name__}: {msg}")


def register_target(target: Target) -> Target:
    """Add ``target`` to the registry; TargetError if it is not a Target or a name or alias is taken."""
    if not isinstance(target, Target):
        raise TargetError(f"register_target takes a neurocompile.targets.Target, not {type(target).__name__}")
    reg = _registry()
    for name in (target.name, *target.aliases):
        if name in reg or name in _aliases:
            raise TargetError(f"target {name!r} is already registered")
    reg[target.name] = target
    _aliases.update({a: target.name for a in target.aliases})
    return target


def reset() -> None:
    """Forget every registered target and load error (the next lookup loads them again; for tests)."""
    global _targets
    _targets = None
    _aliases.clear()
    _errors.clear()


def list_targets() -> list[Target]:
    """The registered targets, built-in ones first, in the order they were registered."""
    return list(_registry().values())


def target_names() -> tuple[str, ...]:
    """Every name a target can be given by: target names, then aliases."""
    return tuple(dict.fromkeys([*_registry(), *_aliases]))


def backend_names() -> tuple[str, ...]:
    """Every simulator of any target, in first-seen order."""
    return tuple(dict.fromkeys(b for t in list_targets() for b in t.backends))


def load_errors() -> list[str]:
    """One line per target plugin that failed to load."""
    _registry()
    return list(_errors)


def get_target(name: str) -> Target:
    """The target called ``name`` (or with that alias); TargetError naming the valid ones otherwise."""
    reg = _registry()
    t = reg.get(_aliases.get(name, name))
    if t is None:
        failed = f" ({len(_errors)} target plugin(s) failed to load; see `neurocompile targets`)" if _errors else ""
        raise TargetError(f"unknown target {name!r}; use one of {', '.join(target_names())}{failed}")
    return t


def resolve(target: str | None, profile: str | Path | HardwareProfile | None = None
            ) -> tuple[Target, HardwareProfile | None]:
    """(target, profile to place on or None) for a target name and an optional profile (a file or a
    HardwareProfile) that replaces the target's own; without a target name the profile's family picks it."""
    prof = profile if isinstance(profile, HardwareProfile) or profile is None else load_profile(profile)
    if target is None:
        if prof is None:
            raise ProfileError("give --target or --profile")
        target = next((t.name for t in list_targets() if t.family_default and t.profile.family == prof.family), None)
        if target is None:
            raise TargetError(f"profile {prof.name}: no target compiles for {prof.family} profiles; name one")
    t = get_target(target)
    if prof is None:
        return t, t.profile
    if t.profile is not None and prof.family != t.profile.family:
        raise ProfileError(f"profile {prof.name} is a {prof.family} profile; target {t.name} needs a "
                           f"{t.profile.family} profile")
    return t, prof
