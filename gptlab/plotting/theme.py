"""Themes: how big the pictures are drawn, so a lesson reads on a laptop or from the back of a room.

``"notebook"`` (the default) draws as every lesson always has: static figures at 100 dpi,
explorer pictures at 80 dpi. ``"classroom"`` is for a projector: every picture is drawn at
a higher dpi and at least ``min_width_px`` wide, and any text that would still come out
smaller than ``min_text_px`` on the PNG is raised to that size. Sizes in matplotlib are in
points (1/72 inch) and a picture's pixels are ``inches × dpi``, so raising the dpi scales
every font, line width and marker together; the floor then catches the few labels a plotting
function drew small on purpose (crowded tick labels, a heatmap's numbers).

    from gptlab import plotting
    plotting.set_theme("classroom")   # or: GPTLAB_THEME=classroom jupyter lab
    plotting.get_theme()              # 'classroom'

This module is the one place those numbers live: ``new_figure``, the notebook's display of a
figure, and every explorer (``gptlab.widgets._base.Explorer``) ask it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.text import Text

from .._checks import check_choice


@dataclass(frozen=True)
class Theme:
    name: str
    display_dpi: float   # a static figure shown in a notebook
    explorer_dpi: float  # an explorer's picture (at least; see ``picture_dpi``)
    min_width_px: int    # 0: no minimum
    min_text_px: float   # 0: no floor (text as each plotting function sets it)
    widget_font_px: int  # the controls' labels and read-outs; 0: JupyterLab's own


THEMES = {
    "notebook": Theme("notebook", display_dpi=100, explorer_dpi=80, min_width_px=0, min_text_px=0,
                      widget_font_px=0),
    # 150 dpi makes matplotlib's 10-point default 21 px; 1100 px is most of a 1280-px projector
    "classroom": Theme("classroom", display_dpi=150, explorer_dpi=150, min_width_px=1100, min_text_px=16,
                       widget_font_px=20),
}

_current = THEMES["notebook"]


def set_theme(name: str = "notebook") -> Theme:
    """Choose how pictures are drawn from now on: ``"notebook"`` (default) or ``"classroom"``.

    Figures and explorers made after the call use it; run the lesson's cells again to redraw.
    """
    global _current
    check_choice("name", name, tuple(THEMES))
    _current = THEMES[name]
    return _current


def get_theme() -> str:
    """The name of the theme in use."""
    return _current.name


def current() -> Theme:
    """The theme in use, with its numbers."""
    return _current


def picture_dpi(width_inches: float, dpi: float | None = None, *, explorer: bool = False) -> float:
    """The dpi a figure ``width_inches`` wide is shown at.

    ``dpi`` is what the caller would use in the notebook theme (default: the theme's own); the
    notebook theme returns it unchanged, the classroom theme raises it to its own dpi and to
    ``min_width_px`` across.
    """
    theme = _current
    base = theme.explorer_dpi if explorer else theme.display_dpi
    if theme.name == "notebook":
        return float(base if dpi is None else dpi)
    dpi = max(base, dpi or 0)
    if theme.min_width_px and width_inches > 0:
        # a whole pixel to spare: savefig rounds the width down
        dpi = max(dpi, math.ceil((theme.min_width_px + 1) / width_inches * 100) / 100)
    return float(dpi)


def min_points(dpi: float) -> float:
    """The smallest font size, in points, whose text is ``min_text_px`` tall at ``dpi`` (0: none)."""
    return _current.min_text_px * 72 / dpi if _current.min_text_px else 0.0


def apply_text_floor(fig: Figure, dpi: float) -> int:
    """Raise every text of ``fig`` smaller than the theme's floor at ``dpi`` to the floor.

    Walks titles, axis labels, tick labels (also those matplotlib makes later, through
    ``tick_params``), legends and annotations, visible or not (an explorer shows some later).
    Returns how many were raised; does nothing in a theme without a floor.
    """
    floor = min_points(dpi)
    if not floor:
        return 0
    floor *= 1.001  # above, not on, the line: points × dpi / 72 is compared in floating point
    raised = 0
    for ax in fig.axes:
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            for kind, ticks in (("major", axis.get_major_ticks()), ("minor", axis.get_minor_ticks())):
                if ticks and min(t.label1.get_size() for t in ticks) < floor:
                    ax.tick_params(axis=which, which=kind, labelsize=floor)
                    raised += 1
    for text in fig.findobj(Text):
        if text.get_size() < floor:
            text.set_fontsize(floor)
            raised += 1
    return raised


def widget_css() -> str:
    """A ``<style>`` block that sizes the controls of explorers marked ``gptlab-<theme>`` ('' if none)."""
    px = _current.widget_font_px
    if not px:
        return ""
    scope = f".gptlab-{_current.name}"
    return (f"<style>{scope} .widget-label, {scope} .widget-readout, {scope} .widget-label-basic, "
            f"{scope} .widget-inline-hbox, {scope} input, {scope} select, {scope} .widget-html pre "
            f"{{font-size: {px}px !important; line-height: {round(px * 1.3)}px !important;}} "
            f"{scope} .widget-inline-hbox {{height: auto !important; min-height: {round(px * 1.6)}px;}} "
            f"{scope} .widget-label {{width: auto !important; min-width: {px * 6}px; max-width: none !important;}} "
            f"{scope} .noUi-handle {{transform: scale(1.4);}}</style>")


def _from_environment() -> None:
    name = os.environ.get("GPTLAB_THEME", "").strip().lower()
    if not name:
        return
    if name not in THEMES:
        import warnings

        warnings.warn(f"GPTLAB_THEME={name!r} is not a theme; choose among {sorted(THEMES)} "
                      f"(using 'notebook')", stacklevel=2)
        return
    set_theme(name)


_from_environment()
