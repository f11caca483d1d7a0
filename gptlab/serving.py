"""How much memory and how many GPUs serving a GPT takes: arithmetic, then a measurement (lesson 13).

Decoding one token per sequence is one *step*: every weight is read from memory once (whatever
the batch), every sequence's KV cache is read once, and each token costs about 2 FLOPs per
weight it passes through plus the attention over its context. The roofline model (Williams et
al. 2009) says a step takes the larger of

    bytes moved / memory bandwidth      and      FLOPs / peak FLOP/s,

so small batches are limited by bandwidth (带宽) and only large ones by compute. ``gpus_needed``
turns that into a count: enough GPUs to hold the weights and caches in memory (显存), to read them
fast enough, and to do the FLOPs, for ``users`` concurrent (并发) sequences at a target speed each.
It assumes the work splits perfectly over GPUs (no communication cost): a lower bound.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields

import torch

from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type
from .attention import KVCache, kv_cache_bytes

# bytes per stored weight
DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "int8": 1.0, "int4": 0.5}
DTYPES = tuple(DTYPE_BYTES)
_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ModelShape:
    """The shape numbers that memory and FLOP arithmetic needs, for models gptlab cannot build yet.

    gptlab's ``GPTConfig`` describes GPT-2-style models (LayerNorm, 4x GELU MLP). Llama-style models
    use a gated (SwiGLU) MLP with three matrices of width ``d_ff`` and RMSNorm; until GPTConfig
    grows those fields, this dataclass carries just the numbers the arithmetic uses.
    """

    name: str
    n_layer: int
    n_embd: int  # d_model
    n_head: int
    n_kv_head: int  # key/value heads (= n_head: multi-head; fewer: grouped-query attention)
    d_ff: int  # MLP hidden width
    vocab_size: int
    block_size: int  # longest context
    gated_mlp: bool = False  # True: SwiGLU, three d_model x d_ff matrices; False: two (GPT-2)
    tie_weights: bool = True  # the output head shares the token embedding
    learned_pos: bool = True  # a (block_size, d_model) position table (GPT-2); False: RoPE, no parameters
    bias: bool = True  # biases in Linear layers and norms (GPT-2: yes, Llama: no)

    def __post_init__(self):
        for f in fields(self):
            if f.type == "int":
                check_int(f.name, getattr(self, f.name), min_value=1)
        if self.n_embd % self.n_head or self.n_head % self.n_kv_head:
            raise ValueError(f"need n_embd % n_head == 0 and n_head % n_kv_head == 0, got n_embd={self.n_embd}, "
                             f"n_head={self.n_head}, n_kv_head={self.n_kv_head}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


@dataclass(frozen=True)
class GPU:
    """One accelerator (or CPU): memory in bytes, memory bandwidth in bytes/s, dense bf16 FLOP/s."""

    name: str
    memory: float
    bandwidth: float
    flops: float

    def __post_init__(self):
        for name in ("memory", "bandwidth", "flops"):
            check_float(name, getattr(self, name), min_value=0.0, min_inclusive=False)


# Datasheet numbers (dense, no sparsity). Memory in decimal GB as the datasheets state it.
GPUS: dict[str, GPU] = {
    # NVIDIA H100 Tensor Core GPU datasheet, SXM5: 80 GB HBM3, 3.35 TB/s, BF16 989.4 TFLOPS dense
    "H100": GPU("H100", 80e9, 3.35e12, 989.4e12),
    # NVIDIA H200 Tensor Core GPU datasheet, SXM: 141 GB HBM3e, 4.8 TB/s, BF16 989 TFLOPS dense
    "H200": GPU("H200", 141e9, 4.8e12, 989e12),
    # NVIDIA A100 Tensor Core GPU datasheet, 80 GB SXM: HBM2e, 2.039 TB/s, BF16 312 TFLOPS dense
    "A100": GPU("A100", 80e9, 2.039e12, 312e12),
    # NVIDIA Ada Lovelace architecture whitepaper (GeForce RTX 4090): 24 GB GDDR6X, 1008 GB/s,
    # BF16 tensor 165.2 TFLOPS dense with FP32 accumulate
    "RTX 4090": GPU("RTX 4090", 24e9, 1008e9, 165.2e12),
    # A typical laptop: 16 GB of dual-channel DDR5-5600 (2 channels x 8 bytes x 5600e6/s = 89.6 GB/s);
    # 8 cores x 4 GHz x 32 FP32 FLOPs per cycle (two 8-wide AVX2 FMAs) ~ 1 TFLOP/s, no bf16 units
    "laptop CPU": GPU("laptop CPU", 16e9, 89.6e9, 1.0e12),
}

# Published shapes. GPT-2 small: Radford et al. 2019 (OpenAI's checkpoint). GPT-3 175B: Brown et al.
# 2020, table 2.1. Llama 7B: Touvron et al. 2023 (LLaMA); Llama 2 70B: Touvron et al. 2023 (Llama 2),
# with grouped-query attention, 8 key/value heads. Llama's MLP width is (2/3) 4 d rounded up.
MODELS: dict[str, ModelShape] = {
    "gpt2": ModelShape("gpt2", n_layer=12, n_embd=768, n_head=12, n_kv_head=12, d_ff=3072, vocab_size=50257,
                       block_size=1024),
    "gpt3-175b": ModelShape("gpt3-175b", n_layer=96, n_embd=12288, n_head=96, n_kv_head=96, d_ff=4 * 12288,
                            vocab_size=50257, block_size=2048),
    "llama-7b": ModelShape("llama-7b", n_layer=32, n_embd=4096, n_head=32, n_kv_head=32, d_ff=11008,
                           vocab_size=32000, block_size=2048, gated_mlp=True, tie_weights=False,
                           learned_pos=False, bias=False),
    "llama-70b": ModelShape("llama-70b", n_layer=80, n_embd=8192, n_head=64, n_kv_head=8, d_ff=28672,
                            vocab_size=32000, block_size=4096, gated_mlp=True, tie_weights=False,
                            learned_pos=False, bias=False),
}


def model_shape(config) -> ModelShape:
    """A ``ModelShape`` from a name in ``MODELS``, a ``ModelShape``, or a gptlab ``GPTConfig``."""
    from .model import GPTConfig

    if isinstance(config, ModelShape):
        return config
    if isinstance(config, str):
        if config not in MODELS:
            raise ValueError(f"config={config!r} is not a known model; choose one of "
                             f"{', '.join(map(repr, MODELS))}, or pass a GPTConfig")
        return MODELS[config]
    if isinstance(config, GPTConfig):
        if config.n_experts:
            raise ValueError("config has n_experts > 0: this calculator covers dense models only")
        return ModelShape("GPTConfig", n_layer=config.n_layer, n_embd=config.n_embd, n_head=config.n_head,
                          n_kv_head=config.n_kv_head or config.n_head, d_ff=4 * config.n_embd,
                          vocab_size=config.vocab_size, block_size=config.block_size,
                          tie_weights=config.tie_weights, learned_pos=config.pos == "learned", bias=config.bias)
    raise ArgumentTypeError(f"config={config!r:.60} must be a model name ({', '.join(MODELS)}), a GPTConfig "
                            f"or a ModelShape, got {type(config).__name__}")


def _dtype(dtype) -> str:
    check_type("dtype", dtype, str, f"one of {', '.join(map(repr, DTYPES))}")
    return check_choice("dtype", dtype, DTYPES)


def n_params(config) -> int:
    """Parameter count from the shape alone (a tied head is counted once)."""
    m = model_shape(config)
    d, kv = m.n_embd, m.n_kv_head * m.head_dim
    b = 1 if m.bias else 0
    attn = d * d + 2 * d * kv + d * d + b * (d + 2 * kv + d)  # q, k, v, out
    n_mats = 3 if m.gated_mlp else 2
    mlp = n_mats * d * m.d_ff + b * (m.d_ff + d)
    norms = 2 * d * (1 + b)  # two norms per block (RMSNorm: weight only)
    per_layer = attn + mlp + norms
    embed = m.vocab_size * d + (m.block_size * d if m.learned_pos else 0)
    head = 0 if m.tie_weights else m.vocab_size * d
    return m.n_layer * per_layer + embed + head + d * (1 + b)


def weights_bytes(config, dtype: str = "bfloat16") -> int:
    """Bytes for every weight at ``dtype`` ("float32", "bfloat16", "float16", "int8", "int4").

    Integer formats also keep one scale per group of weights; that adds a few percent (see
    ``gptlab.quantization.QuantizedTensor.nbytes``) and is left out here.
    """
    return int(math.ceil(n_params(config) * DTYPE_BYTES[_dtype(dtype)]))


def kv_dtype_for(dtype: str) -> str:
    """The KV cache's dtype: float32 models cache in float32, all others in 16 bits (weights-only quantization)."""
    return "float32" if _dtype(dtype) == "float32" else ("float16" if dtype == "float16" else "bfloat16")


def _check_context(m: ModelShape, context) -> int:
    context = check_int("context", context, min_value=1)
    if context > m.block_size:
        raise ValueError(f"context={context} is beyond the model's maximum of {m.block_size} tokens "
                         f"({m.name}); choose a context of at most {m.block_size}")
    return context


def serving_memory(config, dtype: str, batch: int, context: int) -> dict[str, int]:
    """Memory to serve ``batch`` sequences of ``context`` tokens: ``weights``, ``kv_cache``, ``total`` bytes."""
    m = model_shape(config)
    dtype = _dtype(dtype)
    batch = check_int("batch", batch, min_value=1)
    context = _check_context(m, context)
    kv = kv_cache_bytes(m.n_layer, m.n_kv_head, m.head_dim, context, B=batch,
                        dtype=_TORCH_DTYPES[kv_dtype_for(dtype)])
    weights = weights_bytes(m, dtype)
    return {"weights": weights, "kv_cache": kv, "total": weights + kv}


def decode_flops(config, context: int) -> int:
    """FLOPs to decode one token at ``context``: 2 per weight it multiplies, plus 4 x layers x context x d
    for attention."""
    m = model_shape(config)
    context = _check_context(m, context)
    matmul_params = n_params(m) - m.vocab_size * m.n_embd * (0 if m.tie_weights else 1)  # the lookup is no matmul
    matmul_params -= m.block_size * m.n_embd if m.learned_pos else 0
    # q·k over the context and the weighted sum of values: 2 FLOPs each per head dimension
    return 2 * matmul_params + 4 * m.n_layer * context * m.n_head * m.head_dim


def _gpu(gpu) -> GPU:
    if isinstance(gpu, GPU):
        return gpu
    if isinstance(gpu, str):
        if gpu not in GPUS:
            raise ValueError(f"gpu={gpu!r} is not in GPUS; choose one of {', '.join(map(repr, GPUS))}, or "
                             f"pass GPU(name, memory, bandwidth, flops)")
        return GPUS[gpu]
    raise ArgumentTypeError(f"gpu={gpu!r:.60} must be a name in GPUS or a GPU, got {type(gpu).__name__}")


def decode_time_per_token(config, dtype: str, batch: int, context: int, gpu) -> dict:
    """One decoding step (one new token for each of ``batch`` sequences), by the roofline.

    Returns ``seconds`` = max(``memory_s``, ``compute_s``), where memory_s = bytes read (all
    weights once + every sequence's KV cache) / bandwidth and compute_s = FLOPs / peak; ``bound``
    says which is larger ("bandwidth" or "compute"); ``tokens_per_s`` = batch / seconds.
    """
    m = model_shape(config)
    g = _gpu(gpu)
    mem = serving_memory(m, dtype, batch, context)
    step_bytes = mem["weights"] + mem["kv_cache"]
    step_flops = batch * decode_flops(m, context)
    memory_s, compute_s = step_bytes / g.bandwidth, step_flops / g.flops
    seconds = max(memory_s, compute_s)
    return {"seconds": seconds, "memory_s": memory_s, "compute_s": compute_s,
            "bound": "bandwidth" if memory_s >= compute_s else "compute",
            "bytes": step_bytes, "flops": step_flops, "tokens_per_s": batch / seconds}


LIMITS = ("memory", "bandwidth", "compute")


def gpus_needed(config, dtype: str, users: int, context: int, tokens_per_s_per_user: float, gpu) -> dict:
    """How many GPUs serve ``users`` concurrent sequences of ``context`` tokens at a target speed each.

    Three lower bounds, each assuming the work splits perfectly over the GPUs:
    memory (weights + all KV caches fit), bandwidth (one step's bytes are read within
    1 / tokens_per_s_per_user seconds) and compute (one step's FLOPs are done in that time).
    ``gpus`` is the largest, ``binding`` names it, ``by_limit`` holds all three.
    """
    m = model_shape(config)
    g = _gpu(gpu)
    users = check_int("users", users, min_value=1)
    rate = check_float("tokens_per_s_per_user", tokens_per_s_per_user, min_value=0.0, min_inclusive=False)
    mem = serving_memory(m, dtype, users, context)
    step = decode_time_per_token(m, dtype, users, context, g)
    by_limit = {"memory": math.ceil(mem["total"] / g.memory),
                "bandwidth": math.ceil(step["bytes"] * rate / g.bandwidth),
                "compute": math.ceil(step["flops"] * rate / g.flops)}
    binding = max(LIMITS, key=lambda k: (by_limit[k], -LIMITS.index(k)))
    return {"gpus": max(by_limit.values()), "binding": binding, "by_limit": by_limit, "memory": mem,
            "step_bytes": step["bytes"], "step_flops": step["flops"]}


# ------------------------------------------------------------------------------------------------
# measuring on the learner's own machine


@torch.no_grad()
def measure_decode(model, batch: int, context: int, steps: int = 8, repeats: int = 3, generator: int = 0) -> dict:
    """Time decoding on ``model``'s device: prefill ``context`` random tokens for ``batch`` sequences,
    then ``steps`` single-token steps with the KV cache; best of ``repeats``.

    Returns ``step_s`` (seconds per step), ``tokens_per_s`` (batch / step_s) and
    ``kv_cache_bytes``: what the caches hold after the prefill, measured from the tensors.
    """
    from .model import GPT

    check_type("model", model, GPT, "a gptlab GPT")
    batch = check_int("batch", batch, min_value=1)
    steps = check_int("steps", steps, min_value=1)
    repeats = check_int("repeats", repeats, min_value=1)
    context = check_int("context", context, min_value=1)
    limit = model.config.block_size - steps
    if context > limit:
        raise ValueError(f"context={context} leaves no room for steps={steps} new tokens within block_size="
                         f"{model.config.block_size}; choose context <= {limit}")
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(generator)
    prompt = torch.randint(model.config.vocab_size, (batch, context), generator=g).to(device)
    nxt = torch.randint(model.config.vocab_size, (batch, 1), generator=g).to(device)
    model.eval()
    best, kv_bytes = math.inf, 0
    for _ in range(repeats):
        caches = [KVCache() for _ in range(model.config.n_layer)]
        model(prompt, caches=caches)
        kv_bytes = sum(c.nbytes() for c in caches)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            model(nxt, caches=caches)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / steps)
    return {"step_s": best, "tokens_per_s": batch / best, "kv_cache_bytes": kv_bytes}


def measure_machine(device=None, size_mb: int = 64, matmul: int = 512, repeats: int = 3) -> GPU:
    """This machine as a ``GPU`` entry: copy bandwidth (read + write of a ``size_mb`` array) and fp32 matmul FLOP/s.

    Memory is left at the laptop entry's 16 GB; only bandwidth and FLOP/s are measured.
    """
    device = torch.device("cpu" if device is None else device)
    n = check_int("size_mb", size_mb, min_value=1) * 2**20 // 4
    a = torch.ones(n, device=device)
    b = torch.empty_like(a)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        b.copy_(a)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    bandwidth = 2 * a.numel() * 4 / best
    m = check_int("matmul", matmul, min_value=16)
    x = torch.randn(m, m, device=device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        x @ x
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return GPU(f"this machine ({device.type})", GPUS["laptop CPU"].memory, bandwidth, 2 * m**3 / best)


__all__ = ["ModelShape", "GPU", "GPUS", "MODELS", "DTYPES", "DTYPE_BYTES", "LIMITS", "model_shape", "n_params",
           "weights_bytes", "kv_dtype_for", "serving_memory", "decode_flops", "decode_time_per_token", "gpus_needed",
           "measure_decode", "measure_machine"]
