"""A training loop that knows nothing about GPT.

Any ``nn.Module`` that follows nanoGPT's contract ``model(x, y) -> (logits, loss)`` can be trained:

    config = TrainConfig(max_steps=500, batch_size=32, block_size=64, learning_rate=1e-3)
    trainer = Trainer(model, config, train_ids, val_ids)
    history = trainer.fit()          # Ctrl-C keeps what was learned so far, then re-raises

One step is: pick a random batch, forward, backward, clip the gradient norm, AdamW update with
the learning rate of the schedule (linear warm-up, then cosine decay). Everything a loss curve
needs is recorded in ``trainer.history``; a checkpoint stores the model, the optimizer, the step,
the history and the random-number state, so a resumed run continues the *same* loss curve.

Started by ``torchrun --nproc_per_node=N``, the same ``Trainer`` trains data-parallel with PyTorch's
``DistributedDataParallel`` (see ``gptlab.distributed``): ``batch_size`` stays the global batch, each
process trains on its 1/N slice, and only rank 0 shows progress, evaluates and saves.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type
from .device import pick_device

CHECKPOINT_FORMAT = "gptlab-checkpoint"
CHECKPOINT_VERSION = 2  # 2: a SHA-256 checksum of everything stored; version-1 files load unverified


# ----------------------------------------------------------------------------------------------
# configuration and learning-rate schedule


@dataclass
class TrainConfig:
    """Everything the training loop needs to know, with a comment per field (nanoGPT style)."""

    max_steps: int  # optimizer steps in the whole run (the schedule's length)
    batch_size: int  # sequences per step (B)
    block_size: int  # tokens per sequence (T); at most the model's context length
    learning_rate: float = 3e-4  # peak learning rate, reached at the end of warm-up
    min_lr: float | None = None  # where cosine decay ends; None means learning_rate / 10
    warmup_steps: int = 0  # steps of linear warm-up from ~0 to learning_rate
    lr_decay: str = "cosine"  # "cosine" (decay to min_lr at max_steps) or "constant"
    weight_decay: float = 0.1  # AdamW decay, applied only to weight matrices and embeddings
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's momentum and second-moment decay rates
    grad_clip: float | None = 1.0  # clip the global gradient norm to this; None or 0 disables
    eval_interval: int = 100  # estimate train/val loss every this many steps (and at the start and end)
    eval_steps: int = 20  # batches averaged per loss estimate
    amp: bool = True  # mixed precision on CUDA (bf16, else fp16 + GradScaler); ignored on CPU/MPS
    device: str | torch.device | None = None  # None picks CUDA, then MPS, then CPU
    seed: int = 0  # seeds the batch sampler, so a run is reproducible
    checkpoint_path: str | os.PathLike | None = None  # where fit() saves; None saves nothing
    checkpoint_interval: int | None = None  # save every this many steps (always at the end of fit)
    progress: bool = True  # show a tqdm progress bar with the live loss and learning rate

    def __post_init__(self):
        self.max_steps = check_int("max_steps", self.max_steps, min_value=1)
        self.batch_size = check_int("batch_size", self.batch_size, min_value=1)
        self.block_size = check_int("block_size", self.block_size, min_value=1)
        self.learning_rate = check_float("learning_rate", self.learning_rate, min_value=0, min_inclusive=False)
        if self.min_lr is not None:
            self.min_lr = check_float("min_lr", self.min_lr, min_value=0, max_value=self.learning_rate)
        self.warmup_steps = check_int("warmup_steps", self.warmup_steps, min_value=0, max_value=self.max_steps)
        check_choice("lr_decay", self.lr_decay, ("cosine", "constant"))
        self.weight_decay = check_float("weight_decay", self.weight_decay, min_value=0)
        if not isinstance(self.betas, Sequence) or isinstance(self.betas, str):
            raise ArgumentTypeError(f"betas={self.betas!r} must be a pair of numbers such as (0.9, 0.95), "
                                    f"got {type(self.betas).__name__}")
        if len(self.betas) != 2:
            raise ValueError(f"betas={self.betas!r} must be a pair of numbers such as (0.9, 0.95)")
        self.betas = tuple(check_float(f"betas[{i}]", b, min_value=0, max_value=1, max_inclusive=False)
                           for i, b in enumerate(self.betas))
        if self.grad_clip is not None:
            self.grad_clip = check_float("grad_clip", self.grad_clip, min_value=0)
        self.eval_interval = check_int("eval_interval", self.eval_interval, min_value=1)
        self.eval_steps = check_int("eval_steps", self.eval_steps, min_value=1)
        for name in ("amp", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentTypeError(f"{name}={getattr(self, name)!r} must be True or False")
        if self.device is not None:
            try:
                kind = torch.device(self.device).type
            except (RuntimeError, TypeError, ValueError):
                kind = None
            if kind not in ("cuda", "mps", "cpu"):
                raise ValueError(f"device={self.device!r} is not supported; use 'cuda', 'mps', 'cpu' or None")
        self.seed = check_int("seed", self.seed)
        if self.checkpoint_path is not None:
            check_type("checkpoint_path", self.checkpoint_path, (str, os.PathLike),
                       "a file path (str or pathlib.Path) or None")
        if self.checkpoint_interval is not None:
            self.checkpoint_interval = check_int("checkpoint_interval", self.checkpoint_interval, min_value=1)
            if self.checkpoint_path is None:
                raise ValueError(f"checkpoint_interval={self.checkpoint_interval} needs a checkpoint_path "
                                 "to save to; set checkpoint_path='run.pt' or leave checkpoint_interval=None")

    @property
    def final_lr(self) -> float:
        """The learning rate cosine decay ends at: ``min_lr``, or ``learning_rate / 10`` when unset."""
        return self.learning_rate / 10 if self.min_lr is None else self.min_lr


def get_lr(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up, then cosine decay.

    Warm-up grows the rate as ``lr * (step + 1) / (warmup_steps + 1)`` (never exactly zero, so no
    step is wasted), reaching ``lr`` at ``step == warmup_steps``. Cosine decay then glides from
    ``lr`` to ``min_lr``, arriving at ``step == max_steps``; later steps stay at ``min_lr``.
    Same schedule as nanoGPT's ``get_lr``. A negative ``step`` is a ``ValueError``: no step comes
    before the first one.
    """
    step = check_int("step", step, min_value=0)
    check_type("config", config, TrainConfig, "a TrainConfig")
    lr, warmup, total = config.learning_rate, config.warmup_steps, config.max_steps
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if config.lr_decay == "constant":
        return lr
    if step >= total:
        return config.final_lr
    progress = (step - warmup) / (total - warmup)  # 0 -> 1 across the decay phase
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0, slow at both ends
    return config.final_lr + coeff * (lr - config.final_lr)


def configure_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with two parameter groups: weight decay on matrices and embeddings, none elsewhere.

    Decay pulls weights towards zero; that regularises the matrices that mix features, but on a
    bias or a LayerNorm gain (1-D tensors) it only fights the model, so they get ``weight_decay=0``.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_type("config", config, TrainConfig, "a TrainConfig")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (every parameter has requires_grad=False)")
    decay = [p for p in params if p.dim() >= 2]  # Linear weights, embeddings
    no_decay = [p for p in params if p.dim() < 2]  # biases, LayerNorm weights
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas)


# ----------------------------------------------------------------------------------------------
# data: random windows from one long sequence of token ids


def _token_tensor(name: str, data) -> torch.Tensor:
    if isinstance(data, (str, bytes)) or data is None:
        raise ArgumentTypeError(f"{name} must be a 1-D tensor of integer token ids, got {type(data).__name__}; "
                                "encode text first, e.g. torch.tensor(tokenizer.encode(text))")
    try:
        data = torch.as_tensor(data)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ArgumentTypeError(f"{name} must be a 1-D tensor of integer token ids, got {type(data).__name__} "
                                f"that torch cannot read as one ({err})") from None
    if data.dim() != 1 or data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D tensor of integer token ids, got dtype {data.dtype} "
                         f"and shape {tuple(data.shape)}")
    return data.long()


def random_batches(data: torch.Tensor, block_size: int, batch_size: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of ``batch_size`` random windows from ``data``: inputs ``x`` and targets ``y``.

    ``y`` is ``x`` shifted left by one token, so position t of ``y`` is the token that follows
    ``x[:, :t+1]``. The same ``generator`` state always gives the same batch.
    """
    data = _token_tensor("data", data)
    check_int("block_size", block_size, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens, but block_size={block_size} needs at least "
                         f"{block_size + 1} (one window plus the token that follows it)")
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # window starts
    x = torch.stack([data[i:i + block_size] for i in ix])  # (B, T)
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])  # (B, T), shifted by one
    return x, y


class TokenBatches:
    """An endless, reproducible stream of ``(x, y)`` batches: ``x, y = next(batches)``.

    It owns its own ``torch.Generator`` (seeded by ``seed``), so the batches do not depend on
    anything else that draws random numbers, and ``state_dict()`` lets a checkpoint resume the
    stream exactly where it stopped.
    """

    def __init__(self, data, block_size: int, batch_size: int, seed: int = 0):
        self.data = _token_tensor("data", data)
        self.block_size = check_int("block_size", block_size, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        if len(self.data) <= self.block_size:
            raise ValueError(f"data has {len(self.data)} tokens, but block_size={self.block_size} needs at "
                             f"least {self.block_size + 1}; use a smaller block_size or more text")
        self.generator = torch.Generator().manual_seed(check_int("seed", seed))

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return random_batches(self.data, self.block_size, self.batch_size, self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return (f"TokenBatches({len(self.data)} tokens, block_size={self.block_size}, "
                f"batch_size={self.batch_size})")


def encode_splits(text: str, tokenizer, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode ``text`` with a fitted ``tokenizer`` and split it: the first 90% trains, the rest validates.

    The split is by position, not at random: random windows from one text overlap their neighbours,
    so a random split would leak the validation text into training.
    """
    check_type("text", text, str, "a string")
    val_fraction = check_float("val_fraction", val_fraction, min_value=0, max_value=1, max_inclusive=False)
    if isinstance(tokenizer, (str, bytes)) or not callable(getattr(tokenizer, "encode", None)):
        raise ArgumentTypeError(f"tokenizer={tokenizer!r:.60} must have an encode(text) method, e.g. a fitted "
                                "gptlab.tokenizers.CharTokenizer")
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    if len(ids) == 0:
        raise ValueError("text encodes to no tokens at all; give a non-empty text")
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


# ----------------------------------------------------------------------------------------------
# what a run records


@dataclass
class History:
    """Everything a loss curve needs. Per training step: ``steps`` (1, 2, ...: steps done),
    ``train_loss``, ``lr``, ``grad_norm`` (before clipping), ``tokens_seen``, ``elapsed`` (seconds).
    Per evaluation: ``eval_steps`` (0 = before training), ``val_loss``, ``train_eval_loss``
    (NaN where a split is missing). ``extra`` holds scalars a model reports, e.g. ``aux_loss``.
    ``interrupted`` is True when the latest ``fit()`` was stopped by Ctrl-C (or KeyboardInterrupt)."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    tokens_seen: list[int] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_eval_loss: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False

    def to_dict(self) -> dict:
        """Plain lists and numbers (safe for ``torch.load(weights_only=True)`` and JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The inverse of ``to_dict``; unknown keys are ignored, missing ones start empty."""
        check_type("d", d, dict, "a dict from History.to_dict()")
        values = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name == "interrupted":
                if not isinstance(v, bool):
                    raise ValueError(f"d['interrupted']={v!r} must be True or False")
                values[f.name] = v
            elif f.name == "extra":
                if not isinstance(v, dict) or not all(isinstance(x, (list, tuple)) for x in v.values()):
                    raise ValueError(f"d['extra'] must be a dict of lists of numbers, got {type(v).__name__}")
                values[f.name] = {k: list(x) for k, x in v.items()}
            else:
                if not isinstance(v, (list, tuple)) or isinstance(v, str):
                    raise ValueError(f"d[{f.name!r}] must be a list of numbers, got {type(v).__name__}")
                values[f.name] = list(v)
        n_train = {k: len(values[k]) for k in ("steps", "train_loss", "lr", "grad_norm") if k in values}
        if len(set(n_train.values())) > 1:
            raise ValueError(f"the per-step lists of d have different lengths {n_train}; they must line up")
        n_eval = {k: len(values[k]) for k in ("eval_steps", "val_loss", "train_eval_loss") if k in values}
        if len(set(n_eval.values())) > 1:
            raise ValueError(f"the per-evaluation lists of d have different lengths {n_eval}; they must line up")
        return cls(**values)


# ----------------------------------------------------------------------------------------------
# checkpoints


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: truncated, damaged, a directory, not a gptlab checkpoint,
    or for another model. The message names the path and what is wrong."""


def _checksum(obj) -> str:
    """SHA-256 of everything in ``obj``: each tensor's dtype, shape and raw bytes, and the plain values
    around them, walked in a fixed order (dict keys sorted), so a flipped byte anywhere changes it."""
    digest = hashlib.sha256()

    def walk(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous().reshape(-1)
            digest.update(f"T{t.dtype}{tuple(x.shape)}".encode())
            digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            digest.update(b"D%d" % len(x))
            for k in sorted(x, key=repr):
                digest.update(repr(k).encode())
                walk(x[k])
        elif isinstance(x, (list, tuple)):
            digest.update(b"L%d" % len(x))
            for v in x:
                walk(v)
        else:
            digest.update(f"{type(x).__name__}:{x!r};".encode())

    walk(obj)
    return digest.hexdigest()


def _plain(obj):
    """Dataclasses, paths and devices -> plain dicts and strings, which ``weights_only`` loading accepts."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, (os.PathLike, torch.device)):
        return str(obj)
    return obj


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    trainer_state=None, config=None) -> Path:
    """Save model weights (and optionally optimizer, trainer state, config) to ``path``; returns it.

    The file is written next to ``path`` first and then renamed over it, so a crash or a Ctrl-C
    mid-write never leaves a half-written checkpoint behind. Only tensors and plain Python values
    are stored, so ``load_checkpoint`` can use the safe ``torch.load(..., weights_only=True)``.
    """
    check_type("path", path, (str, os.PathLike), "a file path (str or pathlib.Path)")
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path={str(path)!r} is a directory; give a file name such as {str(path / 'run.pt')!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "trainer": _plain(trainer_state),
        "config": _plain(config),
    }
    checkpoint["sha256"] = _checksum(checkpoint)  # verified by load_checkpoint
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _describe_mismatch(path, model_state: dict, saved_state: dict, limit: int = 5) -> str | None:
    def shape(t):
        return tuple(t.shape)

    missing = [k for k in model_state if k not in saved_state]
    unexpected = [k for k in saved_state if k not in model_state]
    wrong_shape = [k for k in model_state if k in saved_state and shape(model_state[k]) != shape(saved_state[k])]
    if not (missing or unexpected or wrong_shape):
        return None

    def first(names, describe):
        more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
        return ", ".join(describe(k) for k in names[:limit]) + more

    lines = [f"checkpoint {str(path)!r} was saved from a different model architecture:"]
    if wrong_shape:
        lines.append("  shape mismatch: " + first(
            wrong_shape, lambda k: f"{k} checkpoint {shape(saved_state[k])} vs model {shape(model_state[k])}"))
    if missing:
        lines.append("  missing from checkpoint: " + first(missing, lambda k: f"{k} {shape(model_state[k])}"))
    if unexpected:
        lines.append("  not in this model: " + first(unexpected, lambda k: f"{k} {shape(saved_state[k])}"))
    lines.append("Build the model with the same settings as the run that saved it.")
    return "\n".join(lines)


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Load weights saved by ``save_checkpoint`` into ``model`` (and ``optimizer`` when given).

    Returns the whole checkpoint dict (keys ``model``, ``optimizer``, ``trainer``, ``config``).
    The file is read with ``torch.load(..., weights_only=True)``, which runs no code from it.
    Raises ``FileNotFoundError`` when ``path`` does not exist, and ``CheckpointError`` (a
    ``ValueError``) naming ``path`` and what is wrong when it is a directory, truncated, damaged (its
    SHA-256 checksum does not match: bytes changed after saving), not a gptlab checkpoint, or saved
    from another model (listing the first mismatching parameters).
    """
    check_type("path", path, (str, os.PathLike), "a file path (str or pathlib.Path)")
    check_type("model", model, nn.Module, "a torch.nn.Module")
    if optimizer is not None:
        check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer or None")
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file; give the path "
                              "of the .pt file inside it")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch reports damage as RuntimeError, OSError, UnpicklingError, ...
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read ({path.stat().st_size:,} bytes; "
                              f"truncated, damaged, or not a PyTorch file): {type(err).__name__}: {first_line}"
                              ) from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is a PyTorch file but not a gptlab checkpoint (no "
                              f"format={CHECKPOINT_FORMAT!r} entry); it was not written by save_checkpoint")
    version = checkpoint.get("version", 0)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} has version {version!r}, newer than this "
                              f"gptlab understands ({CHECKPOINT_VERSION}); update gptlab")
    if version >= 2:
        saved = checkpoint.pop("sha256", None)
        if not isinstance(saved, str) or _checksum(checkpoint) != saved:
            raise CheckpointError(f"checkpoint {str(path)!r} is damaged: its contents do not match the SHA-256 "
                                  "checksum stored when it was saved (bytes changed after saving); "
                                  "use another copy or train again")
    if not isinstance(checkpoint.get("model"), dict) or not all(
            isinstance(v, torch.Tensor) for v in checkpoint["model"].values()):
        raise CheckpointError(f"checkpoint {str(path)!r} has no model state dict (a dict of tensors) under 'model'")
    problem = _describe_mismatch(path, model.state_dict(), checkpoint["model"])
    if problem:
        raise CheckpointError(problem)
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        if checkpoint.get("optimizer") is None:
            raise CheckpointError(f"checkpoint {str(path)!r} holds no optimizer state to restore")
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
        except ValueError as err:
            raise CheckpointError(f"checkpoint {str(path)!r}: the optimizer state does not fit this "
                                  f"optimizer: {err}") from err
    return checkpoint


# ----------------------------------------------------------------------------------------------
# the trainer


def _grad_scaler(enabled: bool):
    if hasattr(torch.amp, "GradScaler"):  # torch >= 2.3
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


class Trainer:
    """Trains any ``model(x, y) -> (logits, loss)`` on token ids; knows nothing about GPT.

    Data comes either as 1-D tensors of token ids (``train_data``, optional ``val_data``; the
    trainer draws random windows with ``TokenBatches``) or as a function ``get_batch(split)``
    returning ``(x, y)`` for ``split`` in ``"train"``, ``"val"``. Callbacks are called as
    ``callback(trainer, event)`` with event ``"step"``, ``"eval"`` or ``"end"``.

    **Ctrl-C.** ``fit()`` stops cleanly on ``KeyboardInterrupt`` (Ctrl-C, Jupyter's stop button, or
    a callback that raises it): the model keeps every update applied so far, ``trainer.history``
    keeps every step recorded, ``history.interrupted`` becomes True, the checkpoint (when
    ``config.checkpoint_path`` is set) is saved, the ``"end"`` callbacks run, and then the
    ``KeyboardInterrupt`` is raised again, so the cell or a loop over ``fit()`` stops too. Calling
    ``fit()`` again continues from ``trainer.step``. ``trainer.step`` always equals the number of
    optimizer updates in the weights: while ``fit`` runs in the main thread it installs a SIGINT
    handler (the previous one is restored when it returns) that holds a Ctrl-C arriving *during* the
    update-and-count section (``optimizer.step()``, ``trainer.step += 1``, the history appends)
    until that section ends; anywhere else (forward, backward, evaluation) it interrupts at once,
    before the step's update, so that step is simply not taken.

    **Several processes.** Started by ``torchrun --nproc_per_node=N``, the trainer joins the
    process group (``gptlab.distributed.setup``: ``gloo`` on CPU, ``nccl`` on CUDA, one GPU per
    process) and trains ``DistributedDataParallel(model)``. ``config.batch_size`` is the *global*
    batch: every process draws the same global batch (same seed) and trains on its 1/N slice; DDP
    averages the gradients, so the weights match a one-process run. ``trainer.model`` stays the
    plain model. Only rank 0 shows progress, evaluates, runs the callbacks, warns and saves
    checkpoints; the recorded training loss is the average over the processes. On an error or
    Ctrl-C the process group is destroyed before the exception propagates. (Dropout draws its
    random numbers per process, so with dropout > 0 the runs differ, as two seeds would.)
    """

    #: scalar tensor attributes of the model logged into ``history.extra`` after each forward pass
    extra_scalars: tuple[str, ...] = ("aux_loss",)

    def __init__(self, model: nn.Module, config: TrainConfig, train_data=None, val_data=None,
                 get_batch: Callable | None = None, callbacks: Iterable[Callable] = (),
                 resume_from: str | os.PathLike | None = None):
        check_type("model", model, nn.Module, "a torch.nn.Module")
        check_type("config", config, TrainConfig, "a TrainConfig")
        if (get_batch is None) == (train_data is None):
            raise ValueError("give either train_data (and optionally val_data) or get_batch, not both or neither")
        if get_batch is not None and not callable(get_batch):
            raise ArgumentTypeError(f"get_batch={get_batch!r:.60} must be a function get_batch(split) -> (x, y)")
        if get_batch is not None and val_data is not None:
            raise ValueError("val_data is not used with get_batch; let get_batch('val') return validation batches")
        if callable(callbacks) or isinstance(callbacks, (str, bytes)):
            raise ArgumentTypeError("callbacks must be a list of functions callback(trainer, event), e.g. "
                                    "callbacks=[live]; got a single object")
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not callable(cb):
                raise ArgumentTypeError(f"callbacks must be functions callback(trainer, event), got {cb!r:.60}")
        model_block = getattr(getattr(model, "config", None), "block_size", None)
        if isinstance(model_block, int) and config.block_size > model_block:
            raise ValueError(f"config.block_size={config.block_size} is longer than the model's context "
                             f"(block_size={model_block}); use TrainConfig(block_size=...) of at most {model_block}")
        self.config = config
        self.dist, self.device = distributed.setup(pick_device(config.device))
        if config.batch_size % self.dist.world_size:
            ok = [m for m in (config.batch_size // self.dist.world_size * self.dist.world_size,
                              (config.batch_size // self.dist.world_size + 1) * self.dist.world_size) if m > 0]
            raise ValueError(f"batch_size={config.batch_size} is the global batch and must split evenly over the "
                             f"{self.dist.world_size} processes; use a multiple of {self.dist.world_size}, "
                             f"e.g. {' or '.join(map(str, ok))}")
        self.model = model.to(self.device)
        self._train_model = self.model  # what training steps call: the model, or DDP around it
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = configure_optimizer(self.model, config)

        # mixed precision: bf16 needs no loss scaling; fp16 does (its small range underflows gradients)
        self.amp_dtype = None
        if config.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = _grad_scaler(enabled=self.amp_dtype == torch.float16)

        self.get_batch = get_batch
        self.batches: dict[str, TokenBatches] = {}
        if train_data is not None:
            self.batches["train"] = self._make_batches(train_data, "train_data", config.seed)
            if val_data is not None:
                self.batches["val"] = self._make_batches(val_data, "val_data", config.seed)
        self.splits = ("train", "val") if (get_batch is not None or "val" in self.batches) else ("train",)

        self.step = 0  # optimizer steps done so far (== updates in the weights)
        self.history = History()
        self._speed = (0, 0.0)  # (tokens, seconds) spent in training steps during the latest fit()
        self._elapsed_before, self._fit_start = 0.0, time.perf_counter()
        self._critical = 0  # > 0 inside an update-and-count section, where Ctrl-C waits
        self._pending_sigint = None  # (handler, signum, frame) of a Ctrl-C that arrived there
        if resume_from is not None:
            self.resume(resume_from)

    def _make_batches(self, data, name: str, seed: int) -> TokenBatches:
        if isinstance(data, TokenBatches):
            if data.batch_size != self.config.batch_size or data.block_size != self.config.block_size:
                raise ValueError(f"{name} is {data!r}, but config has batch_size={self.config.batch_size}, "
                                 f"block_size={self.config.block_size}; make them match")
            return data
        try:
            return TokenBatches(data, self.config.block_size, self.config.batch_size, seed)
        except ValueError as err:  # ArgumentTypeError included
            raise type(err)(f"{name}: {err}") from None

    @property
    def is_main(self) -> bool:
        """True in rank 0 (and in a one-process run): the process that shows, evaluates and saves."""
        return self.dist.is_main

    @property
    def tokens_per_second(self) -> float:
        """Training throughput measured during the latest ``fit()`` (evaluation time excluded).

        Under torchrun this counts the global batch: the tokens all processes together train on."""
        tokens, seconds = self._speed
        return tokens / seconds if seconds > 0 else 0.0

    # -- Ctrl-C --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sigint_guard(self):
        """For the duration of ``fit``: a SIGINT handler that defers Ctrl-C inside ``_atomic`` blocks."""
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is not threading.main_thread() or not callable(previous):
            yield  # signals reach only the main thread; an ignored SIGINT stays ignored
            return

        def handler(signum, frame):
            if self._critical:
                self._pending_sigint = (previous, signum, frame)  # raised when the section ends
            else:
                previous(signum, frame)  # Python's default handler raises KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._pending_sigint = None

    @contextlib.contextmanager
    def _atomic(self):
        """A section that Ctrl-C never splits: an update and the count of it happen together."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            if not self._critical and self._pending_sigint is not None:
                handler, signum, frame = self._pending_sigint
                self._pending_sigint = None
                handler(signum, frame)

    # -- one step ------------------------------------------------------------------------------

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _next_batch(self, split: str, batches: dict | None = None):
        batches = self.batches if batches is None else batches
        batch = self.get_batch(split) if self.get_batch is not None else next(batches[split])
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2
                and all(isinstance(t, torch.Tensor) for t in batch)):
            raise ValueError(f"get_batch({split!r}) must return (x, y), two tensors of token ids, "
                             f"got {type(batch).__name__}")
        x, y = batch
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _forward(self, x, y, model: nn.Module | None = None) -> torch.Tensor:
        with self._autocast():
            out = (self.model if model is None else model)(x, y)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], torch.Tensor)
                and out[1].dim() == 0):
            raise ValueError("the model must return (logits, loss) with loss a scalar tensor when called "
                             "as model(x, y), like nanoGPT's GPT.forward(idx, targets)")
        return out[1]

    def _train_step(self) -> float:
        """One optimizer step on one training batch; records it in ``history`` and returns the loss.

        The loss is checked before the update, so a non-finite loss raises with the weights and
        ``self.step`` untouched; the update and its bookkeeping form one ``_atomic`` section.
        """
        cfg, model = self.config, self.model
        start = time.perf_counter()
        lr = get_lr(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        x, y = self._next_batch("train")  # the global batch: the same in every process
        if self.dist.enabled:
            x, y = distributed.shard(x, self.dist), distributed.shard(y, self.dist)  # this process's 1/N
        loss = self._forward(x, y, self._train_model)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # under DDP, gradients are all-reduced (averaged) here
        self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        # clip_grad_norm_ returns the norm *before* clipping; with no limit it just measures it
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)

        scalars = [loss.detach().float()]
        names = [n for n in self.extra_scalars
                 if isinstance(getattr(model, n, None), torch.Tensor) and getattr(model, n).numel() == 1]
        scalars += [getattr(model, n).detach().float().reshape(()) for n in names]
        values = torch.stack(scalars)
        if self.dist.enabled:  # the logged loss is the global batch's: average over the processes
            torch.distributed.all_reduce(values)
            values /= self.dist.world_size
        loss_value, *extra_values = values.tolist()  # waits for the GPU: the step's results are in
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"the training loss became {loss_value} at step {self.step + 1} (this step "
                                     "was not applied); try a smaller learning_rate, a longer warmup_steps, "
                                     "or grad_clip=1.0")
        tokens = y.numel() * self.dist.world_size
        with self._atomic():
            self.scaler.step(self.optimizer)  # skips the update if fp16 gradients overflowed
            self.scaler.update()
            self.step += 1
            h = self.history
            h.steps.append(self.step)
            h.train_loss.append(loss_value)
            h.lr.append(lr)
            h.grad_norm.append(grad_norm.item())
            h.tokens_seen.append((h.tokens_seen[-1] if h.tokens_seen else 0) + tokens)
            h.elapsed.append(self._elapsed_before + time.perf_counter() - self._fit_start)
            for name, value in zip(names, extra_values):
                h.extra.setdefault(name, []).append(value)
            seen, seconds = self._speed
            self._speed = (seen + tokens, seconds + time.perf_counter() - start)
        return loss_value

    # -- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over ``eval_steps`` batches per split, in eval mode (dropout off), no gradients.

        Every call draws the *same* batches (a fixed seed), so two estimates differ only because
        the model changed. The model's train/eval mode is restored afterwards. It runs the plain
        model (not DDP), so under torchrun it needs no other process.
        """
        was_training = self.model.training
        self.model.eval()
        # fresh samplers with a fixed seed; they leave the training batch stream untouched
        eval_batches = {split: TokenBatches(b.data, b.block_size, b.batch_size, self.config.seed + 1)
                        for split, b in self.batches.items()}
        try:
            losses = {}
            for split in self.splits:
                total = 0.0
                for _ in range(self.config.eval_steps):
                    total += self._forward(*self._next_batch(split, eval_batches)).item()
                losses[split] = total / self.config.eval_steps
        finally:
            self.model.train(was_training)
        return losses

    def _record_eval(self, bar) -> None:
        if not self.is_main:
            return  # only rank 0 evaluates; the others go on to the next step and wait for it there
        losses = self.evaluate()
        with self._atomic():
            h = self.history
            h.eval_steps.append(self.step)
            h.train_eval_loss.append(losses.get("train", math.nan))
            h.val_loss.append(losses.get("val", math.nan))
        bar.set_postfix(self._postfix(), refresh=False)
        self._emit("eval")

    # -- the loop ------------------------------------------------------------------------------

    def _emit(self, event: str) -> None:
        if not self.is_main:
            return
        for callback in self.callbacks:
            callback(self, event)

    def _postfix(self) -> dict:
        h, post = self.history, {}
        if h.train_loss:
            post["loss"] = f"{h.train_loss[-1]:.4f}"
            post["lr"] = f"{h.lr[-1]:.2e}"
        if h.val_loss and not math.isnan(h.val_loss[-1]):
            post["val"] = f"{h.val_loss[-1]:.4f}"
        return post

    def _eval_due(self) -> bool:
        already = bool(self.history.eval_steps) and self.history.eval_steps[-1] == self.step
        return self.step % self.config.eval_interval == 0 and not already

    def fit(self, steps: int | None = None) -> History:
        """Train until ``config.max_steps`` (or ``steps`` more steps); returns ``self.history``.

        Calling ``fit`` again continues where it stopped. Evaluates at the start, every
        ``eval_interval`` steps and at the end. Ctrl-C (``KeyboardInterrupt``) stops cleanly: the
        model and the history keep everything done so far, ``history.interrupted`` is set, a
        warning says how far it got, and the ``KeyboardInterrupt`` is raised again (see the class
        docstring for why ``trainer.step`` always matches the weights).
        """
        cfg = self.config
        if steps is not None:
            steps = check_int("steps", steps, min_value=1)
        end = cfg.max_steps if steps is None else min(self.step + steps, cfg.max_steps)
        self.model.train()
        self.history.interrupted = False
        self._elapsed_before = self.history.elapsed[-1] if self.history.elapsed else 0.0
        self._fit_start = time.perf_counter()
        self._speed = (0, 0.0)
        with self._sigint_guard():
            bar = tqdm(total=cfg.max_steps, initial=self.step, disable=not (cfg.progress and self.is_main),
                       desc="training", unit="step", dynamic_ncols=True)
            try:
                try:
                    if self._eval_due():
                        self._record_eval(bar)
                    while self.step < end:
                        self._train_step()
                        bar.update(1)
                        bar.set_postfix(self._postfix(), refresh=False)
                        self._emit("step")
                        if self._eval_due():
                            self._record_eval(bar)
                        if cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0:
                            self.save_checkpoint()
                    if not (self.history.eval_steps and self.history.eval_steps[-1] == self.step):
                        self._record_eval(bar)  # the final estimate, when the last step was not on the interval
                finally:
                    bar.close()
                if cfg.checkpoint_path is not None:
                    self.save_checkpoint()
                self._emit("end")
            except KeyboardInterrupt:
                self.history.interrupted = True
                with self._atomic():  # a second Ctrl-C waits until the checkpoint is written
                    if cfg.checkpoint_path is not None:
                        self.save_checkpoint()
                if self.is_main:
                    warnings.warn(f"training interrupted after {self.step} of {cfg.max_steps} steps; the model "
                                  "and trainer.history keep the progress so far (history.interrupted is True; "
                                  "call fit() again to continue)", stacklevel=2)
                self._emit("end")
                self._shut_down_group()
                raise
            except BaseException:
                self._shut_down_group()
                raise
        return self.history

    def _shut_down_group(self) -> None:
        """After an error or Ctrl-C under torchrun: destroy the process group (if gptlab made it)."""
        if self.dist.enabled:
            with contextlib.suppress(Exception):
                distributed.cleanup()

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The trainer's own state: step, history, and every random-number state a resume needs."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"step": self.step, "history": self.history.to_dict(), "rng": rng,
                "batches": {split: b.state_dict() for split, b in self.batches.items()},
                "scaler": self.scaler.state_dict()}

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Save model, optimizer and trainer state to ``path`` (default ``config.checkpoint_path``).

        Under torchrun only rank 0 writes (the weights are the same in every process); the other
        ranks write nothing and return the path."""
        path = self.config.checkpoint_path if path is None else path
        if path is None:
            raise ValueError("path is None and config.checkpoint_path is None; say where to save")
        if not self.is_main:
            return Path(path)
        return save_checkpoint(path, self.model, self.optimizer, self.state_dict(), self.config)

    def resume(self, path: str | os.PathLike) -> Trainer:
        """Restore model, optimizer, step, history and random-number state from ``path``; returns self.

        The learning-rate schedule position is the step, so ``fit()`` then continues the same loss
        curve an uninterrupted run would have drawn. This also restores torch's global RNG (which
        dropout uses), so call it right before ``fit()``.
        """
        checkpoint = load_checkpoint(path, self.model, self.optimizer)
        state = checkpoint.get("trainer")
        if not isinstance(state, dict) or "step" not in state:
            raise CheckpointError(f"checkpoint {str(path)!r} holds model weights but no trainer state to resume")
        self.step = int(state["step"])
        self.history = History.from_dict(state["history"])
        for split, batch_state in state.get("batches", {}).items():
            if split in self.batches:
                self.batches[split].load_state_dict(batch_state)
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        return self
