"""Obtain a ``torch.export.ExportedProgram`` and read its inputs, parameters, buffers and constants.

Accepted sources: an ``nn.Module`` (exported here with a static batch of 1), an ``ExportedProgram``, or a
``.pt2`` file written by ``torch.export.save``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.export.graph_signature import InputKind

from ..errors import ConversionError
from .context import Const
from .probe import RECIPE, quiet, what_is

ModelLike = torch.nn.Module | torch.export.ExportedProgram | str | Path


def to_program(model: ModelLike, input_shape: tuple[int, ...] | None) -> tuple[torch.export.ExportedProgram, str]:
    """Return ``(program, description)``; ``description`` names the model in metadata and messages."""
    if isinstance(model, torch.export.ExportedProgram):
        return model, "ExportedProgram"
    if isinstance(model, (str, Path)):
        return load_pt2(Path(model)), str(model)
    if isinstance(model, torch.nn.Module):
        return export_module(model, input_shape), f"nn.Module {type(model).__name__}"
    raise ConversionError(
        f"cannot load a model from {type(model).__name__}; expected an nn.Module, a "
        f"torch.export.ExportedProgram or the path of a .pt2 file"
    )


def load_pt2(path: Path) -> torch.export.ExportedProgram:
    """Load a ``.pt2`` file saved with ``torch.export.save``; any failure names the file."""
    if not path.is_file():
        raise ConversionError(f"{path}: file not found" + (" (it is a directory)" if path.is_dir() else ""))
    what = what_is(path)
    if what is not None:
        raise ConversionError(f"{path}: this is {what}, not a .pt2 ExportedProgram; export the model with {RECIPE}")
    try:
        with quiet():
            ep = torch.export.load(str(path))
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad archive
        raise ConversionError(
            f"{path}: not a valid .pt2 file written by torch.export.save ({type(e).__name__}: {_first_line(e)}); "
            f"export the model with {RECIPE}"
        ) from e
    if not isinstance(ep, torch.export.ExportedProgram):
        raise ConversionError(f"{path}: does not contain an ExportedProgram (got {type(ep).__name__}); "
                              f"export the model with {RECIPE}")
    return ep


def export_module(model: torch.nn.Module, input_shape: tuple[int, ...] | None) -> torch.export.ExportedProgram:
    """``torch.export.export(model.eval(), (zeros(1, *input_shape),))``; the training flag is restored."""
    if input_shape is None:
        raise ConversionError(
            f"nn.Module {type(model).__name__}: input_shape is required, e.g. (1, 28, 28) for an image "
            f"or (F,) for a vector (per sample, without the batch dimension)"
        )
    shape = _check_shape(input_shape, f"nn.Module {type(model).__name__}: input_shape")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    was_training = model.training
    model.eval()
    try:
        return torch.export.export(model, (torch.zeros(1, *shape, dtype=dtype),))
    except Exception as e:  # noqa: BLE001 - export failures come in many types
        raise ConversionError(
            f"nn.Module {type(model).__name__}: torch.export failed with input (1, {', '.join(map(str, shape))})"
            f" ({type(e).__name__}: {_first_line(e)})"
        ) from e
    finally:
        model.train(was_training)


def _check_shape(shape, what: str) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConversionError(f"{what} {shape!r}: expected a tuple of ints") from None
    if len(out) not in (1, 3) or any(s < 1 for s in out):
        raise ConversionError(f"{what} {out}: expected (C, H, W) or (F,) with positive sizes")
    return out


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def user_input(ep: torch.export.ExportedProgram, expected: tuple[int, ...] | None, where: str) -> tuple[str, tuple[int, ...]]:
    """Name and per-sample shape of the single user input; the batch must be a static 1."""
    names = [s.arg.name for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    if len(names) != 1:
        raise ConversionError(f"{where}: the program takes {len(names)} user inputs, expected exactly one tensor")
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == names[0])
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        raise ConversionError(f"{where}: input {names[0]!r} is not a tensor (got {type(val).__name__})")
    if not all(isinstance(s, int) for s in val.shape):
        raise ConversionError(f"{where}: input {names[0]!r} has dynamic shape {tuple(val.shape)}; export with static shapes")
    full = tuple(int(s) for s in val.shape)
    if not val.is_floating_point():
        raise ConversionError(f"{where}: input {names[0]!r} has dtype {val.dtype}, expected a floating-point tensor")
    if not full or full[0] != 1:
        raise ConversionError(f"{where}: input {names[0]!r} has shape {full}; the batch dimension must be 1")
    shape = _check_shape(full[1:], f"{where}: input {names[0]!r} per-sample shape")
    if expected is not None and tuple(int(s) for s in expected) != shape:
        raise ConversionError(f"{where}: input_shape {tuple(expected)} does not match the program's input {shape}")
    return names[0], shape


def lifted_tensors(ep: torch.export.ExportedProgram, where: str) -> dict[str, Const]:
    """Placeholder name -> Const for every parameter, buffer and lifted constant; rejects non-finite values."""
    out: dict[str, Const] = {}
    kinds = {InputKind.PARAMETER: "parameter", InputKind.BUFFER: "buffer", InputKind.CONSTANT_TENSOR: "constant"}
    for spec in ep.graph_signature.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            continue
        if spec.kind not in kinds:
            raise ConversionError(f"{where}: program input {spec.arg.name!r} of kind {spec.kind.name} is not supported")
        tensor = ep.state_dict.get(spec.target)
        if tensor is None:
            tensor = ep.constants.get(spec.target)
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(f"{where}: {kinds[spec.kind]} {spec.target} not found in the program")
        desc = f"{kinds[spec.kind]} {spec.target}"
        check_finite(tensor, desc)
        out[spec.arg.name] = Const(tensor.detach(), desc)
    return out


def check_finite(tensor: torch.Tensor, desc: str) -> None:
    """Raise ConversionError naming ``desc`` if a floating-point tensor holds NaN or inf."""
    if tensor.is_floating_point() or tensor.is_complex():
        bad = int((~torch.isfinite(tensor.detach())).sum())
        if bad:
            raise ConversionError(f"{desc}: {bad} non-finite values (NaN or inf) out of {tensor.numel()}")
