"""``neurocompile targets``: the registered compile targets, the hardware profiles they place on, and the
target plugins that failed to load."""

from __future__ import annotations

from pathlib import Path

import click


def _lim(v) -> str:
    return "-" if v is None else f"{v:,}"


def profile_rows(profiles) -> list[tuple]:
    rows = []
    for p in profiles:
        c, s = p.core, p.synapses
        rows.append((p.name, p.family, _lim(c.neurons), _lim(c.input_axons), _lim(c.output_axons),
                     f"{_lim(c.synapse_words)} x {s.word_bits}", f"{p.min_weight_bits}..{p.max_weight_bits}",
                     s.conv_sharing, p.chip.cores_per_chip, _lim(p.chip.max_chips), len(p.assumptions)))
    return rows


def limits_text(limits) -> str:
    """The arithmetic limits a target sets, ``name=value`` (``-`` for none)."""
    return ", ".join(f"{k}={v}" for k, v in limits.model_dump(exclude_none=True).items()) or "-"


@click.command("targets")
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also load and check the hardware profile in FILE (JSON or YAML) and show it.")
@click.option("--verbose", "-v", is_flag=True,
              help="List each target's arithmetic limits and each profile's assumptions (limits that are not "
                   "public).")
def targets_cmd(profile_file: Path | None, verbose: bool) -> None:
    """List compile targets (for `build --target`) and hardware profiles with their per-core limits.

    A profile name given as --target builds for that profile's target; `build --profile FILE` places on
    a profile of your own (start it with `base: loihi2` to change only some fields). Targets of other
    packages (entry-point group neurocompile.targets) are listed with the built-in ones; a plugin that failed
    to load is named below the tables.
    """
    from ..report import format_table
    from ..targets import BUILTIN, list_targets, load_errors, load_profile

    targets = list_targets()
    rows = [(t.name, t.profile.name if t.profile else "-", ", ".join(t.backends), t.description) for t in targets]
    rows += [(a, t.profile.name if t.profile else "-", ", ".join(t.backends),
              f"target {t.name} placed on profile {a}") for t in targets for a in t.aliases]
    click.echo(format_table(("target", "profile", "backends", "description"), rows))
    if verbose:
        click.echo()
        click.echo(format_table(("target", "arithmetic limits"), [(t.name, limits_text(t.limits)) for t in targets]))
    click.echo()
    profiles = list(BUILTIN.values())
    if profile_file is not None:
        profiles.append(load_profile(profile_file))
    heads = ("profile", "family", "neurons", "in axons", "out axons", "synapse words x bits", "weight bits",
             "conv sharing", "cores/chip", "max chips", "assumptions")
    click.echo(format_table(heads, profile_rows(profiles)))
    for p in profiles:
        if verbose or (profile_file is not None and p is profiles[-1]):
            click.echo(f"\n{p.name}: {p.description}")
            for k, why in p.assumptions.items():
                click.echo(f"  assumption {k}: {why}")
            if p.energy is not None:  # the energy estimate's figures (docs/semantics.md, "Energy")
                for k in ("synop_pj", "neuron_update_pj", "spike_pj"):
                    if getattr(p.energy, k) is not None:
                        src = p.energy.sources.get(k, "no source given")
                        click.echo(f"  energy {k.removesuffix('_pj')}: {getattr(p.energy, k):g} pJ ({src})")
    errors = load_errors()
    if errors:
        click.echo(f"\n{len(errors)} target plugin(s) failed to load:")
        for e in errors:
            click.echo(f"  {e}")
