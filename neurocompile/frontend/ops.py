"""Lowering rules: one function per aten op family, registered in ``HANDLERS`` by op name (``aten.conv2d``).

Each handler receives the lowering context, the fx node, its :class:`Site` and the bound, resolved arguments
(schema name -> value) and returns the lowered value (an :class:`Act`, a tuple for multi-output ops, or the
input itself for ops that are removed). Anything not registered here is rejected by the driver.
"""

from __future__ import annotations

import math
import operator

import torch

from .. import fixedpoint as fx
from ..ir import Add, AvgPool2d, Concat, Conv2d, Flatten, Linear, MaxPool2d, Neurons
from .context import Act, Site, activation, constant, pair
from .fold import PendingBatchNorm

HANDLERS: dict = {}


def handles(*names: str):
    def register(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def _np(t: torch.Tensor | None):
    return None if t is None else t.detach().to("cpu", torch.float64).numpy().copy()


# ----------------------------------------------------------------------------------------- synapses
@handles("aten.conv2d", "aten.convolution", "aten._convolution")
def conv(low, node, site: Site, a: dict):
    """2-D convolution (not transposed); symmetric integer padding, 'valid', or 'same' if symmetric."""
    if a.get("transposed"):
        raise site.unsupported("transposed convolution is not supported")
    x = activation(a["input"], "input", site, 3)
    w = constant(a["weight"], "weight", site, 4)
    b = constant(a["bias"], "bias", site, 1, optional=True)
    dilation = pair(a["dilation"], "dilation", site)
    padding = _conv_padding(a["padding"], tuple(w.shape[2:]), dilation, site)
    return low.emit(
        site, Conv2d, [x], weight=_np(w), bias=_np(b), stride=pair(a["stride"], "stride", site),
        padding=padding, dilation=dilation, groups=int(a["groups"]),
    )


def _conv_padding(p, kernel: tuple[int, int], dilation: tuple[int, int], site: Site) -> tuple[int, int]:
    if p == "valid":
        return (0, 0)
    if p == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in total):
            raise site.error(
                f"padding='same' with kernel {kernel} and dilation {dilation} pads {total} pixels per axis, "
                f"which is asymmetric; only symmetric padding is supported"
            )
        return (total[0] // 2, total[1] // 2)
    if isinstance(p, str):
        raise site.error(f"padding {p!r} is not supported; use ints, 'valid' or 'same'")
    padding = pair(p, "padding", site)
    if min(padding) < 0:
        raise site.error(f"negative padding {padding} is not supported")
    return padding


@handles("aten.linear")
def linear(low, node, site: Site, a: dict):
    """``y = x W^T + b`` on an (F,) activation."""
    x = activation(a["input"], "input (flatten it first)", site, 1)
    w = constant(a["weight"], "weight", site, 2)
    b = constant(a["bias"], "bias", site, optional=True)
    return _linear(low, site, x, w, b)


@handles("aten.addmm")
def addmm(low, node, site: Site, a: dict):
    """``beta * bias + alpha * (x @ mat2)`` with constant ``mat2`` (I, O) and ``bias``."""
    x = activation(a["mat1"], "mat1", site, 1)
    w = constant(a["mat2"], "mat2 (weight)", site, 2).T * float(a["alpha"])
    b = constant(a["self"], "bias", site) * float(a["beta"])
    return _linear(low, site, x, w, b)


@handles("aten.mm", "aten.matmul")
def mm(low, node, site: Site, a: dict):
    """``x @ W`` with an (F,) activation ``x`` on the left and a constant (F, O) matrix ``W``."""
    x = activation(a["self"], "left operand", site, 1)
    w = constant(a["mat2"] if "mat2" in a else a["other"], "right operand (weight)", site, 2)
    return _linear(low, site, x, w.T, None)


def _linear(low, site: Site, x: Act, w: torch.Tensor, b: torch.Tensor | None):
    if w.shape[1] != x.shape[0]:
        raise site.error(f"weight {tuple(w.shape)} does not match input features {x.shape[0]}")
    if b is not None:
        try:
            b = torch.broadcast_to(b, (1, w.shape[0])).reshape(-1)
        except RuntimeError:
            raise site.error(f"bias shape {tuple(b.shape)} does not match {w.shape[0]} outputs") from None
    return low.emit(site, Linear, [x], weight=_np(w), bias=_np(b))


@handles("aten.add", "aten.add_")
def add(low, node, site: Site, a: dict):
    """Sum of two activations of equal shape (residual); ``alpha`` becomes the second gain."""
    lhs, rhs = a["self"], a["other"]
    if not (isinstance(lhs, Act) and isinstance(rhs, Act)):
        raise site.unsupported("add with a scalar or a constant tensor is not supported (only activation + activation)")
    if lhs.shape != rhs.shape:
        raise site.error(f"add of shapes {lhs.shape} and {rhs.shape}: broadcasting is not supported")
    alpha = float(a.get("alpha") or 1)
    gains: dict[str, float] = {}
    for v, g in ((lhs, 1.0), (rhs, alpha)):
        gains[v.name] = gains.get(v.name, 0.0) + g
    inputs = [Act(name, lhs.shape) for name in gains]
    g = tuple(gains.values())
    return low.emit(site, Add, inputs, gains=None if all(v == 1.0 for v in g) else g)


@handles("aten.cat", "aten.concat", "aten.concatenate")
def cat(low, node, site: Site, a: dict):
    """Concatenation of activations along channels ((C, H, W), dim 1 / -3) or features ((F,), dim 1 / -1)."""
    xs = a.get("tensors")
    if not isinstance(xs, (list, tuple)) or not xs:
        raise site.unsupported(f"cat of {xs!r}: expected a list of activations")
    for x in xs:
        if not isinstance(x, Act):
            what = x.desc if hasattr(x, "desc") else repr(x)
            raise site.unsupported(f"cat with a constant ({what}) is not supported; only activations")
    rank = len(xs[0].shape)
    dim = int(a.get("dim") or 0)
    if rank not in (1, 3) or any(len(x.shape) != rank for x in xs) or dim not in (1, 1 - (rank + 1)):
        shapes = ", ".join(str(x.shape) for x in xs)
        raise site.error(f"cat along dim {dim} of per-sample shapes {shapes} is not supported; only along channels "
                         "of (C, H, W) maps (dim 1 or -3) or features of (F,) vectors (dim 1 or -1)")
    names = [x.name for x in xs]
    if len(set(names)) != len(names):
        raise site.error("cat of the same activation more than once is not supported")
    if len(xs) == 1:
        return xs[0]
    return low.emit(site, Concat, list(xs), sizes=tuple(int(x.shape[0]) for x in xs))


# ----------------------------------------------------------------------------------------- neurons / pooling
@handles("aten.relu", "aten.relu_")
def relu(low, node, site: Site, a: dict):
    """ReLU -> Neurons with default fields (a ReLU in the float IR)."""
    return low.emit(site, Neurons, [activation(a["self"], "input", site)])


@handles("aten.clamp", "aten.clamp_", "aten.clip", "aten.hardtanh", "aten.hardtanh_")
def clamp(low, node, site: Site, a: dict):
    """clamp(x, 0, lam) / hardtanh(x, 0, lam) with a constant lam > 0 -> Neurons(clip=lam): a clipped
    ReLU, as a QReLU-trained model exports (neurocompile.training.qrelu.to_exportable)."""
    lo = a.get("min", a.get("min_val"))
    hi = a.get("max", a.get("max_val"))
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or lo != 0 or not 0 < hi < math.inf:
        raise site.unsupported(f"clamp({lo}, {hi}) is only supported as a clipped ReLU clamp(0, lambda > 0)")
    return low.emit(site, Neurons, [activation(a.get("self", a.get("input")), "input", site)], clip=float(hi))


def _pool_padding(a: dict, k: tuple[int, int], site: Site) -> tuple[int, int]:
    padding = pair(a["padding"], "padding", site)
    if any(p < 0 or 2 * p > kk for p, kk in zip(padding, k)):
        raise site.error(f"padding {padding} must be >= 0 and at most half the kernel {k}")
    return padding


@handles("aten.avg_pool2d")
def avg_pool2d(low, node, site: Site, a: dict):
    """Average pooling; zero padding counted in the divisor (``count_include_pad=True``, PyTorch's default) is a
    sum pool over the zero-padded input, exact; ``count_include_pad=False`` with padding divides the border
    windows by fewer elements and is refused. ``ceil_mode`` only where it yields the floor-mode size: PyTorch
    divides a window that hangs over the edge by a smaller count."""
    x = activation(a["self"], "input", site, 3)
    k = pair(a["kernel_size"], "kernel_size", site)
    stride = pair(a["stride"], "stride", site) if a["stride"] else k
    padding = _pool_padding(a, k, site)
    if padding != (0, 0) and a.get("count_include_pad") is False:
        raise site.error(f"padding {padding} with count_include_pad=False divides each border window by its own "
                         f"number of real pixels (not {k[0] * k[1]}), which is no sum pool; use "
                         "count_include_pad=True (the default) or padding 0")
    if a.get("divisor_override"):
        raise site.error(f"divisor_override={a['divisor_override']} is not supported")
    floor = tuple(fx.pool_out(s, kk, st, p) for s, kk, st, p in zip(x.shape[1:], k, stride, padding))
    if a.get("ceil_mode") and low.out_shape(node)[1:] != floor:
        raise site.error(f"ceil_mode=True changes the output size to {low.out_shape(node)[1:]} (floor mode: {floor}); "
                         "PyTorch divides the extra windows by fewer pixels, which is no sum pool")
    return low.emit(site, AvgPool2d, [x], kernel_size=k, stride=stride, padding=padding)


@handles("aten.max_pool2d", "aten.max_pool2d_with_indices")
def max_pool2d(low, node, site: Site, a: dict):
    """Max pooling, dilation 1, with padding and ``ceil_mode`` as PyTorch places the windows (the max is over
    each window's real elements, as PyTorch's -inf padding gives). The indices of ``max_pool2d_with_indices``
    may not be used (they lower to None). Placed on spikes later (``placement.place_maxpools``)."""
    x = activation(a["self"], "input", site, 3)
    k = pair(a["kernel_size"], "kernel_size", site)
    stride = pair(a["stride"], "stride", site) if a["stride"] else k
    padding = _pool_padding(a, k, site)
    dilation = pair(a["dilation"], "dilation", site)
    if dilation != (1, 1):
        raise site.error(f"dilation {dilation} is not supported; only dilation 1")
    ceil = bool(a.get("ceil_mode"))
    floor = tuple(fx.pool_out(s, kk, st, p) for s, kk, st, p in zip(x.shape[1:], k, stride, padding))
    ceil = ceil and low.out_shape(node)[1:] != floor  # a ceil mode that changes nothing is stored as floor
    y = low.emit(site, MaxPool2d, [x], kernel_size=k, stride=stride, padding=padding, ceil_mode=ceil)
    if node.target._opname != "max_pool2d_with_indices":
        return y
    for u in node.users:  # getitem 0 = values; getitem 1 (indices) only if nothing reads it
        if u.target is not operator.getitem or (u.args[1] != 0 and u.users):
            raise site.error("the indices of the max pool are used; only the pooled values are supported")
    return y, None


@handles("aten.adaptive_avg_pool2d", "aten._adaptive_avg_pool2d")
def adaptive_avg_pool2d(low, node, site: Site, a: dict):
    """Adaptive average pooling whose output size divides the input: a plain pool with k = in / out."""
    x = activation(a["self"], "input", site, 3)
    out = pair([x.shape[1 + i] if s is None else s for i, s in enumerate(_two(a["output_size"]))], "output_size", site)
    if any(o < 1 or s % o for s, o in zip(x.shape[1:], out)):
        raise site.error(f"output size {out} does not divide the input size {x.shape[1:]}; only the divisible case is supported")
    k = (x.shape[1] // out[0], x.shape[2] // out[1])
    return x if k == (1, 1) else low.emit(site, AvgPool2d, [x], kernel_size=k, stride=k)


def _two(v):
    return [v, v] if isinstance(v, int) or v is None else list(v)


@handles("aten.mean")
def mean(low, node, site: Site, a: dict):
    """Mean over (H, W) of a (C, H, W) activation: a global AvgPool2d, plus Flatten unless keepdim."""
    x = activation(a["self"], "input", site, 3)
    dims = a.get("dim")
    if not dims or sorted(int(d) % 4 for d in dims) != [2, 3]:
        raise site.error(f"mean over dims {dims} is not supported; only over (H, W) = dims (2, 3)")
    k = x.shape[1:]
    y = x if k == (1, 1) else low.emit(site, AvgPool2d, [x], kernel_size=k, stride=k, shape=(x.shape[0], 1, 1))
    return y if a.get("keepdim") else low.emit(site, Flatten, [y], suffix="flatten", shape=(x.shape[0],))


# ----------------------------------------------------------------------------------------- shape ops
@handles("aten.view", "aten.reshape", "aten._unsafe_view", "aten.flatten", "aten.squeeze")
def reshape(low, node, site: Site, a: dict):
    """(C, H, W) -> (C*H*W,) becomes Flatten; a reshape that keeps the shape is removed."""
    x = activation(a["self"], "input", site)
    out = low.out_shape(node)
    if out == x.shape:
        return x
    if len(x.shape) == 3 and out == (math.prod(x.shape),):
        return low.emit(site, Flatten, [x])
    raise site.error(
        f"reshape of per-sample shape {x.shape} to {out} is not supported; only flatten (C, H, W) -> (C*H*W,) "
        f"(keeping the batch dimension) and no-op reshapes are"
    )


# ----------------------------------------------------------------------------------------- removed ops
@handles("aten.dropout", "aten.dropout_", "aten.feature_dropout", "aten.feature_dropout_", "aten.alpha_dropout",
         "aten.alpha_dropout_", "aten.feature_alpha_dropout", "aten.feature_alpha_dropout_", "aten.native_dropout")
def dropout(low, node, site: Site, a: dict):
    """Eval-mode dropout is the identity; training-mode dropout is rejected."""
    if a.get("train"):
        raise site.error("dropout in training mode; call model.eval() before export")
    x = activation(a["input"], "input", site)
    return (x, None) if node.target._opname == "native_dropout" else x


@handles("aten.clone", "aten.contiguous", "aten.detach", "aten.detach_", "aten.alias", "aten.lift_fresh",
         "aten.lift_fresh_copy")
def passthrough(low, node, site: Site, a: dict):
    return next(iter(a.values()))


@handles("aten._assert_tensor_metadata", "aten._assert_async", "aten._assert_scalar", "aten.sym_constrain_range",
         "aten.sym_constrain_range_for_size", "aten._functional_assert_async", "aten._functional_assert_scalar",
         "aten._functional_sym_constrain_range", "aten._functional_sym_constrain_range_for_size",
         "aten.sym_size", "aten.sym_numel", "aten.sym_stride", "aten.sym_storage_offset")
def bookkeeping(low, node, site: Site, a: dict):
    """Assertions and (static) size queries: no data flow; size queries return their traced value."""
    return node.meta.get("val")


# ----------------------------------------------------------------------------------------- output heads
@handles("aten._softmax", "aten._log_softmax", "aten.softmax", "aten.log_softmax")
def softmax_head(low, node, site: Site, a: dict):
    """softmax / log_softmax over the classes as the model's last op: dropped, with a note in the report.
    Both are strictly increasing in each logit given the others, so the argmax (the prediction) of the
    readout, which holds the logits, is the same; anywhere else they are refused."""
    x = activation(a.get("self", a.get("input")), "input", site)
    name = site.op.rsplit(".", 1)[-1].lstrip("_")
    last = list(node.graph.nodes)[-1]  # torch.fx puts the program's output node last
    users = [u for u in node.users if u is not last]
    if users:
        raise site.error(f"{name} whose result is used by {', '.join(u.name for u in users)}: the SNN has no "
                         f"{name}; it is dropped only as the model's last op, where the argmax of the logits "
                         "(the prediction) is the same with or without it")
    dim = a.get("dim")
    if len(x.shape) != 1 or dim not in (1, -1):
        raise site.error(f"{name} over dim {dim} of a per-sample shape {x.shape}: only a {name} over the classes "
                         f"(dim 1 or -1 of an (F,) output) keeps the argmax and can be dropped")
    low.graph.meta.setdefault("notes", []).append(
        f"{site}: {name} at the output dropped; the readout holds the logits, whose argmax (the prediction) it "
        "does not change")
    return x


# ----------------------------------------------------------------------------------------- batch norm
@handles("aten.batch_norm", "aten._native_batch_norm_legit_no_training", "aten._native_batch_norm_legit",
         "aten.native_batch_norm", "aten._native_batch_norm_legit_functional")
def batch_norm(low, node, site: Site, a: dict):
    """Eval-mode BatchNorm with running statistics -> PendingBatchNorm (folded afterwards)."""
    if a.get("training"):
        raise site.error("BatchNorm in training mode (batch statistics); call model.eval() before export")
    x = activation(a["input"], "input", site)
    c = x.shape[0]
    mean = constant(a.get("running_mean"), "running_mean", site, 1, optional=True)
    var = constant(a.get("running_var"), "running_var", site, 1, optional=True)
    if mean is None or var is None:
        raise site.error("BatchNorm without running statistics (track_running_stats=False) is not supported")
    gamma = constant(a["weight"], "weight", site, 1, optional=True)
    beta = constant(a["bias"], "bias", site, 1, optional=True)
    gamma = torch.ones(c, dtype=torch.float64) if gamma is None else gamma
    beta = torch.zeros(c, dtype=torch.float64) if beta is None else beta
    for key, t in (("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)):
        if t.shape != (c,):
            raise site.error(f"{key} has shape {tuple(t.shape)}, expected ({c},) for input {x.shape}")
    y = low.emit(site, PendingBatchNorm, [x], gamma=_np(gamma), beta=_np(beta), mean=_np(mean), var=_np(var),
                 eps=float(a["eps"]), where=str(site), shape=x.shape)
    n_out = len(node.target._schema.returns)
    return y if n_out == 1 else (y,) + (None,) * (n_out - 1)
