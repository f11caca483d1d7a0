"""SamplingExplorer: the decoding knobs on one next-token distribution (lesson 02, and the GPT lessons)."""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .._checks import check_choice, check_int
from ..plotting.lm import new_token_bar_figure, plot_sampling_before_after
from ..sampling import entropy, kept_mass, next_token_probs
from ._base import Explorer

LABEL_STYLE = {"description_width": "initial"}   # show "temperature", not "temperat..."


class SamplingExplorer(Explorer):
    """Temperature, top-k, top-p and repetition penalty applied to one vector of logits.

    Works with any model: give its logits (or probabilities, ``kind="probs"``; ``"auto"`` decides
    by whether the values look like a distribution) for one position and a token string per
    entry. ``previous`` (ids, or token strings) is the text so far, which the repetition penalty
    looks at. The picture shows the model's distribution and what decoding leaves of it; the
    summary gives both entropies, the mass kept and ``n_samples`` draws with a fixed ``seed``, so
    moving a slider changes the draws only through the distribution.
    """

    def __init__(self, logits_or_probs, tokens, previous=None, n_samples: int = 20, *, kind: str = "auto",
                 top: int = 20, seed: int = 0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 repetition_penalty: float = 1.0):
        values = logits_or_probs.detach().float().cpu() if isinstance(logits_or_probs, torch.Tensor) \
            else torch.as_tensor(np.asarray(logits_or_probs, dtype=np.float32))
        if values.dim() != 1 or values.numel() < 2:
            raise ValueError(f"logits_or_probs must be one vector with an entry per token, shape (V,); "
                             f"got shape {tuple(values.shape)} (for a batch, pick one row)")
        tokens = list(tokens)
        if len(tokens) != values.numel():
            raise ValueError(f"got {len(tokens)} tokens for {values.numel()} logits; give one token string per entry")
        kind = check_choice("kind", kind, ("auto", "logits", "probs"))
        looks_like_probs = bool((values >= 0).all() and abs(float(values.sum()) - 1.0) < 1e-3)
        if kind == "probs" or (kind == "auto" and looks_like_probs):
            if not looks_like_probs:
                raise ValueError("kind='probs' but the values are not a distribution (non-negative, summing to 1)")
            values = values.log()                     # log-probabilities are valid logits (-inf for 0)
        self.logits, self.tokens = values, tokens
        self.previous = self._ids(previous)
        self.n_samples = check_int("n_samples", n_samples, min_value=0)
        self.top = check_int("top", top, min_value=1)
        self.seed = check_int("seed", seed)
        self.before = next_token_probs(self.logits)   # the model's own distribution never changes
        self.after = None
        # one figure redrawn in place, with margins set by hand: both save more time than the bars take
        self._fig, self._ax = new_token_bar_figure(min(self.top, len(tokens)))
        V = len(tokens)
        controls = {
            "temperature": widgets.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05,
                                               description="temperature", continuous_update=False, style=LABEL_STYLE),
            "top_k": widgets.IntSlider(value=top_k, min=0, max=V, description="top-k (0=off)",
                                       continuous_update=False, style=LABEL_STYLE),
            "top_p": widgets.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top-p",
                                         continuous_update=False, style=LABEL_STYLE),
            "repetition_penalty": widgets.FloatSlider(value=repetition_penalty, min=1.0, max=2.0, step=0.05,
                                                      description="rep. penalty", continuous_update=False,
                                                      style=LABEL_STYLE),
        }
        super().__init__(controls, columns=2)

    def _ids(self, previous) -> list[int]:
        if previous is None:
            return []
        index = {t: i for i, t in enumerate(self.tokens)}
        ids = []
        for p in previous:
            if isinstance(p, (int, np.integer)):
                ids.append(int(p))
            elif p in index:
                ids.append(index[p])
            else:
                raise ValueError(f"previous contains {p!r}, which is not one of the tokens")
        return ids

    @classmethod
    def from_ngram(cls, model, context, **kwargs) -> SamplingExplorer:
        """The explorer on an ``NGramLM``'s next-token distribution after ``context`` (a token list);
        the context's words count as the text so far for the repetition penalty."""
        logits = model.next_token_logits(context)
        previous = model.encode([w for w in context if w != "<s>"])
        return cls(logits, model.vocab, previous=previous, kind="logits", **kwargs)

    def render(self, temperature: float, top_k: int, top_p: float, repetition_penalty: float) -> tuple[Figure, str]:
        settings = dict(temperature=temperature, top_k=top_k or None, top_p=top_p if top_p < 1.0 else None,
                        repetition_penalty=repetition_penalty, previous=self.previous)
        self.after = next_token_probs(self.logits, **settings)
        described = (f"T = {temperature:g}{' (greedy)' if temperature == 0 else ''}, "
                     f"top-k {top_k or 'off'}, top-p {top_p:g}{' (off)' if top_p >= 1 else ''}, "
                     f"repetition penalty {repetition_penalty:g}")
        fig = plot_sampling_before_after(self.tokens, self.before, self.after, top=self.top, title=described,
                                         ax=self._ax)
        h_before, h_after = entropy(self.before), entropy(self.after)
        kept = int((self.after > 0).sum())
        lines = [
            described,
            f"entropy: model {h_before:.2f} nats (e^H = {math.exp(h_before):.1f} tokens) -> "
            f"sampled {h_after:.2f} nats (e^H = {math.exp(h_after):.1f})",
            f"kept {kept} of {len(self.tokens)} tokens, holding {kept_mass(self.before, self.after):.1%} "
            f"of the model's probability",
        ]
        if self.previous and repetition_penalty != 1.0:
            used = sorted(set(self.previous))
            lines.append("penalised as already used: " + " ".join(_show(self.tokens[i]) for i in used))
        if self.n_samples:
            # draw from the distribution just computed (what ``sample`` does, without computing it twice)
            draws = torch.multinomial(self.after, self.n_samples, replacement=True,
                                      generator=torch.Generator().manual_seed(self.seed))
            lines.append(f"{self.n_samples} draws (seed {self.seed}): "
                         + " ".join(_show(self.tokens[i]) for i in draws.tolist()))
        return fig, "\n".join(lines)


def _show(token) -> str:
    """A token in the summary line; blank ones (' ', '\\n') quoted so they can be seen."""
    text = str(token)
    return repr(text) if text.strip() == "" else text
