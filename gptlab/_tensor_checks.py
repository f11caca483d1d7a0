"""Cheap checks on tensor arguments (type, ndim, dtype, device): each names the parameter and what is allowed.

They look only at a tensor's metadata, never at its values, so they cost microseconds and can sit
on a model's forward pass. ``check_finite`` is the one that reads the values; it is for the small
teaching functions (lessons 03-05), not for a model's forward pass.
Wrong types raise ``ArgumentTypeError`` (a TypeError that is also a ValueError), bad values ``ValueError``.
"""
from __future__ import annotations

import torch

from ._checks import ArgumentTypeError


def check_tensor(name: str, x, *, ndim: int | None = None, min_ndim: int | None = None, shape: str = "",
                 floating: bool = False) -> torch.Tensor:
    """``x`` must be a tensor (of ``ndim`` dimensions, or at least ``min_ndim``; floating point if asked).

    ``shape`` names the expected layout in words, e.g. ``"(B, T, d_model)"``, for the message.
    """
    layout = f" of shape {shape}" if shape else ""
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor{layout}, got {type(x).__name__}"
                                + ("; convert it with torch.tensor(...)" if isinstance(x, (list, tuple)) else ""))
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must be a tensor{layout} ({ndim} dimensions), got shape {tuple(x.shape)}")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ValueError(f"{name} must be a tensor{layout} with at least {min_ndim} "
                         f"dimension{'s' if min_ndim > 1 else ''}, "
                         f"got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise ArgumentTypeError(f"{name} must hold floating-point numbers (e.g. torch.float32), got dtype "
                                f"{x.dtype}; convert it with {name}.float()")
    return x


def check_same_dtype(**tensors: torch.Tensor) -> None:
    """All the named tensors must share one dtype (torch would fail deep inside a matmul otherwise)."""
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) > 1:
        (first, t0), *_ = tensors.items()
        listed = ", ".join(f"{n} {str(t.dtype).replace('torch.', '')}" for n, t in tensors.items())
        others = [n for n, t in tensors.items() if t.dtype != t0.dtype]
        raise ArgumentTypeError(f"{', '.join(tensors)} must share one dtype, got {listed}; convert them to one, "
                                f"e.g. {others[0]} = {others[0]}.to({first}.dtype)")


def check_layer_dtype(name: str, x: torch.Tensor, weight, layer: str) -> None:
    """``x`` must have the dtype of the layer's ``weight`` (skipped under autocast, which casts for us)."""
    if (isinstance(weight, torch.Tensor) and x.dtype != weight.dtype and weight.is_floating_point()
            and not torch.is_autocast_enabled(x.device.type)):
        want = str(weight.dtype).replace("torch.", "")
        if not x.is_floating_point():
            raise ArgumentTypeError(f"{name} has dtype {x.dtype}, but this {layer}'s weights are {weight.dtype}; it "
                                    f"takes vectors, not ids (token ids go through an embedding first), or convert "
                                    f"with {name}.to(torch.{want})")
        raise ArgumentTypeError(f"{name} has dtype {x.dtype}, but this {layer}'s weights are {weight.dtype}; "
                                f"convert the input with {name}.to(torch.{want}) or the layer with "
                                f"layer.to({str(x.dtype)})")


def check_finite(name: str, x: torch.Tensor) -> None:
    """``x`` must hold no NaN or infinity (reads every value: for small teaching functions only)."""
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(f"{name} contains {n_nan} NaN and {n_inf} infinite values, which would come out as NaN "
                         f"(a softmax of inf is inf/inf); fix the input, e.g. with torch.nan_to_num({name})")


def check_bool(name: str, value) -> bool:
    """``value`` must be True or False (a string such as "no" would count as True); numpy's bool is fine."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool" and type(value).__module__ == "numpy":  # np.bool_, e.g. from a widget
        return bool(value)
    raise ArgumentTypeError(f"{name}={value!r:.60} must be True or False, got {type(value).__name__}")


def check_device(name: str, device) -> torch.device | None:
    """``device`` must be None, a torch.device or a device string such as "cpu", "cuda", "cuda:0", "mps"."""
    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, (str, int)) or isinstance(device, bool):
        raise ArgumentTypeError(f"{name}={device!r:.60} must be None, a torch.device or a string such as "
                                f"'cpu' or 'cuda', got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"{name}={device!r} is not a device; use 'cpu', 'cuda', 'cuda:0', 'mps', or "
                         f"gptlab.pick_device() for the best one here") from None


def check_dtype(name: str, dtype) -> torch.dtype:
    """``dtype`` must be a torch.dtype such as torch.float32 or torch.bfloat16."""
    if not isinstance(dtype, torch.dtype):
        raise ArgumentTypeError(f"{name}={dtype!r:.60} must be a torch.dtype such as torch.float32 or "
                                f"torch.bfloat16, got {type(dtype).__name__}")
    return dtype


def broadcast_shape(*shapes) -> tuple[int, ...] | None:
    """The shape ``shapes`` broadcast to, or None when they do not broadcast.

    Plain Python on purpose: ``torch.broadcast_shapes`` imports sympy on its first call, which
    takes seconds, and a check must answer at once.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, n in enumerate(shape, start=ndim - len(shape)):
            if n != 1:
                if out[i] not in (1, n):
                    return None
                out[i] = n
    return tuple(out)
