"""``neurocompile build``: parse the options, call :func:`neurocompile.compile`, print the report."""

from __future__ import annotations

from pathlib import Path

import click

from ..api.options import OPTIONS
from .common import TargetChoice, progress_enabled, progress_option


def build_options(f):
    """The click options of the build options table (``--timesteps`` for ``timesteps``...), in its order."""
    for o in reversed(OPTIONS):
        kw = {"help": o.help, "metavar": o.metavar}
        if o.kind == "flag":
            kw.update(is_flag=True)
        elif o.kind == "profile":
            kw.update(type=click.Path(dir_okay=False, path_type=Path))
        else:
            kw.update(default=o.default, show_default=o.default_text or o.default is not None)
            if o.choices is not None:
                kw.update(type=click.Choice(o.choices), metavar=None)
            elif o.minimum is not None:
                kw.update(type=click.IntRange(min=o.minimum))
            else:
                kw.update(type={"int": int, "float": float}[o.kind])
        f = click.option(o.flag, o.name, **kw)(f)
    return f


@click.command("build")
@click.argument("model", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--target", default=None, type=TargetChoice(),
              help="Hardware target the integer graph is compiled for: intsim (no placement), loihi2-sim (Lava), "
                   "fpga, or a hardware profile (loihi1, loihi2, fpga-generic; see `neurocompile targets`). "
                   "Required unless --profile is given.")
@click.option("--calib", default="digits", show_default=True, metavar="NAME",
              help="Calibration dataset (train split): digits, fashion-mnist or a path to an .npz with x, y.")
@build_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              show_default="build/<model stem>", help="Bundle directory to create.")
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out.")
@progress_option
def build(model: Path, target: str | None, calib: str, out: Path | None, force: bool, progress: bool | None,
          **options) -> None:
    """Compile MODEL (a .pt2 file written by torch.export.save) into a bundle directory.

    Export a model with torch.export.save(torch.export.export(model.eval(), (example_input,)), "model.pt2");
    a state_dict, a pickled model or TorchScript is refused with a line that says what the file is.

    Loads the model, calibrates the conversion on the training split of --calib, quantises to the
    requested bit widths, places the network on the target's cores (targets with a hardware profile) and
    writes the bundle (see docs/bundle.md). The bundle appears only when complete; on any error nothing is
    left behind.
    """
    from ..api import compile
    from ..partition.text import format_placement_summary
    from ..quant.quantize import WARNING
    from ..report import format_report

    out = out if out is not None else Path("build") / model.stem
    b = compile(model, target=target, calib=calib, out=out, force=force, progress=progress_enabled(progress),
                **options)
    for note in b.report.get("notes") or []:
        if note.startswith(WARNING):  # the build went through, but the user must see this
            click.echo(f"neurocompile: {note}", err=True)
    click.echo(format_report(b.report))
    if "placement" in b.report:
        click.echo(format_placement_summary(b.report["placement"]))
    what = "dry run: no target outputs; " if options["dry_run"] else ""
    click.echo(f"bundle written to {_display(b.path)} ({what}target {b.target}, {b.timesteps} timesteps)")


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
