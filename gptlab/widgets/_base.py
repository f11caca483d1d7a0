"""The pattern every lesson widget follows.

An ``Explorer`` is a row of standard ipywidgets controls, a picture and a line of text. It holds
no math: ``render`` calls the library and ``gptlab.plotting`` and returns a figure and a summary.
Its state is plain Python, so a test can move a slider and read what is shown:

    ex = SamplingExplorer(...)
    ex.set(temperature=0.5)        # same as dragging the slider
    ex.summary                     # the text under the picture
    ex.figure                      # the matplotlib Figure on screen
    ex.error                       # the friendly message of the last bad input, or None

Where no widget front end exists (a static notebook viewer, nbconvert), the explorer's display
also carries a PNG of the current picture and the summary as text.
"""
from __future__ import annotations

import base64
import html
import time

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..i18n import _
from ..plotting import figure_to_png
from ..plotting import theme as _theme
from ..plotting._live import is_live
from ._validate import check_values


class Explorer:
    """Base class: subclasses pass their controls and implement ``render(**state)``."""

    @property
    def dpi(self) -> float:
        """The theme's explorer dpi (80 in the notebook theme); a picture may be drawn finer so it
        is the theme's minimum width across (``shown_dpi``)."""
        return _theme.current().explorer_dpi

    def shown_dpi(self, figure: Figure) -> float:
        """The dpi ``figure`` is shown at, in the theme in use."""
        return _theme.picture_dpi(figure.get_figwidth(), self.dpi, explorer=True)

    def __init__(self, controls: dict[str, widgets.ValueWidget], *, columns: int = 3):
        self.controls = dict(controls)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.text = widgets.HTML()
        self.figure: Figure | None = None
        self.summary: str = ""
        self.error: str | None = None
        self.last_redraw_seconds: float = float("nan")
        self._holding = False
        rows = [list(self.controls.values())[i:i + columns] for i in range(0, len(self.controls), columns)]
        self.widget = widgets.VBox([*(widgets.HBox(r) for r in rows), self.image, self.text])
        css = _theme.widget_css()
        if css:  # larger control labels for a projector (JupyterLab shows an HTML widget's <style> as is)
            self.widget.add_class(f"gptlab-{_theme.get_theme()}")
            self.widget.children = (widgets.HTML(css), *self.widget.children)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    # --- what subclasses provide -------------------------------------------------------------
    def render(self, **state) -> tuple[Figure, str]:
        """Return the picture and the summary text for this state (raise ValueError for bad input)."""
        raise NotImplementedError

    # --- state --------------------------------------------------------------------------------
    @property
    def state(self) -> dict:
        """The current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> Explorer:
        """Set several controls at once (as a learner would), then redraw once; returns the explorer.

        All or nothing, and no silent clamping: each value is first checked against its control (a
        slider's range, finite numbers, a dropdown's choices, the type). A bad value
        changes nothing: ``error`` and the red line under the picture name the control, the value
        and what is allowed, and the last picture stays. A value the controls take but ``render``
        rejects (an unknown word, a head that layer lacks) is undone the same way, so ``state``
        always matches the picture. A bad value never raises; an unknown control name does
        (``ValueError``), as it is a typo in the code, not a setting.
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; this explorer has {sorted(self.controls)}")
        problems = check_values(self.controls, values)
        if problems:
            self._show_error("; ".join(problems))
            return self
        before = {name: self.controls[name].value for name in values}
        self._assign(values)
        self.redraw()
        if self.error is not None:  # render rejected it: back to what the picture shows
            self._assign(before)
        return self

    def _assign(self, values: dict) -> None:
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False

    def _on_change(self, _change) -> None:
        if not self._holding:
            self.redraw()

    def redraw(self) -> None:
        """Recompute the picture; a bad input shows its message and keeps the last good picture."""
        start = time.perf_counter()
        try:
            figure, summary = self.render(**self.state)
        except ValueError as err:
            self._show_error(str(err))
        else:
            self.error = None
            self.figure, self.summary = figure, summary
            dpi = self.shown_dpi(figure)
            if is_live(figure) and figure.dpi != dpi:
                figure.set_dpi(dpi)  # drawn at the dpi it is shown at, its background can be reused
            _theme.apply_text_floor(figure, dpi)  # the theme's smallest text (none in the notebook theme)
            self.image.value = figure_to_png(figure, dpi=dpi)
            self.text.value = self._summary_html(summary)
        self.last_redraw_seconds = time.perf_counter() - start

    @staticmethod
    def _summary_html(summary: str) -> str:
        return f"<pre style='margin:0'>{html.escape(summary)}</pre>"

    def _show_error(self, message: str) -> None:
        """Show ``message`` in the red line under the picture; the picture stays as it was."""
        self.error = message
        self.text.value = f'<span style="color:#b00020">⚠ {html.escape(message)}</span>'

    # --- display ------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        if self.figure is not None:
            dpi = self.shown_dpi(self.figure)
            _theme.apply_text_floor(self.figure, dpi)
            bundle["image/png"] = base64.b64encode(figure_to_png(self.figure, dpi=dpi)).decode("ascii")
        bundle["text/plain"] = (self.summary if self.error is None else
                                self.summary + "\n" + _("(error: {error})").format(error=self.error))
        return bundle
