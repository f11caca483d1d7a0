"""Storing a GPT's weights in fewer bits: round-to-nearest and GPTQ (lesson 13).

Weights are (out_features, in_features), as in ``nn.Linear``: row o makes output o, column i
multiplies input i.

- ``quantize_absmax``: symmetric round-to-nearest (RTN). Each row (or each group of
  ``group_size`` consecutive inputs within a row) gets one scale, ``max |w| / qmax`` with
  ``qmax = 2^(bits-1) - 1``, and every weight becomes the integer code ``round(w / scale)``.
- ``gptq_quantize``: GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for
  Generative Pre-trained Transformers"). Columns are quantized one by one; the error each column
  makes is spread over the columns not yet quantized, weighted by the inverse Hessian of the
  layer's squared output error, so that the layer's *outputs* on calibration inputs stay close.
- ``quantize_model``: a copy of a model whose Linear layers hold integer codes and a scale, and
  rebuild their weights on every forward pass (the teaching version: it saves memory, not time).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type, divisors

METHODS = ("rtn", "gptq")


@dataclass
class QuantizedTensor:
    """A weight matrix stored as integer codes and scales: ``w ≈ codes * scale``.

    ``codes``: an int8 tensor of the weight's shape, each code in [-qmax, qmax];
    ``scale``: (out_features, n_groups) float32, one scale per row (n_groups = 1) or per group of
    ``group_size`` consecutive inputs; ``bits``: bits per code.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    bits: int
    group_size: int | None = None

    def __post_init__(self):
        check_type("codes", self.codes, torch.Tensor, "an int8 tensor of integer codes")
        check_type("scale", self.scale, torch.Tensor, "a float tensor of scales")
        if self.codes.dim() != 2 or self.codes.dtype.is_floating_point or self.codes.dtype == torch.bool:
            raise ValueError(f"codes must be a 2-D integer (int8) tensor, got shape {tuple(self.codes.shape)} "
                             f"and dtype {self.codes.dtype}")
        self.bits = _check_bits(self.bits)
        in_features = self.codes.size(1)
        if self.group_size is not None:
            self.group_size = check_int("group_size", self.group_size, min_value=1)
        groups = 1 if self.group_size is None else in_features // self.group_size
        if self.group_size is not None and in_features % self.group_size:
            raise ValueError(f"group_size={self.group_size} must divide in_features={in_features}")
        if tuple(self.scale.shape) != (self.codes.size(0), groups):
            raise ValueError(f"scale must have shape (out_features, n_groups) = {(self.codes.size(0), groups)}, "
                             f"got {tuple(self.scale.shape)}")
        if self.codes.numel() and self.codes.device.type == "cpu" and int(self.codes.abs().max()) > self.qmax:
            raise ValueError(f"codes must lie in [-{self.qmax}, {self.qmax}] for bits={self.bits}, got codes up to "
                             f"{int(self.codes.abs().max())}")

    @property
    def shape(self) -> torch.Size:
        return self.codes.shape

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weights these codes stand for: codes x scale, each scale repeated over its group."""
        out_features, in_features = self.codes.shape
        group = in_features if self.group_size is None else self.group_size
        scale = self.scale.repeat_interleave(group, dim=1)  # (out, n_groups) -> (out, in)
        return (self.codes.to(dtype) * scale.to(dtype))

    @property
    def nbytes(self) -> int:
        """Storage if the codes were packed ``bits`` to a number, plus the float32 scales."""
        return math.ceil(self.codes.numel() * self.bits / 8) + self.scale.numel() * self.scale.element_size()

    def __repr__(self) -> str:
        group = "per row" if self.group_size is None else f"groups of {self.group_size}"
        return (f"QuantizedTensor(shape={tuple(self.codes.shape)}, bits={self.bits}, {group}, "
                f"nbytes={self.nbytes})")


def _check_weight(name: str, w) -> torch.Tensor:
    check_type(name, w, torch.Tensor, "a torch.Tensor")
    if w.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (out_features, in_features) matrix, got shape {tuple(w.shape)}")
    if not w.dtype.is_floating_point:
        raise ArgumentTypeError(f"{name} must hold floating-point weights, got dtype {w.dtype}")
    if not torch.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinite values; quantize a finite weight matrix")
    return w


def _check_bits(bits) -> int:
    return check_int("bits", bits, min_value=2, max_value=8)


def _check_group(group_size, in_features: int) -> int | None:
    if group_size is None:
        return None
    group_size = check_int("group_size", group_size, min_value=1)
    if in_features % group_size:
        shown = ", ".join(map(str, divisors(in_features)))
        raise ValueError(f"group_size={group_size} does not divide the row length in_features={in_features}; "
                         f"choose group_size among {shown}, or None for one scale per row")
    return group_size


def _absmax_scale(w: torch.Tensor, qmax: int) -> torch.Tensor:
    """One scale per row of w (R, n): max |w| / qmax, so the largest weight lands on code ±qmax."""
    scale = w.abs().amax(dim=1, keepdim=True) / qmax  # (R, 1)
    return torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row: any scale works


def _round(w: torch.Tensor, scale: torch.Tensor, qmax: int) -> torch.Tensor:
    return torch.clamp(torch.round(w / scale), -qmax, qmax)


def quantize_absmax(w: torch.Tensor, bits: int = 8, group_size: int | None = None) -> QuantizedTensor:
    """Symmetric round-to-nearest: codes = round(w / scale), scale = max |w| / (2^(bits-1) - 1).

    One scale per output row, or per group of ``group_size`` consecutive inputs within a row
    (``group_size`` must divide in_features). Every weight ends within half a step (scale / 2)
    of its code x scale.
    """
    w = _check_weight("w", w)
    bits = _check_bits(bits)
    out_features, in_features = w.shape
    group_size = _check_group(group_size, in_features)
    qmax = 2 ** (bits - 1) - 1
    group = in_features if group_size is None else group_size
    w32 = w.detach().float()
    grouped = w32.reshape(out_features * (in_features // group), group)  # (out * n_groups, group)
    scale = _absmax_scale(grouped, qmax)  # (out * n_groups, 1)
    codes = _round(grouped, scale, qmax)
    return QuantizedTensor(codes.reshape(out_features, in_features).to(torch.int8),
                           scale.reshape(out_features, in_features // group), bits, group_size)


def gptq_quantize(W: torch.Tensor, H: torch.Tensor, bits: int = 4, group_size: int | None = 128,
                  damp: float = 0.01, block_size: int = 128) -> QuantizedTensor:
    """GPTQ (Frantar et al. 2022): round-to-nearest column by column, each error fed forward.

    ``H`` (in_features, in_features): the Hessian of the layer's squared output error, e.g.
    ``2 * X.T @ X`` for calibration inputs X (n_samples, in_features). ``damp`` x the mean of its
    diagonal is added to the diagonal so that it can be inverted. After column i is rounded, its
    error (w_i - q_i) / U_ii moves the columns j > i by -error x U_ij, where U is the upper
    Cholesky factor of H^-1: the best correction the remaining columns can make (the Optimal
    Brain Surgeon update). ``block_size`` columns are updated together (lazy batch updates: the
    same result, fewer passes over W). With H = identity no correction happens and the codes are
    exactly those of ``quantize_absmax``.
    """
    W = _check_weight("W", W)
    bits = _check_bits(bits)
    out_features, in_features = W.shape
    check_type("H", H, torch.Tensor, "a torch.Tensor")
    if tuple(H.shape) != (in_features, in_features):
        raise ValueError(f"H must be (in_features, in_features) = ({in_features}, {in_features}) for W of shape "
                         f"{tuple(W.shape)}, got {tuple(H.shape)}; build it as 2 * X.T @ X from inputs X "
                         f"of shape (n_samples, {in_features})")
    group_size = _check_group(group_size, in_features)
    damp = check_float("damp", damp, min_value=0.0)
    block_size = check_int("block_size", block_size, min_value=1)
    qmax = 2 ** (bits - 1) - 1
    group = in_features if group_size is None else group_size

    W = W.detach().float().clone()
    H = H.detach().float().clone().to(W.device)
    if not torch.isfinite(H).all():
        raise ValueError("H contains NaN or infinite values")
    dead = torch.diag(H) == 0  # an input that is always 0: its column cannot matter, set it to 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    idx = torch.arange(in_features, device=W.device)
    H[idx, idx] += damp * torch.mean(torch.diag(H))
    try:
        L = torch.linalg.cholesky(H)
    except RuntimeError:
        raise ValueError("H is not positive definite even after damping; pass a symmetric H such as "
                         "2 * X.T @ X, or a larger damp (e.g. 0.1)") from None
    U = torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)  # upper factor of H^-1

    codes = torch.zeros_like(W)
    scales = torch.zeros(out_features, in_features // group, device=W.device)
    if group_size is None:
        scales[:, :1] = _absmax_scale(W, qmax)
    for b0 in range(0, in_features, block_size):
        b1 = min(b0 + block_size, in_features)
        W1 = W[:, b0:b1].clone()  # this block's columns, updated as we go
        err_block = torch.zeros_like(W1)
        U1 = U[b0:b1, b0:b1]
        for i in range(b1 - b0):
            col = b0 + i
            if group_size is not None and col % group == 0:
                # the group's scale comes from its columns as they are now, after earlier corrections
                g1 = min(col + group, b1)
                current = torch.cat((W1[:, i:g1 - b0], W[:, g1:col + group]), dim=1)
                scales[:, col // group] = _absmax_scale(current, qmax).squeeze(1)
            s = scales[:, col // group]  # (out,)
            w = W1[:, i]
            q = _round(w, s, qmax)
            codes[:, col] = q
            err = (w - q * s) / U1[i, i]  # (out,)
            W1[:, i:] -= err.unsqueeze(1) * U1[i, i:].unsqueeze(0)
            err_block[:, i] = err
        W[:, b1:] -= err_block @ U[b0:b1, b1:]  # the block's corrections to all later columns at once
    return QuantizedTensor(codes.to(torch.int8), scales, bits, group_size)


class QuantizedLinear(nn.Module):
    """An ``nn.Linear`` whose weight is stored as a ``QuantizedTensor`` and rebuilt on each forward."""

    def __init__(self, qweight: QuantizedTensor, bias: torch.Tensor | None = None):
        super().__init__()
        check_type("qweight", qweight, QuantizedTensor, "a QuantizedTensor (from quantize_absmax or gptq_quantize)")
        if bias is not None:
            check_type("bias", bias, torch.Tensor, "a tensor of out_features numbers, or None")
            if tuple(bias.shape) != (qweight.shape[0],):
                raise ValueError(f"bias must have shape ({qweight.shape[0]},) (one per output), got "
                                 f"{tuple(bias.shape)}")
        self.bits, self.group_size = qweight.bits, qweight.group_size
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("codes", qweight.codes)
        self.register_buffer("scale", qweight.scale)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @property
    def qweight(self) -> QuantizedTensor:
        return QuantizedTensor(self.codes, self.scale, self.bits, self.group_size)

    @property
    def nbytes(self) -> int:
        """Packed codes + scales + the bias (kept at its own precision)."""
        bias = 0 if self.bias is None else self.bias.numel() * self.bias.element_size()
        return self.qweight.nbytes + bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point or x.dim() == 0 \
                or x.size(-1) != self.in_features:
            got = (f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor)
                   else type(x).__name__)
            raise ValueError(f"x must be a float tensor whose last dimension is in_features={self.in_features}, "
                             f"got {got}")
        weight = QuantizedTensor.dequantize(self, x.dtype)  # (out, in): dequantized on the fly
        return F.linear(x, weight, None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}"


def _linear_names(model: nn.Module, skip) -> list[str]:
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.split(".")[-1] not in skip]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


@torch.no_grad()
def layer_inputs(model: nn.Module, calibration: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Run ``calibration`` (B, T) token ids through ``model``; return each named Linear's inputs (N, in)."""
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    if isinstance(names, str):
        raise ArgumentTypeError(f"names={names!r} must be a list of layer names, e.g. [{names!r}]")
    known = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for name in names:
        if name not in known:
            shown = ", ".join(sorted(known)[:6]) + (", ..." if len(known) > 6 else "")
            raise ValueError(f"names contains {name!r}, which is not a Linear layer of the model; "
                             f"its Linear layers are: {shown}")
        def hook(_module, inputs, _output, name=name):
            seen[name] = inputs[0].detach().reshape(-1, inputs[0].size(-1)).float()
        hooks.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        model(calibration)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _check_calibration(calibration, model: nn.Module) -> torch.Tensor:
    if calibration is None:
        raise ValueError("method='gptq' needs calibration: a (B, T) tensor of token ids from text the model "
                         "will see, e.g. calibration=val_data[:4096].view(32, 128)")
    check_type("calibration", calibration, torch.Tensor, "a (B, T) tensor of token ids")
    if calibration.dim() != 2 or calibration.dtype.is_floating_point:
        raise ValueError(f"calibration must be a (B, T) integer tensor of token ids, got shape "
                         f"{tuple(calibration.shape)} and dtype {calibration.dtype}")
    device = next(model.parameters()).device
    return calibration.to(device)


def quantize_model(model: nn.Module, method: str = "rtn", bits: int = 8, group_size: int | None = None,
                   calibration: torch.Tensor | None = None, *, damp: float = 0.01,
                   skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """A copy of ``model`` whose Linear layers are ``QuantizedLinear`` (the original is untouched).

    ``method="rtn"``: ``quantize_absmax`` on each weight. ``method="gptq"``: ``gptq_quantize``,
    block by block as in Frantar et al.: the calibration tokens (B, T) run through the copy, whose
    earlier layers are already quantized, so each layer corrects for the errors before it; each
    Linear's H is 2 X^T X / N of its inputs X. Layers named in ``skip`` stay in full precision
    (by default the output head, which GPT-2 shares with the token embedding; GPTQ leaves
    embeddings and head unquantized too).
    """
    check_type("model", model, nn.Module, "a torch.nn.Module (e.g. a gptlab GPT)")
    method = check_choice("method", method, METHODS)
    bits = _check_bits(bits)
    if method == "gptq":
        calibration = _check_calibration(calibration, model)
    qmodel = copy.deepcopy(model).eval()
    names = _linear_names(qmodel, skip)
    if not names:
        raise ValueError("model has no nn.Linear layers to quantize (outside skip)")
    for name in names:  # check group_size against every layer before doing any work
        _check_group(group_size, qmodel.get_submodule(name).in_features)

    def replace(name: str, qweight: QuantizedTensor) -> None:
        linear = qmodel.get_submodule(name)
        _set_module(qmodel, name, QuantizedLinear(qweight, linear.bias).to(linear.weight.device))

    if method == "rtn":
        for name in names:
            replace(name, quantize_absmax(qmodel.get_submodule(name).weight, bits=bits, group_size=group_size))
        return qmodel

    # GPTQ: group the Linear layers by the block they sit in (blocks.0.attn.q_proj -> blocks.0)
    stages: dict[str, list[str]] = {}
    for name in names:
        parts = name.split(".")
        stage = ".".join(parts[:2]) if len(parts) > 2 else name
        stages.setdefault(stage, []).append(name)
    for stage_names in stages.values():
        inputs = layer_inputs(qmodel, calibration, stage_names)
        for name in stage_names:
            X = inputs[name]  # (N, in)
            H = 2.0 * X.T @ X / X.size(0)
            gs = group_size if group_size is not None else None
            replace(name, gptq_quantize(qmodel.get_submodule(name).weight, H, bits=bits, group_size=gs, damp=damp))
    return qmodel


def model_nbytes(model: nn.Module) -> int:
    """Bytes a model's weights take: quantized layers at their packed size, every other tensor as stored.

    A tensor shared by two modules (tied embedding and head) is counted once.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    total, seen = 0, set()
    for module in model.modules():
        if isinstance(module, QuantizedLinear):
            total += module.qweight.nbytes
            seen.update({id(module.codes), id(module.scale)})
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) in seen or not tensor.is_floating_point():
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total


def layer_errors(model: nn.Module, calibration: torch.Tensor, bits: int = 4, group_size: int | None = None,
                 damp: float = 0.01, skip: tuple[str, ...] = ("lm_head",)) -> dict[str, dict[str, float]]:
    """For each Linear: ‖WX − ŴX‖ / ‖WX‖ on the calibration inputs, for round-to-nearest and for GPTQ.

    Each layer is quantized alone, from the inputs the full-precision model gives it.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    calibration = _check_calibration(calibration, model)
    bits = _check_bits(bits)
    names = _linear_names(model, skip)
    inputs = layer_inputs(model.eval(), calibration, names)
    out = {}
    for name in names:
        W = model.get_submodule(name).weight.detach().float()
        X = inputs[name]
        reference = X @ W.T
        rtn = quantize_absmax(W, bits=bits, group_size=group_size).dequantize()
        gptq = gptq_quantize(W, 2.0 * X.T @ X / X.size(0), bits=bits, group_size=group_size, damp=damp).dequantize()
        norm = reference.norm().item()
        out[name] = {"rtn": ((X @ rtn.T) - reference).norm().item() / norm,
                     "gptq": ((X @ gptq.T) - reference).norm().item() / norm}
    return out


__all__ = ["QuantizedTensor", "QuantizedLinear", "quantize_absmax", "gptq_quantize", "quantize_model",
           "model_nbytes", "layer_errors", "layer_inputs", "METHODS"]
