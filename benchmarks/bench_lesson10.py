"""Lesson 10's speed claims, measured in one run on this machine.

1. CPU threads for the lesson's training step (2 blocks, width 128, batch 16 x 64 characters):
   1 thread, 2 threads with OpenMP's default wait policy, and 2 threads with
   ``OMP_WAIT_POLICY=PASSIVE``. Each setting runs in a fresh Python process (the policy is read
   when the OpenMP runtime starts), in alternating rounds, so a shared machine's load falls on
   all alike. On a busy machine, threads that spin while waiting for each other burn the CPU the
   other thread needs; the lesson sets 1 thread on the CPU because of this measurement.
2. The KV cache: greedy generation that fills the context (block_size - 1 new tokens), with and
   without the cache, for several context lengths; the tokens must be identical.
3. With ``--train N``: the lesson's own training run, as section 3 of the notebook does it (the
   first 1 MB of Shakespeare, the same model, batch, schedule and seed; on the CPU the thread
   count ``gptlab.fastest_num_threads`` picks), for N steps on the best device: the row of the
   lesson's "what to expect" table. Target: validation loss <= 1.9 in under 90 s on the course's
   2-core CPU.

Run:  python benchmarks/bench_lesson10.py [--steps 20] [--rounds 2] [--quick] [--train 1500]
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

import gptlab
from gptlab import data
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer
from gptlab.train import TrainConfig, Trainer, encode_splits

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


def bench_lesson_training(steps: int) -> None:
    """Section 3 of lesson 10, timed: the same data, model and settings as the notebook."""
    device = gptlab.pick_device()
    text = data.load_text("shakespeare")[:1_000_000]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=0.1)
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**LESSON, "vocab_size": tok.vocab_size})).to(device)
    threads = ""
    if device.type == "cpu":
        batch = train_ids[:BATCH_SIZE * 65].view(BATCH_SIZE, 65)

        def one_step():
            _, loss = model(batch[:, :-1], batch[:, 1:])
            loss.backward()
            model.zero_grad(set_to_none=True)

        best, seconds = gptlab.fastest_num_threads(one_step)
        timings = ", ".join(f"{n}: {s * 1e3:.0f} ms" for n, s in seconds.items())
        threads = f", {best} thread(s) (one step with n threads: {timings})"
    config = TrainConfig(max_steps=steps, batch_size=BATCH_SIZE, block_size=LESSON["block_size"], learning_rate=0.005,
                         warmup_steps=30, betas=(0.9, 0.99), eval_interval=200, eval_steps=10, device=device,
                         progress=False)
    trainer = Trainer(model, config, train_ids, val_ids)
    start = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - start
    trainer.config.eval_steps = 100
    val_100 = trainer.evaluate()["val"]
    print(f"\n3. Lesson 10's training run on {gptlab.describe_device(device)}{threads}; load average {load()}")
    print(f"{steps} steps in {wall:.1f} s ({trainer.tokens_per_second:,.0f} tokens/s); validation loss "
          f"{history.val_loss[-1]:.3f} (10 batches, as the lesson prints it), {val_100:.3f} (100 batches)")
    met = history.val_loss[-1] <= 1.9 and wall < 90
    print(f"target: <= 1.9 in under 90 s on a 2-core CPU: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smoke test: few steps, short contexts")
    parser.add_argument("--train", type=int, default=0, metavar="STEPS",
                        help="also run the lesson's training for STEPS steps (1500 is the lesson's default)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.steps)
        return
    steps = 3 if args.quick else args.steps
    bench_threads(steps, 1 if args.quick else args.rounds)
    bench_kv_cache([32, 64] if args.quick else [64, 128, 256])
    if args.train:
        bench_lesson_training(args.train)


if __name__ == "__main__":
    main()
