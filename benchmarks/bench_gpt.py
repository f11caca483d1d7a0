"""Whole-model speed and memory of gptlab's GPT, measured in one run.

1. Training throughput at nanoGPT's CPU config (block_size=64, batch_size=12, n_layer=4, n_head=4,
   n_embd=128, dropout=0, 65 characters): gptlab's GPT (fused attention, fused/foreach AdamW) vs the
   same model written the plain way below (explicit masked softmax attention, AdamW one parameter
   at a time, foreach=False). Steps alternate between the two in short rounds, so a noisy,
   shared machine slows both alike. The achieved FLOP/s (6 N + 12 L T C per token) is compared
   with this machine's float32 matmul throughput.
2. Generation: 256 new tokens after a 128-token prompt, with and without the KV cache.
3. Peak memory of one training step: ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the
   increase of the process's peak resident memory (Linux's VmHWM, else ``resource.getrusage``'s
   max RSS), measured in a fresh Python process per model, since tracemalloc does not see torch.

Run:  python benchmarks/bench_gpt.py [--steps 30] [--new-tokens 256] [--quick] [--device cpu] [--threads 2]
      (about 1-2 minutes on a 2-core CPU with the default single thread; --quick is a smoke test)
"""
from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from gptlab.device import describe_device, pick_device
from gptlab.model import GPT, GPTConfig

TRAIN_CONFIG = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
BATCH_SIZE = 12
GEN_CONFIG = dict(vocab_size=65, block_size=384, n_layer=4, n_head=4, n_embd=256, dropout=0.0)


# --------------------------------------------------------------------------------------------
# The same GPT written the plain way: one attention matrix per head, spelled out


class PlainAttention(nn.Module):
    def __init__(self, C: int, n_head: int, block_size: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
        att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class PlainBlock(nn.Module):
    def __init__(self, C: int, n_head: int, block_size: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = PlainAttention(C, n_head, block_size)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class PlainGPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, **_):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(PlainBlock(n_embd, n_head, block_size) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor):
        B, T = idx.size()
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(B * T, -1), targets.reshape(-1))


# --------------------------------------------------------------------------------------------
# helpers


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so the clock measures the computation and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def build(which: str, device: torch.device, **overrides):
    """(model, optimizer, its name) for "gptlab" or "plain", same shapes and seed."""
    torch.manual_seed(0)
    config = {**TRAIN_CONFIG, **overrides}
    if which == "gptlab":
        model = GPT(GPTConfig(**config)).to(device)
        try:  # one kernel for the whole update where this PyTorch/device has it
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
            optimizer_name = "AdamW fused"
        except (RuntimeError, TypeError, ValueError):
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
            optimizer_name = "AdamW foreach"
    else:
        model = PlainGPT(**config).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False, fused=False)
        optimizer_name = "AdamW per-parameter"
    return model, optimizer, optimizer_name


def batches(device: torch.device, n: int = 8):
    g = torch.Generator().manual_seed(0)
    V, T = TRAIN_CONFIG["vocab_size"], TRAIN_CONFIG["block_size"]
    data = torch.randint(0, V, (n, BATCH_SIZE, T + 1), generator=g).to(device)
    return [(d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in data]


def train_step(model, optimizer, x, y) -> None:
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def matmul_gflops(device: torch.device, n: int, repeat: int) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------------------------
# 1. training throughput


def bench_training(device: torch.device, steps: int, quick: bool) -> None:
    n = 512 if quick else 1024
    peak = matmul_gflops(device, n, repeat=5 if quick else 20)
    print(f"\nfloat32 matmul {n}x{n}: {peak:,.1f} GFLOP/s (median of repeats)")

    c = TRAIN_CONFIG
    print(f"\n1. Training throughput  (B={BATCH_SIZE}, T={c['block_size']}, n_layer={c['n_layer']}, "
          f"n_head={c['n_head']}, n_embd={c['n_embd']}, vocab={c['vocab_size']}, {steps} timed steps each)")
    runs = {which: build(which, device) for which in ("gptlab", "plain")}
    data = batches(device)
    for model, optimizer, _ in runs.values():
        for x, y in data[:3]:  # warm-up: first calls allocate buffers and optimizer state
            train_step(model, optimizer, x, y)
    sync(device)

    seconds = dict.fromkeys(runs, 0.0)
    per_round = max(1, min(5, steps // 3))
    done, r = 0, 0
    while done < steps:
        k = min(per_round, steps - done)
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]  # alternate who goes first
        for which in order:
            model, optimizer, _ = runs[which]
            start = time.perf_counter()
            for i in range(k):
                x, y = data[(done + i) % len(data)]
                train_step(model, optimizer, x, y)
            sync(device)
            seconds[which] += time.perf_counter() - start
        done, r = done + k, r + 1

    tokens = steps * BATCH_SIZE * c["block_size"]
    flops_per_token = runs["gptlab"][0].estimate_flops_per_token(T=c["block_size"])  # same model both ways
    n_params = runs["gptlab"][0].num_parameters(non_embedding=True)
    print(f"   FLOPs per token: 6 N + 12 L T C = 6 x {n_params:,} + 12 x {c['n_layer']} x {c['block_size']} x "
          f"{c['n_embd']} = {flops_per_token:,}")
    print(f"{'model':>8} {'optimizer':>20} {'ms/step':>8} {'tokens/s':>10} {'GFLOP/s':>8} {'of matmul':>10}")
    for which, (_, _, optimizer_name) in runs.items():
        rate = tokens / seconds[which]
        gflops = rate * flops_per_token / 1e9
        print(f"{which:>8} {optimizer_name:>20} {1000 * seconds[which] / steps:8.1f} {rate:10,.0f} "
              f"{gflops:8.2f} {gflops / peak:10.1%}")
    print(f"   gptlab / plain speed: {seconds['plain'] / seconds['gptlab']:.2f}x")


# --------------------------------------------------------------------------------------------
# 2. generation with and without the KV cache


def bench_generation(device: torch.device, new_tokens: int) -> None:
    c = GEN_CONFIG
    prompt_len = c["block_size"] - new_tokens  # fill the block exactly: the cache never has to slide
    print(f"\n2. Generation, {new_tokens} new tokens after a {prompt_len}-token prompt, greedy  "
          f"(B=1, n_layer={c['n_layer']}, n_embd={c['n_embd']}, block_size={c['block_size']})")
    torch.manual_seed(0)
    model = GPT(GPTConfig(**c)).to(device).eval()
    prompt = torch.randint(0, c["vocab_size"], (1, prompt_len), device=device)
    model.generate(prompt, 8, temperature=0)  # warm-up
    results, outputs = {}, {}
    for use_cache in (True, False):
        sync(device)
        start = time.perf_counter()
        outputs[use_cache] = model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)
        sync(device)
        results[use_cache] = new_tokens / (time.perf_counter() - start)
    print(f"{'KV cache':>9} {'tokens/s':>10}")
    for use_cache, rate in results.items():
        print(f"{'yes' if use_cache else 'no':>9} {rate:10,.1f}")
    same = torch.equal(outputs[True], outputs[False])
    print(f"   speed-up with the cache: {results[True] / results[False]:.1f}x (target >= 5x); "
          f"same tokens: {same}")


# --------------------------------------------------------------------------------------------
# 3. peak memory of one training step


def memory_probe(which: str, device: torch.device) -> int:
    """Bytes the first training step of a fresh model adds at its peak: gradients, AdamW's two
    moments, activations kept for the backward pass and temporaries."""
    x, y = batches(device, n=1)[0]
    # the first use of each kernel initializes library state (thread pools, BLAS workspaces) that
    # is not the model's: pay it on a one-layer toy first
    toy, toy_optimizer, _ = build(which, device, n_layer=1, n_embd=16)
    train_step(toy, toy_optimizer, x, y)
    del toy, toy_optimizer
    model, optimizer, _ = build(which, device)
    return step_memory_bytes(model, optimizer, x, y, device)


def step_memory_bytes(model, optimizer, x, y, device: torch.device) -> int:
    """Peak bytes one ``train_step`` adds: CUDA's allocator peak, or on the CPU the peak resident
    memory (shared by bench_moe.py)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        train_step(model, optimizer, x, y)
        sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    try:  # Linux: "5" resets the peak to the current RSS, so importing torch does not hide the step
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # elsewhere the peak may still be import time's, and the result is a lower bound
    before = peak_rss_bytes()
    train_step(model, optimizer, x, y)
    return peak_rss_bytes() - before


def peak_rss_bytes() -> int:
    """Peak resident memory of this process: Linux's VmHWM, else resource.getrusage's ru_maxrss.

    VmHWM is preferred because clear_refs resets it; ru_maxrss also remembers the peak of the
    process that started us (Linux carries it over exec), which would hide a small step.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    import resource  # Unix only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def bench_memory(device: torch.device) -> None:
    if device.type == "cuda":
        how = "CUDA: torch.cuda.max_memory_allocated during the step minus what was allocated before"
        peaks = {which: memory_probe(which, device) for which in ("gptlab", "plain")}
    elif device.type == "cpu":
        how = ("CPU: peak resident memory during the step minus before, each model in a fresh Python process;\n   "
               "Linux: VmHWM reset via /proc/self/clear_refs, elsewhere resource.getrusage ru_maxrss. tracemalloc\n   "
               "cannot see torch's allocations, and RSS includes allocator slack: read it as a rough size")
        peaks = {}
        for which in ("gptlab", "plain"):
            out = subprocess.run([sys.executable, __file__, "--memory-probe", which, "--device", "cpu",
                                  "--threads", str(torch.get_num_threads())],
                                 capture_output=True, text=True, check=True).stdout
            peaks[which] = int(out.split()[-1])
    else:
        print("\n3. Peak memory: not measured on MPS (no peak counter)")
        return
    n_params = GPT(GPTConfig(**TRAIN_CONFIG)).num_parameters()
    print(f"\n3. Memory added by the first training step of a fresh model\n   ({how})")
    print(f"{'model':>8} {'MiB':>8}")
    for which, nbytes in peaks.items():
        print(f"{which:>8} {nbytes / 2**20:8.1f}")
    print(f"   of which gradients + AdamW's two moments: 3 x 4 bytes x {n_params:,} parameters = "
          f"{12 * n_params / 2**20:.1f} MiB; the rest is activations and temporaries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per model (default 30)")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens to generate (default 256)")
    parser.add_argument("--quick", action="store_true", help="a few steps and tokens: check that it runs")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: pick_device())")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 on the CPU)")
    parser.add_argument("--memory-probe", choices=["gptlab", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = pick_device(args.device)
    # one CPU thread by default: these models are small, and on a shared machine threads that
    # outnumber the free cores wait for each other (10x slower runs were seen on a busy 2-core CPU)
    torch.set_num_threads(args.threads or (1 if device.type == "cpu" else torch.get_num_threads()))
    if args.memory_probe:  # internal: run in a fresh process by bench_memory
        print(memory_probe(args.memory_probe, device))
        return
    if args.quick:
        args.steps, args.new_tokens = min(args.steps, 3), min(args.new_tokens, 32)
    print(f"device: {describe_device(device)}  (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    bench_training(device, args.steps, args.quick)
    if args.new_tokens > GEN_CONFIG["block_size"] - 1:
        raise SystemExit(f"--new-tokens must be below block_size={GEN_CONFIG['block_size']}")
    bench_generation(device, args.new_tokens)
    bench_memory(device)


if __name__ == "__main__":
    main()
