"""Pictures for lesson 10 (a tiny GPT): where the parameters sit, a loss curve that draws itself
while training runs, and the scaling curve (bigger model, lower loss).

* ``plot_parameter_counts``: parameters by component (``GPT.parameter_counts()``) as bars.
* ``LiveLossPlot``: a ``Trainer`` callback that redraws ``plot_history`` in place at every evaluation.
* ``plot_scaling_curve``: final validation loss against parameters, and every run's validation loss
  against training compute, both on log axes (``gptlab.scaling_laws.run_scaling_sweep``'s runs).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from ..i18n import _
from . import _inputs as check
from ._base import new_figure, shown_png
from .training import plot_history

__all__ = ["LiveLossPlot", "plot_parameter_counts", "plot_scaling_curve"]


def _component_note(name: str) -> str:
    """Why a component has no parameters of its own, in the current language ('-' for no reason known)."""
    notes = {"head": _("tied to the embeddings"), "position": _("none (RoPE or no code)")}
    return notes.get(name, "-")


def _human(n: float) -> str:
    """1234 -> '1.2k', 1_234_567 -> '1.23M', 175e9 -> '175B'."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            value = n / size
            return f"{value:.3g}{unit}"
    return f"{n:.0f}"


def plot_parameter_counts(counts: Mapping[str, int], title: str | None = None, ax=None) -> Figure:
    """Horizontal bars of parameters per component, each labelled with its count and share.

    ``counts``: ``{component: number}``, e.g. ``model.parameter_counts()``. A component with 0
    parameters is labelled with why (``head`` is 0 when lm_head shares the embedding matrix).
    """
    if not isinstance(counts, Mapping) or not counts:
        raise ValueError("counts must be a non-empty dict {component: number of parameters}, "
                         "e.g. model.parameter_counts()")
    names = list(counts)
    values = check.array("counts", [counts[n] for n in names], min_value=0)
    check.axes("ax", ax)
    total = values.sum()
    if ax is None:
        fig, ax = new_figure(figsize=(6.4, 0.45 * len(names) + 1.2))
    else:
        fig = ax.figure
    y = np.arange(len(names))[::-1]  # first component on top
    ax.barh(y, values, color=[f"C{i % 10}" for i in range(len(names))])
    ax.set_yticks(y, names)
    right = values.max() if values.max() > 0 else 1.0
    for yi, name, v in zip(y, names, values):
        if v > 0 and total > 0:
            share = v / total
            text = f"{_human(v)}  ({share:.0%})" if share >= 0.005 else f"{_human(v)}  (<1%)"
        else:
            text = f"0  ({_component_note(name)})"
        ax.text(v + 0.01 * right, yi, text, va="center", fontsize=9)
    ax.set_xlim(0, right * 1.35)  # room for the labels
    ax.set_xlabel(_("parameters"))
    ax.set_title(title or _("{total} parameters in all").format(total=_human(total)), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


class LiveLossPlot:
    """A ``Trainer`` callback that redraws the loss curve in place while training runs.

        live = LiveLossPlot()
        Trainer(model, config, train_ids, val_ids, callbacks=[live]).fit()

    At every evaluation (and at the end) it draws ``plot_history(trainer.history)`` into one
    figure and updates one notebook output with it (``IPython.display`` with a display id), so
    the curve grows under the progress bar instead of piling up new pictures. ``show=False``
    only draws (``live.fig``), for scripts and tests. ``live.redraws`` counts the pictures drawn.
    """

    def __init__(self, show: bool = True, log_x: bool = False, figsize=(6.4, 3.4), dpi: int = 90):
        size = check.array("figsize", figsize, ndim=1, min_value=0.5, max_value=50)
        if size.size != 2:
            raise ValueError(f"figsize={figsize!r} must be (width, height) in inches, e.g. (6.4, 3.4)")
        check.number("dpi", dpi, min_value=10, max_value=600)
        self.show, self.log_x, self.dpi = bool(show), bool(log_x), int(dpi)
        self.fig, self.ax = new_figure(figsize=figsize)
        self.redraws = 0
        self._handle = None

    def __call__(self, trainer, event: str) -> None:
        if event not in ("eval", "end"):
            return
        h = trainer.history
        plot_history(h, ax=self.ax, log_x=self.log_x)
        parts = [_("step {step}/{max_steps}").format(step=trainer.step, max_steps=trainer.config.max_steps)]
        if h.val_loss and not math.isnan(h.val_loss[-1]):
            parts.append(_("validation loss {loss:.3f}").format(loss=h.val_loss[-1]))
        if trainer.tokens_per_second > 0:
            parts.append(_("{speed:,.0f} tokens/s").format(speed=trainer.tokens_per_second))
        self.ax.set_title(" · ".join(parts), fontsize=10)
        self.redraws += 1
        if self.show:
            self._display()

    def _display(self) -> None:
        from IPython.display import Image, display  # only needed when showing, in a notebook

        picture = Image(shown_png(self.fig, dpi=self.dpi))  # the theme may draw it larger
        if self._handle is None:
            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)


def _plain_log_y(ax, values) -> None:
    """A log y axis labelled with a few plain numbers (2.4, 2.6) instead of powers of ten."""
    values = np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float)
    if values.size == 0:
        return
    ticks = np.unique(np.round(np.geomspace(values.min(), values.max(), 5), 2))
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2f"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _runs_arrays(runs) -> tuple[list[str], np.ndarray, np.ndarray]:
    if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence) or not runs:
        raise ValueError("runs must be a non-empty list of ScalingRun objects (from run_scaling_sweep)")
    missing = [i for i, r in enumerate(runs) if not all(hasattr(r, a) for a in
                                                        ("label", "n_params", "compute", "val_loss"))]
    if missing:
        raise check.ArgumentTypeError(f"runs[{missing[0]}] is a {type(runs[missing[0]]).__name__}, not a ScalingRun "
                                      f"(from run_scaling_sweep)")
    empty = [r.label for r in runs if not len(r.val_loss)]
    if empty:
        raise ValueError(f"run {empty[0]!r} has no validation loss yet; plot runs that finished training")
    labels = [r.label for r in runs]
    params = check.array("runs' n_params", [r.n_params for r in runs], positive=True)  # a log axis
    final = check.array("runs' final_val_loss", [r.final_val_loss for r in runs], positive=True)
    for i, r in enumerate(runs):
        compute = check.array(f"runs[{i}].compute", r.compute, ndim=1, min_size=0, min_value=0)
        val = check.array(f"runs[{i}].val_loss", r.val_loss, ndim=1, min_size=0, allow_nan=True)
        check.same_length((f"runs[{i}].compute", compute.size), (f"runs[{i}].val_loss", val.size))
    return labels, params, final


def plot_scaling_curve(runs, fit: tuple[float, float] | None = None, title: str | None = None) -> Figure:
    """Two panels on log axes: final validation loss against non-embedding parameters (left), and each
    run's validation loss against the training compute spent so far (right).

    ``runs``: ``ScalingRun`` objects (``run_scaling_sweep``), smallest model first. ``fit``: ``(a, alpha)``
    from ``fit_power_law`` draws the line ``a · N^(-alpha)`` through the left panel. On the right, the
    lower envelope of the curves is the best loss a compute budget can buy: small models win at small
    budgets, bigger ones take over as the budget grows.
    """
    labels, params, final = _runs_arrays(runs)
    if fit is not None:
        if isinstance(fit, (str, bytes)) or not hasattr(fit, "__len__") or len(fit) != 2:
            raise ValueError(f"fit={fit!r} must be the pair (a, alpha) that fit_power_law returns")
        check.number("fit[0] (a)", fit[0], min_value=0, min_inclusive=False)
        check.number("fit[1] (alpha)", fit[1])
    fig, (ax_n, ax_c) = new_figure(1, 2, figsize=(10.0, 3.8))
    colors = [f"C{i % 10}" for i in range(len(runs))]

    ax_n.plot(params, final, "-", color="gray", lw=1, zorder=1)
    ax_n.scatter(params, final, c=colors, s=50, zorder=2)
    for x, y, label in zip(params, final, labels):
        ax_n.annotate(label, (x, y), xytext=(6, 4), textcoords="offset points", fontsize=9)
    if fit is not None:
        a, alpha = fit
        xs = np.geomspace(params.min() / 1.5, params.max() * 1.5, 50)
        # one template, mathtext and all: matplotlib draws a text holding $...$ with its math font alone,
        # which has no Chinese glyphs, so a translation writes the formula in plain characters
        ax_n.plot(xs, a * xs ** (-alpha), "--", color="black", lw=1,
                  label=_("fit: loss $\\propto N^{{-{alpha:.3f}}}$").format(alpha=alpha))
        ax_n.legend(loc="upper right", fontsize=8)
    ax_n.set_xscale("log")
    ax_n.set_yscale("log")
    _plain_log_y(ax_n, final)
    ax_n.margins(x=0.12, y=0.12)  # room for the labels
    ax_n.set_xlabel(_("non-embedding parameters N (log)"))
    ax_n.set_ylabel(_("validation loss (log)"))
    ax_n.set_title(_("after the same number of steps"), fontsize=10)
    ax_n.grid(alpha=0.3, which="both")

    for run, color in zip(runs, colors):
        points = [(c, v) for c, v in zip(run.compute, run.val_loss) if c > 0 and not math.isnan(v)]
        if points:
            ax_c.plot(*zip(*points), "o-", color=color, ms=3, lw=1.5, label=f"{run.label} ({_human(run.n_params)})")
    ax_c.set_xscale("log")
    ax_c.set_yscale("log")
    _plain_log_y(ax_c, [v for run in runs for c, v in zip(run.compute, run.val_loss) if c > 0])
    ax_c.set_xlabel(_("training compute (FLOPs, log)"))
    ax_c.set_ylabel(_("validation loss (log)"))
    ax_c.set_title(_("every run as it trains"), fontsize=10)
    ax_c.grid(alpha=0.3, which="both")
    ax_c.legend(loc="upper right", fontsize=8, title=_("model (N)"), title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
