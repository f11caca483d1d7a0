"""Small helpers shared by every plotting module: figures without pyplot's global state."""
from __future__ import annotations

import io

from matplotlib.figure import Figure

from .._checks import check_float, check_int, check_type
from ._live import is_live, live_png
from .theme import apply_text_floor, picture_dpi


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.4, 3.6), squeeze: bool = True,
               dpi: float | None = None, **subplot_kw):
    """A fresh ``Figure`` and its axes, made without pyplot so nothing leaks between calls.

    A notebook displays the returned figure when it is the last expression of a cell. Its dpi
    is the theme's (``gptlab.plotting.theme``: 100 in the notebook theme) unless given.
    """
    check_int("nrows", nrows, min_value=1)
    check_int("ncols", ncols, min_value=1)
    try:
        width, height = figsize
        figsize = (check_float("figsize[0]", width, min_value=0.1), check_float("figsize[1]", height, min_value=0.1))
    except (TypeError, ValueError) as err:
        raise ValueError(f"figsize={figsize!r} must be two positive finite numbers (width, height) in inches: "
                         f"{err}") from None
    if dpi is not None:
        check_float("dpi", dpi, min_value=1)
    fig = Figure(figsize=figsize, dpi=picture_dpi(figsize[0], dpi), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (what the widgets show and the figures script saves).

    A figure marked by ``mark_dynamic`` and asked for at its own dpi (an explorer's picture) is
    redrawn the fast way: its saved background plus the artists that changed.
    """
    check_type("fig", fig, Figure, "a matplotlib Figure (e.g. from gptlab.plotting.new_figure())")
    check_float("dpi", dpi, min_value=1)
    if is_live(fig) and dpi == fig.dpi:
        return live_png(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def shown_png(fig: Figure, dpi: float | None = None, *, explorer: bool = False) -> bytes:
    """The PNG a learner sees: at the theme's dpi for this figure (``dpi`` in the notebook theme),
    with the theme's smallest text size enforced (``theme.apply_text_floor``)."""
    dpi = picture_dpi(fig.get_figwidth(), dpi, explorer=explorer)
    apply_text_floor(fig, dpi)
    return figure_to_png(fig, dpi=dpi)


def _show_figures_in_notebooks() -> None:
    """Let Jupyter draw a returned ``Figure`` even when pyplot (and its inline backend) was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: shown_png(fig, dpi=100))


_show_figures_in_notebooks()
