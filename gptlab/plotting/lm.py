"""Pictures for lessons 01-02: next-token distributions, decoding filters, perplexity against n.

* ``plot_next_token_probs``: the most likely next tokens as bars (the n-gram explorer).
* ``plot_sampling_before_after``: the model's distribution and what decoding leaves of it.
* ``plot_perplexity_vs_n``: train and held-out perplexity of n-gram models as n grows.
* ``plot_coverage_vs_n``: how many held-out n-grams were ever seen in training (sparsity).
* ``plot_entropy_vs_temperature``: how temperature moves the entropy of a distribution.
* ``plot_lm_training``: a training-loss curve against the log-perplexity of other models.
* ``plot_bigram_counts``: the table of bigram counts (previous token -> next token) as a heat map.
* ``plot_chain_rule``: a sentence's probability as the product of its conditionals, factor by factor.
* ``plot_perplexity_bars``: held-out perplexities of several models side by side, values printed.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from ..i18n import _
from . import _inputs as check
from ._base import new_figure
from ._live import mark_dynamic

__all__ = [
    "plot_bigram_counts",
    "plot_chain_rule",
    "plot_coverage_vs_n",
    "plot_decoding_measures",
    "plot_entropy_vs_temperature",
    "plot_lm_training",
    "plot_next_token_probs",
    "plot_perplexity_bars",
    "plot_perplexity_vs_n",
    "plot_sampling_before_after",
    "new_token_bar_figure",
    "token_text",
]


def _np(values) -> np.ndarray:
    """Tensors (any device), lists and arrays alike, as a float NumPy array."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def token_text(token) -> str:
    """A token as a readable tick label: blank tokens quoted, '$' kept from starting mathtext."""
    text = str(token)
    if text.strip() == "":
        text = repr(text)            # ' ', '\n': quotes make blank tokens visible
    return text.replace("$", r"\$")


def _axes(ax, figsize) -> tuple[Figure, object]:
    if ax is None:
        return new_figure(figsize=figsize)
    ax.clear()
    return ax.figure, ax


def new_token_bar_figure(n_bars: int, width: float = 6.4) -> tuple[Figure, object]:
    """A figure for token bar charts that an explorer redraws in place.

    Two things keep a redraw cheap: margins set from the labels (``_fit_margins``) instead of by
    constrained layout, which measures every text twice, and bars that are updated rather than
    rebuilt when the same function draws into the same axes again (``_bars_to_update``).
    """
    fig, ax = new_figure(figsize=(width, 0.9 + 0.22 * max(n_bars, 5)))
    # None, not "none": with any layout engine set, even a do-nothing one, savefig lays the whole
    # figure out once more before drawing it
    fig.set_layout_engine(None)
    return fig, ax


def _fit_margins(ax, labels: Sequence[str], title_lines: int, min_top: float = 0.0) -> tuple:
    """Room for the tick labels on the left, the title above and the x label below (in inches),
    on figures without a layout engine; constrained-layout figures manage themselves.

    The label room grows in steps of four characters and never shrinks on the same axes, so the
    axes stay put while the labels change. Returns what the margins depend on (part of a fast
    redraw's key).
    """
    fig = ax.figure
    if fig.get_layout_engine() is not None and not isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        return ()
    w, h = fig.get_size_inches()
    chars = 4 * math.ceil(max((len(t) for t in labels), default=1) / 4)
    chars = ax.__dict__["_gptlab_label_chars"] = max(chars, ax.__dict__.get("_gptlab_label_chars", 0))
    left = 0.25 + 0.08 * chars     # ~0.6 em per character at 10 pt
    top, bottom, right = max(0.12 + 0.19 * title_lines, min_top), 0.5, 0.15
    ax.set_position([left / w, bottom / h, 1 - (left + right) / w, 1 - (top + bottom) / h])
    return (chars, title_lines)


def _nice_limit(largest: float) -> float:
    """The axis end for probability bars up to ``largest``: the next of 1, 2, 2.5, 5 x 10^k above
    it (with a little room), and 1.05 for bars near 1. Steps rather than a snug fit keep the axis,
    and its labels, still while the bars move, so an explorer need not redraw them."""
    wanted = max(float(largest) * 1.05, 1e-3)
    exponent = math.floor(math.log10(wanted))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        limit = step * 10.0 ** exponent
        if limit >= wanted:
            return limit if limit <= 1.0 or largest > 1.0 else 1.05
    return 1.05  # unreachable: 10 x 10^k is always enough


def _mark_bars_dynamic(ax, containers, key: tuple, static_labels: bool = False, static_x: bool = True,
                       static_text: bool = False) -> None:
    """On an explorer's figure (no layout engine: the margins are fixed) let the next redraw
    draw only the bars, the token labels (unless ``static_labels``), the probability axis
    (unless ``static_x``: then its limits are part of the key, and it moves only in steps), the
    title and the legend (unless ``static_text``: a legend outside the bars, a title that is part
    of the key) and the frame."""
    fig = ax.figure
    if fig.get_layout_engine() is not None:
        return
    texts = () if static_text else (ax.title, ax.get_legend())  # a legend inside: a long bar may run under it
    mark_dynamic(fig, [*(rect for c in containers for rect in c), *(() if static_labels else (ax.yaxis,)),
                       *(() if static_x else (ax.xaxis,)), *texts, *ax.spines.values()],
                 key=(key, tuple(ax.get_position().bounds), ax.get_ylim(), ax.get_xlim() if static_x else None,
                      ax.get_title(loc="left") if static_text else None))


def _bars_to_update(ax, kind: str, n_bars: int):
    """The bar containers that ``kind`` drew into ``ax`` last time, if it had as many bars; else None.

    Moving a slider only changes bar lengths and labels; updating those is several times cheaper
    than clearing the axes and building every artist (ticks, bars, legend) again.
    """
    drawn = getattr(ax, "_gptlab_token_bars", None) if ax is not None else None
    if drawn is None or drawn[:2] != (kind, n_bars) or drawn[2][0].patches[0] not in ax.patches:
        return None                                   # never drawn here, another picture, or cleared since
    return drawn[2]


def _set_bar_widths(bars, widths) -> None:
    for rect, width in zip(bars, widths):
        rect.set_width(width)


def plot_next_token_probs(probs, top: int = 20, title: str | None = None, ax=None) -> Figure:
    """Horizontal bars of the ``top`` most likely next tokens, most likely on top.

    ``probs``: a {token: probability} dict (``NGramLM.next_token_probs``) or a pair
    (tokens, probabilities). The title says how much mass the bars leave out.
    """
    if isinstance(probs, Mapping):
        check.mapping("probs", probs, what="{token: probability}")
        tokens, values = list(probs.keys()), check.probabilities("probs", list(probs.values()))
    else:
        if isinstance(probs, (str, bytes)) or not isinstance(probs, (tuple, list)) or len(probs) != 2:
            raise check.ArgumentTypeError(f"probs must be a {{token: probability}} dict or a pair (tokens, "
                                          f"probabilities), got {type(probs).__name__}")
        tokens, values = probs
        values = check.probabilities("probs (the probabilities)", values)
        tokens = check.labels("probs (the tokens)", tokens)
        if len(tokens) != values.size:
            raise ValueError(f"got {len(tokens)} tokens but {values.size} probabilities; they must match")
    check.whole("top", top, min_value=1)
    check.axes("ax", ax)
    order = np.argsort(-values, kind="stable")[:top]
    y, labels = np.arange(order.size), [token_text(tokens[i]) for i in order]
    containers = _bars_to_update(ax, "next", order.size)
    if containers is None:
        fig, ax = _axes(ax, (6.0, 0.6 + 0.22 * order.size))
        containers = [ax.barh(y, values[order], color="C0")]
        ax.invert_yaxis()
        ax.set_xlabel(_("P(next token)"))
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)  # grid under the bars, as a fast redraw (bars over the saved grid) shows it
        ax._gptlab_token_bars = ("next", order.size, containers)
    else:
        fig = ax.figure
        _set_bar_widths(containers[0], values[order])
    # horizontal bars keep token labels upright, which is also much cheaper to lay out than rotated text
    ax.set_yticks(y, labels)
    ax.set_xlim(0, _nice_limit(values[order].max()))
    rest = 1.0 - values[order].sum()
    note = _("top {shown} of {total}; the rest hold {rest:.1%}").format(shown=order.size, total=values.size, rest=rest)
    ax.set_title(f"{title}\n{note}" if title else note, fontsize=9, y=1.0)  # y given: placed, not measured
    margins = _fit_margins(ax, labels, title_lines=2 if title else 1)
    # every move brings other tokens: their labels are redrawn; the probability axis takes a few
    # step values, each with its own saved background
    _mark_bars_dynamic(ax, containers, ("next", order.size, margins))
    return fig


def plot_sampling_before_after(tokens: Sequence, before, after, top: int = 20, title: str | None = None,
                               ax=None) -> Figure:
    """The model's distribution (grey) beside the one decoding samples from (colour).

    The ``top`` tokens are the most likely *before* decoding, in that order, so a token that a
    filter removed shows as a grey bar with nothing beside it. The title sits on the left above
    the bars and the legend on the right, where no bar can run under them.
    """
    before, after = check.probabilities("before", before), check.probabilities("after", after)
    tokens = check.labels("tokens", tokens)
    if not (len(tokens) == before.size == after.size):
        raise ValueError(f"tokens ({len(tokens)}), before ({before.size}) and after ({after.size}) "
                         "must all have one entry per vocabulary token")
    check.whole("top", top, min_value=1)
    check.axes("ax", ax)
    order = np.argsort(-before, kind="stable")[:top]
    y, labels = np.arange(order.size), [token_text(tokens[i]) for i in order]
    containers = _bars_to_update(ax, "before-after", order.size)
    if containers is None:
        fig, ax = _axes(ax, (6.4, 0.8 + 0.22 * order.size))
        containers = [ax.barh(y - 0.2, before[order], height=0.4, color="0.7", label=_("model (T = 1, no filter)")),
                      ax.barh(y + 0.2, after[order], height=0.4, color="C1", label=_("after decoding rules"))]
        ax.invert_yaxis()
        ax.set_xlabel(_("probability"))
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.2)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)  # grid under the bars, as a fast redraw (bars over the saved grid) shows it
        ax._gptlab_token_bars = ("before-after", order.size, containers)
    else:
        fig = ax.figure
        _set_bar_widths(containers[0], before[order])
        _set_bar_widths(containers[1], after[order])
    ax.set_yticks(y, labels)
    ax.set_xlim(0, _nice_limit(max(before[order].max(), after[order].max())))
    ax.set_title(title or "", fontsize=9, y=1.0, loc="left")  # y given: placed once, not measured at every draw
    margins = _fit_margins(ax, labels, title_lines=title.count("\n") + 1 if title else 0, min_top=0.5)
    # the labels are the most likely tokens *before* decoding: they change only with the model; the
    # title and the legend only with the caller
    _mark_bars_dynamic(ax, containers, ("before-after", tuple(labels), margins), static_labels=True,
                       static_text=True)
    return fig


def plot_perplexity_vs_n(ns: Sequence[int], train_ppl: Sequence[float], val_ppl: Sequence[float],
                         references: Mapping[str, float] | None = None, title: str | None = None,
                         ax=None) -> Figure:
    """Train and held-out perplexity against n (log scale), with optional horizontal reference lines.

    Infinite perplexities (MLE on unseen n-grams) are drawn as a mark at the top labelled ∞.
    ``references``: e.g. {"MLP (held-out)": 6.2} to compare another model on the same split.
    """
    ns = [check.whole(f"ns[{i}]", n) for i, n in enumerate(check.labels("ns", ns, what="model"))]
    if not ns:
        raise ValueError("ns is empty; give the n of every model, e.g. [1, 2, 3, 4]")
    # an infinite perplexity (MLE on an unseen n-gram) is allowed: it is drawn as a mark labelled ∞
    train_ppl = check.array("train_ppl", train_ppl, ndim=1, allow_inf=True, positive=True)
    val_ppl = check.array("val_ppl", val_ppl, ndim=1, allow_inf=True, positive=True)
    check.same_length(("ns", len(ns)), ("train_ppl", train_ppl.size), ("val_ppl", val_ppl.size))
    if references is not None:
        check.mapping("references", references, what="{label: perplexity}")
        check.array("references", list(references.values()), positive=True)
    check.axes("ax", ax)
    fig, ax = _axes(ax, (6.0, 3.6))
    finite = np.concatenate([train_ppl[np.isfinite(train_ppl)], val_ppl[np.isfinite(val_ppl)],
                             _np(list((references or {}).values()))])
    top = finite.max() * 2 if finite.size else 10.0          # where infinite values are marked
    for values, label, color in ((train_ppl, _("train"), "C0"), (val_ppl, _("held-out"), "C1")):
        ax.plot(ns, np.where(np.isfinite(values), values, np.nan), "o-", color=color, label=label)
        infinite = [n for n, v in zip(ns, values) if not math.isfinite(v)]
        if infinite:   # one legend entry says what the marks mean, so no note crowds the title
            ax.plot(infinite, [top] * len(infinite), marker="^", color=color, ls="none", clip_on=False,
                    label=_("{label}: ∞ (a token got probability 0)").format(label=label))
            for n in infinite:
                ax.annotate("∞", (n, top), textcoords="offset points", xytext=(0, 5), ha="center",
                            color=color, annotation_clip=False)
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{i + 2}", ls="--", lw=1.2, label=f"{label}: {value:.2f}")
    ax.set_yscale("log")
    if not (np.isfinite(train_ppl).all() and np.isfinite(val_ppl).all()):
        ax.set_ylim(top=top * 2.5)                             # room above the marks for the ∞ signs
    ax.set_xlim(ns[0] - 0.4, ns[-1] + 0.4)                     # no mark sits on the frame
    ax.set_xticks(ns)
    ax.set_xlabel(_("n (the model sees the previous n - 1 tokens)"))
    ax.set_ylabel(_("perplexity (lower is better)"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_coverage_vs_n(ns: Sequence[int], coverage: Sequence[float], sentence_coverage: float | None = None,
                       title: str | None = None, ax=None) -> Figure:
    """The fraction of held-out n-grams seen in training, against n; whole sentences as a dashed line."""
    ns = [check.whole(f"ns[{i}]", n) for i, n in enumerate(check.labels("ns", ns, what="model"))]
    coverage = check.array("coverage", coverage, ndim=1, min_value=0, max_value=1)
    check.same_length(("ns", len(ns)), ("coverage", coverage.size))
    check.number("sentence_coverage", sentence_coverage, min_value=0, max_value=1, optional=True)
    check.axes("ax", ax)
    fig, ax = _axes(ax, (6.0, 3.4))
    ax.plot(list(ns), coverage, "o-", color="C0", label=_("held-out n-grams seen in training"))
    if sentence_coverage is not None:
        ax.axhline(sentence_coverage, color="C3", ls="--",
                   label=_("whole sentences: {share:.1%}").format(share=sentence_coverage))
    ax.set_ylim(0, 1.05)
    ax.set_xticks(list(ns))
    ax.set_xlabel("n")
    ax.set_ylabel(_("fraction seen"))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_entropy_vs_temperature(temperatures: Sequence[float], entropies: Sequence[float],
                                max_entropy: float | None = None, current: float | None = None,
                                ax=None) -> Figure:
    """Entropy (nats) of the sampling distribution as temperature varies; log V as the ceiling."""
    temperatures = check.array("temperatures", temperatures, ndim=1, min_value=0)
    entropies = check.array("entropies", entropies, ndim=1, min_value=0)
    check.same_length(("temperatures", temperatures.size), ("entropies", entropies.size))
    check.number("max_entropy", max_entropy, min_value=0, optional=True)
    check.number("current", current, min_value=0, optional=True)
    check.axes("ax", ax)
    fig, ax = _axes(ax, (5.6, 3.2))
    ax.plot(temperatures, entropies, color="C0")
    if max_entropy is not None:
        ax.axhline(max_entropy, color="0.5", ls=":", label=_("uniform: log V = {h:.2f}").format(h=max_entropy))
    if current is not None:
        ax.axvline(current, color="C1", ls="--", label=f"T = {current:g}")
    ax.set_xlabel(_("temperature T"))
    ax.set_ylabel(_("entropy (nats)"))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


def plot_decoding_measures(repeated: Mapping[str, float], new_ngrams: Mapping[str, float], n_tokens: int | None = None,
                           reference: str = "Shakespeare (reference)",
                           new_label: str | None = None) -> Figure:
    """Two bar panels, one row per decoding rule: the fraction of repeated 3-grams of its text and
    the share of 3-grams never seen in the training text. Greedy rules in red, the ``reference``
    (human text) in grey, sampling rules in blue. ``new_label``: the right panel's axis label
    (default "share of 3-grams never seen in the training text")."""
    check.mapping("repeated", repeated, what="{rule: fraction of repeated 3-grams}")
    check.mapping("new_ngrams", new_ngrams, what="{rule: share of new 3-grams}")
    for name, values in (("repeated", repeated), ("new_ngrams", new_ngrams)):
        check.array(name, list(values.values()), min_value=0, max_value=1)
    check.whole("n_tokens", n_tokens, min_value=1, optional=True)
    names = list(repeated)
    if set(new_ngrams) != set(names):
        raise ValueError(f"repeated and new_ngrams must name the same rules; got {sorted(repeated)} "
                         f"and {sorted(new_ngrams)}")
    colors = ["C3" if n.startswith("greedy") else "0.5" if n == reference else "C0" for n in names]
    fig, axes = new_figure(ncols=2, figsize=(9.0, 0.9 + 0.32 * len(names)), sharey=True)
    repeated_label = (_("fraction of repeated 3-grams in {n} words").format(n=n_tokens) if n_tokens
                      else _("fraction of repeated 3-grams"))
    if new_label is None:
        new_label = _("share of 3-grams never seen in the training text")
    for ax, values, label in ((axes[0], repeated, repeated_label), (axes[1], new_ngrams, new_label)):
        bars = ax.barh(names, [values[n] for n in names], color=colors)
        ax.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
        ax.set_xlabel(label)
        ax.set_xlim(0, 1.15)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].invert_yaxis()
    return fig


def plot_lm_training(losses: Sequence[float], baselines: Mapping[str, float] | None = None,
                     smooth: int = 50, title: str | None = None, ax=None) -> Figure:
    """Training loss per step (faint) and its running mean, with each baseline's loss as a line.

    ``baselines``: {label: perplexity}, drawn at log(perplexity), the same scale as the loss,
    e.g. {"Kneser-Ney 5-gram, held-out": 6.4}.
    """
    losses = check.array("losses", losses, ndim=1)
    smooth = check.whole("smooth", smooth, min_value=0)
    if baselines is not None:
        check.mapping("baselines", baselines, what="{label: perplexity}")
        check.array("baselines", list(baselines.values()), positive=True)
    check.axes("ax", ax)
    fig, ax = _axes(ax, (6.4, 3.4))
    steps = np.arange(1, losses.size + 1)
    ax.plot(steps, losses, color="C0", alpha=0.25, lw=1, label=_("training loss (each step)"))
    if losses.size >= smooth > 1:
        running = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")   # centred window mean
        start = (smooth - 1) // 2
        ax.plot(steps[start:start + running.size], running, color="C0", lw=2,
                label=_("running mean ({n} steps)").format(n=smooth))
    for i, (label, ppl) in enumerate((baselines or {}).items()):
        ax.axhline(math.log(ppl), color=f"C{i + 1}", ls="--", lw=1.2,
                   label=_("{label}: loss {loss:.3f} (ppl {ppl:.2f})").format(label=label, loss=math.log(ppl), ppl=ppl))
    ax.set_xlabel(_("step"))
    ax.set_ylabel(_("cross-entropy (nats) = log perplexity"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_bigram_counts(counts: Mapping[tuple, float], rows: Sequence | None = None, cols: Sequence | None = None,
                       title: str | None = None, ax=None) -> Figure:
    """The bigram count table as a heat map: row = previous token, column = next token, each cell
    count(previous, next) written in it (blank where 0).

    ``counts``: {(previous, next): count}, e.g. a ``collections.Counter`` of neighbouring pairs.
    ``rows`` / ``cols`` fix the order of the tokens (default: in order of first appearance).
    """
    check.mapping("counts", counts, what="{(previous, next): count}")
    bad = next((key for key in counts if not (isinstance(key, tuple) and len(key) == 2)), None)
    if bad is not None:
        raise ValueError(f"counts has the key {bad!r}; every key must be a pair (previous, next)")
    check.array("counts", list(counts.values()), min_value=0)
    if rows is not None:
        check.labels("rows", rows, what="row")
    if cols is not None:
        check.labels("cols", cols, what="column")
    check.axes("ax", ax)
    rows = list(rows) if rows is not None else list(dict.fromkeys(prev for prev, _ in counts))
    cols = list(cols) if cols is not None else list(dict.fromkeys(nxt for _, nxt in counts))
    table = np.array([[float(counts.get((r, c), 0)) for c in cols] for r in rows])     # (rows, cols)
    fig, ax = _axes(ax, (0.55 * len(cols) + 2.0, 0.45 * len(rows) + 1.4))
    image = ax.imshow(table, cmap="Blues", vmin=0, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if table[i, j]:
                ax.text(j, i, f"{table[i, j]:g}", ha="center", va="center", fontsize=9,
                        color="white" if table[i, j] > table.max() / 2 else "black")
    ax.set_xticks(range(len(cols)), [token_text(c) for c in cols], rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [token_text(r) for r in rows])
    ax.set_xlabel(_("next token"))
    ax.set_ylabel(_("previous token"))
    fig.colorbar(image, ax=ax, label=_("count"))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_chain_rule(tokens: Sequence, factors: Sequence[float], title: str | None = None, ax=None) -> Figure:
    """A sentence's probability built factor by factor: bars P(token_i | what came before) for each
    predicted token, and the running product (log scale, right axis) that ends at P(sentence).

    ``tokens``: the predicted tokens in order (e.g. the words and ``</s>``); ``factors``: their
    conditional probabilities, computed by the caller.
    """
    tokens = [token_text(t) for t in check.labels("tokens", tokens, what="token")]
    if not tokens:
        raise ValueError("tokens is empty; give the predicted tokens and one factor (probability) for each")
    factors = check.probabilities("factors", factors)
    if len(tokens) != factors.size or not tokens:
        raise ValueError(f"got {len(tokens)} tokens and {factors.size} factors; give one factor per token")
    check.axes("ax", ax)
    fig, ax = _axes(ax, (0.9 * len(tokens) + 2.5, 3.4))
    x = np.arange(len(tokens))
    ax.bar(x, factors, color="C0", alpha=0.7, label=_("P(token | before)"))
    for i, f in enumerate(factors):
        ax.text(i, f + 0.02, f"{f:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_xticks(x, tokens)
    ax.set_ylabel(_("conditional probability"))
    running = np.cumprod(factors)
    right = ax.twinx()
    right.plot(x, np.where(running > 0, running, np.nan), "o-", color="C3", label=_("running product"))
    right.set_yscale("log")
    right.set_ylabel(_("product so far (log scale)"), color="C3")
    ax.set_xlabel(_("P(sentence) = product of the bars = {p:.3g}").format(p=running[-1]))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_perplexity_bars(perplexities: Mapping[str, float], title: str | None = None, ax=None) -> Figure:
    """Held-out perplexities of several models as horizontal bars on a linear axis that starts near
    the smallest, so a gap of a few percent is visible; each bar carries its value."""
    check.mapping("perplexities", perplexities, what="{model label: perplexity}")
    labels = list(perplexities)
    values = check.array("perplexities", list(perplexities.values()), positive=True)  # finite: each is a bar
    check.axes("ax", ax)
    fig, ax = _axes(ax, (8.0, 0.55 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=[f"C{i}" for i in range(len(labels))], alpha=0.8)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.2f}", va="center", fontsize=9)
    lo, hi = values.min(), values.max()
    span = max(hi - lo, 0.05 * hi)
    ax.set_xlim(max(0.0, lo - span), hi + 0.6 * span)       # not from 0: the gap is what matters
    ax.set_yticks(y, labels)
    ax.set_xlabel(_("perplexity (lower is better; the axis does not start at 0)"))
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
