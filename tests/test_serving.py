import math

import pytest
import torch

from gptlab.model import GPT, GPTConfig
from gptlab.serving import (
    GPU,
    GPUS,
    MODELS,
    ModelShape,
    decode_flops,
    decode_time_per_token,
    gpus_needed,
    measure_decode,
    n_params,
    serving_memory,
    weights_bytes,
)

# ------------------------------------------------------------------------------------------------
# parameter counts and bytes, against hand counts and against gptlab's own GPT


@pytest.mark.parametrize("kwargs", [dict(), dict(bias=False), dict(pos="rope"), dict(tie_weights=False),
                                    dict(n_kv_head=2)])
def test_n_params_matches_a_built_gpt(kwargs):
    config = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=32, **kwargs)
    assert n_params(config) == sum(p.numel() for p in GPT(config).parameters())


def test_gpt2_small_is_124m():
    assert n_params("gpt2") == 124_439_808  # OpenAI's checkpoint: 124,439,808 parameters with biases


def test_gpt3_175b_fp16_weights_are_about_350_gb():
    # 96 layers x 12 d^2 with d = 12288 (+ embeddings): ~175e9 parameters x 2 bytes
    hand = 96 * 12 * 12288**2 * 2
    assert abs(weights_bytes("gpt3-175b", "float16") - 350e9) / 350e9 < 0.01
    assert abs(weights_bytes("gpt3-175b", "float16") - hand) / hand < 0.01


def test_llama_sizes():
    assert abs(n_params("llama-7b") / 6.74e9 - 1) < 0.01  # LLaMA-7B: 6.7B
    assert abs(n_params("llama-70b") / 69.0e9 - 1) < 0.01  # Llama 2 70B: 69B
    assert weights_bytes("llama-70b", "int4") * 4 == weights_bytes("llama-70b", "float16") * 1


def test_llama_70b_kv_cache_per_token():
    # 2 (k and v) x 80 layers x 8 KV heads x 128 dims x 2 bytes = 327,680 bytes = 320 KiB per token
    one = serving_memory("llama-70b", "bfloat16", batch=1, context=1)["kv_cache"]
    assert one == 2 * 80 * 8 * 128 * 2 == 320 * 1024
    many = serving_memory("llama-70b", "bfloat16", batch=3, context=4096)
    assert many["kv_cache"] == 3 * 4096 * one
    assert many["total"] == many["weights"] + many["kv_cache"]
    # without GQA (64 KV heads) the cache would be 8 times larger
    mha = ModelShape("mha", n_layer=80, n_embd=8192, n_head=64, n_kv_head=64, d_ff=28672, vocab_size=32000,
                     block_size=4096, gated_mlp=True, tie_weights=False, learned_pos=False, bias=False)
    assert serving_memory(mha, "bfloat16", 1, 1)["kv_cache"] == 8 * one


def test_kv_cache_dtype_follows_precision():
    fp32 = serving_memory("gpt2", "float32", 1, 10)["kv_cache"]
    assert fp32 == 2 * 12 * 768 * 10 * 4
    assert serving_memory("gpt2", "int4", 1, 10)["kv_cache"] == fp32 // 2  # weight-only quantization


# ------------------------------------------------------------------------------------------------
# the roofline


def test_decode_flops_hand_count():
    m = MODELS["gpt2"]
    matmul = n_params(m) - 1024 * 768  # the position table is a lookup, not a matmul (the tied head is one)
    assert decode_flops("gpt2", 100) == 2 * matmul + 4 * 12 * 100 * 768


def test_roofline_batch_one_is_bandwidth_bound():
    r = decode_time_per_token("llama-7b", "bfloat16", batch=1, context=128, gpu="H100")
    assert r["bound"] == "bandwidth"
    assert math.isclose(r["seconds"], weights_bytes("llama-7b", "bfloat16") / 3.35e12, rel_tol=0.01)
    assert r["seconds"] == max(r["memory_s"], r["compute_s"])


def test_roofline_large_batch_short_context_is_compute_bound():
    r = decode_time_per_token("llama-7b", "bfloat16", batch=4096, context=16, gpu="H100")
    assert r["bound"] == "compute"
    assert math.isclose(r["seconds"], 4096 * decode_flops("llama-7b", 16) / 989.4e12)


def test_batching_raises_throughput_and_latency():
    steps = [decode_time_per_token("llama-7b", "bfloat16", b, 512, "A100") for b in (1, 4, 16, 64, 256, 1024)]
    tps = [s["tokens_per_s"] for s in steps]
    assert all(a < b for a, b in zip(tps, tps[1:]))
    assert all(a["seconds"] <= b["seconds"] for a, b in zip(steps, steps[1:]))


def test_roofline_crossover_at_arithmetic_intensity():
    # with no KV cache to speak of, a step is compute-bound once batch x 2 FLOPs/weight / bytes per weight
    # exceeds the GPU's FLOP/s per byte/s
    gpu = GPU("toy", memory=1e12, bandwidth=1e12, flops=100e12)  # 100 FLOPs per byte
    below = decode_time_per_token("gpt2", "bfloat16", 90, 1, gpu)
    above = decode_time_per_token("gpt2", "bfloat16", 110, 1, gpu)
    assert below["bound"] == "bandwidth" and above["bound"] == "compute"


def test_gpus_needed_each_limit_binds():
    # memory: GPT-3 in fp16 (350 GB) does not fit one 80 GB GPU
    r = gpus_needed("gpt3-175b", "float16", users=1, context=128, tokens_per_s_per_user=1, gpu="H100")
    assert r["binding"] == "memory" and r["gpus"] == math.ceil(r["memory"]["total"] / 80e9) == 5
    # bandwidth: a small model, one user, very fast
    r = gpus_needed("gpt2", "bfloat16", users=1, context=128, tokens_per_s_per_user=50_000, gpu="RTX 4090")
    assert r["binding"] == "bandwidth"
    assert r["gpus"] == math.ceil(r["step_bytes"] * 50_000 / 1008e9)
    # compute: many users, short context
    r = gpus_needed("gpt2", "int4", users=200_000, context=1, tokens_per_s_per_user=30, gpu="H100")
    assert r["binding"] == "compute"
    assert r["gpus"] == math.ceil(200_000 * decode_flops("gpt2", 1) * 30 / 989.4e12)
    assert set(r["by_limit"]) == {"memory", "bandwidth", "compute"} and r["gpus"] == max(r["by_limit"].values())


def test_gpu_table_has_the_five_machines():
    assert set(GPUS) == {"H100", "H200", "A100", "RTX 4090", "laptop CPU"}
    assert GPUS["H200"].memory > GPUS["H100"].memory and GPUS["H200"].bandwidth > GPUS["H100"].bandwidth
    assert set(MODELS) == {"gpt2", "gpt3-175b", "llama-7b", "llama-70b"} and MODELS["llama-70b"].n_kv_head == 8


# ------------------------------------------------------------------------------------------------
# measured: the KV cache of a real decode equals the formula


def test_measured_kv_cache_equals_formula(device):
    config = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=32, n_kv_head=2)
    model = GPT(config).to(device)
    m = measure_decode(model, batch=3, context=20, steps=2, repeats=1)
    assert m["kv_cache_bytes"] == serving_memory(config, "float32", 3, 20)["kv_cache"]
    assert m["step_s"] > 0 and m["tokens_per_s"] == 3 / m["step_s"]


# ------------------------------------------------------------------------------------------------
# bad input: a clear error naming the parameter

BAD = [
    (lambda: gpus_needed("gpt2", "bfloat16", 0, 128, 10, "H100"), ValueError, "users"),
    (lambda: gpus_needed("gpt2", "bfloat16", 1.5, 128, 10, "H100"), TypeError, "users"),
    (lambda: gpus_needed("gpt2", "bfloat16", 10, 128, 0, "H100"), ValueError, "tokens_per_s_per_user"),
    (lambda: GPU("bad", memory=1e9, bandwidth=-1e9, flops=1e12), ValueError, "bandwidth"),
    (lambda: GPU("bad", memory=0, bandwidth=1e9, flops=1e12), ValueError, "memory"),
    (lambda: decode_time_per_token("gpt2", "bfloat16", 1, 128, "TPU v9"), ValueError, "gpu"),
    (lambda: decode_time_per_token("gpt2", "bfloat16", 1, 128, 3), TypeError, "gpu"),
    (lambda: weights_bytes("gpt-5", "bfloat16"), ValueError, "config"),
    (lambda: weights_bytes(42, "bfloat16"), TypeError, "config"),
    (lambda: serving_memory("gpt2", "bfloat16", 1, 2048), ValueError, "context"),
    (lambda: serving_memory("gpt2", "bfloat16", 1, 0), ValueError, "context"),
    (lambda: serving_memory("gpt2", "bfloat16", 0, 10), ValueError, "batch"),
    (lambda: weights_bytes("gpt2", "fp8"), ValueError, "dtype"),
    (lambda: weights_bytes("gpt2", torch.float16), TypeError, "dtype"),
    (lambda: ModelShape("x", n_layer=0, n_embd=8, n_head=2, n_kv_head=2, d_ff=32, vocab_size=10, block_size=8),
     ValueError, "n_layer"),
    (lambda: measure_decode("gpt2", 1, 10), TypeError, "model"),
]


@pytest.mark.parametrize("call, error, name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        call()


def test_measure_decode_context_beyond_block():
    model = GPT(GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match="context"):
        measure_decode(model, batch=1, context=15, steps=4)
