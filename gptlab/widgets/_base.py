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

from ..plotting import figure_to_png
from ..plotting._live import is_live


class Explorer:
    """Base class: subclasses pass their controls and implement ``render(**state)``."""

    dpi = 80

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
        """Set several controls at once (as a learner would), then redraw once."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; this explorer has {sorted(self.controls)}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.redraw()
        return self

    def _on_change(self, _change) -> None:
        if not self._holding:
            self.redraw()

    def redraw(self) -> None:
        """Recompute the picture; a bad input shows its message and keeps the last good picture."""
        start = time.perf_counter()
        try:
            figure, summary = self.render(**self.state)
        except ValueError as err:
            self.error = str(err)
            self.text.value = f'<span style="color:#b00020">⚠ {html.escape(self.error)}</span>'
        else:
            self.error = None
            self.figure, self.summary = figure, summary
            if is_live(figure) and figure.dpi != self.dpi:
                figure.set_dpi(self.dpi)  # drawn at the dpi it is shown at, its background can be reused
            self.image.value = figure_to_png(figure, dpi=self.dpi)
            self.text.value = f"<pre style='margin:0'>{html.escape(summary)}</pre>"
        self.last_redraw_seconds = time.perf_counter() - start

    # --- display ------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        if self.figure is not None:
            bundle["image/png"] = base64.b64encode(figure_to_png(self.figure, dpi=self.dpi)).decode("ascii")
        bundle["text/plain"] = self.summary if self.error is None else f"{self.summary}\n(error: {self.error})"
        return bundle
