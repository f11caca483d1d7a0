"""Pictures for lesson 12: the models side by side, the reward model's ranking, PPO's curves."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from ..i18n import _
from ._base import new_figure

__all__ = ["plot_model_comparison", "plot_reward_ranking", "plot_ppo_curves", "plot_answers",
           "plot_accuracy_against_kl"]


def _metrics() -> tuple[tuple[str, str], ...]:
    """(key in the table, panel title) of each panel, the titles in the current language."""
    return (("accuracy", _("task accuracy")), ("reward", _("reward-model score")), ("kl", _("KL to SFT (nats)")),
            ("length", _("answer length (chars)")))


def plot_model_comparison(table: Mapping[str, Mapping[str, float]]) -> Figure:
    """One bar per model for each of accuracy, reward, KL and length; ``table[name][metric]``."""
    if not table:
        raise ValueError("table is empty: give {model name: {'accuracy': ..., 'reward': ..., ...}}")
    names = list(table)
    fig, axes = new_figure(1, 4, figsize=(11, 2.8))
    colors = [f"C{i}" for i in range(len(names))]
    for ax, (key, title) in zip(axes, _metrics()):
        values = [float(table[n].get(key, float("nan"))) for n in names]
        ax.bar(range(len(names)), values, color=colors)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(title, fontsize=10)
        if key == "accuracy":
            ax.set_ylim(0, 1)
    return fig


def plot_reward_ranking(reward_chosen: Sequence[float], reward_rejected: Sequence[float]) -> Figure:
    """Left: the reward model's score of each held-out pair (chosen vs rejected; above the diagonal =
    ranked as the labeller did). Right: the margins r_chosen - r_rejected."""
    rc, rr = [float(x) for x in reward_chosen], [float(x) for x in reward_rejected]
    if len(rc) != len(rr) or not rc:
        raise ValueError(f"reward_chosen ({len(rc)}) and reward_rejected ({len(rr)}) must be equally long, not empty")
    fig, (left, right) = new_figure(1, 2, figsize=(9, 3.4))
    right_way = [c > r for c, r in zip(rc, rr)]
    left.scatter([r for r, ok in zip(rr, right_way) if ok], [c for c, ok in zip(rc, right_way) if ok], s=12,
                 color="C2", label=_("ranked as the labeller did"))
    left.scatter([r for r, ok in zip(rr, right_way) if not ok], [c for c, ok in zip(rc, right_way) if not ok],
                 s=12, color="C3", label=_("ranked the other way"))
    low, high = min(rc + rr), max(rc + rr)
    left.plot([low, high], [low, high], color="gray", lw=1, ls="--")
    left.set_xlabel(_("reward of the rejected answer"))
    left.set_ylabel(_("reward of the chosen answer"))
    left.legend(fontsize=8, loc="upper left")
    right.hist([c - r for c, r in zip(rc, rr)], bins=30, color="C0")
    right.axvline(0, color="gray", lw=1, ls="--")
    right.set_xlabel(_("margin r(chosen) - r(rejected)"))
    right.set_ylabel(_("pairs"))
    return fig


def plot_ppo_curves(histories: Mapping[str, object]) -> Figure:
    """Reward, KL to the reference, and true task accuracy per PPO rollout, one line per run."""
    if not histories:
        raise ValueError("histories is empty: give {label: PPOHistory}")
    fig, axes = new_figure(1, 3, figsize=(11, 3.0))
    for i, (label, h) in enumerate(histories.items()):
        for ax, key in zip(axes, ("reward", "kl", "accuracy")):
            ax.plot(h.steps, getattr(h, key), color=f"C{i}", label=label)
    for ax, title in zip(axes, (_("reward-model score"), _("KL to SFT (nats per answer)"), _("true task accuracy"))):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(_("PPO rollout"))
    axes[2].set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    return fig


def _running_mean(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_accuracy_against_kl(histories: Mapping[str, object], baseline: float | None = None,
                             window: int = 10) -> Figure:
    """True task accuracy of PPO's rollouts, per rollout and against the KL to the reference, one
    line per run (each a running mean over ``window`` rollouts: one rollout is only 64 answers).

    Against KL is how Gao et al. (2022) compare optimising a proxy reward with optimising the true
    one: the further the policy moves, the more a proxy's mistakes cost. ``baseline``: a dashed
    line at the starting model's accuracy."""
    if not histories:
        raise ValueError("histories is empty: give {label: PPOHistory}")
    window = int(window)
    if window < 1:
        raise ValueError(f"window={window} must be at least 1 rollout")
    fig, axes = new_figure(1, 2, figsize=(11, 3.2))
    for i, (label, h) in enumerate(histories.items()):
        acc, kl = _running_mean(list(h.accuracy), window), _running_mean(list(h.kl), window)
        axes[0].plot(h.steps, acc, color=f"C{i}", label=label)
        axes[1].plot(kl, acc, color=f"C{i}", label=label)
    for ax in axes:
        if baseline is not None:
            ax.axhline(baseline, color="gray", ls="--", lw=1, label=_("SFT"))
        ax.set_ylim(0, 1)
        ax.set_ylabel(_("true task accuracy"))
    axes[0].set_xlabel(_("PPO rollout"))
    axes[1].set_xlabel(_("KL to SFT (nats per answer)"))
    axes[0].set_title(_("accuracy as PPO trains"), fontsize=10)
    axes[1].set_title(_("accuracy against how far the policy moved"), fontsize=10)
    axes[0].legend(fontsize=8)
    return fig


def plot_answers(rows: Sequence[Mapping], *, fig: Figure | None = None, title: str = "") -> Figure:
    """The explorer's picture: one bar per model, its reward-model score, labelled with its answer.

    ``rows``: dicts with ``name``, ``answer``, ``reward``, ``logprob`` and ``correct``."""
    if fig is None:
        fig, ax = new_figure(figsize=(7, 0.5 + 0.55 * len(rows)))
    else:
        fig.clear()
        ax = fig.subplots()
    names = [r["name"] for r in rows]
    rewards = [float(r["reward"]) for r in rows]
    ax.barh(range(len(rows)), rewards, color=["C2" if r["correct"] else "C3" for r in rows])
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.axvline(0, color="gray", lw=1)
    span = max(1.0, max(abs(x) for x in rewards))
    ax.set_xlim(-1.6 * span, 1.6 * span)
    for i, r in enumerate(rows):
        x = float(r["reward"])
        ax.text(x + (0.05 if x >= 0 else -0.05) * span, i,
                _("{answer!r}  (log p {logprob:.2f})").format(answer=r["answer"], logprob=float(r["logprob"])),
                va="center", ha="left" if x >= 0 else "right", fontsize=9)
    ax.set_xlabel(_("reward-model score (green: correct, red: wrong)"))
    if title:
        ax.set_title(title, fontsize=10)
    return fig
