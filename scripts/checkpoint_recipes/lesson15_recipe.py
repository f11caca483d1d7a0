"""Lesson 15's experiments: turn on the modern recipe one change at a time on lesson 11's small
char-level GPT (2 blocks, 4 heads, width 64, context 32, first 1 MB of Shakespeare), every run
seeded and trained the same number of steps with the same settings, and at the same parameter
count: each run's MLP width is the one that brings its parameters closest to GPT-2's recipe (RoPE
drops the position table, GQA half of k and v, untying adds an output matrix; the MLP takes up
the difference, as real models choose their MLP width for a budget).

Saves the last model (the full recipe, last seed) as checkpoint ``lesson15_recipe``; the results of every run
(parameters, KV cache per token, validation loss at the trained context of 32 and beyond it at 64,
seconds) sit in its ``meta["runs"]`` (three seeds each) for the lesson and the recipe explorer to read.
"""
from __future__ import annotations

import dataclasses
import time

import torch

from gptlab import data, pretrained
from gptlab.model import GPT, GPTConfig, count_parameters
from gptlab.tokenizers import CharTokenizer
from gptlab.train import TrainConfig, Trainer, encode_splits

__all__ = ["DESCRIPTION", "LESSON", "NAME", "RUNS", "make"]

NAME = "lesson15_recipe"
LESSON = 15
DESCRIPTION = ("Lesson 15's full modern recipe (RMSNorm, SwiGLU, RoPE, GQA with 2 KV heads, no biases, untied) on "
               "lesson 11's 2-block, 4-head, width-64 char GPT, 300 steps of 16 x 32 characters of Shakespeare; "
               "meta['runs'] holds every step of the recipe, each trained the same way with seeds 0, 1, 2, "
               "its MLP widened or narrowed to GPT-2's parameter count")
STEPS = 300
SEEDS = (0, 1, 2)
TRAIN_T = 32  # the context the models train on
LONG_T = 64  # evaluated beyond it: block_size is LONG_T so learned positions 32..63 exist but are never trained
DATA = {"corpus": "shakespeare", "chars": 1_000_000, "val_fraction": 0.1}
BASE = dict(block_size=LONG_T, n_layer=2, n_head=4, n_embd=64)

# each run adds one change to the one before it (the last one is the whole recipe)
RUNS: list[tuple[str, dict]] = [
    ("gpt2", dict()),
    ("rmsnorm", dict(norm_type="rmsnorm")),
    ("swiglu", dict(norm_type="rmsnorm", activation="swiglu")),
    ("rope", dict(norm_type="rmsnorm", activation="swiglu", pos="rope")),
    ("gqa", dict(norm_type="rmsnorm", activation="swiglu", pos="rope", n_kv_head=2)),
    ("no_bias", dict(norm_type="rmsnorm", activation="swiglu", pos="rope", n_kv_head=2, bias=False)),
    ("untied", dict(norm_type="rmsnorm", activation="swiglu", pos="rope", n_kv_head=2, bias=False,
                    tie_weights=False)),
]


def matched_mlp_hidden(fields: dict, target: int) -> int:
    """The MLP width whose model (``GPTConfig(**fields, mlp_hidden=...)``) has the parameter count
    closest to ``target``: the count grows by the same step for every unit of width, so two
    counts give the answer, and the neighbours are checked."""
    def count(hidden: int) -> int:
        return count_parameters(GPTConfig(**fields, mlp_hidden=hidden))
    start = GPTConfig(**fields).mlp_width
    step = count(start + 1) - count(start)
    guess = max(1, start + round((target - count(start)) / step))
    return min((h for h in (guess - 1, guess, guess + 1) if h >= 1), key=lambda h: (abs(count(h) - target), h))


@torch.no_grad()
def eval_loss(model: GPT, ids: torch.Tensor, T: int, n_windows: int = 64, device: str = "cpu") -> float:
    """Mean loss over the same n_windows evenly spaced windows of T tokens (deterministic)."""
    model.eval()
    starts = torch.linspace(0, len(ids) - T - 2, n_windows).long()
    x = torch.stack([ids[s:s + T] for s in starts]).to(device)
    y = torch.stack([ids[s + 1:s + T + 1] for s in starts]).to(device)
    _, loss = model(x, y)
    return round(loss.item(), 4)


def make(device: str = "cpu") -> dict:
    torch.set_num_threads(1)
    text = data.load_text(DATA["corpus"])[:DATA["chars"]]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=DATA["val_fraction"])
    train_config = TrainConfig(max_steps=STEPS, batch_size=16, block_size=TRAIN_T, learning_rate=3e-3,
                               warmup_steps=20, eval_interval=STEPS, eval_steps=8, seed=0, progress=False,
                               device=device)
    runs = []
    target = count_parameters(GPTConfig(vocab_size=tok.vocab_size, **BASE))  # GPT-2's recipe
    for name, changes in RUNS:
        fields = dict(vocab_size=tok.vocab_size, **BASE, **changes)
        hidden = matched_mlp_hidden(fields, target)
        config = GPTConfig(**fields, mlp_hidden=hidden)
        run = dict(name=name, changes=changes, mlp_hidden=hidden, default_mlp_hidden=GPTConfig(**fields).mlp_width,
                   kv_cache_per_token=config.kv_cache_per_token(4),  # float32 bytes
                   seeds=list(SEEDS), val_loss=[], val_loss_long=[], train_seconds=[])
        for seed in SEEDS:  # the seed fixes the initial weights and the batches
            torch.manual_seed(seed)
            model = GPT(config)
            start = time.perf_counter()
            trainer = Trainer(model, dataclasses.replace(train_config, seed=seed), train_ids, val_ids)
            history = trainer.fit()
            run["train_seconds"].append(round(time.perf_counter() - start, 1))
            run["val_loss"].append(eval_loss(model, val_ids, TRAIN_T, device=device))
            run["val_loss_long"].append(eval_loss(model, val_ids, LONG_T, device=device))
        run["params"] = model.num_parameters()
        runs.append(run)
        print(f"   {name:8s} {run}", flush=True)
    settings = {k: v for k, v in vars(train_config).items() if k not in ("device", "checkpoint_path")}
    meta = {"data": DATA, "train_config": settings, "seed": 0, "base": BASE, "long_T": LONG_T, "runs": runs}
    metrics = {"val_loss": runs[-1]["val_loss"][-1], "val_loss_long": runs[-1]["val_loss_long"][-1], "steps": STEPS,
               "device": str(device)}
    pretrained.save(NAME, model, tok, history, metrics=metrics, description=DESCRIPTION, lesson=LESSON, meta=meta)
    return metrics
