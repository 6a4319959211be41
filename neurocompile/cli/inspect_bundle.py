"""``neurocompile inspect``: verify a bundle (:func:`neurocompile.load`) and print its manifest summary, layer
report and placement."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("inspect")
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--all-cores", is_flag=True, help="List every core in the utilisation table (default: the first 40).")
def inspect_cmd(bundle_dir: Path, all_cores: bool) -> None:
    """Verify bundle DIR (schema, sha256 of every file) and print its manifest, layer report and, for placed
    targets, the placement: how each layer was split and every core's utilisation of every resource."""
    from ..api import load
    from ..bundle import PLACEMENT
    from ..partition.text import format_placement, format_placement_summary
    from ..report import format_report

    b = load(bundle_dir)
    m = b.manifest
    click.echo(f"bundle   {b.path}")
    click.echo(f"format   {m['format']} schema {m['schema_version']}, written by neurocompile "
               f"{m.get('neurocompile_version', '?')} at {m.get('created', '?')}")
    click.echo(f"target   {b.target}")
    click.echo(f"graph    {b.snn.name}: {len(b.snn)} integer IR nodes, {len(b.ann)} ANN nodes, "
               f"{b.timesteps} timesteps")
    if b.options:
        click.echo("options  " + ", ".join(f"{k}={v}" for k, v in b.options.items()))
    src = b.source or {}
    if src:
        click.echo("source   " + ", ".join(f"{k}={str(v)[:16] if k.endswith('sha256') else v}"
                                            for k, v in src.items()))
    click.echo(f"files    {len(m['files'])} verified (sha256)")
    for rel, h in m["files"].items():
        click.echo(f"  {rel:<14} {h[:16]}")
    click.echo()
    click.echo(format_report(b.report))
    if b.placement is not None:  # checks the document
        click.echo()
        click.echo(format_placement_summary(b.report["placement"]))
        click.echo()
        click.echo(format_placement(b.json_document(PLACEMENT), None if all_cores else 40))
