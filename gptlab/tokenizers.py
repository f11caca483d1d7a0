"""Turning text into token ids and back: one character per token, or one word per token.

Both tokenizers learn their vocabulary with ``fit`` and then ``encode``/``decode``. A token the
vocabulary has never seen is handled by the ``unknown`` policy:

- ``unknown="error"`` (default for characters): raise a ``ValueError`` naming the token;
- ``unknown="<unk>"`` (or any string): map it to that reserved token (id 0 ... see ``unk_id``);
- ``unknown="skip"``: drop it.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ._checks import check_int

_WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


class _Tokenizer:
    """What both tokenizers share: a vocabulary, a lookup table, and the unknown-token policy."""

    def __init__(self, unknown: str = "error", min_count: int = 1):
        if not isinstance(unknown, str) or not unknown:
            raise ValueError(f"unknown={unknown!r} must be 'error', 'skip', or a token string such as '<unk>'")
        self.unknown = unknown
        self.min_count = check_int("min_count", min_count, min_value=1)
        self.vocab: list[str] = []
        self.stoi: dict[str, int] = {}

    # subclasses define how text becomes a list of token strings, and how it comes back
    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[str]) -> str:
        raise NotImplementedError

    @property
    def unk_token(self) -> str | None:
        return None if self.unknown in ("error", "skip") else self.unknown

    @property
    def unk_id(self) -> int | None:
        return None if self.unk_token is None else self.stoi[self.unk_token]

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def fit(self, texts: str | Iterable[str]):
        """Learn the vocabulary (sorted, so the same text always gives the same ids). Returns self."""
        if isinstance(texts, str):
            texts = [texts]
        counts = Counter()
        for text in texts:
            counts.update(self.tokenize(text))
        kept = sorted(tok for tok, c in counts.items() if c >= self.min_count)
        if not kept:
            raise ValueError("texts is empty: there is nothing to learn a vocabulary from")
        specials = [self.unk_token] if self.unk_token is not None else []
        self.vocab = specials + [t for t in kept if t not in specials]
        self.stoi = {tok: i for i, tok in enumerate(self.vocab)}
        return self

    def _check_fitted(self):
        if not self.vocab:
            raise ValueError(f"this {type(self).__name__} has no vocabulary yet; call .fit(text) first")

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text``, applying the unknown-token policy."""
        self._check_fitted()
        ids = []
        for tok in self.tokenize(text):
            idx = self.stoi.get(tok)
            if idx is not None:
                ids.append(idx)
            elif self.unknown == "skip":
                continue
            elif self.unknown == "error":
                raise ValueError(f"token {tok!r} is not in the vocabulary ({len(self.vocab)} tokens); "
                                 f"fit on more text, or create the tokenizer with unknown='<unk>' or 'skip'")
            else:
                ids.append(self.stoi[self.unknown])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text for token ids (accepts a list, a numpy array, or a torch tensor)."""
        self._check_fitted()
        tokens = []
        for idx in (ids.tolist() if hasattr(ids, "tolist") else ids):
            idx = int(idx)
            if not 0 <= idx < len(self.vocab):
                raise ValueError(f"token id {idx} is out of range; this vocabulary has ids 0..{len(self.vocab) - 1}")
            tokens.append(self.vocab[idx])
        return self.detokenize(tokens)

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self.vocab[:8])
        more = ", ..." if len(self.vocab) > 8 else ""
        return f"{type(self).__name__}(vocab_size={len(self.vocab)}: [{shown}{more}], unknown={self.unknown!r})"


class CharTokenizer(_Tokenizer):
    """One token per character. Round trip: ``decode(encode(text)) == text`` for known characters."""

    def __init__(self, unknown: str = "error", min_count: int = 1):
        super().__init__(unknown=unknown, min_count=min_count)

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)


class WordTokenizer(_Tokenizer):
    """One token per word or punctuation mark, optionally lower-cased.

    Spaces are not tokens, so ``decode`` puts one space between words and none before
    punctuation: ``decode(encode(text))`` is ``text`` with its spacing normalised, and
    ``encode(decode(ids)) == ids`` always holds.
    """

    def __init__(self, unknown: str = "<unk>", lowercase: bool = True, min_count: int = 1):
        super().__init__(unknown=unknown, min_count=min_count)
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return _WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        out = ""
        for tok in tokens:
            if out and not (len(tok) == 1 and not tok.isalnum() and tok not in "([{<\"'"):
                out += " "
            out += tok
        return out
