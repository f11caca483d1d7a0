"""Pictures for lesson 08: position codes, how similar two positions' codes are, and what order buys."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..i18n import _
from . import _inputs as check
from ._base import new_figure
from ._live import mark_dynamic
from .training import _smooth

__all__ = ["plot_position_codes", "plot_similarity_vs_offset", "plot_position_state", "plot_score_matrix",
           "plot_position_accuracy"]


def _np(values, name: str = "values") -> np.ndarray:
    """Finite numbers as a float array (NaN and inf refused, naming ``name``)."""
    return check.array(name, values, min_size=0)


def _position(position, T: int, name: str = "position") -> int:
    return check.whole(name, position, min_value=0, max_value=T - 1)


def plot_position_codes(codes, ax=None, title: str | None = None, position: int | None = None,
                        colorbar: bool = True) -> Figure:
    """Heatmap of a (T, d) code matrix: one row per position, one column per dimension.

    ``position``: mark that row with a line (the position the similarity plot compares against).
    ``title``: default "position codes".
    """
    codes = _np(codes, "codes")
    if codes.ndim != 2 or 0 in codes.shape:
        raise ValueError(f"codes must be a (T, d) matrix, got shape {codes.shape}")
    if position is not None:
        _position(position, codes.shape[0])
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.0, 3.6))
    else:
        fig = ax.figure
    vmax = float(np.abs(codes).max()) or 1.0
    image = ax.imshow(codes, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    if position is not None:
        ax.axhline(position, color="black", lw=1.2, ls="--")
    ax.set_xlabel(_("dimension"))
    ax.set_ylabel(_("position"))
    ax.set_title(_("position codes") if title is None else title, fontsize=10)
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.9)
    return fig


def plot_similarity_vs_offset(similarity, position: int, ax=None, references: Sequence[int] | None = None,
                              ylabel: str | None = None, title: str | None = None) -> Figure:
    """Row ``position`` of a (T, T) similarity matrix against the offset n − position (bold), with the
    rows of a few ``references`` positions drawn faintly on the same offset axis.

    If similarity depends only on the offset, every curve lies on the bold one. ``ylabel``: default
    "cosine similarity".
    """
    sim = _np(similarity, "similarity")
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.size == 0:
        raise ValueError(f"similarity must be a square (T, T) matrix, got shape {sim.shape}")
    T = sim.shape[0]
    _position(position, T)
    if references is not None:
        for i, p in enumerate(check.labels("references", references, what="position")):
            _position(p, T, f"references[{i}]")
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.0, 3.4))
    else:
        fig = ax.figure
    if references is None:
        references = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1} - {position})
    for i, p in enumerate(references):
        ax.plot(np.arange(T) - p, sim[p], color="gray", lw=1, alpha=0.5,
                label=_("other positions") if i == 0 else None)
    ax.plot(np.arange(T) - position, sim[position], color="tab:blue", lw=2,
            label=_("position {p}").format(p=position))
    ax.axvline(0, color="black", lw=0.8, zorder=1.5)  # the zero lines lie under the curves
    ax.axhline(0, color="black", lw=0.5, alpha=0.5, zorder=1.5)
    ax.set_xlabel(_("offset n − p (positions)"))
    ax.set_ylabel(_("cosine similarity") if ylabel is None else ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    return fig


def plot_position_state(codes, similarity, position: int, code_title: str, sim_title: str,
                        ylabel: str | None = None, fig: Figure | None = None) -> Figure:
    """What ``PositionExplorer`` shows: the code matrix (left) and similarity against offset (right).

    ``fig``: a figure this function drew before, updated in place and marked for fast redraws:
    the frames and the similarity axes stay, the codes, curves, titles and the code matrix's
    dimension axis are redrawn. Another number of positions or another ``ylabel`` (default
    "similarity") draws afresh.
    """
    codes_np, sim = _np(codes, "codes"), _np(similarity, "similarity")
    if codes_np.ndim != 2 or 0 in codes_np.shape:
        raise ValueError(f"codes must be a (T, d) matrix, got shape {codes_np.shape}")
    T, d = codes_np.shape
    if sim.shape != (T, T):
        raise ValueError(f"similarity must be ({T}, {T}), one row per position of codes; got {sim.shape}")
    _position(position, T)
    check.figure("fig", fig)
    references = sorted({0, T // 4, T // 2, 3 * T // 4, T - 1})  # p itself too: the faint set never changes
    ylabel = _("similarity") if ylabel is None else ylabel
    key = ("position-state", T, ylabel)
    parts = fig.__dict__.get("_gptlab_position_state") if fig is not None else None
    if parts is None or parts["key"] != key:
        if fig is None:
            fig, (ax_c, ax_s) = new_figure(1, 2, figsize=(10.0, 3.7))
        else:
            fig.clear()
            ax_c, ax_s = fig.subplots(1, 2)
        fig.set_layout_engine(None)  # fixed margins: a constrained layout would double the redraw time
        fig.subplots_adjust(left=0.06, right=0.985, bottom=0.14, top=0.83, wspace=0.22)
        plot_position_codes(codes_np, ax=ax_c, title="", position=position, colorbar=False)
        plot_similarity_vs_offset(sim, position, ax=ax_s, ylabel=ylabel, title="", references=references)
        ax_s.get_legend().remove()
        ax_s.set_ylim(-1.05, 1.05)
        ax_s.set_xlim(-T - 1.5, T + 1.5)  # every offset any p can reach, so the axis never moves
        # titles given a y are placed once, not re-measured at every draw
        for ax in (ax_c, ax_s):
            ax.set_title("", fontsize=10, y=1.0)
        n_ref = len(references)
        marker, faint, bold = ax_c.lines[-1], ax_s.lines[:n_ref], ax_s.lines[n_ref]
        # one legend above both panels: no curve ever passes under it, so it is drawn once
        fig.legend(handles=[marker, bold, faint[0]],
                   labels=[_("position p (left: its row)"), _("position p against the others (right)"),
                           _("the same from other positions")],
                   loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize="small", frameon=False)
        parts = dict(key=key, ax_c=ax_c, ax_s=ax_s, image=ax_c.images[0], marker=marker, faint=faint, bold=bold)
        parts["bold"].set_zorder(2.5)  # above the axis lines in every redraw, fast or full
        fig.__dict__["_gptlab_position_state"] = parts
    image, ax_c, ax_s = parts["image"], parts["ax_c"], parts["ax_s"]
    vmax = float(np.abs(codes_np).max()) or 1.0
    image.set_data(codes_np)
    image.set_clim(-vmax, vmax)
    image.set_extent((-0.5, d - 0.5, T - 0.5, -0.5))
    ax_c.set_xlim(-0.5, d - 0.5)
    ax_c.title.set_text(code_title)
    parts["marker"].set_ydata([position, position])
    for line, p in zip(parts["faint"], references):
        line.set_ydata(sim[p])
    parts["bold"].set_data(np.arange(T) - position, sim[position])
    ax_s.title.set_text(_("{title}, p = {p}").format(title=sim_title, p=position))
    # the frames (spines) are drawn again too: the image and the curves run under their edges
    mark_dynamic(fig, [image, ax_c.xaxis, ax_c.title, parts["marker"], *ax_c.spines.values(), *parts["faint"],
                       parts["bold"], ax_s.title, *ax_s.spines.values()], key)
    return fig


def plot_score_matrix(scores, ax=None, title: str | None = None) -> Figure:
    """Heatmap of a (T, T) matrix of scores S[m, n]; stripes along the diagonals mean S depends on m − n only.

    ``title``: default "score of q at position m with k at position n".
    """
    scores = _np(scores, "scores")
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"scores must be a (T, T) matrix S[m, n], got shape {scores.shape}")
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(4.4, 3.6))
    else:
        fig = ax.figure
    vmax = float(np.abs(scores).max()) or 1.0
    image = ax.imshow(scores, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xlabel(_("key position n"))
    ax.set_ylabel(_("query position m"))
    ax.set_title(_("score of q at position m with k at position n") if title is None else title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.9)
    return fig


def plot_position_accuracy(accuracies: Mapping[str, Sequence[float]], chance: float | None = 0.5,
                           smooth: float = 0.8, ax=None) -> Figure:
    """Per-step batch accuracy of several training runs (e.g. one per kind of position code).

    ``accuracies``: {run name: per-step accuracies}; ``chance``: a dashed line at the accuracy of
    guessing.
    """
    check.mapping("accuracies", accuracies, what="{run name: per-step accuracies}")
    for name, values in accuracies.items():
        check.array(f"accuracies[{name!r}]", values, ndim=1, min_value=0, max_value=1)
    check.number("chance", chance, min_value=0, max_value=1, optional=True)
    check.number("smooth", smooth, min_value=0, max_value=1, max_inclusive=False)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(6.0, 3.6))
    else:
        fig = ax.figure
    for i, (name, values) in enumerate(accuracies.items()):
        values = list(map(float, values))
        steps = np.arange(1, len(values) + 1)
        ax.plot(steps, values, color=f"C{i}", alpha=0.15, lw=1)
        ax.plot(steps, _smooth(values, smooth), color=f"C{i}", lw=2, label=name)
    if chance is not None:
        ax.axhline(chance, color="gray", ls="--", lw=1, label=_("chance ({chance:g})").format(chance=chance))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(_("step"))
    ax.set_ylabel(_("batch accuracy"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return fig
