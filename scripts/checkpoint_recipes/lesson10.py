"""Lesson 10's tiny GPT: 2 blocks, 4 heads, width 128, one character per token, on the first 1 MB of
Shakespeare, trained for 1500 steps with the lesson's own settings (notebooks/10_tiny_gpt.ipynb, §1-3)."""
from __future__ import annotations

import time
from dataclasses import asdict

import torch
from torch import nn

from gptlab import data, pretrained
from gptlab.block import Block
from gptlab.model import GPT, GPTConfig
from gptlab.positional import LearnedPositionalEmbedding
from gptlab.scaling_laws import run_scaling_sweep
from gptlab.tokenizers import CharTokenizer
from gptlab.train import TrainConfig, Trainer, encode_splits

NAME = "lesson10"
DESCRIPTION = ("Lesson 10's GPT: 2 blocks, 4 heads, width 128, one character per token, trained 1500 steps "
               "on the first 1 MB of Shakespeare (16 windows of 64 characters per step)")
LESSON = 10
SWEEP_SIZES = [dict(n_layer=1, n_head=2, n_embd=32), dict(n_layer=2, n_head=2, n_embd=48),
               dict(n_layer=2, n_head=4, n_embd=64), dict(n_layer=3, n_head=4, n_embd=96)]
DATA = {"corpus": "shakespeare", "chars": 1_000_000, "val_fraction": 0.1}


def lesson_splits():
    """The lesson's text, tokenizer and train/validation ids (§1)."""
    text = data.load_text(DATA["corpus"])[:DATA["chars"]]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=DATA["val_fraction"])
    return tok, train_ids, val_ids


def make(device: str = "cpu") -> dict:
    tok, train_ids, val_ids = lesson_splits()
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=128)
    torch.manual_seed(0)
    # §2 builds TinyGPT by hand from this seed before gptlab's GPT; drawing the same modules first
    # gives GPT the lesson's initial weights, so the checkpoint is the model the lesson trains on a CPU
    C = config.n_embd
    _ = [nn.Embedding(config.vocab_size, C), LearnedPositionalEmbedding(config.block_size, C),
         *(Block(C, config.n_head) for _ in range(config.n_layer)), nn.LayerNorm(C),
         nn.Linear(C, config.vocab_size, bias=False)]
    model = GPT(config)
    train_config = TrainConfig(max_steps=1500, batch_size=16, block_size=config.block_size, learning_rate=0.005,
                               warmup_steps=30, betas=(0.9, 0.99), eval_interval=200, eval_steps=10, device=device)
    start = time.perf_counter()
    trainer = Trainer(model, train_config, train_ids, val_ids)
    history = trainer.fit()
    seconds = time.perf_counter() - start
    metrics = {"val_loss": history.val_loss[-1], "train_eval_loss": history.train_eval_loss[-1],
               "steps": trainer.step, "train_seconds": round(seconds, 1), "device": str(device)}
    settings = {k: v for k, v in vars(train_config).items() if k not in ("device", "checkpoint_path")}
    sweep = scaling_sweep(tok.vocab_size, train_ids, val_ids, device)  # §8, so PRETRAINED skips that wait too
    meta = {"data": DATA, "train_config": settings, "seed": 0, "scaling_sweep": sweep}
    pretrained.save(NAME, model, tok, history, metrics=metrics, description=DESCRIPTION, lesson=LESSON, meta=meta)
    return metrics


def scaling_sweep(vocab_size: int, train_ids, val_ids, device: str = "cpu") -> list[dict]:
    """§8's experiment, with the lesson's settings: four sizes, 250 steps each, the same batches.

    Stored as plain dicts, one per ``ScalingRun`` (its config as a dict), in ``meta["scaling_sweep"]``:
    ``ScalingRun(**{**run, "config": GPTConfig(**run["config"])})`` rebuilds each run.
    """
    runs = run_scaling_sweep(SWEEP_SIZES, train_ids, val_ids, vocab_size=vocab_size,
                             steps=250, batch_size=16, block_size=64, learning_rate=3e-3, warmup_steps=20,
                             device=device)
    return [{**vars(run), "config": asdict(run.config)} for run in runs]
