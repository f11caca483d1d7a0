"""Models the lessons train, saved with the package, so a class need not wait for training.

    from gptlab import pretrained
    pretrained.available()                  # ['lesson10', ...]
    ckpt = pretrained.load("lesson10")       # .model (eval mode), .config, .history, .tokenizer, .metrics, .meta
    model, config, history = pretrained.load("lesson10")

Each checkpoint is two files in ``gptlab/checkpoints/``: ``<name>.pt`` (the weights, the config,
the training history and the tokenizer's vocabulary, all plain tensors, lists, numbers and strings,
so it loads with the safe ``torch.load(..., weights_only=True)``) and ``<name>.json`` (the file's
SHA-256 and size, a description and the recorded metrics). ``load`` checks the hash before it
unpickles anything; a missing or damaged file raises ``CheckpointError`` saying how to rebuild it:
``python scripts/train_checkpoints.py --only <name>``, which retrains it with the lesson's own settings.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ._checks import ArgumentTypeError, check_int, check_type
from .model import GPT, GPTConfig
from .train import CheckpointError, History

__all__ = ["CHECKPOINT_DIR", "MAX_BYTES", "Pretrained", "available", "load", "rebuild_command", "save"]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
MAX_BYTES = 5 * 1024 * 1024  # each file stays small enough to ship inside the package
FORMAT = "gptlab-pretrained"
VERSION = 1
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")


@dataclass
class Pretrained:
    """A loaded checkpoint. ``model, config, history = pretrained.load(name)`` unpacks the first three."""

    name: str
    model: nn.Module  # in eval mode, on the device asked for
    config: GPTConfig
    history: History
    tokenizer: object  # a CharTokenizer or WordTokenizer (None if none was saved)
    metrics: dict = field(default_factory=dict)  # numbers measured when it was trained, e.g. {"val_loss": 1.87}
    meta: dict = field(default_factory=dict)  # how it was made: corpus, training settings, extra results

    def __iter__(self):
        return iter((self.model, self.config, self.history))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.metrics.items())
        return f"Pretrained({self.name!r}, {self.model.num_parameters():,} parameters, {shown})"


def rebuild_command(name: str) -> str:
    """The shell command that retrains checkpoint ``name``."""
    name = _check_name(name)
    return f"python scripts/train_checkpoints.py --only {name}"


def _directory(directory) -> Path:
    if directory is None:
        return CHECKPOINT_DIR
    if isinstance(directory, bool) or not isinstance(directory, (str, os.PathLike)):
        raise ArgumentTypeError(f"directory={directory!r:.60} must be a folder path (a str or pathlib.Path) or "
                                f"None for the package's checkpoints, got {type(directory).__name__}")
    return Path(directory)


def _check_name(name) -> str:
    check_type("name", name, str, "a checkpoint name (a string such as 'lesson10')")
    if not _NAME.fullmatch(name):
        raise ValueError(f"name={name!r} must be lower-case letters, digits and '_' (e.g. 'lesson10')")
    return name


def available(directory=None) -> list[str]:
    """The names of the checkpoints that ship with the package (those with a ``<name>.json`` record)."""
    folder = _directory(directory)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME.fullmatch(p.stem))


# ----------------------------------------------------------------------------------------------
# tokenizers as plain data


def _tokenizer_to_plain(tokenizer) -> dict | None:
    if tokenizer is None:
        return None
    if not callable(getattr(tokenizer, "to_dict", None)):
        raise ArgumentTypeError(f"tokenizer must be a gptlab.tokenizers CharTokenizer or WordTokenizer, "
                                f"got {type(tokenizer).__name__}")
    return tokenizer.to_dict()  # class name, settings and the vocabulary in id order: plain data


def _tokenizer_from_plain(plain: dict | None):
    if plain is None:
        return None
    from .tokenizers import _Tokenizer

    return _Tokenizer.from_dict(plain)


def _plain(value, where: str):
    """Check that ``value`` is plain data (what ``weights_only`` loading and JSON accept)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has a key {k!r} that is not a string")
            _plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (bool, int, float, str))):
        raise ValueError(f"{where} is a {type(value).__name__}; store plain numbers, strings, lists and dicts")
    return value


# ----------------------------------------------------------------------------------------------
# save and load


def save(name: str, model: nn.Module, tokenizer, history: History, *, metrics: dict, description: str,
         lesson: int, meta: dict | None = None, directory=None) -> Path:
    """Write ``<name>.pt`` and ``<name>.json`` into ``gptlab/checkpoints/`` (or ``directory``); return the .pt path.

    ``model`` must be a ``gptlab.model.GPT``; its weights are stored in float32 on the CPU.
    ``metrics`` and ``meta`` must be plain data (numbers, strings, lists, dicts).
    """
    name = _check_name(name)
    check_type("model", model, GPT, "a gptlab.model.GPT")
    check_type("history", history, History, "a gptlab.train.History")
    check_type("metrics", metrics, dict, "a dict of numbers, e.g. {'val_loss': 1.87}")
    check_type("description", description, str, "a sentence saying what the model is")
    lesson = check_int("lesson", lesson, min_value=0)
    meta = {} if meta is None else check_type("meta", meta, dict, "a dict of plain data")
    _plain(metrics, "metrics")
    _plain(meta, "meta")
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    if model.config.tie_weights:  # keep the tied matrix stored once
        state["lm_head.weight"] = state["wte.weight"]
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "lesson": lesson,
        "description": description,
        "config": asdict(model.config),
        "moe_layers": _moe_layout(model),
        "model": state,
        "history": history.to_dict(),
        "tokenizer": _tokenizer_to_plain(tokenizer),
        "metrics": dict(metrics),
        "meta": dict(meta),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if len(data) > MAX_BYTES:
        raise ValueError(f"checkpoint {name!r} would be {len(data) / 2**20:.1f} MB; each file must stay under "
                         f"{MAX_BYTES / 2**20:.0f} MB (a smaller model, or fewer recorded steps)")
    record = {
        "name": name,
        "file": f"{name}.pt",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "lesson": lesson,
        "description": description,
        "metrics": dict(metrics),
        "parameters": model.num_parameters(),
        "torch": torch.__version__.split("+")[0],
        "rebuild": rebuild_command(name),
    }
    folder = _directory(directory)
    folder.mkdir(parents=True, exist_ok=True)
    pt_path = folder / f"{name}.pt"
    _write_atomic(pt_path, data)
    _write_atomic(folder / f"{name}.json", (json.dumps(record, indent=2, allow_nan=True) + "\n").encode())
    return pt_path


def _moe_layout(model: GPT) -> list[dict] | None:
    """Each MoE layer's own settings, where a lesson swapped in experts the config does not describe
    (lesson 11 uses 2C-wide experts, where ``GPTConfig(n_experts=4)`` builds 4C-wide ones)."""
    from .moe import MoE

    layers = [block.mlp for block in model.blocks]
    if not any(isinstance(mlp, MoE) for mlp in layers):
        return None
    return [{"d_hidden": mlp.d_hidden, "n_experts": mlp.n_experts, "top_k": mlp.top_k,
             "capacity_factor": mlp.capacity_factor, "router_noise": mlp.router_noise} if isinstance(mlp, MoE)
            else None for mlp in layers]


def _apply_moe_layout(model: GPT, layout: list[dict] | None) -> None:
    if not layout:
        return
    from .moe import MoE

    c = model.config
    for block, settings in zip(model.blocks, layout):
        if settings is not None:
            block.mlp = MoE(c.n_embd, settings["n_experts"], top_k=settings["top_k"], d_hidden=settings["d_hidden"],
                            capacity_factor=settings["capacity_factor"], router_noise=settings["router_noise"],
                            dropout=c.dropout, bias=c.bias)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # package data: readable by everyone (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _damaged(path: Path, name: str, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {str(path)!r} {why}; rebuild it with: {rebuild_command(name)}")


def load(name: str, device=None, *, directory=None) -> Pretrained:
    """Load checkpoint ``name`` (see ``available()``) onto ``device`` (default: ``gptlab.pick_device()``).

    Raises ``CheckpointError`` (a ``ValueError``) for an unknown name (listing the known ones) and for
    a missing, truncated or altered file (the SHA-256 differs from the record), naming the file and
    the command that rebuilds it.
    """
    name = _check_name(name)
    folder = _directory(directory)
    record_path, pt_path = folder / f"{name}.json", folder / f"{name}.pt"
    if not record_path.exists():
        known = available(folder)
        listed = ", ".join(repr(n) for n in known) if known else "none (the folder has no checkpoints)"
        raise CheckpointError(f"no pretrained checkpoint named {name!r} in {str(folder)!r}; available: {listed}. "
                              f"A lesson's recipe in scripts/checkpoint_recipes/ makes it: {rebuild_command(name)}")
    try:
        record = json.loads(record_path.read_text())
        expected_sha, expected_bytes = record["sha256"], int(record["bytes"])
    except (ValueError, KeyError, TypeError) as err:
        raise _damaged(record_path, name, f"is not a valid checkpoint record ({err})") from None
    if not pt_path.exists():
        raise _damaged(pt_path, name, "is missing (its record is there)")
    if not pt_path.is_file():
        raise _damaged(pt_path, name, "is a directory, not a checkpoint file")
    if device is not None:
        from .device import check_device

        device = check_device(device)
    try:
        data = pt_path.read_bytes()
    except OSError as err:
        raise _damaged(pt_path, name, f"cannot be read ({err.strerror or type(err).__name__})") from None
    if len(data) != expected_bytes:
        raise _damaged(pt_path, name, f"has {len(data):,} bytes where its record says {expected_bytes:,} "
                                      f"(truncated or replaced)")
    if hashlib.sha256(data).hexdigest() != expected_sha:
        raise _damaged(pt_path, name, "is damaged: its SHA-256 differs from the one in its record")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing to a learner
        raise _damaged(pt_path, name, f"cannot be read ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _damaged(pt_path, name, "is not a gptlab pretrained checkpoint")
    if payload.get("version", math.inf) > VERSION:
        raise CheckpointError(f"checkpoint {str(pt_path)!r} has version {payload['version']}, newer than this "
                              f"gptlab reads ({VERSION}); update gptlab, or {rebuild_command(name)}")
    config = GPTConfig(**payload["config"])
    model = GPT(config)
    _apply_moe_layout(model, payload.get("moe_layers"))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise _damaged(pt_path, name, f"does not fit GPT({config}): {str(err).splitlines()[0]}") from None
    if device is None:
        from .device import pick_device

        device = pick_device()
    model.to(device).eval()
    return Pretrained(name=name, model=model, config=config, history=History.from_dict(payload["history"]),
                      tokenizer=_tokenizer_from_plain(payload["tokenizer"]), metrics=dict(payload["metrics"]),
                      meta=dict(payload["meta"]))
