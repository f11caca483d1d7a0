"""Pictures for lesson 05: the variance of q·k, softmax saturation and its vanishing gradient."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from ..i18n import _
from . import _inputs as check
from ._base import new_figure
from ._live import mark_dynamic
from .training import _smooth

__all__ = ["plot_qk_variance", "plot_softmax_jacobians", "plot_saturation", "plot_scaling_state",
           "plot_scaled_vs_unscaled"]

UNSCALED_COLOR, SCALED_COLOR = "tab:red", "tab:blue"


# the gradient panel's floor: float32 softmax Jacobians reach 1e-20 unscaled at d = 1024; an
# exact 0 (every other weight underflowed) is drawn on the floor
_FLOOR = 1e-24


def _np(values, name: str = "values", **limits) -> np.ndarray:
    """Finite numbers as a float array (NaN and inf refused, naming ``name``)."""
    return check.array(name, values, **limits)


def _curve(name: str, curve, keys=("d", "entropy", "jacobian_norm")) -> None:
    """A dict from ``saturation_curve``: the keys there, each one number per dimension."""
    check.mapping(name, curve, what="from gptlab.dot_product_scaling.saturation_curve")
    missing = [k for k in keys if k not in curve]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(map(repr, missing))}; pass the dict saturation_curve returns")
    dims = _np(curve["d"], f"{name}['d']", ndim=1, positive=True)
    for key in keys[1:]:
        values = _np(curve[key], f"{name}[{key!r}]", ndim=1, min_value=0)
        check.same_length((f"{name}['d']", dims.size), (f"{name}[{key!r}]", values.size))


def plot_qk_variance(dims, unscaled, scaled=None, ax=None) -> Figure:
    """Measured variance of q·k against d on log-log axes, with the lines y = d and y = 1.

    ``unscaled``, ``scaled``: one measured variance per entry of ``dims`` (e.g. from
    ``gptlab.dot_product_scaling.dot_product_variance``).
    """
    dims = _np(dims, "dims", ndim=1, positive=True)  # both axes are logarithmic
    unscaled = _np(unscaled, "unscaled", ndim=1, positive=True)
    check.same_length(("dims", dims.size), ("unscaled", unscaled.size))
    if scaled is not None:
        check.same_length(("dims", dims.size), ("scaled", _np(scaled, "scaled", ndim=1, positive=True).size))
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.2, 3.6))
    else:
        fig = ax.figure
    ax.plot(dims, dims, color="gray", ls="--", lw=1, label=_("y = d (theory, unscaled)"))
    ax.plot(dims, unscaled, "o", color=UNSCALED_COLOR, label=_("q·k (measured)"))
    if scaled is not None:
        ax.axhline(1.0, color="gray", ls=":", lw=1, label=_("y = 1 (theory, scaled)"))
        ax.plot(dims, _np(scaled), "s", color=SCALED_COLOR, label=_("q·k / √d (measured)"))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel(_("dimension d"))
    ax.set_ylabel(_("variance of the score"))
    ax.set_title(_("q, k with N(0, 1) entries: Var(q·k) = d"), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")
    return fig


def plot_softmax_jacobians(weights: Sequence, jacobians: Sequence, labels: Sequence[str]) -> Figure:
    """One column per softmax: its weights (bars) above its Jacobian diag(p) - p pᵀ (heatmap).

    All heatmaps share one colour scale, so a Jacobian that shrinks towards 0 fades out.
    """
    for name, value in (("weights", weights), ("jacobians", jacobians), ("labels", labels)):
        check.labels(name, value, what="softmax")
    if not (len(weights) == len(jacobians) == len(labels)) or not len(weights):
        raise ValueError("weights, jacobians and labels must be non-empty lists of the same length")
    for i, (p, jac) in enumerate(zip(weights, jacobians)):
        p = check.probabilities(f"weights[{i}]", p)
        jac = _np(jac, f"jacobians[{i}]", ndim=2)
        if jac.shape != (p.size, p.size):
            raise ValueError(f"jacobians[{i}] has shape {jac.shape}; the Jacobian of {p.size} weights is "
                             f"({p.size}, {p.size})")
    n = len(weights)
    fig, axes = new_figure(2, n, figsize=(2.6 * n, 4.6))
    axes = np.asarray(axes).reshape(2, n)
    jacs = [_np(j) for j in jacobians]
    vmax = max(float(np.abs(j).max()) for j in jacs) or 1.0
    for col, (p, jac, label) in enumerate(zip(weights, jacs, labels)):
        p = _np(p)
        ax = axes[0, col]
        ax.bar(np.arange(p.size), p, color="tab:purple")
        ax.set_ylim(0, 1.05)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        if col == 0:
            ax.set_ylabel(_("softmax weight"))
        ax = axes[1, col]
        image = ax.imshow(jac, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(f"|J| = {np.linalg.norm(jac):.2g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if col == 0:
            ax.set_ylabel("J = diag(p) − ppᵀ")
    fig.colorbar(image, ax=axes[1, :].tolist(), shrink=0.8)
    return fig


def _draw_curves(ax, unscaled: Mapping, scaled: Mapping, key: str, log_y: bool = False, sparse: bool = False):
    """Draw the unscaled and scaled curve of ``key`` against d; return their two lines."""
    dims = _np(unscaled["d"])
    lines = (ax.plot(dims, _np(unscaled[key]), "o-", color=UNSCALED_COLOR, ms=3, label="q·k")[0],
             ax.plot(_np(scaled["d"]), _np(scaled[key]), "s-", color=SCALED_COLOR, ms=3, label="q·k / √d")[0])
    ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    if sparse:  # few tick labels: text layout is most of a redraw's cost
        ticks = dims[:: max(1, len(dims) // 4)]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        if log_y:
            ax.yaxis.set_major_locator(LogLocator(numticks=5))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0e}".replace("e-0", "e-")))
            ax.yaxis.set_minor_locator(NullLocator())  # plain labels: 10^k in mathtext costs a parse
    ax.set_xlabel(_("dimension d"))
    ax.grid(alpha=0.3, which="major" if sparse else "both")
    return lines


def plot_saturation(unscaled: Mapping, scaled: Mapping, T: int) -> Figure:
    """Entropy and gradient size of softmax(q·K) against d, unscaled and scaled.

    ``unscaled``, ``scaled``: dicts from ``gptlab.dot_product_scaling.saturation_curve`` (same dims and T).
    """
    _curve("unscaled", unscaled)
    _curve("scaled", scaled)
    check.whole("T", T, min_value=1)
    fig, (ax_h, ax_g) = new_figure(1, 2, figsize=(9.0, 3.4))
    _draw_curves(ax_h, unscaled, scaled, "entropy")
    ax_h.axhline(math.log(T), color="gray", ls="--", lw=1, label=_("uniform: log {T}").format(T=T))
    ax_h.set_ylabel(_("entropy of the weights (nats)"))
    ax_h.set_ylim(bottom=0)
    ax_h.set_title(_("how spread out the attention is (T = {T} keys)").format(T=T), fontsize=10)
    ax_h.legend(fontsize="small")
    _draw_curves(ax_g, unscaled, scaled, "jacobian_norm", log_y=True)
    ax_g.set_ylabel(_("size of diag(p) − ppᵀ (median)"))
    ax_g.set_title(_("how much gradient passes the softmax"), fontsize=10)
    ax_g.legend(fontsize="small")
    return fig


def plot_scaling_state(weights, d: int, scaled: bool, entropy: float, jacobian_norm: float,
                       unscaled_curve: Mapping, scaled_curve: Mapping, fig: Figure | None = None,
                       T_max: int | None = None) -> Figure:
    """What ``ScalingExplorer`` shows: one query's weights over T keys (bars), and where this draw
    sits on the average entropy and gradient-size curves (both modes, against d).

    ``fig``: a figure this function drew before, updated in place and marked for fast redraws
    (the frames, the d axes and the gradient panel's scale stay; the bars, curves, stars and
    labels move). ``T_max``: the largest T the caller will ask for; the entropy axis then runs up
    to log T_max whatever T is, so changing T does not redraw the axes.
    """
    p = check.probabilities("weights", weights)
    T = p.size
    check.number("d", d, min_value=0, min_inclusive=False)  # drawn on a log axis
    if not isinstance(scaled, (bool, np.bool_)):
        raise check.ArgumentTypeError(f"scaled={scaled!r} must be True or False")
    check.number("entropy", entropy, min_value=0)
    check.number("jacobian_norm", jacobian_norm, min_value=0)
    _curve("unscaled_curve", unscaled_curve)
    _curve("scaled_curve", scaled_curve)
    check.figure("fig", fig)
    T_max = T if T_max is None else max(T, check.whole("T_max", T_max, min_value=1))
    color = SCALED_COLOR if scaled else UNSCALED_COLOR
    dims = tuple(_np(unscaled_curve["d"]).tolist()), tuple(_np(scaled_curve["d"]).tolist())
    key = ("scaling-state", T_max, dims)
    parts = fig.__dict__.get("_gptlab_scaling_state") if fig is not None else None
    if parts is None or parts["key"] != key:
        if fig is None:
            fig, (ax_w, ax_h, ax_g) = new_figure(1, 3, figsize=(11.0, 3.6))
        else:
            fig.clear()
            ax_w, ax_h, ax_g = fig.subplots(1, 3)
        fig.set_layout_engine(None)  # fixed margins: a constrained layout would double the redraw time
        fig.subplots_adjust(left=0.055, right=0.985, bottom=0.14, top=0.82, wspace=0.3)
        uniform = ax_w.axhline(1.0 / T, color="gray", ls="--", lw=1)
        ax_w.set_ylim(0, 1.02)
        ax_w.set_xlabel(_("key"))
        ax_w.set_ylabel(_("softmax weight"))
        # titles given a y are placed once, not re-measured at every draw
        title = ax_w.set_title("", fontsize=10, y=1.0)

        # the stars sit above the curves and lines (zorder 6), so wherever d puts them they show
        curves_h = _draw_curves(ax_h, unscaled_curve, scaled_curve, "entropy", sparse=True)
        top = ax_h.axhline(math.log(T), color="gray", ls="--", lw=1)
        (star_h,) = ax_h.plot([d], [entropy], "*", color="black", ms=13, zorder=6)
        ax_h.set_ylabel(_("entropy (nats)"))
        ax_h.set_ylim(0, math.log(T_max) * 1.08 + 1e-9)
        ax_h.set_title(_("entropy (median of many draws)"), fontsize=10, y=1.0)

        curves_g = _draw_curves(ax_g, unscaled_curve, scaled_curve, "jacobian_norm", log_y=True, sparse=True)
        (star_g,) = ax_g.plot([d], [1.0], "*", color="black", ms=13, zorder=6)
        ax_g.set_ylim(_FLOOR, 1.0)  # fixed, so the axis does not jump between draws
        ax_g.set_ylabel(_("size of diag(p) − ppᵀ"))
        ax_g.set_title(_("gradient through the softmax"), fontsize=10, y=1.0)
        # one legend for all three panels, above them: nothing that moves ever passes under it,
        # so it is drawn once (legends inside the panels cost more per redraw than the rest)
        fig.legend(handles=[*curves_h, star_h, uniform],
                   labels=[_("q·k (unscaled)"), _("q·k / √d (scaled)"), _("this draw"),
                           _("uniform: weight 1/T, entropy log T (its maximum)")],
                   loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=4, fontsize="small", frameon=False)
        parts = dict(key=key, ax_w=ax_w, bars=None, T=None, uniform=uniform, title=title, curves_h=curves_h,
                     top=top, star_h=star_h, curves_g=curves_g, star_g=star_g)
        fig.__dict__["_gptlab_scaling_state"] = parts
    ax_w = parts["ax_w"]
    if parts["T"] != T:  # another number of keys: new bars, and the curves and lines for this T
        if parts["bars"] is not None:
            parts["bars"].remove()
        parts["bars"], parts["T"] = ax_w.bar(np.arange(T), p, color=color), T
        ax_w.set_xlim(-0.6, T - 0.4)
        parts["uniform"].set_ydata([1.0 / T, 1.0 / T])
        parts["top"].set_ydata([math.log(T), math.log(T)])
        for field, lines in (("entropy", parts["curves_h"]), ("jacobian_norm", parts["curves_g"])):
            for line, curve in zip(lines, (unscaled_curve, scaled_curve)):
                line.set_ydata(_np(curve[field]))
    # what changes with d and the scaled switch: bar heights and colour, the title, the stars
    for rect, height in zip(parts["bars"], p):
        rect.set_height(height)
        rect.set_facecolor(color)
    mode = "q·k / √d" if scaled else _("q·k (unscaled)")
    parts["title"].set_text(_("one query, d = {d}, {mode}").format(d=d, mode=mode))
    parts["star_h"].set_data([d], [entropy])
    parts["star_g"].set_data([d], [max(jacobian_norm, _FLOOR)])
    # everything that depends on T or d is redrawn, in z-order (the uniform line lies over the
    # bars), and so are the frames (spines), which the bars and markers touch
    spines = [spine for ax in fig.axes for spine in ax.spines.values()]
    mark_dynamic(fig, [*parts["bars"], ax_w.xaxis, parts["uniform"], parts["title"], *parts["curves_h"],
                       parts["top"], parts["star_h"], *parts["curves_g"], parts["star_g"], *spines], key)
    return fig


def plot_scaled_vs_unscaled(losses: Mapping[str, Sequence[float]], accuracies: Mapping[str, Sequence[float]]
                            | None = None, smooth: float = 0.8) -> Figure:
    """Training curves of several runs side by side: loss (and accuracy when given), per step.

    ``losses``: {run name: per-step training losses}; ``accuracies`` likewise. Names containing
    "unscaled" are drawn red, the others blue then the default cycle.
    """
    check.mapping("losses", losses, what="{run name: per-step losses}")
    for name, values in losses.items():
        _np(values, f"losses[{name!r}]", ndim=1)
    if accuracies is not None:
        check.mapping("accuracies", accuracies, what="{run name: per-step accuracies}")
        for name, values in accuracies.items():
            _np(values, f"accuracies[{name!r}]", ndim=1, min_value=0, max_value=1)
    check.number("smooth", smooth, min_value=0, max_value=1, max_inclusive=False)
    panels = 1 if accuracies is None else 2
    fig, axes = new_figure(1, panels, figsize=(4.6 * panels, 3.4))
    axes = np.asarray(axes).reshape(1, panels)
    colors = {}
    for i, name in enumerate(losses):
        colors[name] = UNSCALED_COLOR if "unscaled" in name else (SCALED_COLOR if "scaled" in name else f"C{i}")
    for ax, curves, label in ((axes[0, 0], losses, _("training loss (nats)")),
                              *(((axes[0, 1], accuracies, _("batch accuracy")),) if accuracies else ())):
        for name, values in curves.items():
            values = list(map(float, values))
            steps = np.arange(1, len(values) + 1)
            color = colors.get(name, "gray")
            ax.plot(steps, values, color=color, alpha=0.2, lw=1)
            ax.plot(steps, _smooth(values, smooth), color=color, lw=2, label=name)
        ax.set_xlabel(_("step"))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig
