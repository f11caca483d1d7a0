"""Lesson 10's speed claims, measured in one run on this machine.

1. CPU threads for the lesson's training step (2 blocks, width 128, batch 16 x 64 characters):
   1 thread, 2 threads with OpenMP's default wait policy, and 2 threads with
   ``OMP_WAIT_POLICY=PASSIVE``. Each setting runs in a fresh Python process (the policy is read
   when the OpenMP runtime starts), in alternating rounds, so a shared machine's load falls on
   all alike. On a busy machine, threads that spin while waiting for each other burn the CPU the
   other thread needs; the lesson sets 1 thread on the CPU because of this measurement.
2. The KV cache: greedy generation that fills the context (block_size - 1 new tokens), with and
   without the cache, for several context lengths; the tokens must be identical.

Run:  python benchmarks/bench_lesson10.py [--steps 20] [--rounds 2] [--quick]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

import torch

from gptlab.model import GPT, GPTConfig

LESSON = dict(vocab_size=76, block_size=64, n_layer=2, n_head=4, n_embd=128)
BATCH_SIZE = 16


def load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "n/a"


def worker(threads: int, steps: int) -> None:
    """Time ``steps`` training steps of the lesson's model; print tokens per second."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**LESSON))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(LESSON["vocab_size"], (BATCH_SIZE, LESSON["block_size"]))
    y = torch.randint(LESSON["vocab_size"], (BATCH_SIZE, LESSON["block_size"]))

    def step():
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: buffers, optimizer state
        step()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{steps * x.numel() / wall:.1f} {cpu / wall:.2f}")


def bench_threads(steps: int, rounds: int) -> None:
    settings = {"1 thread": (1, {}), "2 threads": (2, {}),
                "2 threads, OMP_WAIT_POLICY=PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"})}
    rates: dict[str, list[float]] = {name: [] for name in settings}
    cpu_use: dict[str, list[float]] = {name: [] for name in settings}
    print(f"1. Training step of the lesson's model, {steps} steps per measurement, {rounds} round(s); "
          f"load average {load()} on {os.cpu_count()} CPUs")
    for r in range(rounds):
        order = list(settings) if r % 2 == 0 else list(settings)[::-1]
        for name in order:
            threads, env = settings[name]
            out = subprocess.run([sys.executable, __file__, "--worker", str(threads), "--steps", str(steps)],
                                 env={**os.environ, **env}, capture_output=True, text=True, check=True)
            rate, use = map(float, out.stdout.split())
            rates[name].append(rate)
            cpu_use[name].append(use)
    base = statistics.median(rates["1 thread"])
    print(f"{'setting':<38}{'tokens/s':>10}{'vs 1 thread':>13}{'CPU busy / wall':>17}")
    for name in settings:
        rate = statistics.median(rates[name])
        print(f"{name:<38}{rate:>10,.0f}{rate / base:>12.2f}x{statistics.median(cpu_use[name]):>16.2f}")
    print(f"   load average after: {load()}")


def bench_kv_cache(lengths: list[int]) -> None:
    torch.set_num_threads(1)
    print("\n2. KV cache: greedy tokens filling the context (best of 2, alternating)")
    print(f"{'block_size':>10}{'new tokens':>12}{'no cache ms':>13}{'cache ms':>10}{'speed-up':>10}{'same tokens':>13}")
    for T in lengths:
        torch.manual_seed(0)
        model = GPT(GPTConfig(**{**LESSON, "block_size": T})).eval()
        prompt = torch.zeros(1, 1, dtype=torch.long)
        best, out = {}, {}
        for use_cache in (False, True, False, True):
            start = time.perf_counter()
            out[use_cache] = model.generate(prompt, T - 1, temperature=0, use_cache=use_cache)
            best[use_cache] = min(best.get(use_cache, math.inf), time.perf_counter() - start)
        same = torch.equal(out[True], out[False])
        print(f"{T:>10}{T - 1:>12}{best[False] * 1e3:>13.0f}{best[True] * 1e3:>10.0f}"
              f"{best[False] / best[True]:>9.1f}x{str(same):>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smoke test: few steps, short contexts")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.steps)
        return
    steps = 3 if args.quick else args.steps
    bench_threads(steps, 1 if args.quick else args.rounds)
    bench_kv_cache([32, 64] if args.quick else [64, 128, 256])


if __name__ == "__main__":
    main()
