"""Pictures of a training run: the loss curve and the learning-rate schedule."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..i18n import _
from ..train import History, TrainConfig, get_lr
from . import _inputs as check
from ._base import new_figure

MAX_SCHEDULE_POINTS = 2001  # a schedule over a billion steps is drawn from this many, not a billion


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average, de-biased at the start (as TensorBoard draws it)."""
    smoothed, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        smoothed.append(avg / (1 - weight**i))
    return smoothed


def plot_history(history: History | dict, ax=None, log_x: bool = False) -> Figure:
    """The loss curve: every step's training loss (faint), its moving average, and validation points.

    ``history`` is ``trainer.history`` (or its ``to_dict()``, e.g. from a checkpoint). Draws into
    ``ax`` when given (a live plot redraws the same axes); ``log_x=True`` spreads the first steps,
    where the loss falls fastest.
    """
    if isinstance(history, dict):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise check.ArgumentTypeError(f"history must be trainer.history (a History) or its to_dict(), "
                                      f"got {type(history).__name__}")
    # a NaN or inf loss (a step that diverged) is allowed: it leaves a gap, as it did in training
    steps = check.array("history.steps", history.steps, ndim=1, min_size=0)
    train = check.array("history.train_loss", history.train_loss, ndim=1, min_size=0, allow_nan=True, allow_inf=True)
    check.same_length(("history.steps", steps.size), ("history.train_loss", train.size))
    evals = check.array("history.eval_steps", history.eval_steps, ndim=1, min_size=0)
    val = check.array("history.val_loss", history.val_loss, ndim=1, min_size=0, allow_nan=True, allow_inf=True)
    check.same_length(("history.eval_steps", evals.size), ("history.val_loss", val.size))
    if not isinstance(log_x, (bool, np.bool_)):
        raise check.ArgumentTypeError(f"log_x={log_x!r} must be True or False")
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure()
    else:
        fig = ax.figure
        ax.clear()
    if history.steps:
        ax.plot(history.steps, history.train_loss, color="C0", alpha=0.25, lw=1, label=_("train (each step)"))
        ax.plot(history.steps, _smooth(history.train_loss), color="C0", lw=2, label=_("train (smoothed)"))
    # evaluation at step 0 (before training) has no place on a log axis
    val = [(s, v) for s, v in zip(history.eval_steps, history.val_loss)
           if not math.isnan(v) and not (log_x and s <= 0)]
    if val:
        ax.plot(*zip(*val), "o-", color="C1", ms=4, label=_("validation"))
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(_("step"))
    ax.set_ylabel(_("loss (cross-entropy, nats)"))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, _("no steps yet"), ha="center", va="center", transform=ax.transAxes, color="gray")
    return fig


def plot_lr_schedule(config: TrainConfig, ax=None) -> Figure:
    """The learning rate ``get_lr`` gives at every step of ``config``: warm-up, then decay
    (at most ``MAX_SCHEDULE_POINTS`` steps, evenly spread, the end of warm-up among them)."""
    if not isinstance(config, TrainConfig):
        raise check.ArgumentTypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(6.4, 3.0))
    else:
        fig = ax.figure
    if config.max_steps + 1 <= MAX_SCHEDULE_POINTS:
        steps = list(range(config.max_steps + 1))
    else:
        spread = np.linspace(0, config.max_steps, MAX_SCHEDULE_POINTS).round().astype(int).tolist()
        steps = sorted({*spread, *([config.warmup_steps] if 0 < config.warmup_steps <= config.max_steps else [])})
    ax.plot(steps, [get_lr(s, config) for s in steps], color="C2", lw=2)
    if config.warmup_steps:
        ax.axvline(config.warmup_steps, color="gray", ls=":", lw=1)
        ax.annotate(_("end of warm-up"), (config.warmup_steps, config.learning_rate), xytext=(5, -12),
                    textcoords="offset points", fontsize=8, color="gray")
    ax.set_xlabel(_("step"))
    ax.set_ylabel(_("learning rate"))
    ax.set_title(_("{decay} schedule, peak {lr:g}").format(decay=config.lr_decay, lr=config.learning_rate), fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return fig
