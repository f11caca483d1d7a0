"""Pictures for lesson 15: the validation loss of each step of the modern recipe, seed by seed."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..i18n import _
from . import _inputs as check
from ._base import new_figure

__all__ = ["plot_recipe_runs"]


def plot_recipe_runs(names, losses, highlight: int | None = None, ax=None,
                     title: str | None = None) -> Figure:
    """One column per run: a dot per seed and a bar at their mean; run ``highlight`` in colour.

    ``names``: one label per run; ``losses``: (n_runs, n_seeds) validation losses (one seed is a
    (n_runs,) list). Draws into ``ax`` when given, and returns its figure. ``title``: default
    "Validation loss after each change (same steps, same data)".
    """
    values = check.array("losses", losses, ndim=(1, 2), min_value=0.0)
    if values.ndim == 1:
        values = values[:, None]
    names = check.labels("names", names, values.shape[0], what="run")
    check.whole("highlight", highlight, min_value=0, max_value=len(names) - 1, optional=True)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(6.4, 3.0))
    else:
        fig = ax.figure
    x = np.arange(len(names))
    colors = ["tab:orange" if i == highlight else "lightgray" for i in x]
    means = values.mean(axis=1)
    ax.bar(x, means, color=colors, width=0.6, zorder=1)
    for j in range(values.shape[1]):
        ax.scatter(x, values[:, j], color="black", s=10, zorder=2, label=_("one seed") if j == 0 else None)
    low, high = values.min(), values.max()
    pad = max(0.05, 0.5 * (high - low))
    ax.set_ylim(low - pad, high + pad)  # the differences, not the distance from zero
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel(_("val loss (nats/char)"))
    ax.set_title(_("Validation loss after each change (same steps, same data)") if title is None else title)
    ax.legend(loc="upper right", fontsize="small")
    return fig
