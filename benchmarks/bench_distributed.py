"""Data-parallel throughput: training tokens/s with 1 and 2 processes (torchrun + DDP), CPU and CUDA.

    python benchmarks/bench_distributed.py                     # lesson 10's model, 40 steps
    python benchmarks/bench_distributed.py --preset tiny --steps 60

Each row starts ``scripts/train_gpt.py`` afresh (``python`` for one process, ``torchrun
--nproc_per_node=N`` for N) with the same GLOBAL batch, and reads the tokens/s it measured over its
training steps (evaluation excluded). On the CPU the rows compare the same cores used two ways:
one process with T threads, or N processes with T/N threads each, whose gradients gloo all-reduces
after every backward pass. On CUDA, one process per GPU (nccl), for 1, 2, 4, ... GPUs.
The ratios are measured in this one run; on a busy machine they move from run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "train_gpt.py"


def run(nproc: int, threads: int, device: str, preset: str, steps: int, batch_size: int | None) -> dict:
    args = [str(SCRIPT), "--preset", preset, "--steps", str(steps), "--device", device,
            "--threads", str(threads), "--no-progress"]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if nproc == 1:
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="lesson10")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default: the preset's)")
    parser.add_argument("--cores", type=int, default=min(os.cpu_count() or 1, 2),
                        help="CPU cores to share among the processes (default: 2, a laptop)")
    args = parser.parse_args()

    print(f"preset {args.preset}, {args.steps} steps, torch {torch.__version__}, {os.cpu_count()} CPU cores")
    rows = []
    cores = max(args.cores, 1)
    cpu_plan = [(1, 1), (1, cores), (2, max(cores // 2, 1))] if cores > 1 else [(1, 1), (2, 1)]
    for nproc, threads in cpu_plan:
        result = run(nproc, threads, "cpu", args.preset, args.steps, args.batch_size)
        rows.append(("cpu", nproc, threads, result))
    if torch.cuda.is_available():
        n = 1
        while n <= torch.cuda.device_count():
            rows.append(("cuda", n, 1, run(n, 1, "cuda", args.preset, args.steps, args.batch_size)))
            n *= 2

    print(f"{'device':<7}{'processes':>10}{'threads each':>14}{'tokens/s':>12}{'vs 1 process':>14}"
          f"{'final loss':>12}")
    for device, nproc, threads, result in rows:
        tps = result["tokens_per_second"]
        same = [r for d, n, t, r in rows if d == device and n == 1 and (device == "cuda" or t == nproc * threads)]
        ratio = f"{tps / same[0]['tokens_per_second']:.2f}x" if same else "-"
        print(f"{device:<7}{nproc:>10}{threads:>14}{tps:>12,.0f}{ratio:>14}{result['train_loss']:>12.4f}")
    print("(vs 1 process: against one process using the same total number of cores, or one GPU)")


if __name__ == "__main__":
    main()
