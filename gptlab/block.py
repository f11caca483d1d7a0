"""The Transformer block: attention (tokens talk) then an MLP (each token thinks alone).

Each sublayer is wrapped in a residual connection and a LayerNorm. Where the LayerNorm sits is
the difference between the original Transformer and GPT-2 onwards:

* post-LN (Vaswani et al. 2017):  ``x = LN(x + sublayer(x))``. The residual stream is
  re-normalized after every sublayer; deep stacks need a learning-rate warm-up to train.
* pre-LN (GPT-2, Xiong et al. 2020): ``x = x + sublayer(LN(x))``. The residual stream is a clean
  sum that gradients flow straight through; trains without warm-up.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_choice, check_float, check_int
from ._tensor_checks import check_bool, check_layer_dtype, check_tensor
from .attention import KVCache, MultiHeadAttention
from .positional import RotaryEmbedding


class MLP(nn.Module):
    """Position-wise feed-forward network: Linear -> GELU -> Linear, applied to each token alone.

    ``activation="gelu"`` is the exact GELU, x·Φ(x); ``"gelu_tanh"`` is the tanh approximation
    GPT-2 was trained with (Hugging Face's ``gelu_new``), needed to reproduce its logits exactly.
    """

    def __init__(self, d_model: int, d_hidden: int | None = None, dropout: float = 0.0, bias: bool = True,
                 activation: str = "gelu"):
        super().__init__()
        d_model = check_int("d_model", d_model, min_value=1)
        d_hidden = 4 * d_model if d_hidden is None else check_int("d_hidden", d_hidden, min_value=1)
        dropout = check_float("dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        bias = check_bool("bias", bias)
        self.d_model = d_model
        self.activation = check_choice("activation", activation, ["gelu", "gelu_tanh"])
        self.fc = nn.Linear(d_model, d_hidden, bias=bias)  # widen (4x in GPT-2)
        self.gelu = nn.GELU(approximate="tanh" if activation == "gelu_tanh" else "none")
        self.proj = nn.Linear(d_hidden, d_model, bias=bias)  # back to the residual stream
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_model) -> (..., d_model)."""
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.size(-1) != self.d_model:
            check_tensor("x", x, min_ndim=1, shape="(..., d_model)")
            raise ValueError(f"x has last dimension {x.size(-1)}, but this MLP expects d_model={self.d_model}")
        check_layer_dtype("x", x, getattr(self.fc, "weight", None), "MLP")
        return self.dropout(self.proj(self.gelu(self.fc(x))))


class RMSNorm(nn.Module):
    """Root-mean-square normalization, 均方根归一化 (Zhang & Sennrich 2019), used by Llama and Qwen.

    ``y = x / sqrt(mean(x²) + eps) * weight`` over the last dimension. Compared with LayerNorm it
    drops the mean subtraction and the bias: it rescales each vector to unit RMS but does not
    re-centre it. Computed in float32 (like Hugging Face's Llama) and returned in x's dtype.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim = check_int("dim", dim, min_value=1)
        self.eps = check_float("eps", eps, min_value=0.0)
        self.weight = nn.Parameter(torch.ones(dim))

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., dim) -> (..., dim)."""
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.size(-1) != self.dim or not x.is_floating_point():
            check_tensor("x", x, min_ndim=1, shape="(..., dim)", floating=True)
            raise ValueError(f"x has last dimension {x.size(-1)}, but this RMSNorm expects dim={self.dim}")
        x32 = x.float()
        rms_inv = torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # 1 / sqrt(mean(x²) + eps)
        return (x32 * rms_inv).to(x.dtype) * self.weight.to(x.dtype)


class SwiGLU(nn.Module):
    """A gated MLP, 门控线性单元 (GLU) with a SiLU gate (Shazeer 2020), used by Llama and Qwen.

    ``down(silu(gate(x)) * up(x))``: two Linear layers widen x, one of them through SiLU
    (x·sigmoid(x)) decides how much of the other passes, and a third projects back. Three matrices
    instead of GELU's two, so at ``d_hidden = 8/3 · d_model`` it has the parameters of a 4x GELU MLP.
    """

    def __init__(self, d_model: int, d_hidden: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.d_hidden = check_int("d_hidden", d_hidden, min_value=1)
        bias = check_bool("bias", bias)
        dropout = check_float("dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        self.gate = nn.Linear(d_model, d_hidden, bias=bias)  # through SiLU: how much passes
        self.up = nn.Linear(d_model, d_hidden, bias=bias)  # what passes
        self.down = nn.Linear(d_hidden, d_model, bias=bias)  # back to the residual stream
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_model) -> (..., d_model)."""
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.size(-1) != self.d_model:
            check_tensor("x", x, min_ndim=1, shape="(..., d_model)")
            raise ValueError(f"x has last dimension {x.size(-1)}, but this SwiGLU expects d_model={self.d_model}")
        check_layer_dtype("x", x, getattr(self.gate, "weight", None), "SwiGLU")
        return self.dropout(self.down(F.silu(self.gate(x)) * self.up(x)))


NORM_TYPES = ("layernorm", "rmsnorm")


def make_norm(norm_type: str, dim: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """``"layernorm"`` (GPT-2; a bias unless ``bias=False``) or ``"rmsnorm"`` (Llama; never a bias)."""
    norm_type = check_choice("norm_type", norm_type, NORM_TYPES)
    eps = check_float("eps", eps, min_value=0.0)
    if norm_type == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    return nn.LayerNorm(check_int("dim", dim, min_value=1), eps=eps, bias=bias)


class Block(nn.Module):
    """One Transformer block: multi-head attention and an MLP, each with a residual and a LayerNorm.

    ``norm="pre"`` (GPT-2):  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
    ``norm="post"`` (2017):  x = ln_1(x + attn(x));  x = ln_2(x + mlp(x))
    ``mlp``: a module to use instead of the default ``MLP`` (e.g. a mixture of experts or a
    ``SwiGLU``); it must map (B, T, d_model) to (B, T, d_model).
    ``norm_type``: ``"layernorm"`` (GPT-2) or ``"rmsnorm"`` (Llama) for ``ln_1`` and ``ln_2``, with
    ``norm_eps``; ``qkv_bias``: biases on the q, k, v projections only (None = follow ``bias``;
    Qwen2 has them while everything else is bias-free).
    """

    def __init__(self, d_model: int, n_head: int, n_kv_head: int | None = None, d_hidden: int | None = None,
                 dropout: float = 0.0, bias: bool = True, norm: str = "pre", causal: bool = True,
                 rope: RotaryEmbedding | None = None, mlp: nn.Module | None = None,
                 norm_type: str = "layernorm", norm_eps: float = 1e-5, qkv_bias: bool | None = None):
        super().__init__()
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.norm = check_choice("norm", norm, ["pre", "post"])
        bias = check_bool("bias", bias)
        if mlp is not None and d_hidden is not None:
            raise ValueError(f"pass either mlp (your own module) or d_hidden={d_hidden} (for the default MLP), "
                             f"not both: d_hidden would be ignored")
        if mlp is not None and not isinstance(mlp, nn.Module):
            raise ValueError(f"mlp must be an nn.Module mapping (B, T, d_model) to (B, T, d_model), "
                             f"got {type(mlp).__name__}")
        self.norm_type = check_choice("norm_type", norm_type, NORM_TYPES)
        self.ln_1 = make_norm(norm_type, d_model, eps=norm_eps, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_head, n_kv_head=n_kv_head, bias=bias, causal=causal,
                                       dropout=dropout, rope=rope, qkv_bias=qkv_bias)
        self.ln_2 = make_norm(norm_type, d_model, eps=norm_eps, bias=bias)
        self.mlp = MLP(d_model, d_hidden, dropout=dropout, bias=bias) if mlp is None else mlp

    def forward(self, x: torch.Tensor, cache: KVCache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model); ``cache`` and ``mask`` go to the attention."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            check_tensor("x", x, shape="(B, T, d_model)")
            raise ValueError(f"x must have shape (B, T, d_model), got {tuple(x.shape)}; add a batch dimension "
                             f"with x.unsqueeze(0)")
        if x.size(-1) != self.d_model:  # say it before LayerNorm fails with a shape error
            raise ValueError(f"x has last dimension {x.size(-1)}, but this block expects d_model={self.d_model}")
        check_layer_dtype("x", x, getattr(self.ln_1, "weight", None), "Block")  # before LayerNorm's "mixed dtype"
        if self.norm == "pre":
            x = x + self.attn(self.ln_1(x), cache=cache, mask=mask)  # tokens exchange information
            x = x + self._mlp(self.ln_2(x))  # each token processes what it gathered
        else:
            x = self.ln_1(x + self.attn(x, cache=cache, mask=mask))
            x = self.ln_2(x + self._mlp(x))
        return x

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mlp(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"mlp ({type(self.mlp).__name__}) returned {got}, but the block adds it to the "
                             f"residual stream, so it must return the shape it was given, {tuple(x.shape)}")
        return out
