"""Lesson 13's speeds: GPTQ per layer, the dequantize-on-the-fly matmul against fp32, decode tokens/s vs batch.

    python benchmarks/bench_quantization.py            # CPU, and the GPU too when there is one
    python benchmarks/bench_quantization.py --quick    # smaller sizes

Prints ratios measured in this one run (best of several repeats); nothing here is a test.
"""
from __future__ import annotations

import argparse
import time

import torch

from gptlab.device import available_devices
from gptlab.model import GPT, GPTConfig
from gptlab.quantization import QuantizedLinear, gptq_quantize, quantize_absmax
from gptlab.serving import decode_time_per_token, measure_decode, measure_machine


def best_of(fn, repeats: int, device: torch.device) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def bench_gptq(device, sizes, repeats):
    print("GPTQ time per layer (4 bits, groups of 128) vs round-to-nearest:")
    for out_f, in_f in sizes:
        W = torch.randn(out_f, in_f, device=device)
        X = torch.randn(4 * in_f, in_f, device=device)
        H = 2 * X.T @ X / X.size(0)
        t_gptq = best_of(lambda W=W, H=H: gptq_quantize(W, H, bits=4, group_size=128), repeats, device)
        t_rtn = best_of(lambda W=W: quantize_absmax(W, bits=4, group_size=128), repeats, device)
        print(f"  {out_f:>5} x {in_f:<5} GPTQ {t_gptq * 1e3:8.1f} ms   RTN {t_rtn * 1e3:7.2f} ms   "
              f"ratio {t_gptq / t_rtn:6.0f}x")


def bench_matmul(device, sizes, repeats):
    print("dequantize-on-the-fly Linear (int4 codes) vs fp32 nn.Linear, one forward:")
    for tokens, d in sizes:
        linear = torch.nn.Linear(d, 4 * d, bias=False).to(device)
        qlinear = QuantizedLinear(quantize_absmax(linear.weight, bits=4, group_size=128)).to(device)
        x = torch.randn(tokens, d, device=device)
        with torch.no_grad():
            t32 = best_of(lambda f=linear, x=x: f(x), repeats, device)
            tq = best_of(lambda f=qlinear, x=x: f(x), repeats, device)
        print(f"  {tokens:>5} tokens, {d} -> {4 * d}: fp32 {t32 * 1e3:7.2f} ms, dequantize+matmul {tq * 1e3:7.2f} ms"
              f"  ({tq / t32:.1f}x the time, {qlinear.nbytes / (linear.weight.numel() * 4):.2f}x the bytes)")


def bench_decode(device, batches, repeats):
    print("decode tokens/s vs batch (lesson 10's GPT shape, context 32), with the roofline on this machine:")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128)).to(device).eval()
    machine = measure_machine(device)
    base = None
    for b in batches:
        m = measure_decode(model, batch=b, context=32, steps=8, repeats=repeats)
        r = decode_time_per_token(model.config, "float32", b, 32, machine)
        base = base or m["tokens_per_s"]
        print(f"  batch {b:>4}: {m['tokens_per_s']:>10,.0f} tokens/s ({m['tokens_per_s'] / base:5.1f}x batch 1), "
              f"step {m['step_s'] * 1e3:6.2f} ms, {m['tokens_per_s'] / r['tokens_per_s']:.2f} of the roofline")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else 5
    for device in available_devices():
        if device.type == "mps":
            continue
        print(f"== {device}")
        bench_gptq(device, [(128, 128), (512, 512)] if args.quick else [(512, 512), (1024, 1024), (4096, 1024)],
                   repeats)
        bench_matmul(device, [(64, 256)] if args.quick else [(1, 1024), (64, 1024), (1024, 1024)], repeats)
        bench_decode(device, [1, 8, 64] if args.quick else [1, 4, 16, 64, 256], repeats)


if __name__ == "__main__":
    main()
