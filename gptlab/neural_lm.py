"""A neural language model: Bengio et al. (2003), "A Neural Probabilistic Language Model" (lessons 01 and 02).

The n-gram model treats every context as a separate row of counts: having seen "the cat sat"
teaches it nothing about "the dog sat". Bengio's model gives every token a learned vector
(embedding), so tokens used alike end up close and what is learned about one context carries over
to similar ones. It is the first of the "approximations" of lecture notes 1.2 (FFN, then CNN,
RNN, Transformer):

    the last T token ids -> their embeddings, concatenated -> tanh (or GELU) layer -> logits over V

Training minimises the cross-entropy of the next token, which is exactly the log of the
perplexity the n-gram lesson measures, so the two models are compared on the same scale.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type
from .device import pick_device
from .sampling import make_generator
from .tokenizers import token_ids_list


def _check_id_tensor(name: str, t, dims: int, what: str, vocab_size: int | None) -> None:
    """``t`` must be a torch tensor of integer ids with ``dims`` dimensions, each id in 0..vocab_size-1."""
    if not isinstance(t, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch tensor of token ids, shape {what}, got "
                                f"{type(t).__name__}; e.g. torch.tensor(ids)")
    if t.dim() != dims:
        hint = "; for a single window use idx.unsqueeze(0)" if name == "idx" and t.dim() == 1 else ""
        raise ValueError(f"{name} must have shape {what}, got {tuple(t.shape)}{hint}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids (torch.long), got dtype {t.dtype}")
    if t.numel():
        low, high = int(t.min()), int(t.max())
        if low < 0 or (vocab_size is not None and high >= vocab_size):
            allowed = f"0..{vocab_size - 1} (vocab_size={vocab_size})" if vocab_size is not None else "0 and up"
            raise ValueError(f"{name} contains token id {low if low < 0 else high}, outside the vocabulary "
                             f"{allowed}; was it encoded with another tokenizer?")


class MLPLanguageModel(nn.Module):
    """Embeddings of a fixed window of ``context_size`` tokens -> one hidden layer -> next-token logits."""

    def __init__(self, vocab_size: int, context_size: int, d_embd: int = 16, d_hidden: int = 128,
                 activation: str = "tanh", dropout: float = 0.0):
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, min_value=1)
        self.context_size = check_int("context_size", context_size, min_value=1)
        check_int("d_embd", d_embd, min_value=1)
        check_int("d_hidden", d_hidden, min_value=1)
        check_choice("activation", activation, ("tanh", "gelu"))
        check_float("dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)
        self.wte = nn.Embedding(vocab_size, d_embd)                # one learned vector per token
        self.hidden = nn.Linear(context_size * d_embd, d_hidden)
        self.act = nn.Tanh() if activation == "tanh" else nn.GELU()
        # not in Bengio et al. (2003), which predates it: on a small corpus, randomly silencing hidden
        # units keeps the model from memorising the training windows
        self.dropout = nn.Dropout(dropout)
        self.lm_head = nn.Linear(d_hidden, vocab_size)
        # start from an almost uniform prediction (loss ~ log V) instead of confidently wrong guesses,
        # which saves the first hundreds of steps from just undoing the random init
        with torch.no_grad():
            self.lm_head.weight.mul_(0.1)
            self.lm_head.bias.zero_()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx: (B, context_size) token ids; targets: (B,) next ids. Returns (logits (B, V), loss or None)."""
        _check_id_tensor("idx", idx, 2, "(B, context_size)", self.vocab_size)
        B, T = idx.size()
        if T != self.context_size:
            raise ValueError(f"idx has {T} tokens per row but this model reads context_size={self.context_size}")
        if B == 0:
            raise ValueError("idx holds no windows (B=0); give at least one row of token ids")
        if targets is not None:
            _check_id_tensor("targets", targets, 1, "(B,)", self.vocab_size)
            if targets.size(0) != B:
                raise ValueError(f"targets has {targets.size(0)} ids but idx has B={B} rows; give one next id per row")
        emb = self.wte(idx)                      # (B, T, d_embd)
        x = emb.view(B, -1)                      # (B, T * d_embd): the window's vectors side by side
        h = self.dropout(self.act(self.hidden(x)))   # (B, d_hidden)
        logits = self.lm_head(h)                 # (B, V)
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss

    @torch.no_grad()
    def next_token_logits(self, ids: Sequence[int], pad_id: int) -> torch.Tensor:
        """Logits (V,) for the token after ``ids``; only the last ``context_size`` ids are read and a
        shorter history is padded with ``pad_id`` in front, as ``make_windows`` does. Plugs into
        ``gptlab.sampling.generate(lambda ids: model.next_token_logits(ids, pad_id), ...)``."""
        T = self.context_size
        pad_id = check_int("pad_id", pad_id, min_value=0, max_value=self.vocab_size - 1)
        window = ([pad_id] * T + token_ids_list("ids", ids, self.vocab_size))[-T:]
        device = self.wte.weight.device
        logits, _ = self(torch.tensor([window], device=device))
        return logits[0].float().cpu()


def _as_sequences(token_ids) -> list[np.ndarray]:
    """One flat id sequence, or a list of them, as a list of 1-D int64 arrays."""
    name = "token_ids"
    if isinstance(token_ids, (torch.Tensor, np.ndarray)) and token_ids.ndim == 1:
        return [np.asarray(token_ids_list(name, token_ids), dtype=np.int64)]
    if token_ids is None or isinstance(token_ids, (str, bytes, dict, set)) or not hasattr(token_ids, "__iter__"):
        raise ArgumentTypeError(f"token_ids={token_ids!r:.60} must be a list of ids, or a list of such lists "
                                f"(one per sentence), got {type(token_ids).__name__}; encode text first, "
                                f"e.g. tokenizer.encode(text)")
    items = list(token_ids)
    if items and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        return [np.asarray(token_ids_list(name, items), dtype=np.int64)]
    out = []
    for i, s in enumerate(items):
        if isinstance(s, (float, int, np.number)):
            raise ArgumentTypeError(f"token_ids[{i}]={s!r} must be a whole-number token id (int) or a list of "
                                    f"ids, got {type(s).__name__}")
        out.append(np.asarray(token_ids_list(f"token_ids[{i}]", s), dtype=np.int64))
    return out


def make_windows(token_ids, context_size: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs for a fixed-window model: X (N, context_size) of ids, Y (N,) the next id.

    ``token_ids``: one sequence of ids (a stream) or a list of sequences (sentences, names). Each
    sequence is padded in front with ``context_size`` copies of ``pad_id``, so its first token is
    predicted from pure padding, and windows never cross from one sequence into the next.
    Append an end id to each sequence yourself if the model should learn where sequences stop
    (gptlab's lessons use ``</s>`` and also pad with it, as makemore does with '.').
    """
    context_size = check_int("context_size", context_size, min_value=1)
    pad_id = check_int("pad_id", pad_id, min_value=0)
    sequences = [s for s in _as_sequences(token_ids) if s.size]
    if not sequences:
        raise ValueError("token_ids is empty; give at least one non-empty sequence of ids")
    T = context_size
    stream = np.concatenate([np.concatenate([np.full(T, pad_id, dtype=np.int64), s]) for s in sequences])
    is_target = np.concatenate([np.r_[np.zeros(T, dtype=bool), np.ones(s.size, dtype=bool)] for s in sequences])
    targets = np.flatnonzero(is_target)                               # (N,)
    X = stream[targets[:, None] + np.arange(-T, 0)]                   # (N, T) the T ids before each target
    Y = stream[targets]                                               # (N,)
    return torch.from_numpy(X), torch.from_numpy(Y)


def train_mlp_lm(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, steps: int = 2000, batch_size: int = 256,
                 lr: float = 1e-2, device=None, generator=None, progress: bool = True,
                 weight_decay: float = 0.0) -> list[float]:
    """Minibatch AdamW on (X, Y) for ``steps`` steps; returns the training loss of every step.

    The learning rate follows a cosine from ``lr`` down to ``lr / 10``: big steps while the loss
    falls fast, small ones to settle at the end. ``generator`` (int seed or ``torch.Generator``)
    fixes which minibatches are drawn; the model's own init is fixed by ``torch.manual_seed``.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module such as MLPLanguageModel")
    steps = check_int("steps", steps, min_value=1)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    lr = check_float("lr", lr, min_value=0.0, min_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, min_value=0.0)
    check_type("progress", progress, bool, "True or False")
    _check_pairs(model, X, Y)
    device = pick_device(device)
    model.to(device).train()
    X, Y = X.to(device), Y.to(device)
    generator = make_generator(generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr / 10)
    losses = []
    for _ in tqdm(range(steps), disable=not progress, desc="training", leave=False):
        # draw indices where the generator lives (CPU unless a CUDA generator was passed)
        batch = torch.randint(0, X.size(0), (batch_size,), generator=generator,
                              device=generator.device if generator is not None else "cpu").to(device)
        _, loss = model(X[batch], Y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def perplexity(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, batch_size: int = 4096) -> float:
    """exp(mean cross-entropy) of the model on (X, Y): directly comparable to ``NGramLM.perplexity``
    when both predict the same tokens (every token and the end marker of every sentence)."""
    check_type("model", model, nn.Module, "a torch.nn.Module such as MLPLanguageModel")
    batch_size = check_int("batch_size", batch_size, min_value=1)
    _check_pairs(model, X, Y)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, X.size(0), batch_size):
        logits, _ = model(X[start:start + batch_size].to(device))
        total += F.cross_entropy(logits.float(), Y[start:start + batch_size].to(device), reduction="sum").item()
    model.train(was_training)
    return float(np.exp(total / X.size(0)))


def _check_pairs(model: nn.Module, X, Y) -> None:
    """X (N, context_size) and Y (N,) must be integer id tensors with matching, non-zero N."""
    V = getattr(model, "vocab_size", None)
    V = V if isinstance(V, int) else None
    _check_id_tensor("X", X, 2, "(N, context_size)", V)
    _check_id_tensor("Y", Y, 1, "(N,)", V)
    if X.size(0) != Y.size(0) or X.size(0) == 0:
        raise ValueError(f"X has {X.size(0)} rows and Y has {Y.size(0)}; they must match and be non-empty "
                         f"(make them with make_windows)")
