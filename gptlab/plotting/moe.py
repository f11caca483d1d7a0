"""Pictures for the mixture-of-experts lesson: how busy each expert is, and which token went where."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..i18n import _
from . import _inputs as check
from ._base import new_figure
from ._live import mark_dynamic


def show_token(token: str) -> str:
    """A token as a tile label: a space drawn as '␣', other control characters escaped ('\\n')."""
    return "␣" if token == " " else repr(token)[1:-1]


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
                            title: str | None = None) -> Figure:
    """Bar per expert of how many token assignments it received, with the fair share dashed.

    ``title``: default "Tokens per expert".
    ``tokens_per_expert``: (n_experts,) counts, e.g. ``moe.last_routing.tokens_per_expert``.
    ``capacity``: draw the capacity limit too (``moe.last_routing.capacity``). Draws into ``ax``
    when given, and returns its figure.
    """
    counts = check.array("tokens_per_expert", tokens_per_expert, min_size=0, min_value=0)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"tokens_per_expert must be a 1-D list of counts, one per expert, got shape {counts.shape}")
    check.number("capacity", capacity, min_value=0, optional=True)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.0, 3.0))
    else:
        fig = ax.figure
    n_experts = counts.size
    ax.bar(np.arange(n_experts), counts, color=expert_colors(n_experts))
    ax.axhline(counts.sum() / n_experts, color="black", linestyle="--", linewidth=1, label=_("fair share"))
    if capacity is not None:
        ax.axhline(capacity, color="tab:red", linestyle=":", linewidth=1.5,
                   label=_("capacity = {capacity}").format(capacity=capacity))
    ax.set_xticks(np.arange(n_experts), [f"E{i}" for i in range(n_experts)])
    ax.set_xlabel(_("expert"))
    ax.set_ylabel(_("assignments"))
    ax.set_title(_("Tokens per expert") if title is None else title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_routing(tokens: list[str], experts, gates, n_experts: int | None = None, per_row: int = 10) -> Figure:
    """Tokens as tiles coloured by their first-choice expert, with every choice and gate printed.

    ``experts``, ``gates``: (T, top_k), e.g. ``routing.experts[:T]`` for the first sequence. A
    paler tile means a less confident first choice (its gate is smaller).
    """
    experts, gates = _routing(experts, gates, n_experts)
    tokens = check.labels("tokens", tokens, what="token")
    if len(tokens) != experts.shape[0]:
        raise ValueError(f"got {len(tokens)} tokens but routing for {experts.shape[0]}; pass one row per token")
    check.whole("per_row", per_row, min_value=1)
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
        ax.text(col + 0.5, -row - 0.35, show_token(token), ha="center", va="center", fontsize=9)
        sep = " " if experts.shape[1] <= 2 else "\n"  # more than two choices: one per line
        choices = sep.join(f"E{int(e)}:{g:.2f}" for e, g in zip(experts[i], gates[i]))
        ax.text(col + 0.5, -row - 0.72, choices, ha="center", va="center", fontsize=6)
    ax.set_xlim(0, min(per_row, max(len(tokens), 1)))
    ax.set_ylim(-n_rows, 0)
    ax.set_axis_off()
    ax.legend(handles=[Patch(color=colors[e], label=f"E{e}") for e in range(n_experts)], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize="small", title=_("1st choice"))
    return fig


def _routing(experts, gates, n_experts: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Checked (T, top_k) expert ids (whole numbers, 0..n_experts-1) and gates (0 to 1)."""
    ids = check.array("experts", experts, ndim=(1, 2), min_size=0)
    gates = check.probabilities("gates", gates, ndim=(1, 2))
    if ids.ndim == 1:
        ids, gates = ids[:, None], gates[:, None] if gates.ndim == 1 else gates  # top_k = 1 given as (T,)
    if ids.shape != gates.shape or ids.ndim != 2:
        raise ValueError(f"experts and gates must both have shape (T, top_k), got {ids.shape} and {gates.shape}")
    if ids.size == 0:
        raise ValueError("experts is empty; give the routing of at least one token")
    if (ids != np.round(ids)).any() or (ids < 0).any():
        raise ValueError("experts must hold expert ids, whole numbers from 0 (e.g. routing.experts)")
    n = check.whole("n_experts", n_experts, min_value=1, optional=True)
    if n is not None and ids.max() >= n:
        raise ValueError(f"experts holds the id {int(ids.max())} but n_experts={n}: ids run from 0 to {n - 1}")
    return ids.astype(int), gates


def _count_limit(largest: float) -> float:
    """The top of a count axis: the next of 1, 2, 5 x 10^k at or above ``largest`` (at least 5), so
    the axis moves in steps rather than with every count."""
    wanted = max(float(largest) * 1.08, 5.0)
    exponent = math.floor(math.log10(wanted))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * 10.0 ** exponent >= wanted:
            return step * 10.0 ** exponent
    return 10.0 ** (exponent + 1)


def plot_router_state(tokens: list[str], experts, gates, tokens_per_expert, n_experts: int,
                      capacity: int | None = None, title: str | None = None, per_row: int = 10,
                      fig: Figure | None = None) -> Figure:
    """What ``RouterExplorer`` shows: the routing tiles (as ``plot_routing``) and, on the right, the
    assignments per expert (as ``plot_expert_utilisation``), in one figure. ``title``: above the
    bars (default "assignments per expert").

    ``fig``: a figure this function drew before. While the number of tile rows, experts and the
    count axis stay the same it is updated in place and marked for fast redraws: the frame, the
    expert legend and the axes are kept; the tiles, bars and labels are drawn again.
    """
    experts, gates = _routing(experts, gates, n_experts)
    tokens = check.labels("tokens", tokens, what="token")
    check.whole("per_row", per_row, min_value=1)
    check.whole("capacity", capacity, min_value=0, optional=True)
    check.figure("fig", fig)
    if experts.shape != gates.shape or experts.ndim != 2 or len(tokens) != experts.shape[0]:
        raise ValueError(f"experts and gates must both have shape (T, top_k) with T = len(tokens) = {len(tokens)}, "
                         f"got {experts.shape} and {gates.shape}")
    counts = check.array("tokens_per_expert", tokens_per_expert, min_size=0, min_value=0)
    if counts.shape != (n_experts,):
        raise ValueError(f"tokens_per_expert must hold one count per expert ({n_experts}), got shape {counts.shape}")
    T, top_k = experts.shape
    n_rows = max(1, math.ceil(T / per_row))
    y_top = _count_limit(max(counts.max(), capacity or 0))
    key = ("router-state", n_rows, n_experts, per_row, top_k > 2, capacity is not None)
    parts = fig.__dict__.get("_gptlab_router_state") if fig is not None else None
    if parts is None or parts["key"] != key:
        colors = expert_colors(n_experts)
        tiles_w, util_w = per_row + 1.5, 3.2  # inches: one per tile column, the legend; the bars
        height = max(0.9 * n_rows + 0.6, 2.8)
        if fig is None:
            fig = Figure(figsize=(tiles_w + util_w, height))
        else:
            fig.clear()
            fig.set_size_inches(tiles_w + util_w, height)
        fig.set_layout_engine(None)  # margins by hand: measuring every label each redraw costs more than drawing
        width = tiles_w + util_w
        ax = fig.add_axes((0.1 / width, 0.3 / height, per_row / width, (height - 0.6) / height))
        ax.set_xlim(0, per_row)
        ax.set_ylim(-n_rows, 0)
        ax.set_axis_off()
        ax.legend(handles=[Patch(color=colors[e], label=f"E{e}") for e in range(n_experts)], loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), fontsize="small", title=_("1st choice"))
        slots = []
        for i in range(n_rows * per_row):
            row, col = divmod(i, per_row)
            slots.append((ax.add_patch(Rectangle((col + 0.05, -row - 0.95), 0.9, 0.9, edgecolor="black",
                                                 linewidth=0.5)),
                          ax.text(col + 0.5, -row - 0.35, "", ha="center", va="center", fontsize=9),
                          ax.text(col + 0.5, -row - 0.72, "", ha="center", va="center", fontsize=6)))
        ax_u = fig.add_axes(((tiles_w + 0.55) / width, 0.55 / height, (util_w - 0.7) / width, (height - 0.95) / height))
        bars = ax_u.bar(np.arange(n_experts), np.zeros(n_experts), color=colors)
        fair = ax_u.axhline(0, color="black", linestyle="--", linewidth=1, label=_("fair share"))
        cap = ax_u.axhline(capacity or 0, color="tab:red", linestyle=":", linewidth=1.5, label=_("capacity"))
        cap.set_visible(capacity is not None)
        ax_u.set_xticks(np.arange(n_experts), [f"E{i}" for i in range(n_experts)])
        ax_u.set_ylim(0, y_top)
        ax_u.set_xlabel(_("expert"))
        ax_u.set_ylabel(_("assignments"))
        ax_u.set_title("", fontsize=10, y=1.0)  # y given: placed once, not measured at every draw
        legend = ax_u.legend(handles=[fair] + ([cap] if capacity is not None else []), loc="upper right",
                             fontsize="small")
        parts = dict(key=key, colors=colors, slots=slots, ax_u=ax_u, bars=bars, fair=fair, cap=cap, legend=legend)
        fig.__dict__["_gptlab_router_state"] = parts
    colors, ax_u = parts["colors"], parts["ax_u"]
    if ax_u.get_ylim() != (0, y_top):  # the count axis moves in steps: a saved background for each
        ax_u.set_ylim(0, y_top)
    sep = " " if top_k <= 2 else "\n"  # more than two choices: one per line
    dynamic = []
    for i, (patch, word, choices) in enumerate(parts["slots"]):
        shown = i < T
        for artist in (patch, word, choices):
            artist.set_visible(shown)
        if shown:
            patch.set_facecolor(colors[int(experts[i, 0])])
            patch.set_alpha(0.35 + 0.65 * gates[i, 0])  # a confident first choice is a solid tile
            word.set_text(show_token(tokens[i]))
            choices.set_text(sep.join(f"E{int(e)}:{g:.2f}" for e, g in zip(experts[i], gates[i])))
            dynamic += [patch, word, choices]
    for rect, count in zip(parts["bars"], counts):
        rect.set_height(count)
    parts["fair"].set_ydata([counts.sum() / n_experts] * 2)
    if capacity is not None:
        parts["cap"].set_ydata([capacity, capacity])
    ax_u.title.set_text(_("assignments per expert") if title is None else title)
    # the lines and legend lie over the bars, and the frame around them: all drawn again on top
    mark_dynamic(fig, [*parts["bars"], parts["fair"], parts["cap"], ax_u.title, parts["legend"],
                       *ax_u.spines.values(), *dynamic], (key, y_top))
    return fig
