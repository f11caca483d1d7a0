"""Looking at a model from outside: where its parameters are, how big its gradients are, how fast it decodes.

* ``count_parameters`` / ``count_parameters_by``: how many numbers a module holds, in total and by
  submodule (lesson 06: multi-head attention has as many parameters as one head; fewer key/value
  heads have fewer).
* ``attention_head_stats``: what each head of a layer tends to look at (itself, the previous
  token, how far back, how spread out), so heads can be compared in numbers, not only pictures.
* ``grad_norms_per_layer``: the gradient's size in each block of a stack after ``backward()``
  (lesson 07: post-LN vs pre-LN at initialisation, as in Xiong et al. 2020, figure 3).
* ``count_flops``: the floating-point operations PyTorch's matrix products in one call perform.
* ``time_calls``: time several functions in alternation and keep the median and quartiles.
* ``greedy_decode`` and ``time_decoding``: decode token by token with a KV cache, and measure
  tokens per second for several models on the same prompt (lesson 06: MHA vs GQA vs MQA).

Timings here are measurements for a lesson to print, never for a test to check: they depend on
the machine, its load and its threads.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ._checks import ArgumentTypeError, check_int, check_type
from ._tensor_checks import check_bool, check_finite, check_tensor
from .attention import KVCache

__all__ = [
    "DecodeTiming",
    "attention_head_stats",
    "count_parameters",
    "count_parameters_by",
    "grad_norms_per_layer",
    "greedy_decode",
    "CallTiming",
    "count_flops",
    "time_calls",
    "time_decoding",
]


# --------------------------------------------------------------------------------------------
# parameters


def _check_module(name: str, module) -> None:
    if not isinstance(module, nn.Module):
        raise ArgumentTypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """How many numbers ``module`` holds (a tied matrix counted once, as ``parameters()`` yields it once)."""
    _check_module("module", module)
    trainable_only = check_bool("trainable_only", trainable_only)
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_parameters_by(module: nn.Module, depth: int = 1) -> dict[str, int]:
    """Parameters grouped by the first ``depth`` parts of their names, in the order they appear.

    For ``MultiHeadAttention(512, 8)``, ``depth=1`` gives ``{"q_proj": 262656, "k_proj": ...,
    "v_proj": ..., "out_proj": ...}`` (weights and biases together); ``depth=2`` splits weights
    from biases. A parameter whose name is shorter than ``depth`` parts keeps its whole name. The
    values sum to ``count_parameters(module)``.
    """
    _check_module("module", module)
    depth = check_int("depth", depth, min_value=1)
    counts: dict[str, int] = {}
    for name, p in module.named_parameters():  # named_parameters yields a shared tensor once
        key = ".".join(name.split(".")[:depth])
        counts[key] = counts.get(key, 0) + p.numel()
    return counts


# --------------------------------------------------------------------------------------------
# attention heads


def _tolerance(weights: torch.Tensor) -> float:
    """How far from 1 a row of softmax weights may sum in this dtype (half precision rounds more)."""
    return 1e-3 if weights.dtype in (torch.float32, torch.float64) else 2e-2


def attention_head_stats(weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """Four numbers per head that say what it looks at, averaged over the queries (and the batch).

    ``weights``: (n_head, T, T) or (B, n_head, T, T) self-attention weights, rows summing to 1
    (e.g. ``rec.weights[layer]`` from ``record_attention``). Returns a dict of (n_head,) tensors:

    * ``self``: mean weight a token puts on itself (the diagonal);
    * ``previous``: mean weight on the token just before it (queries 1..T-1);
    * ``distance``: mean number of positions looked back, sum_j w_ij (i - j) (future keys, if
      any, count as negative distances);
    * ``entropy``: mean entropy of a row in nats: 0 = looks at one token, log(i + 1) = spreads
      evenly over the i + 1 tokens a causal query may see.
    """
    check_tensor("weights", weights, shape="(n_head, T, T) or (B, n_head, T, T)", floating=True)
    if weights.dim() not in (3, 4):
        raise ValueError(f"weights must be a (n_head, T, T) or (B, n_head, T, T) tensor, got {tuple(weights.shape)}")
    check_finite("weights", weights)
    w = weights.detach().double()
    if w.dim() == 3:
        w = w.unsqueeze(0)  # (1, nh, T, T)
    T = w.size(-1)
    if w.size(-2) != T or T < 2:
        raise ValueError(f"weights must be square self-attention weights over at least 2 tokens, got (T_q, T_k) = "
                         f"{tuple(w.shape[-2:])}")
    # an entropy of numbers that are not probabilities comes out meaningless (even negative): refuse them
    if bool((w < 0).any()) or float((w.sum(-1) - 1).abs().max()) > _tolerance(weights):
        raise ValueError("weights must be attention weights: non-negative, each row summing to 1 (got a row "
                         f"summing to {float(w.sum(-1).flatten()[(w.sum(-1) - 1).abs().flatten().argmax()]):.4g}, "
                         f"smallest entry {float(w.min()):.3g}); pass the softmax output, not the scores")
    pos = torch.arange(T, dtype=w.dtype)
    back = pos[:, None] - pos[None, :]  # (T, T) how many positions key j lies before query i
    stats = {
        "self": w.diagonal(dim1=-2, dim2=-1).mean(-1),  # (B, nh)
        "previous": w.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1),
        "distance": (w * back).sum(-1).mean(-1),
        # 0 log 0 = 0: masked keys carry weight exactly 0 and add nothing
        "entropy": -torch.where(w > 0, w * w.clamp_min(1e-300).log(), torch.zeros_like(w)).sum(-1).mean(-1),
    }
    return {name: value.mean(0).float() for name, value in stats.items()}  # average over the batch


# --------------------------------------------------------------------------------------------
# gradients


def _layers(model) -> list[nn.Module]:
    """The stack of blocks in ``model``: its ``.blocks``, or the model itself when it is a list of modules."""
    if isinstance(model, nn.Module) and isinstance(getattr(model, "blocks", None), (nn.ModuleList, nn.Sequential)):
        return list(model.blocks)
    if isinstance(model, (nn.ModuleList, nn.Sequential)):
        return list(model)
    if isinstance(model, Iterable) and not isinstance(model, nn.Module):
        layers = list(model)
        if layers and all(isinstance(m, nn.Module) for m in layers):
            return layers
    raise ValueError(f"model must have a .blocks ModuleList (like gptlab's GPT), or be a ModuleList, Sequential "
                     f"or list of modules (one per layer), got {type(model).__name__}")


def grad_norms_per_layer(model, name_contains: str | None = None) -> list[float]:
    """The L2 norm of the gradient of each layer's parameters, first layer first.

    Call it after ``loss.backward()``. ``model``: a model with ``.blocks`` (gptlab's GPT) or a
    list / ``ModuleList`` of layers. Layer i's entry is sqrt(sum of squared gradient entries) over
    all its parameters, or only over those whose name (inside the layer) contains
    ``name_contains``, e.g. ``"mlp.proj.weight"`` for the MLP's second matrix, the one Xiong et al.
    (2020) plot. Parameters without a gradient count as zero; if no parameter of the stack has a
    gradient, that is a forgotten ``backward()`` and raises ``ValueError``.
    """
    layers = _layers(model)
    if name_contains is not None:
        check_type("name_contains", name_contains, str, "None or part of a parameter name, e.g. 'mlp.proj.weight'")
    norms, seen_grad, matched = [], False, False
    for layer in layers:
        total = 0.0
        for name, p in layer.named_parameters():
            if name_contains is not None and name_contains not in name:
                continue
            matched = True
            if p.grad is not None:
                seen_grad = True
                total += float(p.grad.detach().double().pow(2).sum())
        norms.append(math.sqrt(total))
    if name_contains is not None and not matched:
        names = [n for n, _ in layers[0].named_parameters()] if layers else []
        raise ValueError(f"no parameter name contains {name_contains!r}; the first layer's parameters are "
                         f"{', '.join(names) or 'none'}")
    if not seen_grad:
        raise ValueError("no parameter has a gradient yet: compute a loss and call loss.backward() first")
    return norms


# --------------------------------------------------------------------------------------------
# decoding speed


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock measures the computation and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _check_decode_args(model, prompt, max_new_tokens) -> int:
    _check_module("model", model)
    if not isinstance(getattr(model, "blocks", None), nn.ModuleList):
        raise ValueError(f"model must have a .blocks ModuleList and accept model(idx, caches=[...]), like "
                         f"gptlab's GPT; got {type(model).__name__}")
    check_tensor("prompt", prompt, shape="(B, T) of token ids")
    if prompt.dim() != 2 or prompt.size(1) == 0:
        shape = tuple(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__
        raise ValueError(f"prompt must be a (B, T) tensor of token ids with T >= 1, got {shape}")
    if prompt.dtype.is_floating_point or prompt.dtype.is_complex or prompt.dtype == torch.bool:
        raise ArgumentTypeError(f"prompt must hold integer token ids (torch.long), got dtype {prompt.dtype}")
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, min_value=1)
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    if block_size is not None and prompt.size(1) + max_new_tokens - 1 > block_size:
        raise ValueError(f"a {prompt.size(1)}-token prompt plus {max_new_tokens} new tokens needs "
                         f"{prompt.size(1) + max_new_tokens - 1} cached positions, more than block_size={block_size}; "
                         f"use a shorter prompt or fewer new tokens (this helper does not slide the window)")
    return max_new_tokens


@torch.no_grad()
def greedy_decode(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> tuple[torch.Tensor, list[KVCache]]:
    """Greedy decoding with a KV cache: read the prompt once (prefill), then feed one token per step.

    Returns the ids ``(B, T + max_new_tokens)`` and the per-layer caches, which then hold the keys
    and values of every position but the last (the last token was chosen, never fed back).
    ``model``: gptlab's GPT (or any model with ``.blocks`` that accepts ``model(idx, caches=...)``).
    Same tokens as ``model.generate(prompt, max_new_tokens, temperature=0)`` while the context fits
    in ``block_size``.
    """
    max_new_tokens = _check_decode_args(model, prompt, max_new_tokens)
    was_training = model.training
    model.eval()
    try:
        caches = [KVCache() for _ in model.blocks]
        logits, _ = model(prompt, caches=caches)  # prefill: every prompt position at once
        idx = prompt
        for step in range(max_new_tokens):
            next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1) the most likely token
            idx = torch.cat((idx, next_id), dim=1)
            if step < max_new_tokens - 1:
                logits, _ = model(next_id, caches=caches)  # only the new token goes through the stack
    finally:
        model.train(was_training)
    return idx, caches


@dataclass
class DecodeTiming:
    """What ``time_decoding`` measured for one model."""

    tokens_per_second: float  # median over repeats of (B x new tokens) / seconds, prefill included
    seconds: list[float] = field(default_factory=list)  # wall-clock time of each repeat
    new_tokens: int = 0  # tokens generated per repeat (B x max_new_tokens)
    cache_bytes: int = 0  # memory the KV caches held at the end (sum of KVCache.nbytes() over layers)
    ids: torch.Tensor | None = None  # the decoded ids of the last repeat (B, T + max_new_tokens)


def time_decoding(models: Mapping[str, nn.Module], prompt: torch.Tensor, max_new_tokens: int, repeats: int = 5,
                  warmup: int = 1) -> dict[str, DecodeTiming]:
    """Measure greedy KV-cached decoding speed for several models on the same prompt.

    The models take turns (round robin) within each repeat, so a machine that slows down for a
    while (another program, a thermal limit) slows every model alike; each gets ``warmup``
    untimed runs first. Returns ``{name: DecodeTiming}`` with the median tokens per second.
    The numbers describe this machine at this moment: compare them as ratios within one call.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: model}, e.g. {'MHA': mha, 'MQA': mqa}")
    for model in models.values():
        _check_decode_args(model, prompt, max_new_tokens)
    repeats = check_int("repeats", repeats, min_value=1)
    warmup = check_int("warmup", warmup, min_value=0)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    last: dict[str, tuple[torch.Tensor, list[KVCache]]] = {}
    for model in models.values():
        p = prompt.to(next(model.parameters()).device)
        for _ in range(warmup):
            greedy_decode(model, p, max_new_tokens)
    for _ in range(repeats):
        for name, model in models.items():
            p = prompt.to(next(model.parameters()).device)
            _sync(p.device)
            start = time.perf_counter()
            last[name] = greedy_decode(model, p, max_new_tokens)
            _sync(p.device)
            seconds[name].append(time.perf_counter() - start)
    n = prompt.size(0) * max_new_tokens
    return {name: DecodeTiming(tokens_per_second=n / statistics.median(seconds[name]), seconds=seconds[name],
                               new_tokens=n, cache_bytes=sum(c.nbytes() for c in last[name][1]),
                               ids=last[name][0].cpu())
            for name in models}


def count_flops(fn, *args) -> int:
    """Floating-point operations of the matrix products in ``fn(*args)``, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2; softmax etc. not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    if not callable(fn):
        raise ArgumentTypeError(f"fn must be callable (a function or a module), got {type(fn).__name__}")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


@dataclass
class CallTiming:
    """What ``time_calls`` measured for one function: seconds per call."""

    median: float
    q1: float  # first quartile
    q3: float  # third quartile
    seconds: list[float] = field(default_factory=list)


@torch.no_grad()
def time_calls(fns: Mapping[str, object], repeats: int = 30, warmup: int = 3) -> dict[str, CallTiming]:
    """Time several zero-argument functions in alternation (A, B, C, A, B, C, ...).

    Alternating spreads a slow spell of the machine over every function alike; ``warmup`` untimed
    rounds come first. Returns ``{name: CallTiming}`` (median and quartiles over ``repeats``).
    """
    if not isinstance(fns, Mapping) or not fns or not all(callable(f) for f in fns.values()):
        kind = (type(fns).__name__ if not isinstance(fns, Mapping)
                else "a dict with non-callable values" if fns else "{}")
        raise ValueError(f"fns must be a non-empty dict {{name: function without arguments}}, got {kind}")
    repeats = check_int("repeats", repeats, min_value=2)
    warmup = check_int("warmup", warmup, min_value=0)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    out = {}
    for name, s in seconds.items():
        q1, _, q3 = statistics.quantiles(s, n=4)
        out[name] = CallTiming(median=statistics.median(s), q1=q1, q3=q3, seconds=s)
    return out
