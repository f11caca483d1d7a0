"""Small helpers shared by every plotting module: figures without pyplot's global state."""
from __future__ import annotations

import io

from matplotlib.figure import Figure

from ._live import is_live, live_png


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 3.6), squeeze: bool = True, dpi: float = 100,
               **subplot_kw):
    """A fresh ``Figure`` and its axes, made without pyplot so nothing leaks between calls.

    A notebook displays the returned figure when it is the last expression of a cell.
    """
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (what the widgets show and the figures script saves).

    A figure marked by ``mark_dynamic`` and asked for at its own dpi (an explorer's picture) is
    redrawn the fast way: its saved background plus the artists that changed.
    """
    if is_live(fig) and dpi == fig.dpi:
        return live_png(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _show_figures_in_notebooks() -> None:
    """Let Jupyter draw a returned ``Figure`` even when pyplot (and its inline backend) was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: figure_to_png(fig, dpi=100))


_show_figures_in_notebooks()
