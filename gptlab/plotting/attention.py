"""Pictures of attention: who looks at whom, as heatmaps over the tokens.

Rows are queries (the token that is attending), columns are keys (the tokens it may look at);
each row of attention weights sums to 1, so every picture uses the same colour scale, 0 to 1,
unless told otherwise. Masked cells (gptlab's convention: mask True = may attend) are drawn grey.

* ``plot_attention``: one (T_q, T_k) weight matrix, values written in when it is small.
* ``plot_attention_heads``: several matrices side by side (the heads of a layer, lessons 06, 10).
* ``plot_attention_before_after``: the same matrix before and after training (lesson 04).
* ``plot_attention_query`` (and ``AttentionView``, its reusable form): the explorer's picture,
  one query's row outlined with its weights written in.
* ``plot_attention_row``: one query's weights as bars.
* ``plot_attention_training``: numbers between 0 and 1 (accuracy, weight on the right key) as
  training goes (lesson 04).
* ``plot_change_by_position``: how much each position's output moved (lesson 09's experiment).
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..i18n import _
from . import _inputs as check
from ._base import new_figure
from ._live import mark_dynamic

__all__ = [
    "AttentionView",
    "plot_attention",
    "plot_attention_before_after",
    "plot_attention_heads",
    "plot_attention_query",
    "plot_attention_row",
    "plot_attention_training",
    "plot_change_by_position",
    "token_label",
]

ANNOTATE_UP_TO = 10  # write the weights into the cells when neither side is longer than this
MASKED_COLOR = "#d9d9d9"


def _as_numpy(values, name: str) -> np.ndarray:
    """Tensors (on any device, with or without grad) and lists alike, as a float NumPy array of
    finite numbers (NaN or inf is refused, naming ``name``)."""
    return check.array(name, values, min_size=0)


def token_label(token) -> str:
    """How a token is written on an axis: visible whitespace, at most 12 characters."""
    text = str(token).replace("\n", "↵").replace("\t", "⇥")
    if text.strip() == "":
        text = text.replace(" ", "␣") or "∅"
    return text if len(text) <= 12 else text[:11] + "…"


def _check_tokens(name: str, tokens, n: int, what: str) -> list[str]:
    if isinstance(tokens, str) or not hasattr(tokens, "__len__"):
        raise ValueError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    if len(tokens) != n:
        raise ValueError(f"{name} has {len(tokens)} tokens but the weights have {n} {what}; "
                         f"pass one token per {what[:-1]}")
    return [token_label(t) for t in tokens]


def _check_query(query, n: int) -> None:
    if query is not None and (isinstance(query, (bool, np.bool_)) or not isinstance(query, (int, np.integer))
                              or not 0 <= query < n):
        raise ValueError(f"query={query!r} is not a row of the weights; choose a whole number 0..{n - 1} (or None)")


def _check_matrix(weights, mask, name: str = "weights"):
    w = _as_numpy(weights, name)
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"{name} must be a (T_q, T_k) matrix of attention weights, got shape {w.shape}")
    if (w < 0).any():
        raise ValueError(f"{name} holds a negative weight ({float(w.min()):g}); attention weights come out of a "
                         f"softmax and lie in [0, 1]")
    keep = None
    if mask is not None:
        keep = _as_numpy(mask, "mask").astype(bool)
        if keep.shape != w.shape:
            raise ValueError(f"mask has shape {keep.shape} but {name} has shape {w.shape}; "
                             f"pass a bool (T_q, T_k) mask, True = may attend")
    return w, keep


def _draw_heatmap(ax, w: np.ndarray, labels_q: list[str], labels_k: list[str], keep, query, annotate,
                  vmax: float, cmap: str, fontsize: float | None = None):
    """Draw one weight matrix on ``ax``; returns the image (for a colorbar)."""
    T_q, T_k = w.shape
    colors = matplotlib.colormaps[cmap].with_extremes(bad=MASKED_COLOR)
    shown = np.ma.masked_array(w, mask=None if keep is None else ~keep)
    im = ax.imshow(shown, cmap=colors, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(T_k), labels_k, rotation=90 if max(map(len, labels_k)) > 2 else 0)
    ax.set_yticks(np.arange(T_q), labels_q)
    ax.tick_params(length=0, labelsize=fontsize or (9 if max(T_q, T_k) <= 12 else 7 if max(T_q, T_k) <= 24 else 5))
    ax.set_xlabel(_("key: the token looked at"))
    ax.set_ylabel(_("query: the token looking"))
    if annotate is None:
        annotate = max(T_q, T_k) <= ANNOTATE_UP_TO
    if annotate:
        size = fontsize or (8 if max(T_q, T_k) <= 6 else 7)
        for i in range(T_q):
            for j in range(T_k):
                if keep is not None and not keep[i, j]:
                    continue  # masked: grey, weight exactly 0
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=size,
                        color="white" if w[i, j] > 0.6 * vmax else "black")
    if query is not None:
        ax.add_patch(Rectangle((-0.5, query - 0.5), T_k, 1, fill=False, edgecolor="tab:orange", linewidth=2.5))
        ax.get_yticklabels()[query].set_fontweight("bold")
    return im


def plot_attention(weights, tokens_q, tokens_k=None, ax=None, title: str | None = None, mask=None, *,
                   query: int | None = None, annotate: bool | None = None, vmax: float = 1.0,
                   colorbar: bool | None = None, cmap: str = "Blues") -> Figure:
    """Heatmap of one attention-weight matrix: row i = how query token i spreads its attention.

    ``weights``: (T_q, T_k); ``tokens_q``: the T_q query tokens; ``tokens_k``: the T_k key tokens
    (default: the same as ``tokens_q``, as in self-attention). ``mask``: bool (T_q, T_k), True =
    may attend; masked cells are drawn grey. ``query``: outline that row. ``annotate``: write the
    weights in the cells (default: when neither side exceeds 10 tokens). ``vmax``: top of the
    colour scale (1.0, so that pictures compare). A colorbar is added when the figure is new.
    """
    w, keep = _check_matrix(weights, mask)
    labels_q = _check_tokens("tokens_q", tokens_q, w.shape[0], "rows (queries)")
    labels_k = labels_q if tokens_k is None and w.shape[0] == w.shape[1] else \
        _check_tokens("tokens_k", tokens_q if tokens_k is None else tokens_k, w.shape[1], "columns (keys)")
    _check_query(query, w.shape[0])
    check.number("vmax", vmax, min_value=0, min_inclusive=False)
    check.axes("ax", ax)
    if ax is None:
        side = min(0.38 * max(w.shape) + 1.6, 6.0)
        fig, ax = new_figure(figsize=(side + 1.0, side))
        colorbar = True if colorbar is None else colorbar
    else:
        fig = ax.figure
    im = _draw_heatmap(ax, w, labels_q, labels_k, keep, query, annotate, vmax, cmap)
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(im, ax=ax, shrink=0.85, label=_("attention weight"))
    return fig


def plot_attention_heads(weights, tokens, tokens_k=None, titles=None, mask=None, *, query: int | None = None,
                         annotate: bool | None = None, vmax: float = 1.0, ncols: int | None = None,
                         suptitle: str | None = None, cmap: str = "Blues") -> Figure:
    """Several attention matrices side by side with one shared colour scale (the heads of a layer).

    ``weights``: (n_head, T_q, T_k) (a list of (T_q, T_k) matrices works too); ``tokens``: the
    query tokens; ``tokens_k``: key tokens (default: the same). ``titles``: one per panel
    (default "head 0", "head 1", ...). ``mask``: one bool (T_q, T_k) mask for every panel.
    Returns a figure with one axes per panel plus the colorbar's.
    """
    if isinstance(weights, (list, tuple)) and len(weights) and \
            len({_as_numpy(m, f"weights[{i}]").shape for i, m in enumerate(weights)}) > 1:
        raise ValueError(f"weights[...] have shapes {[_as_numpy(m, 'weights').shape for m in weights]}; every head "
                         f"must cover the same (T_q, T_k) tokens")
    w = _as_numpy(weights, "weights") if not isinstance(weights, (list, tuple)) else \
        np.stack([_as_numpy(m, "weights") for m in weights]) if len(weights) else np.zeros((0,))
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or 0 in w.shape:
        raise ValueError(f"weights must have shape (n_head, T_q, T_k), got {w.shape}")
    n = w.shape[0]
    titles = [_("head {h}").format(h=h) for h in range(n)] if titles is None else list(titles)
    if len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries but there are {n} panels; give one title per head")
    for h in range(n):
        _unused, keep = _check_matrix(w[h], mask, name=f"weights[{h}]")
    labels_q = _check_tokens("tokens", tokens, w.shape[1], "rows (queries)")
    labels_k = labels_q if tokens_k is None and w.shape[1] == w.shape[2] else \
        _check_tokens("tokens_k", tokens if tokens_k is None else tokens_k, w.shape[2], "columns (keys)")
    _check_query(query, w.shape[1])
    check.number("vmax", vmax, min_value=0, min_inclusive=False)
    check.whole("ncols", ncols, min_value=1, optional=True)
    ncols = min(n, 4) if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    T = max(w.shape[1:])
    if annotate is None:
        annotate = T <= 8
    side = min(0.3 * T + 1.4, 4.6)  # inches per panel: 16 tokens still fit two panels across a page
    fig, axes = new_figure(nrows, ncols, figsize=(min(side * ncols + 0.8, 16.0), min(side * nrows + 0.3, 14.0)))
    axes = np.asarray(axes, dtype=object).reshape(nrows, ncols)  # one panel comes back bare
    im = None
    for h, ax in enumerate(axes.flat):
        if h >= n:
            fig.delaxes(ax)
            continue
        im = _draw_heatmap(ax, w[h], labels_q, labels_k, keep, query, annotate, vmax, cmap,
                           fontsize=7 if T > 6 else 8)
        ax.set_title(titles[h])
        if h % ncols:  # the token labels on the left of each row of panels are enough
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
        if h < n - ncols:
            ax.set_xlabel("")
    fig.colorbar(im, ax=[a for a in axes.flat[:n]], shrink=0.85, label=_("attention weight"))
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_attention_before_after(before, after, tokens_q, tokens_k=None, mask=None, *, query: int | None = None,
                                titles=None, annotate: bool | None = None) -> Figure:
    """The same attention matrix before and after training, side by side on one colour scale.

    ``titles``: the two panels' titles (default "before training", "after training").
    """
    if titles is None:
        titles = (_("before training"), _("after training"))
    b, a = _as_numpy(before, "before"), _as_numpy(after, "after")
    if b.shape != a.shape:
        raise ValueError(f"before has shape {b.shape} but after has shape {a.shape}; compare the same input")
    return plot_attention_heads(np.stack([b, a]), tokens_q, tokens_k=tokens_k, titles=titles, mask=mask,
                                query=query, annotate=annotate)


def plot_attention_row(row, tokens_k, ax=None, title: str | None = None, mask_row=None) -> Figure:
    """One query's attention weights over the keys, as bars (the largest one in orange).

    ``mask_row``: bool (T_k,), True = may attend; masked keys get an "×" instead of a bar.
    """
    r = _as_numpy(row, "row")
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"row must be one query's weights, shape (T_k,), got {r.shape}")
    labels = _check_tokens("tokens_k", tokens_k, r.size, "keys")
    if (r < 0).any():
        raise ValueError(f"row holds a negative weight ({float(r.min()):g}); attention weights lie in [0, 1]")
    if mask_row is not None and _as_numpy(mask_row, "mask_row").shape != r.shape:
        raise ValueError(f"mask_row has shape {_as_numpy(mask_row, 'mask_row').shape} but row has {r.shape}; "
                         f"give one bool per key, True = may attend")
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(0.35 * r.size + 2.0, 2.8))
    else:
        fig = ax.figure
    colors = ["tab:blue"] * r.size
    colors[int(np.argmax(r))] = "tab:orange"
    ax.bar(np.arange(r.size), r, color=colors)
    if mask_row is not None:
        blocked = ~_as_numpy(mask_row, "mask_row").astype(bool)
        for j in np.flatnonzero(blocked):
            ax.text(j, 0.02, "×", ha="center", va="bottom", color="gray", fontsize=10)
    ax.set_xticks(np.arange(r.size), labels, rotation=90 if max(map(len, labels)) > 2 else 0,
                  fontsize=9 if r.size <= 12 else 7)
    ax.set_ylim(0, 1.0)
    ax.set_ylabel(_("weight"))
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def _place(fig: Figure, boxes) -> None:
    """Place axes at fixed boxes given in inches (left, bottom, width, height), instead of running
    the constrained-layout solver: the explorer redraws often, and the solver costs more than the
    drawing itself."""
    fig.set_layout_engine(None)  # None, not "none": no engine at all, so savefig draws once
    W, H = fig.get_size_inches()
    for ax, (left, bottom, width, height) in boxes:
        ax.set_position([left / W, bottom / H, width / W, height / H])


class AttentionView:
    """The explorer's picture: a heatmap built once for a list of tokens, then updated in place.

    ``update(weights, query, mask, title)`` outlines the query's row and writes its weights into
    the cells; with no query every cell is written in when the matrix is small (at most
    ``annotate_all_up_to`` tokens a side). Only the numbers change between redraws, so a widget
    keeps one view. With ``live=True`` the figure is marked for the fast redraw
    (``gptlab.plotting._live``): the parts that never change (tick labels, axis labels) are drawn
    once and kept as pixels, and each redraw draws only the heatmap, its frame, its numbers, the
    outline and the title on top. ``plot_attention_query`` is the one-shot version.
    """

    def __init__(self, tokens_q, tokens_k=None, annotate_all_up_to: int = 6, annotate_row_up_to: int = 16,
                 live: bool = False):
        tokens_k = tokens_q if tokens_k is None else tokens_k
        for name, toks in (("tokens_q", tokens_q), ("tokens_k", tokens_k)):
            if isinstance(toks, str) or not hasattr(toks, "__len__") or len(toks) == 0:
                raise ValueError(f"{name} must be a non-empty list of token strings")
        self.labels_q = [token_label(t) for t in tokens_q]
        self.labels_k = [token_label(t) for t in tokens_k]
        T_q, T_k = len(self.labels_q), len(self.labels_k)
        self.shape = (T_q, T_k)
        self.annotate_all = max(T_q, T_k) <= annotate_all_up_to
        self.annotate_row = T_k <= annotate_row_up_to

        T = max(T_q, T_k)
        cell = 0.5 if T <= 8 else 0.3 if T <= 20 else max(6.0 / T, 0.12)  # inches per heatmap cell
        map_w, map_h = max(cell * T_k, 1.8), max(cell * T_q, 1.5)
        rotated = max(map(len, self.labels_k)) > 2
        left = 0.45 + 0.075 * max(map(len, self.labels_q))
        bottom = 0.45 + (0.075 * max(map(len, self.labels_k)) if rotated else 0.2)
        top, right = 0.45, 0.2
        width, height = max(left + map_w + right, 4.2), bottom + map_h + top  # wide enough for the title
        box = (left, bottom, map_w, map_h)

        def decorate(ax):  # what never changes: the token labels and the axis labels
            ax.set_xlim(-0.5, T_k - 0.5)
            ax.set_ylim(T_q - 0.5, -0.5)  # row 0 at the top, as plot_attention (imshow) draws it
            ax.set_xticks(np.arange(T_k), self.labels_k, rotation=90 if rotated else 0)
            ax.set_yticks(np.arange(T_q), self.labels_q)
            ax.tick_params(length=0, labelsize=9 if T <= 12 else 7 if T <= 24 else 5)
            ax.set_xlabel(_("key: the token looked at"))
            ax.set_ylabel(_("query: the token looking"))

        fig, ax = new_figure(figsize=(width, height))
        _place(fig, [(ax, box)])
        decorate(ax)
        self.live = bool(live)
        self.figure, self.ax = fig, ax

        cmap = matplotlib.colormaps["Blues"].with_extremes(bad=MASKED_COLOR)
        # one flat quad per cell (a QuadMesh): drawn in a few ms at any size, where an image is
        # resampled to the picture's pixels on every draw (ten times slower at projector size)
        self.image = ax.pcolormesh(np.arange(T_k + 1) - 0.5, np.arange(T_q + 1) - 0.5, np.zeros((T_q, T_k)),
                                   cmap=cmap, vmin=0.0, vmax=1.0, antialiased=False, edgecolors="none")
        size = 8 if T <= 8 else 6.5
        # text artists are reused: one per cell when every cell may be written in, else one row's worth
        n_texts = T_q * T_k if self.annotate_all else (T_k if self.annotate_row else 0)
        self.texts = [ax.text(0, 0, "", ha="center", va="center", fontsize=size, visible=False)
                      for _ in range(n_texts)]
        self.outline = ax.add_patch(Rectangle((-0.5, -0.5), T_k, 1, fill=False, edgecolor="tab:orange",
                                              linewidth=2.5, visible=False))
        self.title = fig.suptitle("", x=0.1 / width, y=1 - 0.06 / height, ha="left", va="top", fontsize=10)

    def update(self, weights, query: int | None = None, mask=None, title: str | None = None) -> Figure:
        """Show ``weights`` (T_q, T_k); outline row ``query``; grey out the cells where ``mask``
        (bool, True = may attend) is False. Returns the (same) figure."""
        w, keep = _check_matrix(weights, mask)
        if w.shape != self.shape:
            raise ValueError(f"weights have shape {w.shape} but this view was built for {self.shape} tokens")
        if query is not None and not 0 <= query < self.shape[0]:
            raise ValueError(f"query={query} is not a row of the weights; choose 0..{self.shape[0] - 1}")
        self.image.set_array(np.ma.masked_array(w, mask=None if keep is None else ~keep))
        if query is None:
            cells = [(i, j) for i in range(w.shape[0]) for j in range(w.shape[1])] if self.annotate_all else []
        else:
            cells = [(query, j) for j in range(w.shape[1])] if self.annotate_row else []
        cells = [(i, j) for i, j in cells if keep is None or keep[i, j]]  # masked: grey, weight exactly 0
        for n, text in enumerate(self.texts):
            text.set_visible(n < len(cells))
            if n < len(cells):
                i, j = cells[n]
                text.set_position((j, i))
                text.set_text(f"{w[i, j]:.2f}")
                text.set_color("white" if w[i, j] > 0.6 else "black")
        self.outline.set_visible(query is not None)
        if query is not None:
            self.outline.set_y(query - 0.5)
        self.title.set_text(title or "")
        if self.live:  # only these change: the labels and the frame stay in the saved background
            mark_dynamic(self.figure, [self.image, *self.ax.spines.values(), *self.texts, self.outline, self.title],
                         key="attention")  # the frame too: it lies on the heatmap's edge
        return self.figure


def plot_attention_query(weights, tokens_q, tokens_k=None, query: int | None = None, mask=None,
                         title: str | None = None) -> Figure:
    """What the attention explorer shows: the heatmap with the chosen query's row outlined and its
    weights written in (``query=None``: every row, numbers written in when at most 6 tokens)."""
    w, _keep = _check_matrix(weights, mask)
    _check_tokens("tokens_q", tokens_q, w.shape[0], "rows (queries)")
    _check_tokens("tokens_k", tokens_q if tokens_k is None else tokens_k, w.shape[1], "columns (keys)")
    return AttentionView(tokens_q, tokens_k).update(weights, query=query, mask=mask, title=title)


def plot_change_by_position(changes: dict, changed_from: int | None = None, tokens=None, ax=None,
                            title: str | None = None, ylabel: str | None = None) -> Figure:
    """Bars of how much each position's output moved, one colour per setting; "0" marks exact zeros.

    ``ylabel``: the y axis's label (default "largest |change| of the output").
    ``changes``: {label: (T,) values}, e.g. {"with mask": ..., "without mask": ...}.
    ``changed_from``: the first position whose input was changed (a dashed line is drawn before it).
    """
    check.mapping("changes", changes, what="{label: (T,) values}, e.g. {'with mask': ..., 'without mask': ...}")
    series = {label: _as_numpy(v, f"changes[{label!r}]") for label, v in changes.items()}
    T = {v.shape for v in series.values()}
    if len(T) != 1 or next(iter(T)) == () or len(next(iter(T))) != 1:
        raise ValueError(f"every entry of changes must be a (T,) vector of the same length, got shapes {sorted(T)}")
    T = next(iter(T))[0]
    check.whole("changed_from", changed_from, min_value=0, max_value=T, optional=True)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(max(5.0, 0.45 * T + 2.0), 3.0))
    else:
        fig = ax.figure
    width = 0.8 / len(series)
    top = max(float(np.max(v)) for v in series.values()) or 1.0
    for s, (label, v) in enumerate(series.items()):
        x = np.arange(T) - 0.4 + width * (s + 0.5)
        ax.bar(x, v, width=width, label=label, color=f"C{s}")
        for xi, vi in zip(x, v):
            if vi == 0.0:  # exactly zero: bit-identical output
                ax.text(xi, 0.01 * top, "0", ha="center", va="bottom", fontsize=9, fontweight="bold",
                        color=f"C{s}")
    if changed_from is not None:
        ax.axvline(changed_from - 0.5, color="black", linestyle="--", linewidth=1)
        ax.text(changed_from - 0.4, 0.95 * top, _("inputs changed →"), ha="left", va="top", fontsize=8)
    labels = [str(i) for i in range(T)] if tokens is None else _check_tokens("tokens", tokens, T, "positions")
    ax.set_xticks(np.arange(T), labels, fontsize=8)
    ax.set_xlabel(_("position"))
    ax.set_ylabel(_("largest |change| of the output") if ylabel is None else ylabel)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def plot_attention_training(steps, curves: dict, ax=None, title: str | None = None, chance: float | None = None,
                            ylabel: str | None = None) -> Figure:
    """Curves of numbers between 0 and 1 against training steps, e.g. accuracy and the attention
    weight the query puts on the right key. ``chance``: a dashed line at the level of guessing.
    ``ylabel``: the y axis's label (default "fraction")."""
    x = _as_numpy(steps, "steps")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"steps must be a non-empty 1-D list of step numbers, got shape {x.shape}")
    check.mapping("curves", curves, what="{label: values}, e.g. {'accuracy': [...], 'weight on the key': [...]}")
    check.number("chance", chance, min_value=0, max_value=1, optional=True)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.5, 3.0))
    else:
        fig = ax.figure
    for label, values in curves.items():
        y = _as_numpy(values, f"curves[{label!r}]")
        if y.shape != x.shape:
            raise ValueError(f"curves[{label!r}] has {y.size} values but there are {x.size} steps")
        ax.plot(x, y, "o-", ms=3, label=label)
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle="--", linewidth=1,
                   label=_("chance ({chance:.2f})").format(chance=chance))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(_("training step"))
    ax.set_ylabel(_("fraction") if ylabel is None else ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_blend(inputs, outputs, weights, tokens, *, query: int | None = None, ax=None, fig: Figure | None = None,
               title: str | None = None, radius: float | None = None) -> Figure:
    """2-D word vectors as points, and each attention output as a blend of them (lesson 03).

    ``inputs``: (T, 2) the input vectors x_j; ``outputs``: (T, 2) the outputs y_i = sum_j w_ij x_j;
    ``weights``: (T, T), row i = the weights of output i; ``tokens``: the T words. With ``query``
    = i, lines join y_i to every input, as thick and as dark as its weight, with the weight
    written beside it; without, every output is drawn as a star beside its word. ``radius``: draw
    a dashed circle of that radius (the length every vector was scaled to). ``fig``: a figure
    made by this function, to be updated in place (an explorer's; drawn the fast way).
    """
    x = _as_numpy(inputs, "inputs")
    y = _as_numpy(outputs, "outputs")
    w = _as_numpy(weights, "weights")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"inputs must be (T, 2) points, got shape {x.shape}")
    if y.shape != x.shape:
        raise ValueError(f"outputs must have the inputs' shape {x.shape}, got {y.shape}")
    if w.shape != (len(x), len(x)):
        raise ValueError(f"weights must be ({len(x)}, {len(x)}), got {w.shape}")
    labels = _check_tokens("tokens", tokens, len(x), "points")
    if len(x) == 0:
        raise ValueError("inputs is empty; give at least one (x, y) point")
    if (w < 0).any():
        raise ValueError(f"weights holds a negative weight ({float(w.min()):g}); attention weights lie in [0, 1]")
    if query is not None and (isinstance(query, (bool, np.bool_)) or not isinstance(query, (int, np.integer))
                              or not 0 <= query < len(x)):
        raise ValueError(f"query={query!r} is not a position; choose a whole number 0..{len(x) - 1} (or None)")
    check.number("radius", radius, min_value=0, optional=True)
    check.axes("ax", ax)
    check.figure("fig", fig)
    if fig is not None and not fig.axes:
        raise ValueError("fig has no axes; pass a figure plot_blend drew before (or leave fig=None)")
    if fig is not None:
        ax = fig.axes[0]
        ax.cla()
    elif ax is None:
        fig, ax = new_figure(figsize=(4.6, 4.6))
    fig = ax.figure
    reach = max(float(np.abs(x).max()), radius or 0.0) * 1.3 + 0.2
    if radius:
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(radius * np.cos(t), radius * np.sin(t), ls="--", lw=0.8, color="0.75", zorder=0)
    ax.axhline(0, color="0.9", lw=0.8, zorder=0)
    ax.axvline(0, color="0.9", lw=0.8, zorder=0)
    if query is not None:
        for j in range(len(x)):
            ax.plot([y[query, 0], x[j, 0]], [y[query, 1], x[j, 1]], color="tab:orange",
                    lw=0.5 + 6 * w[query, j], alpha=0.25 + 0.75 * w[query, j], zorder=1)
            if j == query or w[query, j] < 0.005:
                continue  # on top of the star, or too small to read: the explorer's text lists them all
            mid = 0.35 * y[query] + 0.65 * x[j]
            ax.annotate(f"{w[query, j]:.2f}", mid, fontsize=8, color="tab:brown", ha="center", va="center")
    ax.scatter(x[:, 0], x[:, 1], s=40, color="tab:blue", zorder=3, label=_("inputs x"))
    placed: dict[tuple, int] = {}
    for j, (point, label) in enumerate(zip(x, labels)):
        spot = (round(float(point[0]), 3), round(float(point[1]), 3))
        n = placed.get(spot, 0)  # repeated words sit on one point: stack their labels
        placed[spot] = n + 1
        text = label if query is None or j != query else _("{label} (asks)").format(label=label)
        ax.annotate(text, point, xytext=(6, 4 - 11 * n), textcoords="offset points", fontsize=9, color="tab:blue")
    shown = range(len(x)) if query is None else [query]
    ax.scatter(y[list(shown), 0], y[list(shown), 1], marker="*", s=160, color="tab:orange", zorder=4,
               edgecolor="black", linewidth=0.5, label=_("outputs y"))
    if query is None:
        for i in shown:
            ax.annotate(f"y_{labels[i]}", y[i], xytext=(5, -10), textcoords="offset points", fontsize=8,
                        color="tab:orange")
    else:
        ax.annotate(f"y_{labels[query]}", y[query], xytext=(6, -12), textcoords="offset points", fontsize=9,
                    color="black")
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)  # the figure is square, so circles stay round
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10, y=1.0)  # placed, not re-measured: fast redraws keep it
    return fig


def plot_qkv_flow(x, W_q, W_k, W_v, q, k, v, weights, y, tokens=None) -> Figure:
    """The lecture's picture of attention with projections, drawn from real tensors (lesson 04).

    Left to right: the inputs ``x`` (T, d_model); the three matrices ``W_q, W_k, W_v``
    (d_model, d_head); what they make, ``q = x W_q``, ``k = x W_k``, ``v = x W_v`` (T, d_head);
    the ``weights`` (T, T) = softmax(q kᵀ / √d_head); the outputs ``y`` = weights · v (T, d_head).
    Every matrix is a heatmap of its numbers (blue negative, red positive; the weights 0 to 1).
    """
    mats = {name: _as_numpy(m, name) for name, m in
            (("x", x), ("W_q", W_q), ("W_k", W_k), ("W_v", W_v), ("q", q), ("k", k), ("v", v),
             ("weights", weights), ("y", y))}
    if any(m.ndim != 2 for m in mats.values()):
        raise ValueError("every input must be a 2-D matrix (one sequence, no batch)")
    T, d_model = mats["x"].shape
    for name in ("W_q", "W_k", "W_v"):
        if mats[name].shape[0] != d_model:
            raise ValueError(f"{name} must have d_model={d_model} rows, got shape {mats[name].shape}")
    if mats["weights"].shape != (T, T):
        raise ValueError(f"weights must be ({T}, {T}), got {mats['weights'].shape}")
    labels = _check_tokens("tokens", tokens if tokens is not None else [f"x{i}" for i in range(T)], T, "rows of x")
    fig, axes = new_figure(3, 5, figsize=(11.0, 5.4), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    scale = max(float(np.abs(m).max()) for name, m in mats.items() if name != "weights") or 1.0
    where = {"x": (1, 0, _("x (the inputs)")), "W_q": (0, 1, "→ W_q"), "W_k": (1, 1, "→ W_k"),
             "W_v": (2, 1, "→ W_v"), "q": (0, 2, "→ q = x W_q"), "k": (1, 2, "→ k = x W_k"),
             "v": (2, 2, "→ v = x W_v"), "weights": (1, 3, "→ softmax(q kᵀ/√d)"), "y": (1, 4, _("→ y = weights · v"))}
    for name, (r, c, title) in where.items():
        ax = axes[r, c]
        ax.set_axis_on()
        m = mats[name]
        if name == "weights":
            ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(m, cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax.set_title(f"{title}\n{m.shape[0]} × {m.shape[1]}", fontsize=9)
        ax.set_xticks([])
        if name in ("x", "q", "k", "v", "weights", "y"):
            ax.set_yticks(range(T), labels, fontsize=7)
        else:
            ax.set_yticks([])
    axes[1, 3].set_xticks(range(T), labels, fontsize=7, rotation=90)
    fig.suptitle(_("attention with projections: every token makes a query, a key and a value"), fontsize=10)
    return fig
