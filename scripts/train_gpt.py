"""Train lesson 10's character-level GPT from the command line, on one process or several.

    python scripts/train_gpt.py                                   # lesson 10: 1500 steps, first 1 MB of Shakespeare
    python scripts/train_gpt.py --preset tiny --steps 20 --out tiny.pt
    torchrun --nproc_per_node=2 scripts/train_gpt.py --preset tiny --steps 20 --out tiny2.pt

Under ``torchrun`` every process runs this same script; ``gptlab.train.Trainer`` joins the process
group (gloo on CPU, nccl on CUDA), wraps the model in DistributedDataParallel and trains each
process on its slice of the *global* batch (``--batch-size``), so 1 and N processes end with the
same weights. Only rank 0 prints and writes ``--out``: a gptlab checkpoint (``load_checkpoint``)
whose ``config`` holds ``{"preset", "model": GPTConfig fields, "train": TrainConfig fields}``.
The last line rank 0 prints is ``RESULT {json}`` (world size, device, tokens/s, losses), for scripts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import torch  # noqa: E402

from gptlab import data  # noqa: E402
from gptlab.distributed import cleanup  # noqa: E402
from gptlab.model import GPT, GPTConfig  # noqa: E402
from gptlab.tokenizers import CharTokenizer  # noqa: E402
from gptlab.train import TrainConfig, Trainer, encode_splits, save_checkpoint  # noqa: E402

#: name -> (characters of Shakespeare, GPTConfig fields, TrainConfig fields); "lesson10" is lesson 10's run
PRESETS = {
    "lesson10": (1_000_000,
                 dict(block_size=64, n_layer=2, n_head=4, n_embd=128),
                 dict(max_steps=1500, batch_size=16, learning_rate=0.005, warmup_steps=30, betas=(0.9, 0.99),
                      eval_interval=200, eval_steps=10)),
    # a few seconds on a laptop, for tests, lesson 13 and benchmarks. No biases: the key projection's bias gets
    # a zero gradient in exact arithmetic (softmax ignores a constant added to every score), so AdamW turns
    # rounding noise into lr-sized steps there, and runs that add in another order drift apart in that one vector
    "tiny": (100_000,
             dict(block_size=32, n_layer=1, n_head=2, n_embd=32, bias=False),
             dict(max_steps=20, batch_size=8, learning_rate=0.005, warmup_steps=5, betas=(0.9, 0.99),
                  eval_interval=10, eval_steps=2)),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="lesson10", choices=sorted(PRESETS),
                        help="model, data and schedule (default: lesson10)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the preset's)")
    parser.add_argument("--out", default=None, help="checkpoint file to write at the end (rank 0 only)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="GLOBAL batch, split over the processes (default: the preset's)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def build(args):
    """The model, the TrainConfig and the data for ``args``: the same in every process."""
    chars, model_fields, train_fields = PRESETS[args.preset]
    text = data.load_text("shakespeare")[:chars]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=0.1)
    gpt_config = GPTConfig(vocab_size=tok.vocab_size, **model_fields)
    train_fields = dict(train_fields)
    if args.steps is not None:
        train_fields["max_steps"] = args.steps
        train_fields["eval_interval"] = min(train_fields["eval_interval"], args.steps)
    if args.batch_size is not None:
        train_fields["batch_size"] = args.batch_size
    train_config = TrainConfig(block_size=gpt_config.block_size, device=args.device, seed=args.seed,
                               progress=not args.no_progress, **train_fields)
    torch.manual_seed(args.seed)  # the same initial weights in every process
    return GPT(gpt_config), gpt_config, train_config, train_ids, val_ids


def save(args, trainer: Trainer, gpt_config: GPTConfig) -> None:
    """Rank 0 writes ``--out``: weights, optimizer, trainer state, and the settings that rebuild the model."""
    if args.out and trainer.is_main:
        save_checkpoint(args.out, trainer.model, trainer.optimizer, trainer.state_dict(),
                        {"preset": args.preset, "model": asdict(gpt_config), "train": trainer.config})


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    trainer = None
    try:
        model, gpt_config, train_config, train_ids, val_ids = build(args)
        trainer = Trainer(model, train_config, train_ids, val_ids)
        if trainer.is_main:
            print(f"preset {args.preset}: {model.num_parameters():,} parameters, {train_config.max_steps} steps, "
                  f"global batch {train_config.batch_size} on {trainer.dist.world_size} process(es), "
                  f"device {trainer.device}")
        start = time.perf_counter()
        history = trainer.fit()
        seconds = time.perf_counter() - start
        save(args, trainer, gpt_config)
        if trainer.is_main:
            result = {"world_size": trainer.dist.world_size, "device": str(trainer.device),
                      "steps": trainer.step, "tokens_per_second": round(trainer.tokens_per_second, 1),
                      "seconds": round(seconds, 2), "train_loss": history.train_loss[-1],
                      "val_loss": history.val_loss[-1], "out": args.out}
            print(f"{trainer.tokens_per_second:,.0f} tokens/s; final train loss {history.train_loss[-1]:.4f}, "
                  f"validation loss {history.val_loss[-1]:.4f}" + (f"; saved {args.out}" if args.out else ""))
            print("RESULT " + json.dumps(result))
        return 0
    except ValueError as err:  # a bad setting (e.g. a batch the processes cannot split): say it once
        if os.environ.get("RANK", "0") == "0":
            print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Trainer.fit kept the model and history and destroyed the process group
        if trainer is not None and trainer.step:
            save(args, trainer, gpt_config)  # keep the work: history.interrupted is True in the file
            if args.out and trainer.is_main:
                print(f"interrupted after {trainer.step} steps; saved {args.out}")
        return 130
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
