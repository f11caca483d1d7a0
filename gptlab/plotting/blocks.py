"""Pictures for the lessons on heads and blocks (06, 07): what a LayerNorm does to a vector, loss
curves side by side, gradient norms layer by layer, and what fewer key/value heads buy at decoding.

* ``plot_layer_norm``: a vector before and after LayerNorm, with its mean and standard deviation.
* ``plot_loss_curves``: several training runs' losses on one axes (raw and smoothed).
* ``plot_grad_norms_per_layer``: one line per model, the gradient norm of each layer (log scale).
* ``plot_block_wiring``: the pre-LN and post-LN block drawn side by side (boxes and arrows).
* ``plot_decode_speed``: KV-cache size and decoding speed for MHA / GQA / MQA, as bars.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..i18n import _
from . import _inputs as check
from ._base import new_figure

__all__ = ["plot_block_wiring", "plot_decode_speed", "plot_grad_norms_per_layer", "plot_layer_norm", "plot_loss_curves"]


def _vector(values, name: str) -> np.ndarray:
    """A non-empty 1-D vector of finite numbers (NaN or inf refused, naming ``name``)."""
    return check.array(name, values, ndim=1)


def _series(curves, name: str) -> dict[str, np.ndarray]:
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{name} must be a non-empty dict {{label: values}}, "
                         f"e.g. {{'pre-LN': [...], 'post-LN': [...]}}")
    return {str(label): _vector(values, f"{name}[{label!r}]") for label, values in curves.items()}


def _smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average, de-biased at the start (as TensorBoard draws it)."""
    out, avg = np.empty_like(values), 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out[i - 1] = avg / (1 - weight**i)
    return out


def plot_layer_norm(x, y, ax=None, labels=None) -> Figure:
    """A vector ``x`` and its normalized version ``y`` as bars, side by side, with each one's mean
    (dashed line) and mean ± one standard deviation (shaded band): LayerNorm moves the mean to 0
    and scales the spread to 1. ``labels``: the two panels' names (default "before: x",
    "after: LayerNorm(x)")."""
    xs, ys = _vector(x, "x"), _vector(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {xs.size} and {ys.size}")
    check.axes("ax", ax, allow_pair=True)
    if ax is not None and not isinstance(ax, (list, tuple, np.ndarray)):
        raise check.ArgumentTypeError("ax must be a pair of Axes (before, after), e.g. "
                                      "plotting.new_figure(1, 2)[1]; got one Axes")
    if labels is None:
        labels = (_("before: x"), _("after: LayerNorm(x)"))
    check.labels("labels", labels, 2, what="panel")
    if ax is None:
        fig, axes = new_figure(1, 2, figsize=(8.0, 2.8), sharey=False)
    else:
        fig, axes = ax[0].figure, ax
    for a, v, label, color in zip(axes, (xs, ys), labels, ("C0", "C2")):
        mean, std = v.mean(), v.std()  # population std, as LayerNorm uses
        a.bar(np.arange(v.size), v, color=color)
        a.axhspan(mean - std, mean + std, color="gray", alpha=0.15, lw=0)
        a.axhline(mean, color="black", ls="--", lw=1)
        a.axhline(0, color="black", lw=0.6)
        a.set_title(_("{label}\nmean {mean:+.2f}, std {std:.2f}").format(label=label, mean=mean, std=std),
                    fontsize=10)
        a.set_xlabel(_("feature"))
        a.set_xticks(np.arange(v.size))
        a.tick_params(labelsize=7)
    axes[0].set_ylabel(_("value"))
    return fig


def plot_loss_curves(curves, ax=None, smooth: float = 0.9, title: str | None = None, ylim=None,
                     styles: dict | None = None, reference: dict | None = None) -> Figure:
    """Several runs' training losses against the step: each run faint (every step) and smoothed.

    ``curves``: ``{label: losses}`` (e.g. ``history.train_loss`` of each run); ``smooth``: weight
    of the exponential moving average (0 = none). ``styles``: optional ``{label: dict(color=...,
    ls=...)}`` so that related runs share a colour. ``ylim``: (bottom, top), e.g. to leave the
    first steps' high losses out of view. ``reference``: ``{label: loss}`` levels drawn as dotted
    horizontal lines, e.g. the loss of a model that knows only the letter frequencies.
    """
    series = _series(curves, "curves")
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float, np.floating)) or not 0 <= smooth < 1:
        raise ValueError(f"smooth={smooth!r} must be in [0, 1): 0 draws the raw losses, 0.9 averages ~10 steps")
    if styles is not None:
        check.mapping("styles", styles, what="{label: dict(color=..., ls=...)}", nonempty=False)
    if reference is not None:
        check.mapping("reference", reference, what="{label: loss}")
        check.array("reference", list(reference.values()))
    if ylim is not None:
        if isinstance(ylim, (str, bytes)) or not hasattr(ylim, "__len__") or len(ylim) != 2:
            raise ValueError(f"ylim={ylim!r} must be a pair (bottom, top), e.g. (2.4, 4.5)")
        bottom, top = (check.number(f"ylim[{i}]", v, optional=True) for i, v in enumerate(ylim))
        if bottom is not None and top is not None and not bottom < top:
            raise ValueError(f"ylim={tuple(ylim)!r} must be (bottom, top) with bottom < top")
    check.axes("ax", ax)
    styles = styles or {}
    if ax is None:
        fig, ax = new_figure(figsize=(7.0, 3.8))
    else:
        fig = ax.figure
    for i, (label, losses) in enumerate(series.items()):
        style = {"color": f"C{i}", **styles.get(label, {})}
        steps = np.arange(1, losses.size + 1)
        if smooth:
            ax.plot(steps, losses, alpha=0.2, lw=0.8, color=style["color"])
            ax.plot(steps, _smooth(losses, smooth), lw=2, label=label, **style)
        else:
            ax.plot(steps, losses, lw=1.5, label=label, **style)
    for label, level in (reference or {}).items():
        ax.axhline(float(level), color="gray", ls=":", lw=1.2, label=str(label))
    ax.set_xlabel(_("step"))
    ax.set_ylabel(_("training loss (cross-entropy, nats)"))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_grad_norms_per_layer(norms, ax=None, title: str | None = None, log: bool = True,
                              ylabel: str | None = None, styles: dict | None = None) -> Figure:
    """One line per model: the gradient norm of each layer, input side on the left, output on the right.

    ``norms``: ``{label: [norm of layer 0, layer 1, ...]}``, e.g. from
    ``gptlab.diagnostics.grad_norms_per_layer`` for a post-LN and a pre-LN stack. ``log``: a log
    y-axis, where "twice as large" looks the same at every height. ``styles``: optional
    ``{label: dict(color=...)}``, e.g. the colours of the matching loss curves. ``ylabel``: the y
    axis's label (default "gradient norm").
    """
    series = _series(norms, "norms")
    if styles is not None:
        check.mapping("styles", styles, what="{label: dict(color=...)}", nonempty=False)
    check.axes("ax", ax)
    if log and any((v <= 0).any() or not np.isfinite(v).all() for v in series.values()):
        raise ValueError("norms must be positive and finite on a log scale; pass log=False to draw zeros")
    if ax is None:
        fig, ax = new_figure(figsize=(6.0, 3.4))
    else:
        fig = ax.figure
    n_max = max(v.size for v in series.values())
    styles = styles or {}
    for i, (label, v) in enumerate(series.items()):
        style = {"color": f"C{i}", **styles.get(label, {})}
        ax.plot(np.arange(v.size), v, "o-", ms=4, label=label, **style)
    if log:
        ax.set_yscale("log")
    ax.set_xticks(np.arange(n_max))
    ax.set_xlabel(_("layer (0 = next to the input)"))
    ax.set_ylabel(_("gradient norm") if ylabel is None else ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_decode_speed(tokens_per_second: dict, cache_bytes: dict, title: str | None = None) -> Figure:
    """Two bar charts over the same variants (e.g. MHA, GQA, MQA): the KV cache each one holds
    (KiB) and the decoding speed each one reached (tokens/s), each bar labelled with its value."""
    check.mapping("tokens_per_second", tokens_per_second, what="{variant: tokens per second}")
    check.mapping("cache_bytes", cache_bytes, what="{variant: bytes of KV cache}")
    check.array("tokens_per_second", list(tokens_per_second.values()))
    check.array("cache_bytes", list(cache_bytes.values()))
    speed = {str(k): float(v) for k, v in tokens_per_second.items()}
    memory = {str(k): float(v) for k, v in cache_bytes.items()}
    if not speed or list(speed) != list(memory):
        raise ValueError(f"tokens_per_second and cache_bytes must be non-empty dicts over the same variants in "
                         f"the same order, got {list(speed)} and {list(memory)}")
    if any(not math.isfinite(v) or v < 0 for v in (*speed.values(), *memory.values())):
        raise ValueError("tokens_per_second and cache_bytes must be finite, non-negative numbers")
    names = list(speed)
    fig, (ax_mem, ax_speed) = new_figure(1, 2, figsize=(8.0, 3.0))
    colors = [f"C{i}" for i in range(len(names))]
    for ax, values, label, fmt in ((ax_mem, [memory[n] / 1024 for n in names], _("KV cache (KiB)"), "{:,.0f}"),
                                   (ax_speed, [speed[n] for n in names], _("decoding speed (tokens/s)"), "{:,.0f}")):
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, [fmt.format(v) for v in values], fontsize=8, padding=2)
        ax.set_ylabel(label)
        ax.set_ylim(0, 1.18 * max(max(values), 1e-9))
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


_BOX = dict(boxstyle="round,pad=0.35", linewidth=1.0)
_COLORS = {"LayerNorm": "#fde9c9", "attention": "#cfe3f7", "MLP": "#d7f0d2"}


def _wire(ax, start, end) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.1,
                                                         shrinkA=9, shrinkB=9))


def _box(ax, xy, label: str, gid: str, kind: str | None = None) -> None:
    """A box labelled ``label``, coloured by its ``kind`` (default: the label's first word, in English)."""
    kind = label.split()[0] if kind is None else kind
    ax.text(*xy, label, ha="center", va="center", fontsize=9, gid=gid,
            bbox=dict(_BOX, facecolor=_COLORS.get(kind, "white"), edgecolor="0.3"))


def _draw_block(ax, norm: str) -> None:
    """One block, input at the bottom: the residual stream on the right, the sublayers on the left."""
    stream, branch = 0.72, 0.28
    y = 0.0
    ax.text(stream, y - 0.25, _("x (from the block below)"), ha="center", va="top", fontsize=8)
    shown = {"attention": _("attention"), "MLP": "MLP"}  # what each sublayer's box says
    for i, name in enumerate(("attention", "MLP")):
        base = y
        if norm == "pre":
            ln_y, sub_y, plus_y = base + 0.55, base + 1.25, base + 1.9
            _wire(ax, (stream, base), (branch, ln_y))
            _box(ax, (branch, ln_y), f"LayerNorm {i + 1}", f"ln_{i + 1}")
            _wire(ax, (branch, ln_y), (branch, sub_y))
            _box(ax, (branch, sub_y), shown[name], name, kind=name)
            top = plus_y
        else:
            sub_y, plus_y, ln_y = base + 0.8, base + 1.5, base + 2.1
            _wire(ax, (stream, base), (branch, sub_y))
            _box(ax, (branch, sub_y), shown[name], name, kind=name)
            top = ln_y
        _wire(ax, (branch, sub_y), (stream, plus_y))
        _wire(ax, (stream, base), (stream, plus_y))  # the residual path: x itself
        ax.text(stream, plus_y, "+", ha="center", va="center", fontsize=12, gid=f"plus_{i + 1}",
                bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor="0.3"))
        if norm == "post":
            _wire(ax, (stream, plus_y), (stream, ln_y))
            _box(ax, (stream, ln_y), f"LayerNorm {i + 1}", f"ln_{i + 1}")
        y = top + 0.2
        if i == 0:
            _wire(ax, (stream, top), (stream, y))
    _wire(ax, (stream, y - 0.2), (stream, y + 0.45))
    ax.text(stream, y + 0.55, _("to the next block"), ha="center", va="bottom", fontsize=8)
    formula = ("x = x + attention(LN₁(x))\nx = x + MLP(LN₂(x))" if norm == "pre"
               else "x = LN₁(x + attention(x))\nx = LN₂(x + MLP(x))")
    ax.set_title(f"{norm}-LN\n{formula}", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.8, y + 1.0)
    ax.axis("off")


def plot_block_wiring(norms=("pre", "post")) -> Figure:
    """The Transformer block drawn once per wiring in ``norms`` ("pre": LayerNorm at the start of each
    sublayer, GPT-2; "post": LayerNorm after each residual sum, the 2017 original), input at the
    bottom. Boxes carry ``gid`` "ln_1", "attention", "ln_2", "MLP", "plus_1", "plus_2"."""
    norms = (norms,) if isinstance(norms, str) else tuple(check.labels("norms", norms, what="block"))
    if not norms or any(n not in ("pre", "post") for n in norms):
        raise ValueError(f"norms must be a non-empty sequence of 'pre' and/or 'post', got {norms!r}")
    fig, axes = new_figure(1, len(norms), figsize=(3.6 * len(norms), 5.2))
    axes = np.atleast_1d(axes)
    for ax, norm in zip(axes, norms):
        _draw_block(ax, norm)
    return fig
