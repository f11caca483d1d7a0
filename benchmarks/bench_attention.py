"""Attention speed and memory, measured in one run.

1. Explicit attention (softmax(q kᵀ / sqrt(d)) v written out, as in the lessons) vs PyTorch's fused
   ``F.scaled_dot_product_attention``: forward + backward of one MultiHeadAttention layer.
2. Decoding one token at a time through a small stack of Blocks: tokens/s and KV-cache memory for
   multi-head (MHA), grouped-query (GQA) and multi-query (MQA) attention at equal d_model, and
   MHA without the cache (recomputing the whole prefix every step).

Run:  python benchmarks/bench_attention.py     (about 10 s on an idle 2-core CPU)
      python benchmarks/bench_attention.py --threads 1   (on a busy CPU: idle threads spin-waiting for
                                                          each other can slow PyTorch down many times)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn

from gptlab.attention import KVCache, MultiHeadAttention, kv_cache_bytes
from gptlab.block import Block
from gptlab.device import describe_device, pick_device


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so the clock measures the computation and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def median_ms(fn, device: torch.device, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_paths(device: torch.device) -> None:
    B, d_model, n_head = 8, 128, 4
    print(f"\n1. One MultiHeadAttention layer, forward + backward  (B={B}, d_model={d_model}, n_head={n_head})")
    print(f"{'T':>5} {'explicit ms':>12} {'fused ms':>10} {'explicit / fused':>17}")
    for T in (64, 256):
        mha = MultiHeadAttention(d_model, n_head).to(device)
        x = torch.randn(B, T, d_model, device=device, requires_grad=True)

        def step(mha=mha, x=x):
            mha.zero_grad(set_to_none=True)
            mha(x).sum().backward()

        timings = {}
        for fused in (False, True):
            mha.fused = fused
            timings[fused] = median_ms(step, device, repeat=15 if T == 64 else 8)
        print(f"{T:>5} {timings[False]:>12.2f} {timings[True]:>10.2f} {timings[False] / timings[True]:>16.2f}x")


def run_stack(blocks: nn.ModuleList, x: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
    for i, block in enumerate(blocks):
        x = block(x, cache=None if caches is None else caches[i])
    return x


@torch.no_grad()
def decode(blocks: nn.ModuleList, prompt: torch.Tensor, n_new: int, use_cache: bool):
    """Generate n_new positions one at a time; the next input is the last output (a stand-in for
    sampling a token and embedding it). Returns (tokens per second, caches)."""
    device = prompt.device
    caches = [KVCache() for _ in blocks] if use_cache else None
    sync(device)
    start = time.perf_counter()
    seq = prompt
    x = run_stack(blocks, prompt, caches)[:, -1:]  # (B, 1, C)
    for _ in range(n_new - 1):
        if use_cache:
            x = run_stack(blocks, x, caches)  # only the new position goes through the stack
        else:
            seq = torch.cat((seq, x), dim=1)
            x = run_stack(blocks, seq)[:, -1:]  # the whole prefix, every step
    sync(device)
    return n_new / (time.perf_counter() - start), caches


def bench_decode(device: torch.device) -> None:
    d_model, n_head, n_layer, T_prompt, n_new = 256, 8, 4, 16, 128
    head_dim = d_model // n_head
    T = T_prompt + n_new - 1  # positions cached at the end
    print(f"\n2. Decoding {n_new} positions one at a time after a {T_prompt}-token prompt through {n_layer} Blocks "
          f"(d_model={d_model}, n_head={n_head}, B=1, float32)")
    print(f"{'variant':<8} {'n_kv_head':>9} {'K/V params':>11} {'tok/s cached':>13} "
          f"{'cache KiB':>10} {'predicted KiB':>14}")
    prompt = torch.randn(1, T_prompt, d_model, device=device)
    for name, n_kv_head in (("MHA", n_head), ("GQA", 2), ("MQA", 1)):
        blocks = nn.ModuleList(Block(d_model, n_head, n_kv_head=n_kv_head) for _ in range(n_layer)).to(device).eval()
        kv_params = sum(p.numel() for b in blocks for m in (b.attn.k_proj, b.attn.v_proj) for p in m.parameters())
        decode(blocks, prompt, 8, use_cache=True)  # warm-up
        # best of two runs: the machine may be shared, and noise only ever slows a run down
        (cached, caches), (again, _) = (decode(blocks, prompt, n_new, use_cache=True) for _ in range(2))
        cached = max(cached, again)
        measured = sum(c.nbytes() for c in caches)
        predicted = kv_cache_bytes(n_layer, n_kv_head, head_dim, T)
        assert measured == predicted, (measured, predicted)
        print(f"{name:<8} {n_kv_head:>9} {kv_params:>11,} {cached:>13.0f} "
              f"{measured / 1024:>10.1f} {predicted / 1024:>14.1f}")
        if name == "MHA":
            mha_blocks, mha_cached = blocks, cached
    # the same MHA stack recomputing every prefix: the work the cache saves
    uncached, _ = decode(mha_blocks, prompt, n_new, use_cache=False)
    print(f"MHA without a cache: {uncached:.0f} tok/s, so the cache decodes {mha_cached / uncached:.1f}x faster here")

    print("\n   Predicted KV cache of a GPT-2-small-sized model (12 layers, 12 heads of 64 dims, T=1024, fp16):")
    for name, n_kv_head in (("MHA", 12), ("GQA", 4), ("MQA", 1)):
        mib = kv_cache_bytes(12, n_kv_head, 64, 1024, dtype=torch.float16) / 2**20
        print(f"   {name:<4} n_kv_head={n_kv_head:<3} {mib:6.1f} MiB per sequence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device()
    print(f"device: {describe_device(device)}  (torch {torch.__version__})")
    start = time.perf_counter()
    bench_paths(device)
    bench_decode(device)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
