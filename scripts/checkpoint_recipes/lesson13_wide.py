"""Lesson 13's wider GPT: lesson 10's model and data with width 192 (6 heads) instead of 128, so that
the lesson can compare how two widths take quantization (notebooks/13_laptop_and_gpus.ipynb, §3)."""
from __future__ import annotations

import time

import torch

from gptlab import data, pretrained
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer
from gptlab.train import TrainConfig, Trainer, encode_splits

NAME = "lesson13_wide"
DESCRIPTION = ("Lesson 13's wider GPT: lesson 10's 2 blocks and data, width 192 with 6 heads, one character "
               "per token, trained 1500 steps on the first 1 MB of Shakespeare (16 windows of 64 per step)")
LESSON = 13
DATA = {"corpus": "shakespeare", "chars": 1_000_000, "val_fraction": 0.1}


def make(device: str = "cpu") -> dict:
    text = data.load_text(DATA["corpus"])[:DATA["chars"]]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=DATA["val_fraction"])
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=6, n_embd=192)
    torch.manual_seed(0)
    model = GPT(config)
    train_config = TrainConfig(max_steps=1500, batch_size=16, block_size=config.block_size, learning_rate=0.004,
                               warmup_steps=30, betas=(0.9, 0.99), eval_interval=500, eval_steps=10, device=device)
    start = time.perf_counter()
    trainer = Trainer(model, train_config, train_ids, val_ids)
    history = trainer.fit()
    seconds = time.perf_counter() - start
    metrics = {"val_loss": history.val_loss[-1], "train_eval_loss": history.train_eval_loss[-1],
               "steps": trainer.step, "train_seconds": round(seconds, 1), "device": str(device)}
    settings = {k: v for k, v in vars(train_config).items() if k not in ("device", "checkpoint_path")}
    meta = {"data": DATA, "train_config": settings, "seed": 0}
    pretrained.save(NAME, model, tok, history, metrics=metrics, description=DESCRIPTION, lesson=LESSON, meta=meta)
    return metrics
