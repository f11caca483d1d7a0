"""What lesson 11's three recipes share: the data, the models of sections 5-6 and their training
(notebooks/11_mixture_of_experts.ipynb, cells of sections 5 and 6, with the lesson's own settings)."""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from gptlab import data, pretrained
from gptlab.model import GPT, GPTConfig
from gptlab.moe import MoE
from gptlab.tokenizers import CharTokenizer
from gptlab.train import TrainConfig, Trainer, encode_splits

LESSON = 11
STEPS = 300
DATA = {"corpus": "shakespeare", "chars": 1_000_000, "val_fraction": 0.1}
C = 64


def lesson_splits():
    text = data.load_text(DATA["corpus"])[:DATA["chars"]]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=DATA["val_fraction"])
    return tok, train_ids, val_ids


def base_config(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=C)


def dense_gpt(vocab_size: int) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**base_config(vocab_size)))


def moe_gpt(vocab_size: int, aux_loss_weight: float, seed: int = 0) -> GPT:
    """The lesson's MoE GPT: 4 experts 2C wide, top-2, so a token runs 4C hidden units as the dense MLP does."""
    torch.manual_seed(seed)
    config = base_config(vocab_size)
    model = GPT(GPTConfig(**config, n_experts=4, top_k=2, aux_loss_weight=aux_loss_weight))
    for block in model.blocks:
        block.mlp = MoE(C, n_experts=4, top_k=2, d_hidden=2 * C)
        for layer in block.mlp.modules():  # GPT-2's initialisation: small weights, zero biases
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.02)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        for mlp in block.mlp.experts:  # the Linear that writes into the residual stream
            nn.init.normal_(mlp.proj.weight, std=0.02 / math.sqrt(2 * config["n_layer"]))
    return model


def train_and_save(name: str, description: str, model: GPT, tok, train_ids, val_ids, device: str = "cpu") -> dict:
    torch.set_num_threads(1)  # as the lesson does: small models on a shared CPU
    train_config = TrainConfig(max_steps=STEPS, batch_size=16, block_size=32, learning_rate=3e-3, warmup_steps=20,
                               eval_interval=STEPS, eval_steps=8, seed=0, progress=False, device=device)
    start = time.perf_counter()
    trainer = Trainer(model, train_config, train_ids, val_ids)
    history = trainer.fit()
    seconds = time.perf_counter() - start
    metrics = {"val_loss": history.val_loss[-1], "train_eval_loss": history.train_eval_loss[-1],
               "steps": trainer.step, "tokens_per_second": round(trainer.tokens_per_second, 1),
               "train_seconds": round(seconds, 1), "device": str(device)}
    settings = {k: v for k, v in vars(train_config).items() if k not in ("device", "checkpoint_path")}
    meta = {"data": DATA, "train_config": settings, "seed": 0}
    pretrained.save(name, model, tok, history, metrics=metrics, description=description, lesson=LESSON, meta=meta)
    return metrics


def make_model(name: str, description: str, aux_loss_weight: float | None, device: str = "cpu") -> dict:
    """One recipe's make(): the dense GPT (``aux_loss_weight=None``) or an MoE GPT, trained and saved."""
    tok, train_ids, val_ids = lesson_splits()
    model = dense_gpt(tok.vocab_size) if aux_loss_weight is None else moe_gpt(tok.vocab_size, aux_loss_weight)
    return train_and_save(name, description, model, tok, train_ids, val_ids, device=device)
