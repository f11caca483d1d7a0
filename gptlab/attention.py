"""Attention: each token's output is a weighted average of the tokens it may look at.

The course builds it up in steps, and every step is a function or module here:

* ``average_attention``: equal weights, the plainest average (lesson 03).
* ``dot_product_attention``: weights softmax(x·xᵀ), no parameters: similar tokens attend to each
  other (lesson 03).
* ``SelfAttention``: one head with trained W_q, W_k, W_v and optional 1/sqrt(d) scaling (04, 05).
* ``MultiHeadAttention``: h heads by reshaping, with multi-query / grouped-query variants (fewer
  key/value heads), a KV cache for decoding and optional RoPE (06, 08, 09, 10).

The explicit ``scaled_dot_product_attention`` is the teaching version; ``MultiHeadAttention`` runs
PyTorch's fused ``F.scaled_dot_product_attention`` by default (``fused=True``), and the tests
prove the two agree. ``record_attention`` switches to the explicit path to read the weights.

Mask convention everywhere in gptlab: a bool tensor, True = "may attend". (``torch.nn.
MultiheadAttention`` uses the opposite: True there means "blocked".)

Inputs: q, k, v (and x) must be floating-point tensors of one dtype. Mixing float64 and float32
raises a TypeError that says which tensor to convert (there is no silent promotion, as in
``torch.nn`` layers); integer tensors are refused the same way. The small teaching functions
(``average_attention``, ``dot_product_attention``, ``attention_weights``,
``scaled_dot_product_attention``) also refuse NaN or infinite inputs, which would come out as NaN
weights; the modules do not scan their inputs (that would slow every forward pass).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import ArgumentTypeError, check_float, check_int, check_type, divisors
from ._tensor_checks import (
    broadcast_shape,
    check_bool,
    check_device,
    check_dtype,
    check_finite,
    check_layer_dtype,
    check_same_dtype,
    check_tensor,
)
from .positional import RotaryEmbedding

# --------------------------------------------------------------------------------------------
# Attention without parameters (lesson 03)


def _check_sequence(name: str, x, finite: bool = False) -> None:
    check_tensor(name, x, min_ndim=2, shape="(..., T, d)", floating=True)
    if finite:
        check_finite(name, x)


def average_attention(x: torch.Tensor, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Every output is the plain average of the inputs: uniform weights 1/T.

    x: (..., T, d) -> out (..., T, d), weights (..., T, T). With ``causal=True`` token t averages
    only tokens 0..t (weights 1/(t+1)), the "bag of words" of everything seen so far.
    """
    _check_sequence("x", x, finite=True)
    causal = check_bool("causal", causal)
    T = x.size(-2)
    if causal:
        allowed = causal_mask(T, device=x.device).to(x.dtype)  # (T, T) ones on and below the diagonal
        weights = allowed / allowed.sum(dim=-1, keepdim=True)  # row t: 1/(t+1) on tokens 0..t
    else:
        weights = torch.full((T, T), 1.0 / T, dtype=x.dtype, device=x.device)
    weights = weights.expand(*x.shape[:-2], T, T)  # (..., T, T) same weights for every sequence
    return weights @ x, weights


def dot_product_attention(x: torch.Tensor, causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-attention with no parameters: weights = softmax(x·xᵀ) over each row.

    x: (..., T, d) -> out (..., T, d), weights (..., T, T). Token i attends most to the tokens
    whose vectors point the same way as its own. Nothing is scaled or learned yet.
    """
    _check_sequence("x", x, finite=True)
    causal = check_bool("causal", causal)
    T = x.size(-2)
    attn_scores = x @ x.transpose(-2, -1)  # (..., T, T) score[i, j] = x_i · x_j
    if causal:
        attn_scores = attn_scores.masked_fill(~causal_mask(T, device=x.device), float("-inf"))
    attn_weights = F.softmax(attn_scores, dim=-1)  # each row sums to 1
    return attn_weights @ x, attn_weights


# --------------------------------------------------------------------------------------------
# Masks and scaled dot-product attention (lessons 05, 09)


def causal_mask(T: int, device=None, *, T_k: int | None = None) -> torch.Tensor:
    """Bool (T, T_k) mask, True where query i may attend key j, i.e. j is not in its future.

    With ``T_k`` keys and T <= T_k queries, the queries are the LAST T positions (as when decoding
    with a KV cache), so query i sits at position ``T_k - T + i`` and sees keys 0..T_k - T + i.
    """
    T = check_int("T", T, min_value=0)
    T_k = T if T_k is None else check_int("T_k", T_k, min_value=0)
    device = check_device("device", device)
    if T > T_k:
        raise ValueError(f"a causal mask needs at least as many keys as queries, got T={T} queries "
                         f"and T_k={T_k} keys: the first {T - T_k} queries would have nothing to attend to")
    return torch.ones(T, T_k, dtype=torch.bool, device=device).tril(diagonal=T_k - T)


def _build_mask(mask, causal: bool, T_q: int, T_k: int, scores_shape, device) -> torch.Tensor | None:
    """Combine a user mask and the causal mask into one bool mask (True = keep), or None."""
    causal = check_bool("causal", causal)
    keep = None
    if causal and T_q > T_k:
        raise ValueError(f"causal=True needs at least as many keys as queries, got T_q={T_q} and T_k={T_k}; "
                         f"queries are aligned to the end of the keys (as in KV-cached decoding)")
    if causal and T_q > 1:  # a single query at the end sees every key: nothing to mask
        keep = causal_mask(T_q, device=device, T_k=T_k)  # (T_q, T_k)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must be a bool tensor (True = may attend), got {kind}; "
                             f"for a 0/1 tensor use mask.bool()")
        if broadcast_shape(mask.shape, scores_shape) != tuple(scores_shape):
            raise ValueError(f"mask has shape {tuple(mask.shape)}, which does not broadcast to the attention "
                             f"scores' shape {tuple(scores_shape)} (..., T_q, T_k); e.g. use shape ({T_q}, {T_k})")
        mask = mask.to(device)
        keep = mask if keep is None else keep & mask
        # softmax over a row of -inf is 0/0 = NaN: refuse instead of returning NaN silently
        if not bool(keep.any(dim=-1).all()):
            raise ValueError("mask leaves at least one query with no key to attend to (a row of the mask "
                             "is all False), so its weights would be 0/0 = NaN; allow at least one key per "
                             "query, e.g. the query's own position")
    return keep


def _check_qk(q, k, finite: bool = False) -> None:
    _check_sequence("q", q, finite)
    _check_sequence("k", k, finite)
    check_same_dtype(q=q, k=k)
    if q.size(-1) != k.size(-1):
        raise ValueError(f"q and k must have the same last dimension d (a query meets a key in a dot product), "
                         f"got q {tuple(q.shape)} and k {tuple(k.shape)}")


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None,
                      causal: bool = False, scale: float | None = None) -> torch.Tensor:
    """softmax(q·kᵀ · scale) with masked entries set to exactly 0.

    q: (..., T_q, d), k: (..., T_k, d) -> weights (..., T_q, T_k), each row summing to 1.
    ``scale`` defaults to 1/sqrt(d), which keeps the scores' variance near 1 whatever d is.
    q and k must be floating-point tensors of one dtype, with no NaN or infinity.
    """
    _check_qk(q, k, finite=True)
    if broadcast_shape(q.shape[:-2], k.shape[:-2]) is None:
        raise ValueError(f"q and k must share their leading (batch, head) dimensions, got q {tuple(q.shape)} "
                         f"and k {tuple(k.shape)}")
    return _attention_weights(q, k, mask, causal, scale)


def _attention_weights(q, k, mask, causal, scale) -> torch.Tensor:
    """``attention_weights`` after its input checks (the modules call this: no scan of the values)."""
    d = q.size(-1)
    scale = 1.0 / math.sqrt(d) if scale is None else check_float("scale", scale, min_value=0, min_inclusive=False)
    attn_scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    keep = _build_mask(mask, causal, q.size(-2), k.size(-2), attn_scores.shape, q.device)
    if keep is not None:
        # -inf before the softmax gives weight exp(-inf) = 0 exactly
        attn_scores = attn_scores.masked_fill(~keep, float("-inf"))
    return F.softmax(attn_scores, dim=-1)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, causal: bool = False,
                                 scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d)) V, written out (Vaswani et al. 2017, eq. 1).

    q: (..., T_q, d), k: (..., T_k, d), v: (..., T_k, d_v) -> out (..., T_q, d_v), weights
    (..., T_q, T_k). ``mask``: bool, True = may attend, broadcastable to (..., T_q, T_k).
    ``causal``: query i may not see keys after it; with T_q < T_k the queries are the last T_q
    positions. A mask that leaves a query nothing to attend to raises ValueError (not NaN).
    Same result as ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)``
    when T_q == T_k (PyTorch aligns a causal mask to the start of the keys when T_q != T_k).
    """
    _check_qk(q, k, finite=True)
    _check_sequence("v", v, finite=True)
    check_same_dtype(q=q, k=k, v=v)
    if v.size(-2) != k.size(-2):
        raise ValueError(f"k and v must hold the same number of positions T_k (one value per key), "
                         f"got k {tuple(k.shape)} and v {tuple(v.shape)}")
    if broadcast_shape(q.shape[:-2], k.shape[:-2], v.shape[:-2]) is None:
        raise ValueError(f"q, k and v must share their leading (batch, head) dimensions, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    attn_weights = _attention_weights(q, k, mask, causal, scale)  # (..., T_q, T_k)
    out = attn_weights @ v  # (..., T_q, d_v) each query's weighted average of the values
    return out, attn_weights


class AttentionPattern(nn.Identity):
    """Does nothing: the attention weights pass through it so a forward hook can read them.

    ``record_attention`` hooks these. A hook that returns a tensor replaces the weights, which is
    how an experiment can ablate or edit a pattern.
    """


# --------------------------------------------------------------------------------------------
# One head with trained projections (lessons 04, 05)


class SelfAttention(nn.Module):
    """One attention head: q = x W_q, k = x W_k, v = x W_v, out = softmax(q kᵀ · scale) v.

    ``scaled=False`` drops the 1/sqrt(d_head) factor (lesson 05 shows why it is there).
    Always runs the explicit path; the last weights are kept in ``last_weights``.
    """

    def __init__(self, d_model: int, d_head: int | None = None, bias: bool = False, scaled: bool = True):
        super().__init__()
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.d_head = d_model if d_head is None else check_int("d_head", d_head, min_value=1)
        bias = check_bool("bias", bias)
        self.scaled = check_bool("scaled", scaled)
        self.query = nn.Linear(d_model, self.d_head, bias=bias)  # what am I looking for?
        self.key = nn.Linear(d_model, self.d_head, bias=bias)  # what do I contain?
        self.value = nn.Linear(d_model, self.d_head, bias=bias)  # what do I pass on if chosen?
        self.pattern = AttentionPattern()
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False,
                context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (..., T, d_model) -> (..., T, d_head). Keys and values come from ``context`` when
        given (cross-attention: (..., T_k, d_model)), else from x itself."""
        _check_sequence("x", x)
        source = x if context is None else context
        _check_sequence("context", source)
        for name, t in (("x", x), ("context", source)):
            if t.size(-1) != self.d_model:
                raise ValueError(f"{name} has last dimension {t.size(-1)}, but this layer expects "
                                 f"d_model={self.d_model}")
            check_layer_dtype(name, t, self.query.weight, "SelfAttention")
        if context is not None:
            if broadcast_shape(x.shape[:-2], context.shape[:-2]) is None:
                raise ValueError(f"x {tuple(x.shape)} and context {tuple(context.shape)} must share their leading "
                                 f"(batch) dimensions: each sequence attends to its own context")
        q = self.query(x)  # (..., T, hs)
        k = self.key(source)  # (..., T_k, hs)
        v = self.value(source)  # (..., T_k, hs)
        scale = None if self.scaled else 1.0
        attn_weights = _attention_weights(q, k, mask, causal, scale)  # (..., T, T_k)
        attn_weights = self.pattern(attn_weights)
        self.last_weights = attn_weights.detach()
        return attn_weights @ v  # (..., T, hs)


# --------------------------------------------------------------------------------------------
# Multi-head attention with MQA/GQA, KV cache and RoPE (lessons 06, 08, 09, 10)


class KVCache:
    """The keys and values one attention layer has computed so far, kept for decoding.

    Without it, generating token t recomputes k and v for tokens 0..t-1 again; with it, each step
    computes k, v for the new token only and appends them. ``k``, ``v``: (B, n_kv_head, T_past,
    head_dim), stored after RoPE. Use one ``KVCache`` per layer and a fresh set per batch of
    sequences, e.g. ``caches = [KVCache() for _ in range(n_layer)]``.
    """

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """How many positions are cached: the absolute position of the next token."""
        return 0 if self.k is None else self.k.size(-2)

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new keys/values (B, n_kv_head, T_new, hs); return all (B, n_kv_head, T_past + T_new, hs)."""
        check_tensor("k", k, ndim=4, shape="(B, n_kv_head, T_new, head_dim)")
        check_tensor("v", v, ndim=4, shape="(B, n_kv_head, T_new, head_dim)")
        if k.shape != v.shape:
            raise ValueError(f"k and v must have one shape (B, n_kv_head, T_new, head_dim), got k {tuple(k.shape)} "
                             f"and v {tuple(v.shape)}")
        if self.k is not None and k.dtype != self.k.dtype:
            raise ArgumentTypeError(f"the cache holds {self.k.dtype} keys but the new keys are {k.dtype}; "
                                    f"keep one dtype per cache (or start a fresh KVCache)")
        if self.k is None:
            self.k, self.v = k, v
        else:
            if k.shape[:2] != self.k.shape[:2] or k.size(-1) != self.k.size(-1):
                raise ValueError(f"cache holds keys of shape {tuple(self.k.shape)} (B, n_kv_head, T_past, head_dim) "
                                 f"but the new keys have shape {tuple(k.shape)}; use one KVCache per layer "
                                 f"and a fresh one for every new batch of sequences")
            self.k = torch.cat((self.k, k), dim=-2)
            self.v = torch.cat((self.v, v), dim=-2)
        return self.k, self.v

    def reset(self) -> None:
        """Forget everything (start a new sequence)."""
        self.k = self.v = None

    def nbytes(self) -> int:
        """Memory held by the cached keys and values, in bytes."""
        if self.k is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    def __repr__(self) -> str:
        shape = None if self.k is None else tuple(self.k.shape)
        return f"KVCache(length={self.length}, k/v shape={shape}, nbytes={self.nbytes()})"


def kv_cache_bytes(n_layer: int, n_kv_head: int, head_dim: int, T: int, B: int = 1,
                   dtype: torch.dtype = torch.float32) -> int:
    """Predicted KV-cache size: 2 (k and v) x n_layer x B x n_kv_head x T x head_dim x bytes per number.

    Multi-query (n_kv_head=1) divides it by n_head compared with ordinary multi-head attention.
    """
    for name, value in (("n_layer", n_layer), ("n_kv_head", n_kv_head), ("head_dim", head_dim), ("B", B)):
        check_int(name, value, min_value=1)
    check_int("T", T, min_value=0)
    check_dtype("dtype", dtype)
    bytes_per_number = torch.empty((), dtype=dtype).element_size()
    return 2 * n_layer * B * n_kv_head * T * head_dim * bytes_per_number


def decode_step_bytes(n_layer: int, d_model: int, n_head: int, n_kv_head: int, T: int, B: int = 1,
                      dtype: torch.dtype = torch.float32) -> dict[str, int]:
    """Bytes one decoding step must read from memory in a GPT-style stack (biases, norms and embeddings left out).

    ``"weights"``: every layer's q, k, v, out projections and its 4x-wide MLP (d_model x 4 d_model
    twice), read once per step whatever the batch; ``"kv_cache"``: the cached keys and values of
    all B sequences and T past positions (``kv_cache_bytes``), read in full by every step.
    """
    n_layer = check_int("n_layer", n_layer, min_value=1)
    d_model = check_int("d_model", d_model, min_value=1)
    n_head = check_int("n_head", n_head, min_value=1)
    n_kv_head = check_int("n_kv_head", n_kv_head, min_value=1)
    check_int("T", T, min_value=0)
    check_int("B", B, min_value=1)
    check_dtype("dtype", dtype)
    if d_model % n_head or n_head % n_kv_head:
        raise ValueError(f"need d_model % n_head == 0 and n_head % n_kv_head == 0, got d_model={d_model}, "
                         f"n_head={n_head}, n_kv_head={n_kv_head}")
    head_dim = d_model // n_head
    bytes_per_number = torch.empty((), dtype=dtype).element_size()
    per_layer = 2 * d_model * d_model + 2 * d_model * n_kv_head * head_dim + 8 * d_model * d_model
    return {"weights": n_layer * per_layer * bytes_per_number,
            "kv_cache": kv_cache_bytes(n_layer, n_kv_head, head_dim, T, B=B, dtype=dtype)}


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, n_head, T, C // n_head): head h holds columns h*hs .. (h+1)*hs - 1."""
    check_tensor("x", x, ndim=3, shape="(B, T, C)")
    n_head = check_int("n_head", n_head, min_value=1)
    B, T, C = x.size()
    if C % n_head:
        raise ValueError(f"C={C} is not divisible by n_head={n_head}; choose n_head among "
                         f"{', '.join(map(str, divisors(C)))}")
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def decode_step_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
    """One decoding step's attention against a full cache, each K/V head read once for its whole group.

    q: (B, n_head, 1, hs), the new token's queries; k_cache, v_cache: (B, n_kv_head, T, hs).
    Returns (B, n_head, 1, hs). No mask: the cache holds only the past. Unlike
    ``MultiHeadAttention`` (which copies each shared K/V head to its group for clarity), the query
    heads of a group are stacked against their one K/V head, as fused GPU kernels do.
    """
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache)):
        check_tensor(name, t, shape="(B, heads, T, hs)", floating=True)
    check_same_dtype(q=q, k_cache=k_cache, v_cache=v_cache)
    if q.dim() != 4 or q.size(2) != 1 or k_cache.dim() != 4 or k_cache.shape != v_cache.shape:
        raise ValueError(f"need q (B, n_head, 1, hs) and k_cache, v_cache (B, n_kv_head, T, hs) of one shape, got "
                         f"{tuple(q.shape)}, {tuple(k_cache.shape)}, {tuple(v_cache.shape)}")
    B, nh, _, hs = q.shape
    nkv = k_cache.size(1)
    if nh % nkv or k_cache.size(0) != B or k_cache.size(-1) != hs:
        raise ValueError(f"q has B={B}, n_head={nh}, hs={hs} but the cache has shape {tuple(k_cache.shape)}; "
                         f"n_head must be a multiple of n_kv_head and B, hs must match")
    qg = q.view(B, nkv, nh // nkv, hs)  # (B, nkv, group, hs): the query heads that share a K/V head
    weights = (qg @ k_cache.transpose(-2, -1) / math.sqrt(hs)).softmax(dim=-1)  # (B, nkv, group, T)
    return (weights @ v_cache).view(B, nh, 1, hs)  # (B, nkv, group, hs) -> (B, nh, 1, hs)


class MultiHeadAttention(nn.Module):
    """h attention heads side by side, computed at once by reshaping d_model into (n_head, head_dim).

    ``n_kv_head`` key/value heads serve the ``n_head`` query heads in equal groups:
    ``n_kv_head = n_head`` is ordinary multi-head attention, ``1`` is multi-query attention (MQA,
    Shazeer 2019), anything between is grouped-query attention (GQA, Ainslie et al. 2023). Fewer
    K/V heads shrink the KV cache; query head h uses K/V head h // (n_head // n_kv_head).

    ``fused=True`` (the default) runs ``F.scaled_dot_product_attention``; ``fused=False`` runs the
    explicit ``attention_weights`` and passes the weights through ``self.pattern``.
    ``bias`` applies to all four projections; ``qkv_bias`` (None = follow ``bias``) to q, k and v
    only, as Qwen2 has them with a bias-free ``out_proj``.
    """

    def __init__(self, d_model: int, n_head: int, n_kv_head: int | None = None, bias: bool = True,
                 causal: bool = True, dropout: float = 0.0, rope: RotaryEmbedding | None = None,
                 qkv_bias: bool | None = None):
        super().__init__()
        d_model = check_int("d_model", d_model, min_value=1)
        n_head = check_int("n_head", n_head, min_value=1)
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}: every head gets "
                             f"d_model // n_head dimensions; choose n_head among "
                             f"{', '.join(map(str, divisors(d_model)))}")
        n_kv_head = n_head if n_kv_head is None else check_int("n_kv_head", n_kv_head, min_value=1)
        if n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not divisible by n_kv_head={n_kv_head}: every key/value head "
                             f"serves an equal group of query heads; choose n_kv_head among "
                             f"{', '.join(map(str, divisors(n_head)))} (1 = multi-query, {n_head} = multi-head)")
        self.d_model, self.n_head, self.n_kv_head = d_model, n_head, n_kv_head
        self.head_dim = d_model // n_head
        if rope is not None:
            if not isinstance(rope, RotaryEmbedding):
                raise ValueError(f"rope must be a RotaryEmbedding or None, got {type(rope).__name__}")
            if rope.head_dim != self.head_dim:
                raise ValueError(f"rope was built for head_dim={rope.head_dim}, but d_model={d_model} / "
                                 f"n_head={n_head} gives head_dim={self.head_dim}; use "
                                 f"RotaryEmbedding({self.head_dim})")
        self.dropout = check_float("dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        bias = check_bool("bias", bias)
        qkv_bias = bias if qkv_bias is None else check_bool("qkv_bias", qkv_bias)  # Qwen2: q/k/v only
        self.causal = check_bool("causal", causal)
        self.fused = True
        kv_dim = n_kv_head * self.head_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=qkv_bias)  # all query heads at once
        self.k_proj = nn.Linear(d_model, kv_dim, bias=qkv_bias)  # n_kv_head key heads
        self.v_proj = nn.Linear(d_model, kv_dim, bias=qkv_bias)  # n_kv_head value heads
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # mixes the heads' outputs
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.rope = rope
        self.pattern = AttentionPattern()

    def forward(self, x: torch.Tensor, cache: KVCache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model).

        With a ``cache``, x holds only the new tokens; they sit at positions cache.length ..
        cache.length + T - 1 (for RoPE and the causal mask) and attend to every cached key too.
        ``mask``: optional bool mask (True = may attend) broadcastable to (B, n_head, T, T_k).
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            check_tensor("x", x, shape="(B, T, d_model)")
            raise ValueError(f"x must have shape (B, T, d_model), got {tuple(x.shape)}; add a batch dimension "
                             f"with x.unsqueeze(0)")
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (d_model)
        if C != self.d_model:
            raise ValueError(f"x has last dimension {C}, but this layer expects d_model={self.d_model}")
        check_layer_dtype("x", x, getattr(self.q_proj, "weight", None), "MultiHeadAttention")
        if cache is not None and not isinstance(cache, KVCache):
            raise ValueError(f"cache must be a KVCache (one per layer), got {type(cache).__name__}; "
                             f"for a stack of layers make caches = [KVCache() for _ in range(n_layer)] "
                             f"and give layer i caches[i]")
        nh, nkv, hs = self.n_head, self.n_kv_head, self.head_dim

        q = self.q_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)

        past = 0 if cache is None else cache.length
        if self.rope is not None:  # rotate q and k by their absolute positions past .. past+T-1
            q = self.rope(q, offset=past)
            k = self.rope(k, offset=past)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, nkv, past + T, hs)
        T_k = k.size(-2)

        if nkv != nh:  # each K/V head serves a group of nh // nkv query heads: repeat it for each
            k = k.repeat_interleave(nh // nkv, dim=1)  # (B, nh, T_k, hs)
            v = v.repeat_interleave(nh // nkv, dim=1)  # (B, nh, T_k, hs)

        if self.fused:
            dropout_p = self.dropout if self.training else 0.0
            if mask is None and self.causal and T == T_k:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            else:
                # PyTorch's is_causal aligns queries to the START of the keys; with a cache they are
                # the last T positions, so we pass our own mask instead
                keep = _build_mask(mask, self.causal, T, T_k, (B, nh, T, T_k), x.device)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout_p)
        else:
            attn_weights = _attention_weights(q, k, mask, self.causal, None)  # (B, nh, T, T_k)
            attn_weights = self.pattern(attn_weights)
            attn_weights = self.attn_dropout(attn_weights)
            y = attn_weights @ v  # (B, nh, T, T_k) x (B, nh, T_k, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, nh * hs): heads side by side again
        return self.resid_dropout(self.out_proj(y))


# --------------------------------------------------------------------------------------------
# Reading the weights out of a model (widgets, lessons 06, 10)


class AttentionRecord:
    """What ``record_attention`` collected: one entry per attention call, in the order they ran."""

    def __init__(self):
        self.weights: list[torch.Tensor] = []  # each (B, n_head, T_q, T_k), detached, on the CPU
        self.names: list[str] = []  # the attention module each entry came from, e.g. "blocks.0.attn"

    def clear(self) -> None:
        self.weights.clear()
        self.names.clear()

    def _hook(self, name: str, _module, _inputs, output: torch.Tensor) -> None:
        w = output.detach().to("cpu")
        while w.dim() < 4:  # SelfAttention gives (B, T_q, T_k) or (T_q, T_k): add batch/head axes
            w = w.unsqueeze(0) if w.dim() == 2 else w.unsqueeze(1)
        self.weights.append(w)
        self.names.append(name)


@contextmanager
def record_attention(model: nn.Module):
    """Collect the attention weights of every attention layer inside ``model``.

    While active, every ``MultiHeadAttention`` runs its explicit path (``fused=False``) and every
    ``AttentionPattern`` is hooked; on exit both are undone, even after an error::

        with record_attention(model) as rec:
            model(idx)
        rec.weights  # one (B, n_head, T_q, T_k) tensor per attention call, in the order they ran
        rec.names    # e.g. ["blocks.0.attn", "blocks.1.attn", ...]

    ``SelfAttention`` (one head) is recorded as (B, 1, T_q, T_k). Calling the model twice inside
    the block records twice; ``rec.clear()`` empties the record.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module (e.g. a gptlab GPT)")
    rec = AttentionRecord()
    switched: list[tuple[nn.Module, bool]] = []
    handles = []
    try:
        for name, module in model.named_modules():
            if isinstance(module, MultiHeadAttention):
                switched.append((module, module.fused))
                module.fused = False
            elif isinstance(module, AttentionPattern):
                owner = name.rpartition(".")[0]  # "blocks.0.attn.pattern" -> "blocks.0.attn"
                handles.append(module.register_forward_hook(partial(rec._hook, owner)))
        yield rec
    finally:
        for handle in handles:
            handle.remove()
        for module, fused in switched:
            module.fused = fused
