"""Where a token sits: position codes for a model whose attention cannot see order by itself.

Attention is a weighted average, and an average does not care in which order its terms come
(shuffle the tokens and the outputs shuffle the same way). Three ways to give it order:

* ``SinusoidalPositionalEncoding``: the fixed sin/cos code of the original Transformer
  (Vaswani et al. 2017), added to the token embeddings.
* ``LearnedPositionalEmbedding``: one trained vector per position, added the same way (GPT-2).
* ``RotaryEmbedding``: RoPE (Su et al. 2021) rotates queries and keys by an angle proportional to
  their position, so the score q·k depends on how far apart two tokens are (modern LLMs).

The additive modules take token embeddings ``x`` of shape ``(B, T, C)`` and return
``x + position code``; ``offset`` says at which absolute position ``x`` starts (decoding with a
KV cache feeds one new token at position ``offset``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._checks import check_float, check_int
from ._tensor_checks import check_tensor


def sinusoidal_encoding(T: int, d: int) -> torch.Tensor:
    """The (T, d) sinusoidal position code of Vaswani et al. (2017), section 3.5.

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``:
    each pair of columns is a clock hand turning at its own speed, fast in the first columns,
    slow in the last. ``d`` must be even, since every frequency gets one sin and one cos column.
    """
    T = check_int("T", T, min_value=0)
    d = check_int("d", d, min_value=2)
    if d % 2:
        raise ValueError(f"d={d} must be even: the sinusoidal code gives every frequency one sin column "
                         f"and one cos column; use d={d - 1} or d={d + 1}")
    position = torch.arange(T, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float32)  # (d/2,) the even column indices 2i
    angle = position / (10000.0 ** (two_i / d))  # (T, d/2)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def _check_input(x, shape: str) -> None:
    """x must be a floating-point tensor with a position axis (-2) and a feature axis (-1)."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        check_tensor("x", x, min_ndim=2, shape=shape, floating=True)


def _check_length(T: int, offset: int, max_len: int) -> None:
    """Positions offset .. offset+T-1 must exist in a table of max_len rows."""
    offset = check_int("offset", offset)
    if offset < 0:
        raise ValueError(f"offset={offset} must be at least 0 (it is the position of the first token)")
    if offset + T > max_len:
        where = f"positions {offset}..{offset + T - 1}" if offset else f"positions 0..{T - 1} (T={T})"
        raise ValueError(f"{where} do not fit in max_len={max_len} (the model's block_size, its longest "
                         f"context); crop the input to the last {max_len} tokens or build the module "
                         f"with a larger max_len")


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal code to token embeddings; nothing here is trained."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = check_int("max_len", max_len, min_value=1)
        self.d_model = check_int("d_model", d_model, min_value=2)
        # a buffer, not a parameter: it moves with .to(device) but the optimizer never sees it
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)  # (max_len, C)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, T, C) token embeddings -> x + PE[offset : offset + T]."""
        _check_input(x, "(B, T, C) (token embeddings, not token ids)")
        T, C = x.size(-2), x.size(-1)
        if C != self.d_model:
            raise ValueError(f"x has last dimension {C}, but this encoding was built for d_model={self.d_model}")
        _check_length(T, offset, self.max_len)
        return x + self.pe[offset:offset + T].to(x.dtype)  # (T, C) broadcasts over the batch


class LearnedPositionalEmbedding(nn.Module):
    """Adds one trained vector per position to token embeddings (GPT-2's ``wpe``)."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = check_int("max_len", max_len, min_value=1)
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.embedding = nn.Embedding(max_len, d_model)  # row p is the vector for position p

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, T, C) token embeddings -> x + embedding(offset .. offset + T - 1)."""
        _check_input(x, "(B, T, C) (token embeddings, not token ids)")
        T, C = x.size(-2), x.size(-1)
        if C != self.d_model:
            raise ValueError(f"x has last dimension {C}, but this embedding was built for d_model={self.d_model}")
        _check_length(T, offset, self.max_len)
        pos = torch.arange(offset, offset + T, device=x.device)  # (T,)
        return x + self.embedding(pos)  # (T, C) broadcasts over the batch


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Split the last dimension in halves (x1, x2) and return (-x2, x1): a 90-degree turn per pair."""
    check_tensor("x", x, min_ndim=1, shape="(..., d)")
    if x.size(-1) % 2:
        raise ValueError(f"x has last dimension {x.size(-1)}, which must be even: rotate_half pairs "
                         f"coordinate i with coordinate i + d/2")
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """RoPE: rotate each (query or key) vector by angles proportional to its position.

    Convention ("rotate half", as in GPT-NeoX and Llama on Hugging Face): coordinate ``i`` is
    paired with coordinate ``i + head_dim/2``, and the pair is turned by the angle
    ``pos * base^(-2i/head_dim)``. (Meta's original Llama pairs neighbours ``2i, 2i+1`` instead;
    the two differ by a fixed permutation of the coordinates.) Because both q and k are turned,
    ``rope(q, m) · rope(k, n)`` depends on the positions only through ``m - n``.
    Nothing is trained; attention modules apply it to q and k, never to v.
    """

    def __init__(self, head_dim: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        self.head_dim = check_int("head_dim", head_dim, min_value=2)
        if head_dim % 2:
            raise ValueError(f"head_dim={head_dim} must be even: RoPE turns coordinates in pairs; "
                             f"use head_dim={head_dim - 1} or {head_dim + 1}")
        self.max_len = check_int("max_len", max_len, min_value=1)
        self.base = check_float("base", base, min_value=1.0, min_inclusive=False)
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (hs/2,)
        angle = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (max_len, hs/2)
        angle = torch.cat((angle, angle), dim=-1)  # (max_len, hs): coordinate i and i + hs/2 share an angle
        self.register_buffer("cos", angle.cos(), persistent=False)
        self.register_buffer("sin", angle.sin(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (..., T, head_dim), the token at index t sitting at position offset + t -> same shape."""
        _check_input(x, "(..., T, head_dim)")
        T, hs = x.size(-2), x.size(-1)
        if hs != self.head_dim:
            raise ValueError(f"x has last dimension {hs}, but this RotaryEmbedding was built for "
                             f"head_dim={self.head_dim}")
        _check_length(T, offset, self.max_len)
        cos = self.cos[offset:offset + T].to(x.dtype)  # (T, hs)
        sin = self.sin[offset:offset + T].to(x.dtype)  # (T, hs)
        return x * cos + rotate_half(x) * sin
