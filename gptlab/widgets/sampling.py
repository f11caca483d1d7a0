"""SamplingExplorer: the decoding knobs on one next-token distribution, and the text they write
(lesson 02, and the GPT lessons)."""
from __future__ import annotations

import math
import time

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .._checks import ArgumentTypeError, check_choice, check_int, check_type
from ..i18n import _
from ..plotting.lm import new_token_bar_figure, plot_sampling_before_after
from ..sampling import (
    entropy,
    generate,
    kept_mass,
    model_logits_fn,
    next_token_probs,
    ngram_logits_fn,
    repeated_ngram_fraction,
    repeated_ngram_mask,
)
from ._base import Explorer
from ._validate import initial

LABEL_STYLE = {"description_width": "initial"}   # show "temperature", not "temperat..."
MARK_OPEN, MARK_CLOSE = "⟦", "⟧"                  # around repeated stretches; shown highlighted in the widget
CONTEXT_SHOWN = 8                                  # tokens of the context quoted in the title


class SamplingExplorer(Explorer):
    """Temperature, top-k, top-p and repetition penalty applied to one vector of logits.

    Works with any model: give its logits (or probabilities, ``kind="probs"``; ``"auto"`` decides
    by whether the values look like a distribution) for one position and a token string per
    entry. ``previous`` (ids, or token strings) is the text so far, which the repetition penalty
    looks at. The picture shows the model's distribution and what decoding leaves of it; the
    summary gives both entropies, the mass kept and ``n_samples`` draws with a fixed ``seed``, so
    moving a slider changes the draws only through the distribution.

    With ``next_logits`` (a function from ids to next-token logits, as ``gptlab.sampling.generate``
    takes) and ``generate=N``, the summary also shows the N tokens that the current rule writes after
    ``previous``, drawn with the fixed ``seed`` (so a setting always shows the same text), with the
    stretches that repeat an ``highlight_n``-gram of the text so far marked. Continuations are cached
    by setting, so going back to a setting costs nothing. ``from_ngram`` and ``from_model`` build it
    for an ``NGramLM`` and for a GPT.
    """

    def __init__(self, logits_or_probs, tokens, previous=None, n_samples: int = 20, *, kind: str = "auto",
                 top: int = 20, seed: int = 0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 repetition_penalty: float = 1.0, next_logits=None, generate: int = 0,
                 context: str | None = None, highlight_n: int = 3, join: str | None = None):
        values = logits_or_probs.detach().float().cpu() if isinstance(logits_or_probs, torch.Tensor) \
            else torch.as_tensor(np.asarray(logits_or_probs, dtype=np.float32))
        if values.dim() != 1 or values.numel() < 2:
            raise ValueError(f"logits_or_probs must be one vector with an entry per token, shape (V,); "
                             f"got shape {tuple(values.shape)} (for a batch, pick one row)")
        if bool(values.isnan().any()) or bool((values == float("inf")).any()):
            raise ValueError("logits_or_probs holds NaN or +inf; logits must be finite numbers (-inf, for a token "
                             "that can never come, is allowed) and probabilities numbers from 0 to 1")
        if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
            raise ArgumentTypeError(f"tokens must be a list with one token string per entry, got "
                                    f"{type(tokens).__name__}")
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
        if bool((values == float("-inf")).all()):
            raise ValueError("logits_or_probs gives every token probability 0 (all -inf); nothing could be sampled")
        self.previous = self._ids(previous)
        self.n_samples = check_int("n_samples", n_samples, min_value=0)
        self.top = check_int("top", top, min_value=1)
        self.seed = check_int("seed", seed)
        self.generate = check_int("generate", generate, min_value=0)
        if self.generate and next_logits is None:
            raise ValueError("generate > 0 needs next_logits, a function from ids to next-token logits "
                             "(or use SamplingExplorer.from_ngram / from_model)")
        if next_logits is not None and not callable(next_logits):
            raise ArgumentTypeError(f"next_logits must be a function from ids to next-token logits, got "
                                    f"{type(next_logits).__name__}")
        self.next_logits = next_logits
        self.highlight_n = check_int("highlight_n", highlight_n, min_value=1)
        if context is not None:
            check_type("context", context, str, "a string (the text shown in the title) or None")
        if join is not None:
            check_type("join", join, str, "a string put between tokens ('' for characters, ' ' for words) or None")
        # characters are joined without spaces, words with them
        self.join = join if join is not None else ("" if all(len(str(t)) <= 1 for t in tokens) else " ")
        if context is None and self.previous:
            more = len(self.previous) > CONTEXT_SHOWN
            context = ("…" + self.join if more else "") + self.join.join(
                str(self.tokens[i]) for i in self.previous[-CONTEXT_SHOWN:])
        self.context = context
        self.continuation: list[int] = []           # the last continuation shown (ids), [] without generate
        self._continuations: dict[tuple, list[int]] = {}
        self.before = next_token_probs(self.logits)   # the model's own distribution never changes
        self.after = None
        # one figure redrawn in place, with margins set by hand: both save more time than the bars take
        self._fig, self._ax = new_token_bar_figure(min(self.top, len(tokens)))
        V = len(tokens)
        controls = {
            "temperature": widgets.FloatSlider(min=0.0, max=2.0, step=0.05,
                                               description=_("temperature"), continuous_update=False,
                                               style=LABEL_STYLE),
            "top_k": widgets.IntSlider(min=0, max=V, description=_("top-k (0=off)"),
                                       continuous_update=False, style=LABEL_STYLE),
            "top_p": widgets.FloatSlider(min=0.05, max=1.0, step=0.05, description=_("top-p"),
                                         continuous_update=False, style=LABEL_STYLE),
            "repetition_penalty": widgets.FloatSlider(min=1.0, max=2.0, step=0.05,
                                                      description=_("rep. penalty"), continuous_update=False,
                                                      style=LABEL_STYLE),
        }
        # checked against the sliders before they see them: an impossible start raises, never clamps
        initial(controls, temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty)
        super().__init__(controls, columns=2)

    def _ids(self, previous) -> list[int]:
        if previous is None:
            return []
        if not hasattr(previous, "__iter__"):
            raise ArgumentTypeError(f"previous must be a list of token ids or token strings (the text so far), "
                                    f"got {type(previous).__name__}")
        index = {t: i for i, t in enumerate(self.tokens)}
        ids = []
        for p in previous:
            if isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)):
                if not 0 <= int(p) < len(self.tokens):
                    raise ValueError(f"previous contains the id {int(p)}, but ids run from 0 to {len(self.tokens) - 1} "
                                     f"(one per token)")
                ids.append(int(p))
            elif p in index:
                ids.append(index[p])
            else:
                read = (" (previous is a string, read one character at a time; give a list of tokens, "
                        "e.g. text.split())") if isinstance(previous, str) else ""
                raise ValueError(f"previous contains {p!r}, which is not one of the tokens{read}")
        return ids

    @classmethod
    def from_ngram(cls, model, context, generate: int = 40, **kwargs) -> SamplingExplorer:
        """The explorer on an ``NGramLM``'s next-token distribution after ``context`` (a token list);
        the context's words count as the text so far for the repetition penalty, and the summary
        shows the ``generate`` words the current rule writes after them (0: none)."""
        if isinstance(context, str) or not hasattr(context, "__iter__"):
            raise ArgumentTypeError(f"context must be a list of tokens, e.g. text.split() or lm.decode(ids), "
                                    f"got {type(context).__name__}")
        previous = model.encode([w for w in context if w != "<s>"])
        next_logits = ngram_logits_fn(model, cache=True)  # the explorer's model stays as it is
        logits = next_logits(previous)
        return cls(logits, model.vocab, previous=previous, kind="logits", next_logits=next_logits,
                   generate=generate, **kwargs)

    @classmethod
    def from_model(cls, model, ids, tokens, generate: int = 40, **kwargs) -> SamplingExplorer:
        """The explorer on a GPT's next-token distribution after ``ids`` (the prompt's token ids),
        ``tokens`` a string per vocabulary entry (e.g. ``tok.vocab``); the summary shows the
        ``generate`` tokens the current rule writes after the prompt (0: none). The model runs in
        eval mode, reading at most ``config.block_size`` tokens."""
        check_type("model", model, torch.nn.Module, "a GPT (torch.nn.Module)")
        if isinstance(ids, torch.Tensor):
            if ids.is_floating_point() or ids.dim() > 2 or (ids.dim() == 2 and ids.size(0) != 1):
                raise ValueError(f"ids must be ONE prompt of integer token ids, shape (T,) or (1, T); got a "
                                 f"{ids.dtype} tensor of shape {tuple(ids.shape)}")
            ids = ids.flatten().tolist()
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise ArgumentTypeError(f"ids must be a list of token ids (the prompt), got {type(ids).__name__}; "
                                    f"encode text first: tok.encode(text)")
        ids = list(ids)
        bad = next((i for i in ids if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer))), None)
        if bad is not None or not ids:
            raise ValueError("ids must be a non-empty list of whole-number token ids (the prompt), "
                             + ("got an empty list" if bad is None else f"got {bad!r}"))
        ids = [int(i) for i in ids]
        model.eval()
        next_logits = model_logits_fn(model)
        return cls(next_logits(ids), tokens, previous=ids, kind="logits", next_logits=next_logits,
                   generate=generate, **kwargs)

    def _continue(self, settings: dict) -> list[int]:
        """The ``generate`` tokens this setting writes after ``previous`` (seeded; cached by setting)."""
        key = tuple(sorted((k, v) for k, v in settings.items() if k != "previous"))
        if key not in self._continuations:
            rule = {k: v for k, v in settings.items() if k != "previous"}
            ids = generate(self.next_logits, self.previous, self.generate, generator=self.seed, **rule)
            self._continuations[key] = ids[len(self.previous):]
        return self._continuations[key]

    def _marked(self, continuation: list[int]) -> str:
        """The continuation as text, its stretches that repeat an n-gram of the text so far marked."""
        mask = repeated_ngram_mask(self.previous + continuation, self.highlight_n)[len(self.previous):]
        parts, inside = [], False
        for i, flag in zip(continuation, mask):
            token = str(self.tokens[i])
            if flag and not inside:
                token, inside = MARK_OPEN + token, True
            elif not flag and inside:
                parts[-1] += MARK_CLOSE
                inside = False
            parts.append(token)
        if inside:
            parts[-1] += MARK_CLOSE
        return self.join.join(parts)

    def redraw(self) -> None:
        """The picture and the numbers first; then the continuation (``generate`` tokens, one model
        call each, which may take longer than the picture) is written under them.

        ``last_redraw_seconds`` times the picture, ``last_continuation_seconds`` the text after it
        (a fraction of a millisecond when this setting's continuation is cached, 0 when ``generate``
        is 0). Both are done when ``redraw`` returns.
        """
        super().redraw()
        self.last_continuation_seconds = 0.0
        if self.error is not None or not self.generate:
            return
        start = time.perf_counter()
        settings = self._settings
        self.continuation = self._continue(settings)
        repeated = repeated_ngram_fraction(self.continuation, self.highlight_n)
        told = _("the next {n} tokens under this rule (seed {seed}), {open}…{close} where they repeat a {k}-gram "
                 "of the text so far; repeated {k}-grams in them: {share:.2f}")
        self.summary += ("\n" + told.format(n=self.generate, seed=self.seed, open=MARK_OPEN, close=MARK_CLOSE,
                                             k=self.highlight_n, share=repeated)
                         + "\n" + self._marked(self.continuation))
        shown = self._summary_html(self.summary)  # the marks become highlights on screen
        self.text.value = shown.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
        self.last_continuation_seconds = time.perf_counter() - start

    def render(self, temperature: float, top_k: int, top_p: float, repetition_penalty: float) -> tuple[Figure, str]:
        settings = dict(temperature=temperature, top_k=top_k or None, top_p=top_p if top_p < 1.0 else None,
                        repetition_penalty=repetition_penalty, previous=self.previous)
        self.after = next_token_probs(self.logits, **settings)
        t_text = _("{t:g} (greedy)").format(t=temperature) if temperature == 0 else f"{temperature:g}"
        k_text = f"{top_k}" if top_k else _("off")
        p_text = _("{p:g} (off)").format(p=top_p) if top_p >= 1 else f"{top_p:g}"
        described = _("T = {t}, top-k {k}, top-p {p}, repetition penalty {penalty:g}").format(
            t=t_text, k=k_text, p=p_text, penalty=repetition_penalty)
        # the settings are on the sliders and in the first line under the picture; a title that
        # stays the same is drawn once, not at every move
        title = None if self.context is None else _("next token after {context!r}").format(context=self.context)
        fig = plot_sampling_before_after(self.tokens, self.before, self.after, top=self.top, title=title,
                                         ax=self._ax)
        h_before, h_after = entropy(self.before), entropy(self.after)
        kept = int((self.after > 0).sum())
        lines = [
            described,
            _("entropy: model {h0:.2f} nats (e^H = {e0:.1f} tokens) -> sampled {h1:.2f} nats (e^H = {e1:.1f})").format(
                h0=h_before, e0=math.exp(h_before), h1=h_after, e1=math.exp(h_after)),
            _("kept {kept} of {V} tokens, holding {mass:.1%} of the model's probability").format(
                kept=kept, V=len(self.tokens), mass=kept_mass(self.before, self.after)),
        ]
        if self.previous and repetition_penalty != 1.0:
            used = sorted(set(self.previous))
            lines.append(_("penalised as already used: {tokens}").format(
                tokens=" ".join(_show(self.tokens[i]) for i in used)))
        if self.n_samples:
            # draw from the distribution just computed (what ``sample`` does, without computing it twice)
            draws = torch.multinomial(self.after, self.n_samples, replacement=True,
                                      generator=torch.Generator().manual_seed(self.seed))
            lines.append(_("{n} draws (seed {seed}): {tokens}").format(
                n=self.n_samples, seed=self.seed, tokens=" ".join(_show(self.tokens[i]) for i in draws.tolist())))
        self._settings = settings  # ``redraw`` writes this rule's continuation under the picture
        return fig, "\n".join(lines)


def _show(token) -> str:
    """A token in the summary line; blank ones (' ', '\\n') quoted so they can be seen."""
    text = str(token)
    return repr(text) if text.strip() == "" else text
