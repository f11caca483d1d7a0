"""BlendExplorer: type a sentence and see each self-attention output as a blend of the inputs (lesson 03)."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from .._checks import check_int
from ..attention import dot_product_attention
from ..i18n import _
from ..plotting._live import mark_dynamic
from ..plotting.attention import plot_blend
from ._base import Explorer
from ._validate import initial


class BlendExplorer(Explorer):
    """Parameter-free self-attention, softmax(X Xᵀ) X, on a sentence the learner types.

    ``vectors``: ``{word: 2-D vector}``, the lesson's word vectors (the sentence may use only these
    words). ``text``: the first sentence, words separated by spaces. ``query``: the position whose
    output is drawn as a blend (lines to every input, as thick as its weight).

    After each redraw: ``words`` (the sentence), ``weights`` (T, T) and ``outputs`` (T, 2).
    """

    def __init__(self, vectors: dict, text: str, *, query: int = 0, max_words: int = 12):
        if not isinstance(vectors, dict) or not vectors:
            raise ValueError("vectors must be a non-empty dict {word: 2-D vector}")
        try:
            self.vectors = {str(w): torch.as_tensor(v, dtype=torch.float32) for w, v in vectors.items()}
        except (TypeError, ValueError, RuntimeError):
            raise ValueError("vectors must map each word to 2 numbers (a point in the plane)") from None
        if any(v.shape != (2,) for v in self.vectors.values()):
            raise ValueError("vectors must map each word to 2 numbers (a point in the plane)")
        bad = [w for w, v in self.vectors.items() if not bool(torch.isfinite(v).all())]
        if bad:
            raise ValueError(f"vectors[{bad[0]!r}] holds NaN or inf; every word needs 2 finite numbers")
        self.max_words = check_int("max_words", max_words, min_value=1)
        radii = torch.stack(list(self.vectors.values())).norm(dim=-1)
        self.radius = float(radii[0]) if torch.allclose(radii, radii[0]) else None
        self.words: list[str] = []
        self.weights: torch.Tensor | None = None
        self.outputs: torch.Tensor | None = None
        self._fig = None
        controls = {
            "text": widgets.Text(description=_("sentence"), continuous_update=False,
                                 layout=widgets.Layout(width="32em")),
            "query": widgets.IntSlider(min=0, max=self.max_words - 1, description=_("output of"),
                                       continuous_update=False),
        }
        initial(controls, text=text, query=query)  # an impossible start raises, never clamps
        super().__init__(controls, columns=2)

    def parse(self, text: str) -> list[str]:
        """The words of ``text``, each one checked against the vocabulary."""
        words = str(text).lower().split()
        if not words:
            raise ValueError(_("text: the sentence is empty; type a few words, e.g. 'the cat sat'"))
        unknown = [w for w in words if w not in self.vectors]
        if unknown:
            raise ValueError(_("text={text!r}: no vector for {unknown}; this lesson's words are {words}").format(
                text=text, unknown=", ".join(map(repr, unknown)), words=", ".join(sorted(self.vectors))))
        if len(words) > self.max_words:
            raise ValueError(_("text: the sentence has {n} words; this explorer takes at most max_words={max_words}")
                             .format(n=len(words), max_words=self.max_words))
        return words

    def render(self, text: str, query: int):
        words = self.parse(text)
        note = ""
        if query >= len(words):  # a shorter sentence than the slider: show its last word
            query = len(words) - 1
            note = "  " + _("(the sentence has {n} words: showing the last)").format(n=len(words))
        X = torch.stack([self.vectors[w] for w in words])  # (T, 2)
        outputs, weights = dot_product_attention(X)  # (T, 2), (T, T)
        self.words, self.weights, self.outputs = words, weights, outputs
        first = self._fig is None
        self._fig = plot_blend(X, outputs, weights, words, query=query, fig=self._fig, radius=self.radius,
                               title=_("y_{word} (position {q}) is a blend of the inputs").format(word=words[query],
                                                                                                  q=query))
        ax = self._fig.axes[0]
        if first:  # lay the figure out once, with everything visible, and keep that layout
            self._fig.draw_without_rendering()
            self._fig.set_layout_engine("none")
        # the limits never move, so the frame and ticks are the background; what is inside changes
        mark_dynamic(self._fig, [*ax.lines, *ax.collections, *ax.texts, ax.title, ax.get_legend()],
                     key="fixed frame")
        parts = [f"{weights[query, j]:.2f} × {w}" for j, w in enumerate(words)]
        summary = (f"y_{words[query]} = " + " + ".join(parts) + "\n"
                   f"        = ({outputs[query, 0]:.2f}, {outputs[query, 1]:.2f});  "
                   + _("the weights sum to {total:.2f}").format(total=float(weights[query].sum())) + note)
        return self._fig, summary
