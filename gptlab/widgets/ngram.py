"""NGramExplorer: type a context, move n, choose add-k or Kneser-Ney, watch the next-token distribution (lesson 01)."""
from __future__ import annotations

import math

import ipywidgets as widgets
from matplotlib.figure import Figure

from .._checks import ArgumentTypeError, check_int
from ..i18n import _
from ..ngram import BOS, NGramLM
from ..plotting.lm import new_token_bar_figure, plot_next_token_probs
from ..sampling import entropy
from ._base import Explorer
from ._validate import initial

LABEL_STYLE = {"description_width": "initial"}   # labels at full length, not cut to "k (ad..."


class NGramExplorer(Explorer):
    """An n-gram model of ``sentences`` (a list of token lists), asked about a typed context.

    Controls: ``context`` (text, cut into tokens by ``tokenize``: ``str.split`` for words, ``list``
    for characters; ``<s>`` marks the start of a sentence), ``n`` (1 .. max_n), ``smoothing``
    (``"add-k"`` or ``"kneser-ney"``) and ``k`` (the add-k pseudo-count, log scale; Kneser-Ney
    ignores it and uses its discount). The text is counted once, at ``max_n``; every smaller n, every
    k and both smoothings reuse those counts (``with_order``, ``with_k``, ``with_smoothing``), so a
    redraw only reads them.
    """

    def __init__(self, sentences, n: int = 3, k: float = 0.1, context: str = "", *, max_n: int = 5,
                 top: int = 15, tokenize=str.split, min_count: int = 1, smoothing: str = "add-k"):
        self.max_n = check_int("max_n", max_n, min_value=1, max_value=8)
        self.top = check_int("top", top, min_value=1)
        if not callable(tokenize):
            raise ArgumentTypeError(f"tokenize must be a function from text to tokens (str.split for words, list "
                                    f"for characters), got {type(tokenize).__name__}")
        self.tokenize = tokenize
        controls = {
            "context": widgets.Text(description=_("context"), placeholder=_("type a few words"),
                                    continuous_update=False, style=LABEL_STYLE),
            "n": widgets.IntSlider(min=1, max=self.max_n, description="n", continuous_update=False,
                                   style=LABEL_STYLE),
            "smoothing": widgets.Dropdown(options=["add-k", "kneser-ney"], description=_("smoothing"),
                                          style=LABEL_STYLE),
            "k": widgets.FloatLogSlider(base=10, min=-3, max=1, step=0.1, description=_("k (add-k)"),
                                        readout_format=".3g", continuous_update=False, style=LABEL_STYLE),
        }
        # checked against the controls before they see them: an impossible start raises, never clamps
        initial(controls, context=context, n=n, smoothing=smoothing, k=k)
        self.model = NGramLM(self.max_n, "add-k", k=float(k), min_count=min_count).fit(sentences)
        self._orders: dict[tuple, NGramLM] = {}        # one view per (n, smoothing), all sharing the same counts
        self.probs = None                              # the last distribution shown, shape (V,)
        # one figure redrawn in place, with margins set by hand: both save more time than the bars take
        self._fig, self._ax = new_token_bar_figure(self.top, width=6.0)
        super().__init__(controls)

    def _model(self, n: int, smoothing: str, k: float) -> NGramLM:
        if (n, smoothing) not in self._orders:
            self._orders[(n, smoothing)] = self.model.with_order(n).with_smoothing(smoothing)
        model = self._orders[(n, smoothing)]
        return model.with_k(k) if smoothing == "add-k" else model

    def render(self, context: str, n: int, smoothing: str, k: float) -> tuple[Figure, str]:
        tokens = self.tokenize(context)
        if not tokens:
            raise ValueError(_("type a context first: a few tokens of the training text "
                               "(or {bos} for the start of a sentence)").format(bos=BOS))
        vocab = self.model.token_to_id
        unknown = [t for t in tokens if t != BOS and t not in vocab]
        if len(unknown) == len(tokens):
            examples = ", ".join(repr(w) for w in self.model.vocab[2:7])
            raise ValueError(_("none of {tokens} occurs in the training text, so the model knows nothing "
                               "about this context; try tokens such as {examples}").format(tokens=tokens,
                                                                                          examples=examples))
        model = self._model(n, smoothing, k)
        self.probs = model.next_token_probs_array(tokens)
        used = tokens[-(n - 1):] if n > 1 else []
        shown = " ".join(used) if used else _("(nothing: a unigram model ignores the context)")
        rule = (_("add-k with k = {k:.3g}").format(k=k) if smoothing == "add-k"
                else _("Kneser-Ney, discount {discount:g}").format(discount=model.discount))
        title = _("P(next | {context})   n = {n}, {rule}").format(context=shown, n=n, rule=rule)
        fig = plot_next_token_probs((model.vocab, self.probs), top=self.top, title=title, ax=self._ax)

        h = entropy(self.probs)
        best = self.probs.argsort()[::-1][:5]
        lines = [_("context used (last n-1 = {n} tokens): {context}").format(n=n - 1, context=shown)
                 + ("   " + _("seen {times} in training").format(times=_times(model.context_count(tokens)))
                    if n > 1 else "")]
        if smoothing == "kneser-ney" and n > 1 and model.context_count(tokens) == 0:
            # the longest shorter context that was seen: where Kneser-Ney's answer comes from
            seen = next((used[i:] for i in range(1, len(used))
                         if self._model(len(used) - i + 1, smoothing, k).context_count(used[i:]) > 0), [])
            lines.append(_("context never seen: Kneser-Ney falls back on what follows {context!r}").format(
                context=" ".join(seen)) if seen else
                _("context never seen: Kneser-Ney falls back on the continuation counts (unigram level)"))
        if unknown:
            lines.append(_("not in the training text, read as <unk>: {tokens}").format(
                tokens=", ".join(map(repr, unknown))))
        lines.append(_("most likely: {tokens}").format(
            tokens=", ".join(f"{model.vocab[i]!r} {self.probs[i]:.3f}" for i in best)))
        lines.append(_("entropy {h:.2f} nats: as uncertain as a fair choice among e^H = {choices:.0f} of the {V} "
                       "tokens").format(h=h, choices=math.exp(h), V=len(model.vocab)))
        return fig, "\n".join(lines)


def _times(count: int) -> str:
    return _("once") if count == 1 else _("{count:,} times").format(count=count)
