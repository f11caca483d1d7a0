"""Why attention divides q·k by sqrt(d): variance, saturation and vanishing gradients (lesson 05).

For q and k with independent entries of mean 0 and variance 1, ``q·k = q_1 k_1 + ... + q_d k_d``
is a sum of d terms of variance 1, so its variance is d. At d = 512 (the lecture notes' example)
the scores have a standard deviation of sqrt(512) ≈ 22.6: the softmax of such scores is nearly
one-hot ("saturated"), and its Jacobian ``diag(p) - p pᵀ`` is nearly 0, so almost no gradient
flows back into W_q and W_k. Dividing by sqrt(d) brings the variance back to 1 for every d.

* ``dot_product_variance``: the variance of q·k measured on random vectors (≈ d, or ≈ 1 scaled).
* ``softmax_entropy``, ``softmax_jacobian``, ``softmax_jacobian_norm``, ``query_gradient_norm``:
  how flat a softmax is, and how much gradient passes through it.
* ``attention_sharpness``: all of that for one query over T keys; ``saturation_curve`` averages
  it over many random draws for a range of d (what ``ScalingExplorer`` draws).
* ``KeyValueLookup`` and ``lookup_batch``: a one-head attention model and the toy task the
  lesson trains it on, with and without the 1/sqrt(d) factor.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_float, check_int, check_type
from ._tensor_checks import check_bool, check_finite, check_same_dtype, check_tensor
from .attention import SelfAttention

# --------------------------------------------------------------------------------------------
# the variance of a dot product


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_int("seed", seed, min_value=0))


def dot_product_variance(d: int, n_samples: int = 4000, scaled: bool = False, seed: int = 0) -> float:
    """Empirical variance of q·k over ``n_samples`` pairs q, k ~ N(0, I_d) (divided by sqrt(d) when ``scaled``).

    Theory: d unscaled, 1 scaled. The estimate wobbles by about sqrt(2 / n_samples) (≈ 2% by default).
    """
    d = check_int("d", d, min_value=1)
    n_samples = check_int("n_samples", n_samples, min_value=2)
    scaled = check_bool("scaled", scaled)
    g = _generator(seed)
    q = torch.randn(n_samples, d, generator=g)  # (n, d) one query per row
    k = torch.randn(n_samples, d, generator=g)  # (n, d) one key per row
    scores = (q * k).sum(dim=-1)  # (n,) q·k for each pair
    if scaled:
        scores = scores / math.sqrt(d)
    return scores.var().item()


# --------------------------------------------------------------------------------------------
# how flat a softmax is, and how much gradient passes through it


def _check_weights(weights) -> None:
    """weights must be probability distributions along the last axis (cheap: these are small teaching tensors)."""
    check_tensor("weights", weights, min_ndim=1, shape="(..., T) of probabilities", floating=True)
    if weights.size(-1) == 0:
        raise ValueError(f"weights has shape {tuple(weights.shape)}: each distribution needs at least one "
                         f"entry (T >= 1)")
    check_finite("weights", weights)
    if bool((weights < 0).any()):
        raise ValueError(f"weights contains negative numbers (smallest {weights.min().item():.3g}); it must hold "
                         f"probabilities: if these are scores, take torch.softmax(weights, dim=-1) first")
    sums = weights.sum(dim=-1)
    worst = (sums - 1).abs().max().item() if sums.numel() else 0.0
    if worst > (1e-3 if weights.dtype in (torch.float32, torch.float64) else 2e-2):
        raise ValueError(f"weights must sum to 1 along the last axis (probabilities), but a row sums to "
                         f"{(sums.flatten()[(sums - 1).abs().flatten().argmax()]).item():.4g}; normalise it with "
                         f"weights / weights.sum(dim=-1, keepdim=True) or take a softmax of scores")


def softmax_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy -Σ p log p (nats) of each distribution along the last dimension: (..., T) -> (...).

    log T for the uniform distribution over T keys, 0 for a one-hot one (0·log 0 counts as 0).
    """
    _check_weights(weights)
    return -torch.special.xlogy(weights, weights).sum(dim=-1)


def softmax_jacobian(weights: torch.Tensor) -> torch.Tensor:
    """The Jacobian ∂p/∂s of p = softmax(s), written with p alone: diag(p) - p pᵀ.

    weights: (..., T) -> (..., T, T). Entry [i, j] is how much p_i moves when score s_j moves.
    For a one-hot p every entry is 0: a saturated softmax passes no gradient back.
    """
    _check_weights(weights)
    p = weights.unsqueeze(-1)  # (..., T, 1)
    return torch.diag_embed(weights) - p @ p.transpose(-2, -1)  # (..., T, T)


def softmax_jacobian_norm(weights: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of ``softmax_jacobian(weights)``: (..., T) -> (...).

    Largest for the uniform distribution (sqrt(T - 1) / T), 0 for a one-hot one.
    """
    return softmax_jacobian(weights).flatten(-2).norm(dim=-1)


def query_gradient_norm(weights: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Frobenius norm of ∂p/∂q for p = softmax(scale · K q): ``|| J · scale · K ||`` with J the softmax Jacobian.

    weights: (..., T), k: (..., T, d) -> (...). This is the gradient that reaches the query (and
    from there W_q) through the softmax.
    """
    jac = softmax_jacobian(weights)  # (..., T, T)
    check_tensor("k", k, min_ndim=2, shape="(..., T, d)", floating=True)
    if k.size(-2) != weights.size(-1):
        raise ValueError(f"k must hold one key per weight: weights {tuple(weights.shape)} has T={weights.size(-1)} "
                         f"but k {tuple(k.shape)} has {k.size(-2)} keys (shape (..., T, d))")
    check_same_dtype(weights=weights, k=k)
    scale = check_float("scale", scale, min_value=0.0)
    return (jac @ k * scale).flatten(-2).norm(dim=-1)  # (..., T, d) -> (...)


@dataclass
class AttentionSharpness:
    """One query against T keys: the scores, the softmax weights and how saturated they are."""

    scores: torch.Tensor  # (..., T) q·k, divided by sqrt(d) when scaled
    weights: torch.Tensor  # (..., T) softmax of the scores
    entropy: torch.Tensor  # (...) nats; log T is the uniform maximum
    max_weight: torch.Tensor  # (...) the largest weight (1 = one-hot)
    jacobian_norm: torch.Tensor  # (...) ||diag(p) - p pᵀ||, the gradient size through the softmax
    query_grad_norm: torch.Tensor  # (...) ||∂p/∂q||, the gradient size that reaches the query


def attention_sharpness(q: torch.Tensor, k: torch.Tensor, scaled: bool = True) -> AttentionSharpness:
    """Scores, weights, entropy and gradient sizes of the query ``q`` (..., d) over the keys ``k`` (..., T, d)."""
    check_tensor("q", q, min_ndim=1, shape="(..., d)", floating=True)
    check_tensor("k", k, min_ndim=2, shape="(..., T, d)", floating=True)
    if q.size(-1) != k.size(-1):
        raise ValueError(f"q and k must have the same last dimension d, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.size(-2) == 0:
        raise ValueError(f"k has shape {tuple(k.shape)}: the query needs at least one key (T >= 1)")
    check_same_dtype(q=q, k=k)
    check_finite("q", q)
    check_finite("k", k)
    scaled = check_bool("scaled", scaled)
    d = q.size(-1)
    scale = 1.0 / math.sqrt(d) if scaled else 1.0
    scores = (k @ q.unsqueeze(-1)).squeeze(-1) * scale  # (..., T, d) @ (..., d, 1) -> (..., T)
    weights = F.softmax(scores, dim=-1)
    return AttentionSharpness(
        scores=scores,
        weights=weights,
        entropy=softmax_entropy(weights),
        max_weight=weights.max(dim=-1).values,
        jacobian_norm=softmax_jacobian_norm(weights),
        query_grad_norm=query_gradient_norm(weights, k, scale),
    )


def saturation_curve(dims: Sequence[int], T: int = 8, scaled: bool = True, n_samples: int = 256,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """Typical saturation of softmax(q·K) for random q, K ~ N(0, 1) at each d in ``dims``.

    Returns a dict of (len(dims),) tensors: ``"entropy"``, ``"max_weight"``, ``"jacobian_norm"``,
    ``"query_grad_norm"`` (medians over ``n_samples`` draws of one query and T keys), and ``"d"``.
    The median, not the mean: unscaled at large d, most draws pass ~1e-10 of a gradient while the
    rare draw whose two best keys tie passes 0.3, and a mean would report that rare draw.
    The same seed gives the same draws for scaled and unscaled, so the two curves compare like
    with like.
    """
    if isinstance(dims, (int, str)) or not isinstance(dims, (Sequence, torch.Tensor)) or len(dims) == 0:
        raise ValueError(f"dims must be a non-empty list of dimensions such as [2, 8, 32, 128, 512], got {dims!r:.80}")
    if isinstance(dims, torch.Tensor):
        dims = dims.tolist()
    dims = [check_int(f"dims[{i}]", d, min_value=1) for i, d in enumerate(dims)]
    T = check_int("T", T, min_value=1)
    n_samples = check_int("n_samples", n_samples, min_value=1)
    scaled = check_bool("scaled", scaled)
    out = {key: [] for key in ("entropy", "max_weight", "jacobian_norm", "query_grad_norm")}
    for d in dims:
        g = _generator(seed)
        q = torch.randn(n_samples, d, generator=g)  # (n, d)
        k = torch.randn(n_samples, T, d, generator=g)  # (n, T, d)
        sharp = attention_sharpness(q, k, scaled=scaled)
        for key in out:
            out[key].append(getattr(sharp, key).median().item())
    result = {key: torch.tensor(values) for key, values in out.items()}
    result["d"] = torch.tensor(dims)
    return result


# --------------------------------------------------------------------------------------------
# the experiment: one attention head that must find the right key


def lookup_batch(batch_size: int, n_pairs: int = 16, n_keys: int = 32, n_values: int = 16,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the key-value lookup task: ``n_pairs`` (key, value) pairs and a query key.

    Returns ``x`` (B, 2·n_pairs + 1) = [keys | values | query] and ``y`` (B,), the value stored
    under the query key. The keys of one example are distinct, so exactly one key matches: the
    model must put its attention on it (uniform attention gets about 1 in n_pairs right).
    """
    batch_size = check_int("batch_size", batch_size, min_value=1)
    n_pairs = check_int("n_pairs", n_pairs, min_value=1)
    n_keys = check_int("n_keys", n_keys, min_value=1)
    if n_keys < n_pairs:
        raise ValueError(f"n_keys={n_keys} must be at least n_pairs={n_pairs}: the keys of one example are "
                         f"distinct, so that exactly one matches the query")
    n_values = check_int("n_values", n_values, min_value=1)
    if generator is not None:
        check_type("generator", generator, torch.Generator,
                   "None or a torch.Generator (e.g. torch.Generator().manual_seed(0))")
    keys = torch.rand(batch_size, n_keys, generator=generator).argsort(dim=-1)[:, :n_pairs]  # (B, P) distinct
    values = torch.randint(n_values, (batch_size, n_pairs), generator=generator)  # (B, P)
    which = torch.randint(n_pairs, (batch_size, 1), generator=generator)  # (B, 1) the pair asked for
    query = keys.gather(1, which)  # (B, 1)
    x = torch.cat((keys, values, query), dim=1)  # (B, 2P + 1)
    return x, values.gather(1, which).squeeze(1)


class KeyValueLookup(nn.Module):
    """Embeddings, one attention head (``SelfAttention``) and a readout: the query key attends to
    the stored (key, value) pairs and the readout names the value it found.

    ``scaled=False`` drops the 1/sqrt(d_head) factor. The projections are initialised so that q
    and k have entries of variance about 1, the premise of the sqrt(d) argument: unscaled, the
    scores then start with a standard deviation of about sqrt(d_head).
    Called as ``model(x, y)`` it returns ``(logits, loss)`` (``gptlab.train.Trainer`` trains it)
    and keeps the batch accuracy in ``model.accuracy``; ``model.attn.last_weights`` holds the
    last attention weights, (B, 1, n_pairs).
    """

    def __init__(self, n_keys: int = 32, n_values: int = 16, d_model: int = 32, d_head: int = 512,
                 scaled: bool = True):
        super().__init__()
        self.n_keys = check_int("n_keys", n_keys, min_value=1)
        self.n_values = check_int("n_values", n_values, min_value=1)
        d_model = check_int("d_model", d_model, min_value=1)
        self.key_emb = nn.Embedding(n_keys, d_model)  # N(0, 1) entries
        self.value_emb = nn.Embedding(n_values, d_model)
        self.attn = SelfAttention(d_model, d_head, scaled=scaled)
        for proj in (self.attn.query, self.attn.key, self.attn.value):
            nn.init.normal_(proj.weight, std=d_model ** -0.5)  # unit-variance input -> unit-variance output
        self.head = nn.Linear(self.attn.d_head, n_values)
        self.accuracy: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """x: (B, 2P + 1) from ``lookup_batch`` -> logits (B, n_values), loss (or None)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.size(1) % 2 == 0:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, 2·n_pairs + 1) = [keys | values | query], got {shape}")
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise ValueError(f"x must hold integer ids (torch.long) from lookup_batch, got dtype {x.dtype}")
        P = (x.size(1) - 1) // 2
        keys, values, query = x[:, :P], x[:, P:2 * P], x[:, 2 * P:]  # (B, P), (B, P), (B, 1)
        for name, ids, n in (("keys", torch.cat((keys, query), 1), self.n_keys), ("values", values, self.n_values)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
                raise ValueError(f"x holds {name} outside 0..{n - 1} (this model has n_{name}={n}); make the "
                                 f"batch with lookup_batch(..., n_{name}={n})")
        if targets is not None:
            check_tensor("targets", targets, ndim=1, shape="(B,)")
            if targets.size(0) != x.size(0) or targets.dtype.is_floating_point or targets.dtype == torch.bool:
                raise ValueError(f"targets must be a (B,) = ({x.size(0)},) tensor of integer value ids, got shape "
                                 f"{tuple(targets.shape)} and dtype {targets.dtype}")
            if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= self.n_values):
                raise ValueError(f"targets must be value ids 0..{self.n_values - 1}")
        # each slot holds key + value; / sqrt(2) keeps the entries at variance 1
        memory = (self.key_emb(keys) + self.value_emb(values)) / math.sqrt(2)  # (B, P, C)
        found = self.attn(self.key_emb(query), context=memory)  # (B, 1, hs) the query's weighted average
        logits = self.head(found[:, 0])  # (B, n_values)
        if targets is None:
            return logits, None
        self.accuracy = (logits.argmax(dim=-1) == targets).float().mean().detach()
        return logits, F.cross_entropy(logits, targets)
