"""Scaling laws in miniature: train a few GPT sizes the same way and compare their losses (lesson 10).

The lecture's history of GPT (notes §4.1) is a story of size: GPT-2 stacks more blocks than GPT-1,
GPT-3 many more, and each is better without task-specific fine-tuning. Kaplan et al. (2020) measured
it: the loss falls as a power law in the number of (non-embedding) parameters N and in the training
compute C, ``L ≈ a · N^(-alpha)``, as long as neither data nor training time runs out first.

    runs = run_scaling_sweep([dict(n_layer=1, n_embd=32, n_head=2), dict(n_layer=2, n_embd=64, n_head=4)],
                             train_ids, val_ids, vocab_size=76, steps=200)
    runs[-1].final_val_loss < runs[0].final_val_loss   # bigger model, lower loss
    fit_power_law([r.n_params for r in runs], [r.final_val_loss for r in runs])   # (a, alpha)

Every size sees the same batches in the same order (one seed) with the same schedule, so the only
difference between the runs is the model. Compute is counted as nanoGPT and Kaplan et al. count it:
``GPT.estimate_flops_per_token()`` (6 N + 12 L T C) times the tokens seen.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ._checks import ArgumentTypeError, check_float, check_int, check_type
from .model import GPT, GPTConfig
from .train import TrainConfig, Trainer

__all__ = ["ScalingRun", "SweepRuns", "fit_power_law", "run_scaling_sweep", "size_label"]


def size_label(config: GPTConfig) -> str:
    """A short name for a model size: ``"2L·64d"`` is 2 blocks of width 64."""
    check_type("config", config, GPTConfig, "a GPTConfig")
    return f"{config.n_layer}L·{config.n_embd}d"


@dataclass
class ScalingRun:
    """One model size, trained once. ``eval_steps``, ``tokens`` and ``val_loss`` line up: the
    validation loss measured after ``eval_steps[i]`` optimizer steps, i.e. ``tokens[i]`` tokens."""

    label: str  # e.g. "2L·64d"
    config: GPTConfig
    n_params: int  # non-embedding parameters, the N of the scaling laws
    n_params_total: int  # every parameter, embeddings included
    flops_per_token: int  # training FLOPs per token, 6 N + 12 L T C
    eval_steps: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall-clock time of the run, evaluation included

    @property
    def compute(self) -> list[float]:
        """Training FLOPs spent at each evaluation: flops_per_token x tokens seen."""
        return [float(self.flops_per_token) * t for t in self.tokens]

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]


class SweepRuns(list):
    """The list of finished ``ScalingRun`` objects that ``run_scaling_sweep`` returns.

    ``interrupted`` is True when Ctrl-C stopped the sweep; ``interrupted_label`` then names the size
    whose training was cut short. That run is *not* in the list (its loss is not a result).
    """

    interrupted: bool = False
    interrupted_label: str | None = None


def run_scaling_sweep(sizes: Sequence[Mapping], train_data, val_data, *, vocab_size: int, steps: int,
                      batch_size: int = 16, block_size: int = 64, learning_rate: float = 2e-3,
                      warmup_steps: int = 0, eval_interval: int | None = None, eval_steps: int = 10,
                      seed: int = 0, device=None, progress: bool = True) -> list[ScalingRun]:
    """Train one GPT per entry of ``sizes`` for the same ``steps`` on the same batches; return the runs.

    ``sizes``: ``GPTConfig`` fields per model, e.g. ``dict(n_layer=2, n_embd=64, n_head=4)``
    (``vocab_size`` and ``block_size`` are filled in). Each model starts from ``torch.manual_seed(seed)``
    and sees the batches of ``TrainConfig(seed=seed)``, with a cosine schedule from
    ``learning_rate``. ``eval_interval`` defaults to ``ceil(steps / 4)``: five points per curve, the
    last one at ``steps``.

    Ctrl-C (``KeyboardInterrupt``) stops the sweep at the size being trained: the sizes finished
    before it are returned (a ``SweepRuns`` list with ``interrupted=True``, ``interrupted_label`` set),
    a warning names what was dropped, and the interrupted size is left out, so no half-trained loss
    is reported as a result. The sweep *returns* rather than re-raises, so the runs it finished can
    be plotted; a loop over sweeps should check ``runs.interrupted`` and stop.
    """
    if isinstance(sizes, Mapping) or not isinstance(sizes, Sequence) or not sizes:
        raise ValueError("sizes must be a non-empty list of dicts of GPTConfig fields, e.g. "
                         "[dict(n_layer=1, n_embd=32, n_head=2), dict(n_layer=2, n_embd=64, n_head=4)]")
    steps = check_int("steps", steps, min_value=1)
    eval_interval = math.ceil(steps / 4) if eval_interval is None else check_int("eval_interval", eval_interval,
                                                                                 min_value=1)
    check_float("learning_rate", learning_rate, min_value=0, min_inclusive=False)
    configs = []
    for i, size in enumerate(sizes):
        if not isinstance(size, Mapping):
            raise ValueError(f"sizes[{i}] must be a dict of GPTConfig fields, got {type(size).__name__}")
        clash = sorted({"vocab_size", "block_size"} & set(size))
        if clash:
            raise ValueError(f"sizes[{i}] sets {', '.join(clash)}; every size shares the data's vocab_size and "
                             f"block_size, so pass them to run_scaling_sweep instead")
        configs.append(GPTConfig(vocab_size=vocab_size, block_size=block_size, **size))

    runs = SweepRuns()
    bar = tqdm(configs, desc="model sizes", unit="model", disable=not progress)
    try:
        for config in bar:
            _train_one(config, runs, bar, train_data, val_data, steps=steps, batch_size=batch_size,
                       block_size=block_size, learning_rate=learning_rate, warmup_steps=warmup_steps,
                       eval_interval=eval_interval, eval_steps=eval_steps, seed=seed, device=device)
    except KeyboardInterrupt:
        runs.interrupted = True
        runs.interrupted_label = size_label(configs[len(runs)])
        done = ", ".join(r.label for r in runs) or "none"
        warnings.warn(f"sweep interrupted while training {runs.interrupted_label}; returning the {len(runs)} "
                      f"finished run(s) ({done}); runs.interrupted is True", stacklevel=2)
    finally:
        bar.close()
    return runs


def _train_one(config, runs, bar, train_data, val_data, *, steps, batch_size, block_size, learning_rate,
               warmup_steps, eval_interval, eval_steps, seed, device) -> None:
    """Train one size of the sweep and append its ``ScalingRun`` to ``runs``."""
    bar.set_postfix(model=size_label(config), refresh=True)
    torch.manual_seed(seed)  # the same initial random numbers for every size
    model = GPT(config)
    train_config = TrainConfig(max_steps=steps, batch_size=batch_size, block_size=block_size,
                               learning_rate=learning_rate, warmup_steps=warmup_steps,
                               eval_interval=eval_interval, eval_steps=eval_steps, seed=seed, device=device,
                               progress=False)
    start = time.perf_counter()
    history = Trainer(model, train_config, train_data, val_data).fit()
    seconds = time.perf_counter() - start
    tokens_per_step = batch_size * block_size
    runs.append(ScalingRun(label=size_label(config), config=config,
                           n_params=model.num_parameters(non_embedding=True),
                           n_params_total=model.num_parameters(),
                           flops_per_token=model.estimate_flops_per_token(block_size),
                           eval_steps=list(history.eval_steps),
                           tokens=[s * tokens_per_step for s in history.eval_steps],
                           val_loss=list(history.val_loss), seconds=seconds))


def fit_power_law(x, y) -> tuple[float, float]:
    """Fit ``y = a * x ** (-alpha)`` by least squares on log y against log x; return ``(a, alpha)``.

    On log-log axes a power law is a straight line, ``log y = log a - alpha log x``, so the fit is
    a straight-line fit there. A positive ``alpha`` means y falls as x grows (Kaplan et al. found
    alpha ≈ 0.076 for loss against parameters, on models far larger than these).
    """
    arrays = []
    for name, values in (("x", x), ("y", y)):
        if values is None or isinstance(values, (str, bytes, Mapping)):
            raise ArgumentTypeError(f"{name}={values!r:.60} must be a list or array of positive numbers, "
                                    f"got {type(values).__name__}")
        try:
            arrays.append(np.asarray(values, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name}={values!r:.60} must be a list or array of positive numbers") from None
    x, y = arrays
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D and of the same length, got shapes {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"a power law needs at least 2 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("x and y must be finite and positive: a power law is fitted on their logarithms")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("every x is the same; a power law needs at least two different x values")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return math.exp(intercept), -float(slope)
