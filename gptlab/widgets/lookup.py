"""LookupExplorer: type a key:value sequence and a question, see where a trained layer looks (lesson 04)."""
from __future__ import annotations

import ipywidgets as widgets
import torch
import torch.nn as nn

from ..i18n import _
from ..plotting._base import new_figure
from ..plotting._live import mark_dynamic
from ._base import Explorer
from ._validate import initial

FORMAT = "pairs key:value, then the question key with '?', e.g. 'B:5 E:2 A:7 G:0 B?'"


class LookupExplorer(Explorer):
    """Lesson 04's trained lookup model on a sequence the learner types.

    ``model``: maps an encoded sequence (1, T, D) to a score per value (1, n_values);
    ``attention``: the ``SelfAttention`` inside it whose ``last_weights`` are read after the call;
    ``encode``: the lesson's function from text (``FORMAT``) to the (1, T, D) tensor, raising
    ``ValueError``, ``KeyError`` or ``IndexError`` on a malformed sequence; ``text``: the first one.
    Left: the question's attention weights over the sequence; right: the model's probability
    for each value. After each redraw: ``tokens``, ``question_weights`` (T,), ``probs`` (n_values,).
    """

    def __init__(self, model: nn.Module, attention: nn.Module, encode, text: str):
        if not isinstance(model, nn.Module) or not hasattr(attention, "last_weights"):
            raise ValueError("model must be an nn.Module and attention its SelfAttention layer (with last_weights)")
        if not callable(encode):
            raise ValueError("encode must be a function from text to the model's (1, T, D) input")
        self.model, self.attention, self.encode = model, attention, encode
        self.tokens: list[str] = []
        self.question_weights: torch.Tensor | None = None
        self.probs: torch.Tensor | None = None
        self._cache: dict[str, tuple] = {}
        self._fig = None
        controls = {"text": widgets.Text(description=_("sequence"), continuous_update=False,
                                         layout=widgets.Layout(width="30em"))}
        initial(controls, text=text)  # a string; what it says is read (and any mistake shown) by render
        super().__init__(controls, columns=1)

    def run(self, text: str):
        """Tokens, the question's weights (T,) and the value probabilities for ``text`` (cached)."""
        text = " ".join(str(text).split())
        if text not in self._cache:
            try:
                x = self.encode(text)
            except (ValueError, KeyError, IndexError) as err:
                raise ValueError(_("text={text!r} could not be read ({error}); type pairs key:value, then the "
                                   "question key with '?', e.g. 'B:5 E:2 A:7 G:0 B?'").format(text=text, error=err)
                                 ) from None
            with torch.no_grad():
                scores = self.model(x)  # (1, n_values)
            weights = self.attention.last_weights[0, -1].clone()  # (T,): the question's row
            self._cache[text] = (text.split(), weights, torch.softmax(scores[0], dim=-1))
        return self._cache[text]

    def render(self, text: str):
        tokens, weights, probs = self.run(text)
        self.tokens, self.question_weights, self.probs = tokens, weights, probs
        first = self._fig is None
        if first:
            self._fig, _axes = new_figure(1, 2, figsize=(8.4, 2.8))
        left, right = self._fig.axes
        left.cla()
        right.cla()
        left.bar(range(len(tokens)), weights.numpy(), color="tab:blue")
        left.set_xticks(range(len(tokens)), tokens, fontsize=9)
        left.set_ylim(0, 1.05)
        left.set_ylabel(_("weight"))
        left.set_title(_("where the question {question} looks").format(question=tokens[-1]), fontsize=10, y=1.0)
        best = int(probs.argmax())
        right.bar(range(len(probs)), probs.numpy(), color=["tab:orange" if v == best else "0.7"
                                                           for v in range(len(probs))])
        right.set_xticks(range(len(probs)), [str(v) for v in range(len(probs))])
        right.set_ylim(0, 1.05)
        right.set_xlabel(_("value"))
        right.set_title(_("the model answers {best} (p = {p:.2f})").format(best=best, p=probs[best]), fontsize=10,
                        y=1.0)
        if first:  # lay the figure out once, with everything visible, and keep that layout
            self._fig.draw_without_rendering()
            self._fig.set_layout_engine("none")
        mark_dynamic(self._fig, [left, right], key="fixed frame")  # both panels are redrawn, the frame kept
        j = int(weights[:-1].argmax()) if len(tokens) > 1 else 0
        summary = _("the question {question} puts {weight:.2f} of its weight on {key} and answers {best} "
                    "(p = {p:.2f})").format(question=tokens[-1], weight=weights[j], key=tokens[j], best=best,
                                            p=probs[best])
        return self._fig, summary
