"""Lesson 12's pipeline speed, measured in one run: SFT and PPO tokens/s, and the time SFT then PPO
take to reach a target task accuracy, from the lesson's base checkpoint.

Run:  python benchmarks/bench_alignment.py            (about a minute on an idle 2-core CPU)
      python benchmarks/bench_alignment.py --target 0.5 --device cuda
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from gptlab import alignment as A
from gptlab import pretrained
from gptlab.device import describe_device, pick_device


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--target", type=float, default=0.4, help="task accuracy to reach (sampling at T=1)")
    parser.add_argument("--max-rollouts", type=int, default=60)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device: {describe_device(device)}")
    ckpt = pretrained.load("lesson12_base", device=device)
    base, tok = ckpt.model, ckpt.tokenizer
    test = A.make_prompts(256, seed=99)

    start = time.perf_counter()
    sft = copy.deepcopy(base)
    demo_prompts = A.make_prompts(48, seed=1)
    h = A.train_sft(sft, tok, demo_prompts, [A.solve(p) + A.STOP for p in demo_prompts], steps=120, progress=False)
    sft_seconds = h.elapsed[-1]
    print(f"SFT: {h.tokens_seen[-1] / sft_seconds:,.0f} answer tokens/s ({h.steps[-1]} steps in {sft_seconds:.1f} s)")
    pairs = A.make_preference_pairs(sft, tok, A.make_prompts(96, seed=2), samples_per_prompt=4, max_new_tokens=6)
    rm = A.RewardModel(sft)
    A.train_reward_model(rm, tok, pairs, steps=150, progress=False)
    acc = A.evaluate_policy(sft, tok, test, max_new_tokens=6)["accuracy"]
    print(f"after SFT and the reward model ({time.perf_counter() - start:.1f} s): accuracy {acc:.0%}")

    trainer = A.PPOTrainer(copy.deepcopy(sft), copy.deepcopy(sft), rm, tok, A.make_prompts(512, seed=3),
                           A.PPOConfig(beta=0.1, batch_size=64, max_new_tokens=6, epochs=2, progress=False))
    reached = None
    for rollout in range(1, args.max_rollouts + 1):
        trainer.fit(1)
        if rollout % 5 == 0:
            acc = A.evaluate_policy(trainer.policy, tok, test, max_new_tokens=6)["accuracy"]
            if acc >= args.target:
                reached = time.perf_counter() - start
                break
    print(f"PPO: {trainer.tokens_per_second:,.0f} tokens/s through the policy ({trainer.step} rollouts in "
          f"{trainer.seconds:.1f} s)")
    if reached is None:
        print(f"target accuracy {args.target:.0%} not reached in {args.max_rollouts} rollouts (last {acc:.0%})")
    else:
        print(f"target accuracy {args.target:.0%} reached after {reached:.1f} s ({rollout} PPO rollouts; "
              f"accuracy {acc:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
