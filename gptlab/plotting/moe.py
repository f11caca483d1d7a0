"""Pictures for the mixture-of-experts lesson: how busy each expert is, and which token went where."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ._base import new_figure


def _as_numpy(values) -> np.ndarray:
    """Tensors (on any device) and lists alike, as a NumPy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def expert_colors(n_experts: int) -> list:
    """One distinct colour per expert (tab10, tab20 beyond ten experts)."""
    cmap = matplotlib.colormaps["tab10" if n_experts <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n_experts)]


def plot_expert_utilisation(tokens_per_expert, ax=None, capacity: int | None = None,
                            title: str = "Tokens per expert") -> Figure:
    """Bar per expert of how many token assignments it received, with the fair share dashed.

    ``tokens_per_expert``: (n_experts,) counts, e.g. ``moe.last_routing.tokens_per_expert``.
    ``capacity``: draw the capacity limit too (``moe.last_routing.capacity``). Draws into ``ax``
    when given, and returns its figure.
    """
    counts = _as_numpy(tokens_per_expert).astype(float)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"tokens_per_expert must be a 1-D list of counts, one per expert, got shape {counts.shape}")
    if ax is None:
        fig, ax = new_figure(figsize=(5.0, 3.0))
    else:
        fig = ax.figure
    n_experts = counts.size
    ax.bar(np.arange(n_experts), counts, color=expert_colors(n_experts))
    ax.axhline(counts.sum() / n_experts, color="black", linestyle="--", linewidth=1, label="fair share")
    if capacity is not None:
        ax.axhline(capacity, color="tab:red", linestyle=":", linewidth=1.5, label=f"capacity = {capacity}")
    ax.set_xticks(np.arange(n_experts), [f"E{i}" for i in range(n_experts)])
    ax.set_xlabel("expert")
    ax.set_ylabel("assignments")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_routing(tokens: list[str], experts, gates, n_experts: int | None = None, per_row: int = 10) -> Figure:
    """Tokens as tiles coloured by their first-choice expert, with every choice and gate printed.

    ``experts``, ``gates``: (T, top_k), e.g. ``routing.experts[:T]`` for the first sequence. A
    paler tile means a less confident first choice (its gate is smaller).
    """
    experts = _as_numpy(experts)
    gates = _as_numpy(gates).astype(float)
    if experts.ndim == 1:
        experts, gates = experts[:, None], gates[:, None]  # top_k = 1 given as (T,)
    if experts.shape != gates.shape or experts.ndim != 2:
        raise ValueError(f"experts and gates must both have shape (T, top_k), got {experts.shape} and {gates.shape}")
    if len(tokens) != experts.shape[0]:
        raise ValueError(f"got {len(tokens)} tokens but routing for {experts.shape[0]}; pass one row per token")
    n_experts = int(experts.max()) + 1 if n_experts is None else n_experts
    colors = expert_colors(n_experts)
    n_rows = max(1, math.ceil(len(tokens) / per_row))
    fig, ax = new_figure(figsize=(1.0 * min(per_row, max(len(tokens), 1)) + 1.5, 0.9 * n_rows + 0.6))
    for i, token in enumerate(tokens):
        row, col = divmod(i, per_row)
        first = int(experts[i, 0])
        alpha = 0.35 + 0.65 * gates[i, 0]  # a confident first choice is a solid tile
        ax.add_patch(Rectangle((col + 0.05, -row - 0.95), 0.9, 0.9, facecolor=colors[first], alpha=alpha,
                               edgecolor="black", linewidth=0.5))
        ax.text(col + 0.5, -row - 0.35, repr(token)[1:-1], ha="center", va="center", fontsize=9)
        sep = " " if experts.shape[1] <= 2 else "\n"  # more than two choices: one per line
        choices = sep.join(f"E{int(e)}:{g:.2f}" for e, g in zip(experts[i], gates[i]))
        ax.text(col + 0.5, -row - 0.72, choices, ha="center", va="center", fontsize=6)
    ax.set_xlim(0, min(per_row, max(len(tokens), 1)))
    ax.set_ylim(-n_rows, 0)
    ax.set_axis_off()
    ax.legend(handles=[Patch(color=colors[e], label=f"E{e}") for e in range(n_experts)], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize="small", title="1st choice")
    return fig
