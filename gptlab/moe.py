"""Mixture of experts (MoE): many MLPs ("experts"), and a router that sends each token to a few.

A dense Transformer block runs every token through one MLP. An MoE layer keeps ``n_experts``
MLPs of the same shape and a small ``router`` (one Linear layer) that scores the experts for each
token; the token visits only its ``top_k`` best experts and mixes their outputs:

    router_probs = softmax(router(x))              # (N, n_experts) one distribution per token
    gates, experts = top_k(router_probs)           # keep the k best, renormalise to sum to 1
    out[n] = sum_j gates[n, j] * experts[experts[n, j]](x[n])

So the parameters grow with ``n_experts`` while the compute per token grows only with ``top_k``:
train a bigger model for the same cost per token (lecture notes 4.3; Shazeer et al. 2017,
Lepikhin et al. 2020 "GShard", Fedus et al. 2021 "Switch Transformers", Jiang et al. 2024
"Mixtral"). ``moe_parameter_counts`` puts numbers on that.

Two practical problems come with the router, and this module shows both:

* Collapse: a router that favours one expert trains that expert more, so it gets favoured more.
  ``MoE.aux_loss`` is the Switch Transformer load-balancing loss ``n_experts * sum_i f_i * P_i``,
  equal to 1 when routing is uniform and up to ``n_experts`` when it collapses; add a small
  multiple of it (Switch uses 0.01) to the training loss.
* Capacity: hardware wants a fixed batch per expert. With ``capacity_factor`` set, each expert
  takes at most ``ceil(capacity_factor * N * top_k / n_experts)`` token assignments per forward
  pass; the overflow is dropped (contributes zero, the block's residual connection carries the
  token through unchanged).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import ArgumentTypeError, check_float, check_int, check_type
from ._tensor_checks import check_bool, check_layer_dtype, check_tensor
from .block import MLP


@dataclass
class Routing:
    """What the router decided in the last forward pass (detached; rows are tokens in (B*T) order)."""

    experts: torch.Tensor  # (N, top_k) long: the chosen experts, best first
    gates: torch.Tensor  # (N, top_k) their mixing weights, each row sums to 1
    router_probs: torch.Tensor  # (N, n_experts) softmax of the router logits (noisy ones in training)
    dropped: torch.Tensor  # (N, top_k) bool: True where the expert was full and the assignment was dropped
    tokens_per_expert: torch.Tensor  # (n_experts,) long: assignments routed to each expert, before capacity
    capacity: int | None  # most assignments an expert processes, None when unlimited

    @property
    def processed_per_expert(self) -> torch.Tensor:
        """(n_experts,) assignments each expert actually processed (routed minus dropped)."""
        n_experts = self.tokens_per_expert.numel()
        dropped_per_expert = torch.bincount(self.experts[self.dropped], minlength=n_experts)
        return self.tokens_per_expert - dropped_per_expert


def _check_moe_config(n_experts, top_k) -> tuple[int, int]:
    n_experts = check_int("n_experts", n_experts, min_value=1)
    top_k = check_int("top_k", top_k)
    if not 1 <= top_k <= n_experts:
        raise ValueError(f"top_k={top_k} must be between 1 and n_experts={n_experts}: "
                         f"each token visits top_k different experts")
    return n_experts, top_k


def load_balancing_loss(router_probs: torch.Tensor, expert_index: torch.Tensor) -> torch.Tensor:
    """Switch Transformer auxiliary loss ``n_experts * sum_i f_i * P_i`` (Fedus et al. 2021, eq. 4).

    router_probs: (N, n_experts); expert_index: (N, top_k) chosen experts -> scalar tensor.
    f_i is the fraction of the N*top_k assignments that went to expert i (a count: no gradient),
    P_i the mean router probability of expert i (differentiable). Uniform routing gives
    f_i = P_i = 1/n_experts and a loss of 1; sending everything to one confident expert gives
    ``n_experts``. Its gradient lowers P_i most where f_i is largest: busy experts lose probability.
    """
    check_tensor("router_probs", router_probs, ndim=2, shape="(N, n_experts)", floating=True)
    check_tensor("expert_index", expert_index, ndim=2, shape="(N, top_k)")
    n_experts = router_probs.size(-1)
    if expert_index.dtype.is_floating_point or expert_index.dtype.is_complex or expert_index.dtype == torch.bool:
        raise ArgumentTypeError(f"expert_index must hold integer expert numbers (torch.long), got dtype "
                                f"{expert_index.dtype}")
    if expert_index.size(0) != router_probs.size(0) or expert_index.numel() == 0:
        raise ValueError(f"router_probs {tuple(router_probs.shape)} and expert_index {tuple(expert_index.shape)} "
                         f"must describe the same N >= 1 tokens (one row each)")
    low, high = int(expert_index.min()), int(expert_index.max())
    if low < 0 or high >= n_experts:
        raise ValueError(f"expert_index holds expert {low if low < 0 else high}, outside 0..{n_experts - 1} "
                         f"(router_probs has n_experts={n_experts} columns)")
    counts = torch.bincount(expert_index.reshape(-1), minlength=n_experts)  # (E,)
    f = counts.to(router_probs.dtype) / expert_index.numel()  # (E,) sums to 1
    P = router_probs.mean(dim=0)  # (E,) sums to 1
    return n_experts * (f * P).sum()


def dense_gates(router_probs: torch.Tensor, top_k: int) -> torch.Tensor:
    """(N, n_experts) router probabilities -> (N, n_experts) gates: each token's renormalised
    top_k probabilities at its chosen experts, 0 elsewhere (rows sum to 1)."""
    check_tensor("router_probs", router_probs, min_ndim=1, shape="(N, n_experts)", floating=True)
    n_experts, top_k = _check_moe_config(router_probs.size(-1), top_k)
    if bool((router_probs < 0).any()) or not bool(torch.isfinite(router_probs).all()):
        raise ValueError("router_probs must be probabilities (finite, non-negative): pass softmax(router logits)")
    sums = router_probs.sum(dim=-1)
    if router_probs.numel() and not bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3)):
        raise ValueError(f"router_probs must be probabilities whose rows sum to 1 (got row sums from "
                         f"{float(sums.min()):.3g} to {float(sums.max()):.3g}): pass softmax(router logits, dim=-1)")
    top, index = router_probs.topk(top_k, dim=-1)  # (N, k) best first
    return torch.zeros_like(router_probs).scatter(-1, index, top / top.sum(dim=-1, keepdim=True))


def _first_come_first_served(expert_index: torch.Tensor, capacity: int, n_experts: int) -> torch.Tensor:
    """(N, top_k) bool, True where an assignment fits in its expert's capacity.

    expert_index: (N, top_k) with tokens already in priority order. Assignments are served token
    by token, and within a token best choice first; each expert accepts its first ``capacity``.
    """
    one_hot = F.one_hot(expert_index.reshape(-1), n_experts)  # (N*k, E) in priority order
    position_in_expert = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1  # (N*k,) 0 = first to arrive
    return (position_in_expert < capacity).view_as(expert_index)  # (N, k)


def moe_parameter_counts(d_model: int, n_experts: int, top_k: int = 2, d_hidden: int | None = None,
                         bias: bool = True) -> dict[str, int]:
    """Parameters of an MoE layer, how many of them one token uses, and its forward FLOPs per token.

    Keys: ``router``, ``per_expert`` (= one dense ``MLP`` of the same width), ``total``,
    ``active_per_token`` (router + top_k experts) and ``flops_per_token``, estimated as
    2 x active parameters (each weight does one multiply and one add per token).
    """
    d_model = check_int("d_model", d_model, min_value=1)
    n_experts, top_k = _check_moe_config(n_experts, top_k)
    d_hidden = 4 * d_model if d_hidden is None else check_int("d_hidden", d_hidden, min_value=1)
    bias = check_bool("bias", bias)
    router = d_model * n_experts  # no bias
    per_expert = 2 * d_model * d_hidden + ((d_hidden + d_model) if bias else 0)  # fc + proj
    active = router + top_k * per_expert
    return {"router": router, "per_expert": per_expert, "total": router + n_experts * per_expert,
            "active_per_token": active, "flops_per_token": 2 * active}


class MoE(nn.Module):
    """A drop-in replacement for the block's ``MLP``: ``n_experts`` MLPs, ``top_k`` used per token.

    ``capacity_factor``: None = experts take any number of tokens; a number c caps each expert at
    ``ceil(c * N * top_k / n_experts)`` assignments per forward pass (c = 1: exactly a fair share).
    Priority is first come, first served in time order: all sequences' position 0, then position 1,
    ..., and a token's best choice before its second. In time order a token's fate never depends
    on later tokens, so a causal model stays causal (priority by gate value would let a future
    token push an earlier one out).
    ``router_noise``: in training only, Gaussian noise of this std is added to the router logits
    so that experts the router currently ignores still get tokens sometimes to learn from (a fixed
    std: Shazeer et al. 2017 learn it per expert). Evaluation is deterministic.

    After each forward: ``aux_loss`` (scalar, with grad) and ``last_routing`` (a ``Routing``).
    Note: with ``top_k=1`` the renormalised gate is always 1, so the output carries no gradient to
    the router; it then learns only from ``aux_loss``.
    """

    def __init__(self, d_model: int, n_experts: int, top_k: int = 2, d_hidden: int | None = None,
                 capacity_factor: float | None = None, router_noise: float = 0.0, dropout: float = 0.0,
                 bias: bool = True):
        super().__init__()
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.n_experts, self.top_k = _check_moe_config(n_experts, top_k)
        self.d_hidden = 4 * d_model if d_hidden is None else check_int("d_hidden", d_hidden, min_value=1)
        self.capacity_factor = (None if capacity_factor is None else
                                check_float("capacity_factor", capacity_factor, min_value=0.0, min_inclusive=False))
        self.router_noise = check_float("router_noise", router_noise, min_value=0.0)
        self.bias = check_bool("bias", bias)
        self.router = nn.Linear(d_model, n_experts, bias=False)  # one score per expert
        self.experts = nn.ModuleList(MLP(d_model, self.d_hidden, dropout=dropout, bias=bias)
                                     for _ in range(n_experts))
        self.aux_loss: torch.Tensor | None = None  # set by forward
        self.last_routing: Routing | None = None  # set by forward

    def extra_repr(self) -> str:
        return (f"n_experts={self.n_experts}, top_k={self.top_k}, capacity_factor={self.capacity_factor}, "
                f"router_noise={self.router_noise}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_model) or (N, d_model) -> same shape; sets ``aux_loss`` and ``last_routing``."""
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.size(-1) != self.d_model:
            check_tensor("x", x, shape=f"(B, T, d_model) or (N, d_model) with d_model={self.d_model}")
            raise ValueError(f"x must have shape (B, T, d_model) or (N, d_model) with d_model={self.d_model}, "
                             f"got {tuple(x.shape)}")
        check_layer_dtype("x", x, getattr(self.router, "weight", None), "MoE")
        in_shape = x.shape
        if x.dim() == 2:
            x = x.unsqueeze(0)  # (1, N, C): one sequence
        B, T, C = x.size()
        N = B * T
        x_flat = x.reshape(N, C)  # (N, C) every token is routed on its own

        # 1. the router scores every expert for every token
        router_logits = self.router(x_flat)  # (N, E)
        if self.training and self.router_noise > 0:
            router_logits = router_logits + torch.randn_like(router_logits) * self.router_noise
        router_probs = F.softmax(router_logits.float(), dim=-1)  # (N, E) float32: a low-precision router is unstable

        # 2. each token keeps its top_k experts, gates renormalised so the mix is a weighted average
        top_probs, expert_index = router_probs.topk(self.top_k, dim=-1)  # (N, k), (N, k) best first
        gates = top_probs / top_probs.sum(dim=-1, keepdim=True)  # (N, k)

        # 3. capacity: serve assignments in time order (t-major over the batch) so causality holds
        if self.capacity_factor is None:
            capacity = None
            kept = torch.ones_like(expert_index, dtype=torch.bool)  # (N, k)
        else:
            capacity = math.ceil(self.capacity_factor * N * self.top_k / self.n_experts)
            # (N,) the rows of x_flat in time order: (t=0, b=0), (t=0, b=1), ..., (t=1, b=0), ...
            time_order = torch.arange(N, device=x.device).view(B, T).t().reshape(-1)
            kept = torch.empty_like(expert_index, dtype=torch.bool)  # (N, k)
            kept[time_order] = _first_come_first_served(expert_index[time_order], capacity, self.n_experts)

        # 4. each expert runs once on all its tokens (a loop over experts, never over tokens)
        out = torch.zeros_like(x_flat)  # (N, C) dropped assignments add nothing
        flat_experts = expert_index.view(-1)  # (N*k,) assignment a belongs to token a // k
        flat_kept = kept.view(-1)  # (N*k,)
        flat_gates = gates.view(-1)  # (N*k,)
        for e, expert in enumerate(self.experts):
            assignment = torch.nonzero((flat_experts == e) & flat_kept).squeeze(1)  # (n_e,)
            if assignment.numel() == 0:
                continue
            token = assignment // self.top_k  # (n_e,) rows of x_flat this expert processes
            expert_out = expert(x_flat.index_select(0, token))  # (n_e, C)
            weighted = expert_out * flat_gates[assignment].unsqueeze(1)  # (n_e, C)
            out.index_add_(0, token, weighted.to(out.dtype))  # a token's k outputs sum into its row

        self.aux_loss = load_balancing_loss(router_probs, expert_index)
        self.last_routing = Routing(
            experts=expert_index.detach(), gates=gates.detach(), router_probs=router_probs.detach(),
            dropped=~kept, tokens_per_expert=torch.bincount(flat_experts, minlength=self.n_experts).detach(),
            capacity=capacity)
        return out.view(in_shape)

    @property
    def dropped_fraction(self) -> float:
        """Fraction of the last forward pass's token-to-expert assignments dropped by capacity."""
        if self.last_routing is None:
            raise RuntimeError("dropped_fraction is known after a forward pass; call the MoE on a batch first")
        return self.last_routing.dropped.float().mean().item()

    def count_parameters(self) -> dict[str, int]:
        """``moe_parameter_counts`` for this layer's configuration."""
        return moe_parameter_counts(self.d_model, self.n_experts, self.top_k, self.d_hidden, bias=self.bias)


def moe_aux_loss(model: nn.Module) -> torch.Tensor:
    """Sum of ``aux_loss`` over every ``MoE`` layer in ``model`` from its last forward pass.

    A scalar tensor (zero when the model has no MoE layer), to add to the training loss as
    ``loss = cross_entropy + aux_weight * moe_aux_loss(model)`` with ``aux_weight`` around 0.01.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module (e.g. a gptlab GPT with n_experts > 0)")
    losses = []
    for name, module in model.named_modules():
        if isinstance(module, MoE):
            if module.aux_loss is None:
                raise ValueError(f"MoE layer {name or 'model'!r} has no aux_loss yet; run a forward pass first")
            losses.append(module.aux_loss)
    if not losses:
        return torch.zeros((), device=next(model.parameters(), torch.zeros(())).device)
    return torch.stack(losses).sum()
