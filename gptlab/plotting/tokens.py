"""Pictures for lesson 14 (tokens): how many tokens a text costs as the vocabulary grows."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from ..i18n import _
from ._base import new_figure
from ._live import mark_dynamic

__all__ = ["plot_tokens_per_char"]


def _check_curves(curves) -> None:
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict {label: (vocab_sizes, tokens_per_char)}")
    for label, pair in curves.items():
        try:
            sizes, values = pair
        except (TypeError, ValueError):
            raise ValueError(f"curves[{label!r}] must be a pair (vocab_sizes, tokens_per_char)") from None
        if len(sizes) != len(values) or not len(sizes):
            raise ValueError(f"curves[{label!r}]: {len(sizes)} vocabulary sizes but {len(values)} values; "
                             f"give one value per size")
        bad = [v for v in values if not (isinstance(v, (int, float)) and v >= 0 and v == v and v != float("inf"))]
        if bad:
            raise ValueError(f"curves[{label!r}] holds {bad[0]!r}; tokens per character are finite and >= 0")


def plot_tokens_per_char(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], *,
                         marker: tuple[int, float] | None = None, title: str = "",
                         ylabel: str | None = None, fig: Figure | None = None) -> Figure:
    """One line per tokenizer: tokens per character of a text against the vocabulary size.

    ``curves``: ``{label: (vocab_sizes, tokens_per_char)}``; ``marker``: ``(vocab_size, value)`` drawn as a
    dot (the explorer's current setting). ``fig``: a figure this function drew before, redrawn in place.
    ``ylabel``: default "tokens per character".
    """
    _check_curves(curves)
    top = max(max(values) for _, values in curves.values())
    top = max(1.0, float(int(top * 2) + 1) / 2)  # the y axis moves in steps of 0.5, so most redraws keep it
    if fig is not None and len(fig.axes[0].lines) == len(curves) + (marker is not None):
        ax = fig.axes[0]  # redraw in place: new data on the same lines, the layout kept
        for line, (sizes, values) in zip(ax.lines, curves.values()):
            line.set_data(list(sizes), list(values))
        if marker is not None:
            ax.lines[-1].set_data([marker[0]], [marker[1]])
        ax.set_ylim(0, top)
        ax.set_title(title, y=1.0)
        mark_dynamic(fig, [*ax.lines, ax.title, ax.get_legend()], key=top)
        return fig
    if fig is None:
        fig, ax = new_figure(figsize=(6.4, 3.4))
    else:
        ax = fig.axes[0]
        ax.clear()
    styles = ["-o", "-s", "-^", "-D"]
    sizes_seen = sorted({int(x) for sizes, _ in curves.values() for x in sizes})
    for (label, (sizes, values)), style in zip(curves.items(), styles * 4):
        ax.plot(list(sizes), list(values), style, ms=4, label=label)
    if marker is not None:
        ax.plot([marker[0]], [marker[1]], "o", ms=11, mfc="none", mec="black", mew=2, label=_("this setting"))
    ax.set_xscale("log")
    ax.set_xticks(sizes_seen, [f"{x:,}" for x in sizes_seen], rotation=45)
    ax.minorticks_off()
    ax.set_xlabel(_("vocabulary size (tokens)"))
    ax.set_ylabel(_("tokens per character") if ylabel is None else ylabel)
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")  # empty there: a small vocabulary costs >= 1 token per character
    ax.set_title(title, y=1.0)  # placed, not measured: a changing title costs no new layout
    mark_dynamic(fig, [*ax.lines, ax.title, ax.get_legend()], key=top)
    return fig
