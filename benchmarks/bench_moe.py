"""Dense GPT vs mixture-of-experts GPT at equal ACTIVE compute: speed, memory, parameters, in one run.

"Equal active compute" means every token does the same multiply-adds in its feed-forward sublayer.
The dense MLP has 4C hidden units (C = n_embd). Two ways to spend the same per token with MoE:

* ``MoE 4x2C top-2``: 4 experts, each 2C wide; a token visits 2, i.e. 2 x 2C = 4C hidden units.
  Twice the MLP parameters. GPTConfig always makes 4C-wide experts, so this model swaps each
  block's MLP for ``MoE(C, 4, top_k=2, d_hidden=2C)`` (MoE is a drop-in replacement for the MLP).
* ``MoE 8x4C top-1``: 8 experts as wide as the dense MLP; a token visits 1 (the Switch Transformer
  layout). Eight times the MLP parameters, straight from ``GPTConfig(n_experts=8, top_k=1)``.
  (In gptlab a top-1 router learns only from the balancing loss: its renormalised gate is always 1.)

Both add a router (C x n_experts weights) that every token runs. What the table measures:

1. Parameters: total, and active per token (router + top_k experts, from ``moe_parameter_counts``),
   and training FLOPs per token (``GPT.estimate_flops_per_token``: 6 x active non-embedding
   parameters + 12 L T C for attention).
2. Training throughput (tokens/s), steps alternating between the models in short rounds, so a
   noisy shared machine slows all of them alike.
3. Generation throughput (tokens/s), greedy, batch 1, KV cache on: the case the lecture notes care
   about, "inference only runs the activated experts".
4. Peak memory added by the first training step of a fresh model (weights are allocated before):
   ``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the rise of the process's peak resident
   memory (Linux VmHWM, reset through /proc/self/clear_refs) in a fresh Python process per model.
   Gradients and AdamW's two moments scale with the TOTAL parameters, not the active ones.

Run:  python benchmarks/bench_moe.py [--steps 20] [--new-tokens 128] [--quick] [--device cpu] [--threads 1]
      (about 1 minute on a 2-core CPU with the default single thread; --quick is a smoke test)
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time

import torch
import torch.nn as nn
from bench_gpt import step_memory_bytes, sync, train_step  # benchmarks/ is on sys.path when this file runs

from gptlab.device import describe_device, pick_device
from gptlab.model import GPT, GPTConfig
from gptlab.moe import MoE, moe_parameter_counts

BASE = dict(vocab_size=65, block_size=256, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
BATCH_SIZE, TRAIN_T = 12, 64  # nanoGPT's CPU setting: 12 sequences of 64 characters
# name -> (n_experts, top_k, expert width as a multiple of n_embd); n_experts=0 is the dense MLP
MODELS = {"dense 4C": (0, 0, 4), "MoE 4x2C top-2": (4, 2, 2), "MoE 8x4C top-1": (8, 1, 4)}


def build(name: str, device: torch.device, **overrides) -> GPT:
    """The model ``name`` of MODELS, seeded, with GPT-2's initialisation in every expert."""
    n_experts, top_k, width = MODELS[name]
    config = {**BASE, **overrides}
    torch.manual_seed(0)
    if n_experts == 0:
        return GPT(GPTConfig(**config)).to(device)
    model = GPT(GPTConfig(**config, n_experts=n_experts, top_k=top_k))
    C, n_layer = config["n_embd"], config["n_layer"]
    if width != 4:  # GPTConfig's experts are 4C wide: swap in narrower ones
        for block in model.blocks:
            block.mlp = MoE(C, n_experts, top_k=top_k, d_hidden=width * C)
            block.mlp.apply(GPT._init_weights)
            for expert in block.mlp.experts:
                nn.init.normal_(expert.proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))
    return model.to(device)


def counts(name: str) -> dict[str, int]:
    """Total and active-per-token parameters (non-embedding and all) and training FLOPs per token."""
    n_experts, top_k, width = MODELS[name]
    model = build(name, torch.device("cpu"))
    c = model.config
    total = model.num_parameters()
    inactive = 0
    if n_experts:
        layer = moe_parameter_counts(c.n_embd, n_experts, top_k, d_hidden=width * c.n_embd)
        inactive = c.n_layer * (layer["total"] - layer["active_per_token"])
    return {"total": total, "active": total - inactive, "flops": model.estimate_flops_per_token(T=TRAIN_T)}


def batches(device: torch.device, n: int = 8):
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, BASE["vocab_size"], (n, BATCH_SIZE, TRAIN_T + 1), generator=g).to(device)
    return [(d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in data]


def bench_training(device: torch.device, steps: int) -> dict[str, float]:
    runs = {}
    for name in MODELS:
        model = build(name, device).train()
        runs[name] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3))
    data = batches(device)
    for model, optimizer in runs.values():
        for x, y in data[:2]:  # warm-up: first calls allocate buffers and optimizer state
            train_step(model, optimizer, x, y)
    sync(device)
    seconds = dict.fromkeys(runs, 0.0)
    per_round = max(1, min(5, steps // 3))
    done, r = 0, 0
    while done < steps:
        k = min(per_round, steps - done)
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]  # alternate who goes first
        for name in order:
            model, optimizer = runs[name]
            start = time.perf_counter()
            for i in range(k):
                train_step(model, optimizer, *data[(done + i) % len(data)])
            sync(device)
            seconds[name] += time.perf_counter() - start
        done, r = done + k, r + 1
    return {name: steps * BATCH_SIZE * TRAIN_T / s for name, s in seconds.items()}


def bench_generation(device: torch.device, new_tokens: int, prompt_len: int = 64) -> dict[str, float]:
    models = {name: build(name, device).eval() for name in MODELS}
    prompt = torch.randint(0, BASE["vocab_size"], (1, prompt_len), generator=torch.Generator().manual_seed(1))
    prompt = prompt.to(device)
    for model in models.values():
        model.generate(prompt, 4, temperature=0)  # warm-up
    seconds = dict.fromkeys(models, 0.0)
    for r in range(2):  # two rounds, in alternating order
        for name in (list(models) if r == 0 else list(models)[::-1]):
            sync(device)
            start = time.perf_counter()
            models[name].generate(prompt, new_tokens, temperature=0)
            sync(device)
            seconds[name] += time.perf_counter() - start
    return {name: 2 * new_tokens / s for name, s in seconds.items()}


def memory_probe(name: str, device: torch.device) -> int:
    """Bytes the first training step of a fresh model adds at its peak: gradients, AdamW's two
    moments, activations kept for the backward pass and temporaries."""
    x, y = batches(device, n=1)[0]
    # the first use of each kernel initializes library state (thread pools, BLAS workspaces) that is
    # not the model's: pay it on a one-layer toy of the same kind first
    toy = build(name, device, n_layer=1, n_embd=16, n_head=2)
    train_step(toy, torch.optim.AdamW(toy.parameters(), lr=1e-3), x, y)
    del toy
    model = build(name, device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return step_memory_bytes(model, optimizer, x, y, device)


def bench_memory(device: torch.device) -> tuple[dict[str, int] | None, str]:
    if device.type == "cuda":
        return {name: memory_probe(name, device) for name in MODELS}, "CUDA max_memory_allocated"
    if device.type != "cpu":
        return None, "not measured on MPS (no peak counter)"
    peaks = {}
    for name in MODELS:
        out = subprocess.run([sys.executable, __file__, "--memory-probe", name, "--device", "cpu",
                              "--threads", str(torch.get_num_threads())],
                             capture_output=True, text=True, check=True).stdout
        peaks[name] = int(out.split()[-1])
    return peaks, "CPU peak RSS (VmHWM), a fresh process per model; includes allocator slack: a rough size"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model (default 20)")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens to generate (default 128)")
    parser.add_argument("--quick", action="store_true", help="a few steps and tokens: check that it runs")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: pick_device())")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 on the CPU)")
    parser.add_argument("--memory-probe", choices=list(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = pick_device(args.device)
    # one CPU thread by default: these models are small, and on a shared machine threads that
    # outnumber the free cores wait for each other
    torch.set_num_threads(args.threads or (1 if device.type == "cpu" else torch.get_num_threads()))
    if args.memory_probe:  # internal: run in a fresh process by bench_memory
        print(memory_probe(args.memory_probe, device))
        return
    if args.quick:
        args.steps, args.new_tokens = min(args.steps, 3), min(args.new_tokens, 16)
    if not 1 <= args.new_tokens <= BASE["block_size"] - 64:
        raise SystemExit(f"--new-tokens must be between 1 and {BASE['block_size'] - 64}")
    c = BASE
    print(f"device: {describe_device(device)}  (torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    print(f"models: n_layer={c['n_layer']}, n_head={c['n_head']}, n_embd C={c['n_embd']}, vocab={c['vocab_size']}; "
          f"training B={BATCH_SIZE}, T={TRAIN_T} ({args.steps} timed steps each); generation: greedy, B=1, "
          f"{args.new_tokens} new tokens after 64, KV cache on")

    params = {name: counts(name) for name in MODELS}
    train = bench_training(device, args.steps)
    gen = bench_generation(device, args.new_tokens)
    memory, how = bench_memory(device)

    dense = "dense 4C"
    header = (f"{'model':<16}{'params':>10}{'active':>10}{'FLOPs/tok':>11}{'train tok/s':>13}{'vs dense':>9}"
              f"{'gen tok/s':>11}{'vs dense':>9}{'step MiB':>10}")
    print("\n" + header + "\n" + "-" * len(header))
    for name in MODELS:
        p = params[name]
        mib = f"{memory[name] / 2**20:10.1f}" if memory else f"{'-':>10}"
        print(f"{name:<16}{p['total']:>10,}{p['active']:>10,}{p['flops']:>11,}{train[name]:>13,.0f}"
              f"{train[name] / train[dense]:>8.2f}x{gen[name]:>11,.1f}{gen[name] / gen[dense]:>8.2f}x{mib}")
    print("\nparams: all parameters; active: those one token uses (router + top_k experts + the rest).")
    print(f"FLOPs/tok: training FLOPs per token at T={TRAIN_T}, GPT.estimate_flops_per_token: 6 x active "
          f"non-embedding params + 12 L T C.")
    print(f"step MiB: memory added by the first training step ({how}).")
    static = {name: 12 * params[name]["total"] / 2**20 for name in MODELS}
    print("   gradients + AdamW moments alone (3 x 4 bytes x params): "
          + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in static.items()))
    print("Equal FLOPs per token, yet the MoE rows run slower here: at this size the time goes to routing"
          "\n(top-k, one gather and one scatter per expert, a Python loop over experts), not to multiply-adds.")


if __name__ == "__main__":
    main()
