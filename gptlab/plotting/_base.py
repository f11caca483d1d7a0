"""Small helpers shared by every plotting module: figures without pyplot's global state."""
from __future__ import annotations

import io

from matplotlib.figure import Figure


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 3.6), **subplot_kw):
    """A fresh ``Figure`` and its axes, made without pyplot so nothing leaks between calls.

    A notebook displays the returned figure when it is the last expression of a cell.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (what the widgets show and the figures script saves)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
