"""The whole GPT: token ids in, next-token logits out (lecture notes chapter 4, lesson 10).

    idx (B, T) -> token embedding + position -> n_layer x Block -> final LayerNorm -> lm_head
               -> logits (B, T, vocab_size): at every position, a score for every possible next token

Everything inside is a gptlab module a lesson has already built: ``MultiHeadAttention`` and
``KVCache`` (``attention``), the position codes (``positional``), ``Block`` and ``MLP`` (``block``),
the decoding rules (``sampling``) and, with ``n_experts > 0``, ``MoE`` (``moe``). The layout and the
names follow nanoGPT's ``model.py`` (Karpathy), which follows GPT-2 (Radford et al. 2019), so
``GPT.from_huggingface`` can load OpenAI's GPT-2 weights and give the same logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type, divisors
from ._tensor_checks import check_bool
from .attention import KVCache, MultiHeadAttention, record_attention
from .block import MLP, NORM_TYPES, Block, SwiGLU, make_norm
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding
from .sampling import make_generator, sample

POSITIONS = ("learned", "sinusoidal", "rope", "none")
NORMS = ("pre", "post")
ACTIVATIONS = ("gelu", "gelu_tanh", "swiglu")


@dataclass
class GPTConfig:
    """The numbers that fix a GPT's shape. ``GPTConfig.preset("gpt2")`` gives GPT-2 small."""

    vocab_size: int  # how many different tokens there are (65 for Shakespeare's characters, 50257 for GPT-2)
    block_size: int  # the longest context the model reads, in tokens (T_max)
    n_layer: int  # how many Transformer blocks are stacked
    n_head: int  # attention heads per block (query heads)
    n_embd: int  # width of the residual stream, d_model; every head gets n_embd // n_head of it
    n_kv_head: int | None = None  # key/value heads; None = n_head (multi-head), 1 = multi-query, else grouped
    dropout: float = 0.0  # dropout probability in training (0 for small data you want to overfit, ~0.1-0.2 else)
    bias: bool = True  # biases in Linear layers and LayerNorms (GPT-2: True; many newer models: False)
    norm: str = "pre"  # "pre": x + sublayer(LN(x)) as in GPT-2; "post": LN(x + sublayer(x)) as in 2017
    pos: str = "learned"  # "learned" (GPT-2), "sinusoidal" (2017), "rope" (Llama) or "none" (only the causal mask)
    tie_weights: bool = True  # lm_head shares its weight matrix with the token embedding (GPT-2 does)
    activation: str = "gelu"  # MLP nonlinearity: "gelu" (exact) or "gelu_tanh" (GPT-2's approximation)
    n_experts: int = 0  # experts per MoE layer; 0 = a dense MLP in every block
    top_k: int = 2  # MoE only: experts each token visits
    aux_loss_weight: float = 0.01  # MoE only: loss = cross-entropy + aux_loss_weight * sum of load-balancing losses
    capacity_factor: float | None = None  # MoE only: cap on tokens per expert (None = no cap)
    # the modern recipe (Llama, Qwen; lesson 15): norm_type="rmsnorm", activation="swiglu", pos="rope",
    # n_kv_head < n_head, bias=False, tie_weights=False
    norm_type: str = "layernorm"  # which normalization: "layernorm" (GPT-2) or "rmsnorm" (Llama); `norm` says where
    norm_eps: float = 1e-5  # the epsilon inside every norm (nn.LayerNorm's default; Llama uses 1e-5 or 1e-6)
    mlp_hidden: int | None = None  # MLP width; None = 4 * n_embd for GELU, round(8/3 * n_embd) for SwiGLU (same params)
    rope_base: float = 10000.0  # RoPE's base θ (Llama-2: 1e4, Llama-3: 5e5, Qwen2.5: 1e6); pos="rope" only
    qkv_bias: bool | None = None  # biases on q, k, v only; None = follow `bias` (Qwen2: True with bias=False)

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head, n_embd // n_head."""
        return self.n_embd // self.n_head

    @property
    def mlp_width(self) -> int:
        """The MLP's hidden width actually used (``mlp_hidden`` or its default)."""
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        return round(8 * self.n_embd / 3) if self.activation == "swiglu" else 4 * self.n_embd

    def kv_cache_per_token(self, bytes_per_value: int = 2) -> int:
        """Bytes the KV cache grows by per token: a key and a value of n_kv_head heads in every layer.

        ``2 * n_layer * n_kv_head * head_dim * bytes_per_value`` (2 bytes: float16/bfloat16).
        """
        bytes_per_value = check_int("bytes_per_value", bytes_per_value, min_value=1)
        n_kv = self.n_head if self.n_kv_head is None else self.n_kv_head
        return 2 * self.n_layer * n_kv * self.head_dim * bytes_per_value

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(name, getattr(self, name), min_value=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: every head gets "
                             f"n_embd // n_head dimensions; choose n_head among "
                             f"{', '.join(map(str, divisors(self.n_embd)))}")
        if self.n_kv_head is not None:
            check_int("n_kv_head", self.n_kv_head, min_value=1)
            if self.n_head % self.n_kv_head:
                raise ValueError(f"n_head={self.n_head} is not divisible by n_kv_head={self.n_kv_head}: every "
                                 f"key/value head serves an equal group of query heads; choose n_kv_head among "
                                 f"{', '.join(map(str, divisors(self.n_head)))}")
        check_float("dropout", self.dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        for name in ("bias", "tie_weights"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be True or False")
        check_choice("norm", self.norm, NORMS)
        check_choice("pos", self.pos, POSITIONS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("norm_type", self.norm_type, NORM_TYPES)
        check_float("norm_eps", self.norm_eps, min_value=0.0)
        if self.mlp_hidden is not None:
            check_int("mlp_hidden", self.mlp_hidden, min_value=1)
        check_float("rope_base", self.rope_base, min_value=1.0, min_inclusive=False)
        if self.qkv_bias is not None and not isinstance(self.qkv_bias, bool):
            raise ValueError(f"qkv_bias={self.qkv_bias!r} must be True, False or None (None = follow bias)")
        if self.pos == "sinusoidal" and self.n_embd % 2:
            raise ValueError(f"pos='sinusoidal' needs an even n_embd (one sin and one cos column per "
                             f"frequency), got n_embd={self.n_embd}")
        head_dim = self.n_embd // self.n_head
        if self.pos == "rope" and head_dim % 2:
            raise ValueError(f"pos='rope' needs an even head size n_embd // n_head (RoPE turns coordinates in "
                             f"pairs), got {self.n_embd} // {self.n_head} = {head_dim}")
        check_int("n_experts", self.n_experts, min_value=0)
        if self.n_experts:
            check_int("top_k", self.top_k, min_value=1, max_value=self.n_experts)
            check_float("aux_loss_weight", self.aux_loss_weight, min_value=0.0)
            if self.capacity_factor is not None:
                check_float("capacity_factor", self.capacity_factor, min_value=0.0, min_inclusive=False)
            if self.activation not in ("gelu", "swiglu"):
                raise ValueError(f"activation={self.activation!r} applies to the dense MLP only; MoE experts "
                                 f"use the exact GELU or SwiGLU, so use activation='gelu' or 'swiglu' with "
                                 f"n_experts > 0")

    @classmethod
    def preset(cls, name: str, **overrides) -> GPTConfig:
        """A named size from ``PRESETS``, with any field overridden, e.g.
        ``GPTConfig.preset("gpt-mini", vocab_size=65, block_size=128, dropout=0.1)``."""
        check_type("name", name, str, f"a preset name ({', '.join(map(repr, PRESETS))})")
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(map(repr, PRESETS))}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"GPTConfig has no field {', '.join(unknown)}; the fields are {', '.join(sorted(known))}")
        values = {**PRESETS[name], **overrides}
        missing = [k for k in ("vocab_size", "block_size") if k not in values]
        if missing:
            raise ValueError(f"preset {name!r} fixes only the model's shape; also pass "
                             f"{' and '.join(f'{k}=...' for k in missing)} (they depend on your data)")
        return cls(**values)


# Named sizes. The small ones are minGPT's (they leave vocab_size and block_size to the data); the
# gpt2 ones are OpenAI's checkpoints, with their vocabulary, context and tanh-approximated GELU.
_GPT2 = dict(vocab_size=50257, block_size=1024, activation="gelu_tanh")
PRESETS: dict[str, dict] = {
    "gpt-nano": dict(n_layer=3, n_head=3, n_embd=48),  # ~0.1M parameters without embeddings
    "gpt-micro": dict(n_layer=4, n_head=4, n_embd=128),  # ~0.8M
    "gpt-mini": dict(n_layer=6, n_head=6, n_embd=192),  # ~2.7M
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768, **_GPT2),  # 124M
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024, **_GPT2),  # 350M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280, **_GPT2),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600, **_GPT2),  # 1558M
}
# The modern recipe at lesson size (lesson 15): RMSNorm, SwiGLU at 8/3 width, RoPE, GQA, no biases, untied.
_LLAMA = dict(norm_type="rmsnorm", norm_eps=1e-6, activation="swiglu", pos="rope", bias=False, tie_weights=False)
PRESETS.update({
    "llama-micro": dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, **_LLAMA),  # gpt-micro's shape
    "llama-mini": dict(n_layer=6, n_head=6, n_kv_head=2, n_embd=192, **_LLAMA),  # gpt-mini's shape
})


class GPT(nn.Module):
    """A decoder-only Transformer language model (GPT-2's layout).

    ``forward(idx, targets)`` -> ``(logits, loss)`` as in nanoGPT; ``generate`` samples text.
    Components, in the order the data flows: ``wte`` (token embedding), ``pos`` (added position
    code, None for RoPE or "none"), ``drop``, ``blocks``, ``ln_f``, ``lm_head``.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"config must be a GPTConfig, got {type(config).__name__}; "
                             f"e.g. GPT(GPTConfig.preset('gpt-nano', vocab_size=65, block_size=64))")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)  # token id -> vector
        if c.pos == "learned":
            self.pos = LearnedPositionalEmbedding(c.block_size, c.n_embd)
        elif c.pos == "sinusoidal":
            self.pos = SinusoidalPositionalEncoding(c.block_size, c.n_embd)
        else:
            self.pos = None  # RoPE acts inside attention; "none" leaves order to the causal mask
        # one RotaryEmbedding (no parameters, just cos/sin tables) shared by every block's attention
        rope = (RotaryEmbedding(c.head_dim, max_len=c.block_size, base=c.rope_base) if c.pos == "rope"
                else None)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.n_embd, c.n_head, n_kv_head=c.n_kv_head, dropout=c.dropout, bias=c.bias, norm=c.norm,
                  rope=rope, mlp=self._make_mlp(c), norm_type=c.norm_type, norm_eps=c.norm_eps,
                  qkv_bias=c.qkv_bias)
            for _ in range(c.n_layer))
        # pre-LN leaves the residual stream un-normalized, so it needs one last norm; a post-LN
        # block already ends with one
        self.ln_f = (make_norm(c.norm_type, c.n_embd, eps=c.norm_eps, bias=c.bias) if c.norm == "pre"
                     else nn.Identity())
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)  # vector -> one score per token
        if c.tie_weights:
            # one matrix for "token -> vector" and "vector -> token scores" (Press & Wolf 2017):
            # fewer parameters, and GPT-2 was trained this way
            self.wte.weight = self.lm_head.weight

        self.apply(self._init_weights)
        # GPT-2: the projections that write into the residual stream get a smaller init, so that
        # the sum of 2 * n_layer contributions keeps roughly unit variance at any depth
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                nn.init.normal_(module.out_proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))
            elif isinstance(module, MLP):
                nn.init.normal_(module.proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))
            elif isinstance(module, SwiGLU):
                nn.init.normal_(module.down.weight, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

        self.aux_loss: torch.Tensor | None = None  # MoE: sum of the layers' load-balancing losses, last forward
        self.last_loss_parts: dict[str, torch.Tensor] | None = None  # {"lm", "aux", "total"}, last forward with targets

    @staticmethod
    def _make_mlp(c: GPTConfig) -> nn.Module:
        if c.n_experts == 0:
            if c.activation == "swiglu":
                return SwiGLU(c.n_embd, c.mlp_width, bias=c.bias, dropout=c.dropout)
            return MLP(c.n_embd, c.mlp_width, dropout=c.dropout, bias=c.bias, activation=c.activation)
        from .moe import MoE  # imported here so that a dense GPT does not need the MoE module

        moe = MoE(c.n_embd, c.n_experts, top_k=c.top_k, d_hidden=c.mlp_width, capacity_factor=c.capacity_factor,
                  dropout=c.dropout, bias=c.bias)
        if c.activation == "swiglu":  # Mixtral's experts: each one a SwiGLU
            moe.experts = nn.ModuleList(SwiGLU(c.n_embd, c.mlp_width, bias=c.bias, dropout=c.dropout)
                                        for _ in range(c.n_experts))
        return moe

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # GPT-2's init: small normal weights (std 0.02), zero biases; LayerNorms keep weight 1, bias 0
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # ------------------------------------------------------------------------------------------
    # the forward pass

    def _check_ids(self, idx, name: str = "idx") -> None:
        """Token ids must be a (B, T) integer tensor with 0 <= id < vocab_size, T >= 1."""
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"{name} must be a (B, T) tensor of token ids, got {shape}; for a single "
                             f"sequence use torch.tensor([ids]) or ids.unsqueeze(0)")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer token ids (torch.long), got dtype {idx.dtype}")
        if idx.size(1) == 0:
            raise ValueError(f"{name} is empty (T=0): the model needs at least one token to predict the next "
                             f"one; start from e.g. a newline or an end-of-text token")
        if idx.size(0) == 0:
            raise ValueError(f"{name} holds no sequences (B=0); give at least one row of token ids")
        low, high = int(idx.min()), int(idx.max())
        V = self.config.vocab_size
        if low < 0 or high >= V:
            raise ValueError(f"{name} contains token id {low if low < 0 else high}, outside the vocabulary "
                             f"0..{V - 1} (vocab_size={V}); was it encoded with another tokenizer?")

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                caches: list[KVCache] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx: (B, T) token ids -> (logits (B, T, vocab_size), loss or None).

        ``targets`` (B, T): the token that follows each position (-1 = ignore); the loss is the mean
        cross-entropy (plus ``aux_loss_weight`` x the MoE load-balancing losses).
        ``caches``: one ``KVCache`` per layer; idx then holds only the new tokens, which sit at
        positions cache.length, cache.length + 1, ... (see ``generate``).
        """
        self._check_ids(idx)
        B, T = idx.size()
        c = self.config
        if caches is not None:
            if (not isinstance(caches, (list, tuple)) or len(caches) != c.n_layer
                    or not all(isinstance(cache, KVCache) for cache in caches)):
                raise ValueError(f"caches must be a list of {c.n_layer} KVCache objects, one per layer, e.g. "
                                 f"[KVCache() for _ in range({c.n_layer})]")
            lengths = [cache.length for cache in caches]
            if len(set(lengths)) > 1:  # each layer must have seen the same tokens, or positions go wrong
                raise ValueError(f"caches hold different numbers of tokens per layer ({lengths}); every layer's "
                                 f"cache must come from the same calls: start again with fresh KVCache objects")
        past = 0 if caches is None else caches[0].length  # absolute position of idx[:, 0]
        if past + T > c.block_size:
            where = f"{past} cached + {T} new tokens" if past else f"T={T} tokens"
            raise ValueError(f"{where} exceed block_size={c.block_size}, the longest context this model has "
                             f"positions for; crop the input to its last {c.block_size - past} tokens "
                             f"(generate() does this for you)")

        x = self.wte(idx)  # (B, T, C)
        if self.pos is not None:
            x = self.pos(x, offset=past)  # (B, T, C) + position code of positions past .. past+T-1
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache=None if caches is None else caches[i])  # (B, T, C)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)

        # MoE layers keep their load-balancing loss after each forward; dense MLPs have none
        aux_losses = [block.mlp.aux_loss for block in self.blocks if getattr(block.mlp, "aux_loss", None) is not None]
        aux = torch.stack(aux_losses).sum() if aux_losses else None
        self.aux_loss = None if aux is None else aux.detach()

        loss = None
        if targets is not None:
            if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
                shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
                raise ValueError(f"targets must have the same shape as idx, {tuple(idx.shape)} (the next token at "
                                 f"every position), got {shape}")
            if targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
                raise ArgumentTypeError(f"targets must hold integer token ids (torch.long), got dtype {targets.dtype}; "
                                        f"a float id would be truncated silently")
            if int(targets.min()) < -1 or int(targets.max()) >= c.vocab_size:
                raise ValueError(f"targets must be token ids 0..{c.vocab_size - 1} (or -1 to ignore a position)")
            # flatten: cross_entropy wants (N, classes) and (N,); every position is one prediction
            lm_loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T).long(), ignore_index=-1)
            loss = lm_loss if aux is None else lm_loss + c.aux_loss_weight * aux
            zero = torch.zeros((), device=lm_loss.device)
            self.last_loss_parts = {"lm": lm_loss.detach(), "aux": zero if aux is None else aux.detach(),
                                    "total": loss.detach()}
        return logits, loss

    # ------------------------------------------------------------------------------------------
    # generation

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, repetition_penalty: float = 1.0, use_cache: bool = True,
                 generator=None) -> torch.Tensor:
        """Continue each prompt in idx (B, T) by ``max_new_tokens`` tokens -> (B, T + max_new_tokens).

        Each step turns the last position's logits into a token with ``gptlab.sampling.sample``
        (``temperature=0`` is greedy; ``generator``: a torch.Generator or an int seed). The model
        reads at most ``block_size`` tokens, so longer contexts are cropped to the last
        ``block_size`` (as nanoGPT does). ``use_cache`` changes the speed, never the tokens:
        with it, the prompt is read once (prefill) and then each step feeds only the newest token;
        once the context fills the block, the window slides, every position shifts, and the cache
        is rebuilt from the cropped context at each step. Runs in eval mode (no dropout).
        """
        self._check_ids(idx)
        max_new_tokens = check_int("max_new_tokens", max_new_tokens, min_value=0)
        use_cache = check_bool("use_cache", use_cache)
        # check the decoding settings now, not at the first step (nor never, when max_new_tokens=0)
        check_float("temperature", temperature, min_value=0.0)
        if top_k is not None:
            check_int("top_k", top_k, min_value=1)
        if top_p is not None:
            check_float("top_p", top_p, min_value=0.0, max_value=1.0, min_inclusive=False)
        check_float("repetition_penalty", repetition_penalty, min_value=0.0, min_inclusive=False)
        generator = make_generator(generator)  # an int seed becomes ONE generator for the whole loop
        block_size = self.config.block_size
        was_training = self.training
        self.eval()
        try:
            caches = None
            for _ in range(max_new_tokens):
                if not use_cache:
                    logits, _ = self(idx[:, -block_size:])  # recompute the whole (cropped) context
                elif caches is None or caches[0].length >= block_size:
                    # prefill, or the window is full: positions shift by one, so old keys are stale
                    caches = [KVCache() for _ in self.blocks]
                    logits, _ = self(idx[:, -block_size:], caches=caches)
                else:
                    logits, _ = self(idx[:, -1:], caches=caches)  # only the newest token is new
                logits = logits[:, -1, :]  # (B, vocab_size) the prediction after the last token
                previous = idx if repetition_penalty != 1.0 else None
                idx_next = sample(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                  repetition_penalty=repetition_penalty, previous=previous,
                                  generator=generator)  # (B, 1)
                idx = torch.cat((idx, idx_next.to(idx.device, idx.dtype)), dim=1)  # (B, T + 1)
        finally:
            self.train(was_training)
        return idx

    # ------------------------------------------------------------------------------------------
    # looking inside

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Attention weights of every layer and head for idx (B, T) -> (n_layer, B, n_head, T, T), on the CPU.

        Entry [l, b, h, i, j] is how much token i looks at token j in layer l, head h (rows sum to 1).
        Runs in eval mode, so dropout does not blur the picture.
        """
        self._check_ids(idx)
        was_training = self.training
        self.eval()
        try:
            with record_attention(self) as rec:
                self(idx)
        finally:
            self.train(was_training)
        return torch.stack(rec.weights)  # (n_layer, B, nh, T, T)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Number of parameters (a tied matrix counted once).

        ``non_embedding=True`` leaves out the lookup tables, which cost memory but no compute:
        the position embedding, and the token embedding unless it is tied to lm_head (then it
        does the output projection's matmul, so it counts), as in nanoGPT and the scaling laws.
        """
        non_embedding = check_bool("non_embedding", non_embedding)
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if self.pos is not None:
                n -= sum(p.numel() for p in self.pos.parameters())
            if not self.config.tie_weights:
                n -= self.wte.weight.numel()
        return n

    def parameter_counts(self) -> dict[str, int]:
        """Parameters by component: embeddings, position, attention, mlp, norms, head.

        The values sum to ``num_parameters()``; ``head`` is 0 when lm_head is tied to the
        embeddings (its matrix is counted under ``embeddings``).
        """
        counts = dict.fromkeys(("embeddings", "position", "attention", "mlp", "norms", "head"), 0)
        for name, p in self.named_parameters():  # a tied matrix appears once, as "wte.weight"
            if name.startswith("wte."):
                part = "embeddings"
            elif name.startswith("pos."):
                part = "position"
            elif name.startswith("lm_head."):
                part = "head"
            elif name.startswith("blocks."):
                sublayer = name.split(".")[2]  # "blocks.3.attn.q_proj.weight" -> "attn"
                part = {"attn": "attention", "mlp": "mlp", "ln_1": "norms", "ln_2": "norms"}[sublayer]
            else:
                part = "norms"  # ln_f
            counts[part] += p.numel()
        return counts

    def estimate_flops_per_token(self, T: int | None = None) -> int:
        """Training FLOPs per token (forward + backward) for a context of T tokens (default block_size).

        The rule of thumb of Kaplan et al. (2020) and the PaLM paper, as in nanoGPT's
        ``estimate_mfu``: ``6 N + 12 L T C``. Each of the N non-embedding weights does one multiply
        and one add per token in the forward pass (2N) and twice that in the backward pass (4N).
        Attention's two weightless products, Q Kᵀ and weights @ V, cost 2 T C each per layer
        forward, 4 T C, times 3 with backward: 12 L T C. With MoE, N counts only the experts a
        token visits (top_k of n_experts), so it is an estimate of the compute actually done.
        """
        c = self.config
        T = c.block_size if T is None else check_int("T", T, min_value=1, max_value=c.block_size)
        N = self.num_parameters(non_embedding=True)
        if c.n_experts:  # every token runs the router, but only top_k of the n_experts experts
            for block in self.blocks:
                experts = sum(p.numel() for p in block.mlp.experts.parameters())
                N -= experts - experts * c.top_k // c.n_experts
        return 6 * N + 12 * c.n_layer * T * c.n_embd

    # ------------------------------------------------------------------------------------------
    # GPT-2, Llama and Qwen2, through Hugging Face transformers

    @classmethod
    def from_huggingface(cls, hf_model) -> GPT:
        """A gptlab GPT with the weights of a Hugging Face causal LM (same logits).

        Supported: ``GPT2LMHeadModel``, ``LlamaForCausalLM`` and ``Qwen2ForCausalLM``, e.g.
        ``GPT.from_huggingface(GPT2LMHeadModel.from_pretrained("gpt2"))``. For GPT-2, two layout
        differences: Hugging Face's ``Conv1D`` stores weights as (in, out), the transpose of
        ``nn.Linear``'s (out, in); and its ``c_attn`` computes q, k and v in one matrix, which
        we split into ``q_proj``, ``k_proj``, ``v_proj``. Llama and Qwen2 already use separate
        ``nn.Linear`` layers, and Hugging Face's RoPE pairs coordinates (i, i + d/2) as gptlab's does,
        so their weights copy over unchanged.
        """
        hf = getattr(hf_model, "config", None)
        model_type = getattr(hf, "model_type", None)
        loaders = {"gpt2": ("GPT2LMHeadModel", "transformer", cls._from_gpt2),
                   "llama": ("LlamaForCausalLM", "model", cls._from_llama),
                   "qwen2": ("Qwen2ForCausalLM", "model", cls._from_llama)}
        if model_type not in loaders or not hasattr(hf_model, loaders[model_type][1]) \
                or not hasattr(hf_model, "lm_head"):
            supported = ", ".join(f"transformers.{name}" for name, _, _ in loaders.values())
            what = type(hf_model).__name__ + (f" (model_type={model_type!r})" if model_type else "")
            raise ValueError(f"from_huggingface supports {supported} (a model with its language-model head); "
                             f"got {what}")
        return loaders[model_type][2](hf_model)

    @classmethod
    def _from_llama(cls, hf_model) -> GPT:
        """Llama and Qwen2: RMSNorm, SwiGLU, RoPE, GQA; Qwen2 adds biases on q, k and v."""
        hf = hf_model.config
        qwen = hf.model_type == "qwen2"
        name = "Qwen2" if qwen else "Llama"
        if getattr(hf, "hidden_act", "silu") != "silu":
            raise ValueError(f"{name} config hidden_act={hf.hidden_act!r} is not supported; gptlab's SwiGLU uses "
                             f"'silu'")
        head_dim = getattr(hf, "head_dim", None) or hf.hidden_size // hf.num_attention_heads
        if head_dim * hf.num_attention_heads != hf.hidden_size:
            raise ValueError(f"{name} config head_dim={head_dim} with num_attention_heads={hf.num_attention_heads} "
                             f"does not fill hidden_size={hf.hidden_size}; gptlab needs head_dim = hidden_size // "
                             f"num_attention_heads")
        rope = getattr(hf, "rope_parameters", None) or getattr(hf, "rope_scaling", None) or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise ValueError(f"{name} config rope_type={rope_type!r} (RoPE scaling) is not supported; gptlab's "
                             f"RotaryEmbedding is the plain ('default') one")
        rope_base = rope.get("rope_theta", getattr(hf, "rope_theta", 10000.0))
        if qwen:
            if getattr(hf, "use_sliding_window", False):
                raise ValueError("Qwen2 config use_sliding_window=True is not supported; gptlab's attention "
                                 "sees the whole context")
            qkv_bias = True
        else:
            for flag in ("attention_bias", "mlp_bias"):
                if getattr(hf, flag, False):
                    raise ValueError(f"Llama config {flag}=True is not supported; gptlab loads bias-free Llamas")
            qkv_bias = False
        body = hf_model.model
        tied = hf_model.lm_head.weight is body.embed_tokens.weight
        config = GPTConfig(vocab_size=hf.vocab_size, block_size=hf.max_position_embeddings,
                           n_layer=hf.num_hidden_layers, n_head=hf.num_attention_heads,
                           n_kv_head=hf.num_key_value_heads, n_embd=hf.hidden_size, dropout=0.0, bias=False,
                           norm="pre", pos="rope", tie_weights=tied, activation="swiglu",
                           norm_type="rmsnorm", norm_eps=float(hf.rms_norm_eps), mlp_hidden=hf.intermediate_size,
                           rope_base=float(rope_base), qkv_bias=qkv_bias)
        model = cls(config)

        def copy(dst: torch.Tensor, src: torch.Tensor) -> None:
            if dst.shape != src.shape:
                raise ValueError(f"shape mismatch while copying {name} weights: {tuple(src.shape)} into "
                                 f"{tuple(dst.shape)}")
            dst.copy_(src)

        with torch.no_grad():
            copy(model.wte.weight, body.embed_tokens.weight)
            if not tied:
                copy(model.lm_head.weight, hf_model.lm_head.weight)
            for block, layer in zip(model.blocks, body.layers):
                copy(block.ln_1.weight, layer.input_layernorm.weight)
                copy(block.ln_2.weight, layer.post_attention_layernorm.weight)
                a, ha = block.attn, layer.self_attn
                for ours, theirs in ((a.q_proj, ha.q_proj), (a.k_proj, ha.k_proj), (a.v_proj, ha.v_proj),
                                     (a.out_proj, ha.o_proj), (block.mlp.gate, layer.mlp.gate_proj),
                                     (block.mlp.up, layer.mlp.up_proj), (block.mlp.down, layer.mlp.down_proj)):
                    copy(ours.weight, theirs.weight)  # both nn.Linear: (out, in)
                    if (ours.bias is None) != (theirs.bias is None):
                        raise ValueError(f"{name} layer has bias={theirs.bias is not None} where gptlab's has "
                                         f"bias={ours.bias is not None}; unsupported bias layout")
                    if ours.bias is not None:
                        copy(ours.bias, theirs.bias)
            copy(model.ln_f.weight, body.norm.weight)
        return model.to(body.embed_tokens.weight.device)

    @classmethod
    def _from_gpt2(cls, hf_model) -> GPT:
        hf = hf_model.config
        activations = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
        if hf.activation_function not in activations:
            raise ValueError(f"activation_function={hf.activation_function!r} is not supported; gptlab's MLP "
                             f"offers {', '.join(activations)}")
        needed = {"layer_norm_epsilon": 1e-5,  # nn.LayerNorm's default eps, which our blocks use
                  "n_inner": (None, 4 * hf.n_embd),  # our MLP widens 4x (None means 4x in GPT-2 too)
                  "scale_attn_weights": True,  # divide scores by sqrt(head_dim)
                  "scale_attn_by_inverse_layer_idx": False}
        for name, allowed in needed.items():
            allowed = allowed if isinstance(allowed, tuple) else (allowed,)
            if getattr(hf, name, allowed[0]) not in allowed:
                raise ValueError(f"GPT-2 config {name}={getattr(hf, name)!r} is not supported; gptlab's GPT "
                                 f"needs {' or '.join(map(repr, allowed))}")
        wte, lm_head = hf_model.transformer.wte.weight, hf_model.lm_head.weight
        config = GPTConfig(vocab_size=hf.vocab_size, block_size=hf.n_positions, n_layer=hf.n_layer,
                           n_head=hf.n_head, n_embd=hf.n_embd, dropout=0.0, bias=True, norm="pre", pos="learned",
                           tie_weights=wte is lm_head, activation=activations[hf.activation_function])
        model = cls(config)
        C = config.n_embd

        def copy(dst: torch.Tensor, src: torch.Tensor) -> None:
            if dst.shape != src.shape:
                raise ValueError(f"shape mismatch while copying GPT-2 weights: {tuple(src.shape)} into "
                                 f"{tuple(dst.shape)}")
            dst.copy_(src)

        t = hf_model.transformer
        with torch.no_grad():
            copy(model.wte.weight, t.wte.weight)
            copy(model.pos.embedding.weight, t.wpe.weight)
            if not config.tie_weights:
                copy(model.lm_head.weight, lm_head)
            for block, h in zip(model.blocks, t.h):
                for ours, theirs in ((block.ln_1, h.ln_1), (block.ln_2, h.ln_2)):
                    copy(ours.weight, theirs.weight)
                    copy(ours.bias, theirs.bias)
                # Conv1D: y = x @ W + b with W (in, out); c_attn's columns are [q | k | v]
                W_q, W_k, W_v = h.attn.c_attn.weight.split(C, dim=1)  # 3 x (C, C)
                b_q, b_k, b_v = h.attn.c_attn.bias.split(C)  # 3 x (C,)
                attn = block.attn
                for linear, W, b in ((attn.q_proj, W_q, b_q), (attn.k_proj, W_k, b_k), (attn.v_proj, W_v, b_v),
                                     (attn.out_proj, h.attn.c_proj.weight, h.attn.c_proj.bias),
                                     (block.mlp.fc, h.mlp.c_fc.weight, h.mlp.c_fc.bias),
                                     (block.mlp.proj, h.mlp.c_proj.weight, h.mlp.c_proj.bias)):
                    copy(linear.weight, W.t())  # (in, out) -> nn.Linear's (out, in)
                    copy(linear.bias, b)
            copy(model.ln_f.weight, t.ln_f.weight)
            copy(model.ln_f.bias, t.ln_f.bias)
        return model.to(wte.device)


# ----------------------------------------------------------------------------------------------
# Real configurations (lesson 15): each model's shape as a GPTConfig, next to its published size


def count_parameters(config: GPTConfig, active: bool = False) -> int:
    """Parameters of ``GPT(config)``, counted by building it on the ``meta`` device (no memory used).

    ``active=True`` counts, for a mixture of experts, only the ``top_k`` experts a token visits
    (Mixtral-8x7B: 46.7B in all, 12.9B active).
    """
    if not isinstance(config, GPTConfig):
        raise ArgumentTypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    active = check_bool("active", active)
    with torch.device("meta"):
        model = GPT(config)
    n = model.num_parameters()
    if active and config.n_experts:
        for block in model.blocks:
            experts = sum(p.numel() for p in block.mlp.experts.parameters())
            n -= experts - experts * config.top_k // config.n_experts
    return n


_MODERN = dict(norm_type="rmsnorm", activation="swiglu", pos="rope", bias=False, tie_weights=False)
# name -> (GPTConfig fields, published total parameters, published active parameters or None, source)
REAL_CONFIGS: dict[str, tuple[dict, float, float | None, str]] = {
    "GPT-2 small": (dict(PRESETS["gpt2"]), 124e6, None, "Radford et al. 2019 (124M)"),
    "Llama-2-7B": (dict(vocab_size=32000, block_size=4096, n_layer=32, n_head=32, n_kv_head=32, n_embd=4096,
                        mlp_hidden=11008, norm_eps=1e-5, rope_base=1e4, **_MODERN),
                   6.74e9, None, "Touvron et al. 2023 (7B; 6.74B on the model card)"),
    "Llama-3-8B": (dict(vocab_size=128256, block_size=8192, n_layer=32, n_head=32, n_kv_head=8, n_embd=4096,
                        mlp_hidden=14336, norm_eps=1e-5, rope_base=5e5, **_MODERN),
                   8.03e9, None, "Meta 2024 model card (8.03B)"),
    "Qwen2.5-7B": (dict(vocab_size=152064, block_size=131072, n_layer=28, n_head=28, n_kv_head=4, n_embd=3584,
                        mlp_hidden=18944, norm_eps=1e-6, rope_base=1e6, qkv_bias=True, **_MODERN),
                   7.61e9, None, "Qwen team 2024 (7.61B)"),
    "Mixtral-8x7B": (dict(vocab_size=32000, block_size=32768, n_layer=32, n_head=32, n_kv_head=8, n_embd=4096,
                          mlp_hidden=14336, norm_eps=1e-5, rope_base=1e6, n_experts=8, top_k=2, **_MODERN),
                     46.7e9, 12.9e9, "Jiang et al. 2024 (46.7B total, 12.9B active)"),
}


def real_configurations(bytes_per_value: int = 2) -> list[dict]:
    """One row per model in ``REAL_CONFIGS``: gptlab's parameter count next to the published one.

    Keys: ``name``, ``config`` (GPTConfig), ``params`` and ``active_params`` (counted by gptlab),
    ``published`` and ``published_active``, ``kv_cache_per_token`` (bytes, with
    ``bytes_per_value`` bytes per number; 2 = float16), ``source``.
    """
    bytes_per_value = check_int("bytes_per_value", bytes_per_value, min_value=1)
    rows = []
    for name, (values, published, published_active, source) in REAL_CONFIGS.items():
        config = GPTConfig(**values)
        rows.append(dict(name=name, config=config, params=count_parameters(config),
                         active_params=count_parameters(config, active=True), published=published,
                         published_active=published_active,
                         kv_cache_per_token=config.kv_cache_per_token(bytes_per_value), source=source))
    return rows
