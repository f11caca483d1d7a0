"""TokenizerExplorer: type text, see its BPE tokens coloured, slide the vocabulary size (lesson 14)."""
from __future__ import annotations

import html

import ipywidgets as widgets

from .._checks import check_int
from ..bpe import BPETokenizer
from ..i18n import _
from ..plotting.tokens import plot_tokens_per_char
from ._base import Explorer
from ._validate import initial

PALETTE = ("#cfe8ff", "#ffe0b3", "#d7f5d0", "#f9d0e0", "#e6dcff", "#fff3b0")
SIZES = (256, 300, 400, 512, 700, 1000, 1500, 2000, 3000, 4000, 6000, 8000)


def token_label(piece: bytes) -> str:
    """How a token shows: its text, or its bytes in hex when it holds part of a character."""
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return "‹" + " ".join(f"{b:02x}" for b in piece) + "›"
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def tokens_html(pieces: list[bytes]) -> str:
    """The tokens as coloured boxes, side by side, in the order they come."""
    spans = [f'<span style="background:{PALETTE[i % len(PALETTE)]};padding:1px 2px;margin:0 1px;'
             f'border-radius:3px;white-space:pre">{html.escape(token_label(p))}</span>'
             for i, p in enumerate(pieces)]
    return f'<div style="line-height:2;font-family:monospace;font-size:1.1em">{"".join(spans)}</div>'


class TokenizerExplorer(Explorer):
    """Type a text; see its tokens under each trained BPE tokenizer, and how the count falls with the vocabulary.

    ``tokenizers``: ``{label: BPETokenizer}``, e.g. one trained on English and one on Chinese, each trained
    once to its largest size (smaller vocabularies are its first merges: ``BPETokenizer.truncate``).
    ``text``, ``vocab_size``, ``trained_on``: the starting setting. ``max_chars``: the longest text taken.

    After each redraw: ``ids`` (the token ids), ``pieces`` (their bytes) and ``curves``
    (``{label: (sizes, tokens per character)}``).
    """

    def __init__(self, tokenizers: dict, text: str, *, vocab_size: int = 512, trained_on: str | None = None,
                 max_chars: int = 400):
        if not isinstance(tokenizers, dict) or not tokenizers:
            raise ValueError("tokenizers must be a non-empty dict {label: BPETokenizer}")
        for label, tok in tokenizers.items():
            if not isinstance(tok, BPETokenizer):
                raise ValueError(f"tokenizers[{label!r}] is a {type(tok).__name__}; give a trained BPETokenizer")
        self.tokenizers = dict(tokenizers)
        self.max_chars = check_int("max_chars", max_chars, min_value=1)
        largest = min(256 + len(t.merges) for t in self.tokenizers.values())
        self.sizes = [s for s in SIZES if s <= largest] + ([largest] if largest not in SIZES else [])
        self._small: dict[tuple[str, int], BPETokenizer] = {}
        self.ids: list[int] = []
        self.pieces: list[bytes] = []
        self.curves: dict = {}
        self.tokens_view = widgets.HTML()
        trained_on = next(iter(self.tokenizers)) if trained_on is None else trained_on
        controls = {
            "text": widgets.Textarea(description=_("text"), continuous_update=False,
                                     layout=widgets.Layout(width="40em", height="4em")),
            "trained_on": widgets.Dropdown(options=list(self.tokenizers), description=_("BPE trained on")),
            "vocab_size": widgets.SelectionSlider(options=self.sizes, description=_("vocabulary"),
                                                  continuous_update=False),
        }
        initial(controls, text=text, trained_on=trained_on, vocab_size=vocab_size)
        super().__init__(controls, columns=3)
        self.widget.children = (*self.widget.children[:-2], self.tokens_view, *self.widget.children[-2:])

    def tokenizer(self, label: str, vocab_size: int) -> BPETokenizer:
        """``label``'s tokenizer cut to ``vocab_size`` tokens (made once, then kept)."""
        key = (label, vocab_size)
        if key not in self._small:
            self._small[key] = self.tokenizers[label].truncate(vocab_size)
        return self._small[key]

    def render(self, text: str, trained_on: str, vocab_size: int):
        if not text.strip():
            raise ValueError(_("text is empty: type a sentence, in English or in Chinese"))
        if len(text) > self.max_chars:
            raise ValueError(_("text has {n} characters; this explorer takes at most max_chars={max_chars}").format(
                n=len(text), max_chars=self.max_chars))
        tok = self.tokenizer(trained_on, vocab_size)
        ids = tok.encode(text)
        self.ids, self.pieces = ids, [tok.vocab[i] for i in ids]
        self.curves = {label: (self.sizes, [len(self.tokenizer(label, s).encode(text)) / len(text)
                                            for s in self.sizes])
                       for label in self.tokenizers}
        per_char = len(ids) / len(text)
        first = self.figure is None
        self.figure = plot_tokens_per_char(
            {_("trained on {label}").format(label=label): c for label, c in self.curves.items()},
            marker=(vocab_size, per_char),
            title=_("{n} tokens for {chars} characters").format(n=len(ids), chars=len(text)), fig=self.figure)
        if first:  # lay the figure out once (the slow part of a redraw), then keep that layout
            self.figure.draw_without_rendering()
            self.figure.set_layout_engine("none")
        self.tokens_view.value = tokens_html(self.pieces)
        n_bytes = len(text.encode("utf-8"))
        summary = _("BPE trained on {label}, {vocab} tokens: {n} tokens for {chars} characters ({bytes} UTF-8 bytes) "
                    "= {per_char:.2f} tokens per character, {per_token:.2f} bytes per token").format(
            label=trained_on, vocab=vocab_size, n=len(ids), chars=len(text), bytes=n_bytes, per_char=per_char,
            per_token=n_bytes / len(ids))
        return self.figure, summary
