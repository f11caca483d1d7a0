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
from numbers import Integral, Real

from ._checks import ArgumentTypeError, check_int, check_type

_WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")

# every tokenizer class, by name, so ``from_dict`` can rebuild the right one
_CLASSES: dict[str, type] = {}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def token_ids_list(name: str, ids, vocab_size: int | None = None) -> list[int]:
    """``ids`` (a list/tuple of ints, a 1-D numpy array or torch tensor of integers) as a list of ints.

    Rejects what would otherwise be silently wrong: float ids (1.7 would become 1), booleans, a string
    (which iterates by character), a 2-D array, negative ids (which would wrap around to the end of a
    vocabulary) and, given ``vocab_size``, ids of vocab_size or more.
    """
    if ids is None or isinstance(ids, (str, bytes, dict, set)):
        raise ArgumentTypeError(f"{name}={_short(ids)} must be a list of token ids (ints), "
                                f"a 1-D numpy array or a 1-D torch tensor, got {type(ids).__name__}")
    dtype = getattr(ids, "dtype", None)
    if dtype is not None and hasattr(ids, "tolist"):
        kind = str(dtype)
        if "float" in kind or "complex" in kind or "bool" in kind:
            raise ArgumentTypeError(f"{name} must hold whole-number token ids, got an array of dtype {kind}; "
                                    f"convert it first, for example ids.long() (torch) or ids.astype(int) (numpy)")
        shape = tuple(getattr(ids, "shape", ()))
        if len(shape) != 1:
            hint = " (use one row at a time, e.g. ids[0])" if len(shape) > 1 else " (wrap it in a list)"
            raise ValueError(f"{name} must be 1-D (one sequence of ids), got shape {shape}{hint}")
        ids = ids.tolist()
    elif isinstance(ids, (int, float)) or not hasattr(ids, "__iter__"):
        raise ArgumentTypeError(f"{name}={_short(ids)} must be a list of token ids, got a single "
                                f"{type(ids).__name__}; wrap it in a list, e.g. [{_short(ids)}]")
    if isinstance(ids, (list, tuple)) and all(type(i) is int for i in ids):   # the common case, checked fast
        out = list(ids)
    else:
        out = []
        for i, idx in enumerate(ids):
            if getattr(idx, "ndim", None) == 0 and hasattr(idx, "item"):  # a 0-D tensor/array, e.g. from argmax
                kind = str(idx.dtype)
                if "float" in kind or "complex" in kind or "bool" in kind:
                    raise ArgumentTypeError(f"{name}[{i}] is a 0-D array of dtype {kind}; a token id is a whole "
                                            f"number (convert with .long(), or int(...) after rounding on purpose)")
                idx = idx.item()
            if isinstance(idx, bool) or not isinstance(idx, Integral):
                what = ("a bool" if isinstance(idx, bool) else
                        "a float (a token id is a whole number; it would be truncated)" if isinstance(idx, Real)
                        else type(idx).__name__)
                raise ArgumentTypeError(f"{name}[{i}]={_short(idx)} must be a whole-number token id (int), "
                                        f"got {what}")
            out.append(int(idx))
    if out:
        low, high = min(out), max(out)
        if low < 0:
            raise ValueError(f"{name}[{out.index(low)}]={low} is negative; token ids run from 0"
                             + ("" if vocab_size is None else f" to {vocab_size - 1}")
                             + " (a negative id would silently count from the end of the vocabulary)")
        if vocab_size is not None and high >= vocab_size:
            raise ValueError(f"{name}[{out.index(high)}]={high} is out of range; this vocabulary has ids "
                             f"0..{vocab_size - 1}")
    return out


def _token_strings(tokens) -> list[str]:
    """``tokens`` must be a list of token strings (what ``tokenize`` returns)."""
    if tokens is None or isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise ArgumentTypeError(f"tokens={_short(tokens)} must be a list of token strings (what tokenize "
                                f"returns), got {type(tokens).__name__}")
    tokens = list(tokens)
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str):
            raise ArgumentTypeError(f"tokens[{i}]={_short(tok)} must be a token string, got {type(tok).__name__}")
    return tokens


class _Tokenizer:
    """What both tokenizers share: a vocabulary, a lookup table, and the unknown-token policy."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES[cls.__name__] = cls

    def __init__(self, unknown: str = "error", min_count: int = 1):
        check_type("unknown", unknown, str, "'error', 'skip', or a token string such as '<unk>'")
        if not unknown:
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

    # ---- saving and rebuilding --------------------------------------------------------------
    def _settings(self) -> dict:
        """The constructor arguments that rebuild this tokenizer (subclasses add theirs)."""
        return {"unknown": self.unknown, "min_count": self.min_count}

    def to_dict(self) -> dict:
        """Plain JSON-able data: class name, settings, and the vocabulary in id order.

        ``_Tokenizer.from_dict(tok.to_dict())`` (or ``CharTokenizer.from_dict(...)``) rebuilds a
        tokenizer with exactly the same ids.
        """
        return {"class": type(self).__name__, "settings": self._settings(), "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, d: dict):
        """Rebuild the tokenizer that ``to_dict`` described (same class, settings, and ids)."""
        if not isinstance(d, dict):
            raise ArgumentTypeError(f"d={_short(d)} must be a dict made by tokenizer.to_dict(), "
                                    f"got {type(d).__name__}")
        missing = [k for k in ("class", "settings", "vocab") if k not in d]
        if missing:
            raise ValueError(f"d is missing {', '.join(repr(k) for k in missing)}; a tokenizer dict has keys "
                             f"'class', 'settings' and 'vocab' (made by tokenizer.to_dict()), got keys "
                             f"{sorted(map(str, d))}")
        name = d["class"]
        klass = _CLASSES.get(name) if isinstance(name, str) else None
        if klass is None:
            raise ValueError(f"d['class']={_short(name)} is not a known tokenizer; "
                             f"known: {', '.join(sorted(_CLASSES))}")
        if not issubclass(klass, cls):
            raise ValueError(f"d['class']={name!r} is not a {cls.__name__}; "
                             f"use Tokenizer.from_dict(d) or {name}.from_dict(d)")
        settings, vocab = d["settings"], d["vocab"]
        if not isinstance(settings, dict):
            raise ValueError(f"d['settings'] must be a dict of constructor arguments, got {type(settings).__name__}")
        if not isinstance(vocab, (list, tuple)) or not all(isinstance(t, str) for t in vocab):
            raise ValueError("d['vocab'] must be a list of token strings in id order, got "
                             f"{type(vocab).__name__}" + ("" if not isinstance(vocab, (list, tuple)) else
                                                         " with non-string entries"))
        if not vocab:
            raise ValueError("d['vocab'] is empty; a saved tokenizer has at least one token")
        if len(set(vocab)) != len(vocab):
            dup = next(t for t, c in Counter(vocab).items() if c > 1)
            raise ValueError(f"d['vocab'] lists the token {dup!r} twice; each token must have one id")
        try:
            tok = klass(**settings)
        except TypeError as err:
            if isinstance(err, ArgumentTypeError):
                raise ValueError(f"d['settings'] has a bad value: {err}") from err
            raise ValueError(f"d['settings']={_short(settings)} does not fit {name}: {err}") from err
        if tok.unk_token is not None and tok.unk_token not in vocab:
            raise ValueError(f"d['vocab'] lacks the unknown token {tok.unk_token!r} that "
                             f"settings unknown={tok.unknown!r} needs")
        tok.vocab = list(vocab)
        tok.stoi = {t: i for i, t in enumerate(tok.vocab)}
        return tok

    # ---- learning and using the vocabulary ---------------------------------------------------
    def fit(self, texts: str | Iterable[str]):
        """Learn the vocabulary (sorted, so the same text always gives the same ids). Returns self."""
        if isinstance(texts, str):
            texts = [texts]
        elif texts is None or isinstance(texts, (bytes, dict)) or not isinstance(texts, Iterable):
            raise ArgumentTypeError(f"texts={_short(texts)} must be a string or a list of strings, "
                                    f"got {type(texts).__name__}")
        counts = Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ArgumentTypeError(f"texts[{i}]={_short(text)} must be a string, got {type(text).__name__}")
            counts.update(self.tokenize(text))
        if not counts:
            raise ValueError("texts is empty: there is nothing to learn a vocabulary from")
        kept = sorted(tok for tok, c in counts.items() if c >= self.min_count)
        if not kept:
            top = max(counts.values())
            raise ValueError(f"min_count={self.min_count} keeps no token: the most frequent token appears "
                             f"{top} time{'s' if top != 1 else ''} in texts; use min_count <= {top}, "
                             f"or fit on more text")
        specials = [self.unk_token] if self.unk_token is not None else []
        self.vocab = specials + [t for t in kept if t not in specials]
        self.stoi = {tok: i for i, tok in enumerate(self.vocab)}
        return self

    def _check_fitted(self):
        if not self.vocab:
            raise ValueError(f"this {type(self).__name__} has no vocabulary yet; call .fit(text) first")

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text``, applying the unknown-token policy."""
        check_type("text", text, str, "a string")
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
        """Text for token ids (accepts a list, a 1-D numpy array, or a 1-D torch tensor of integers)."""
        self._check_fitted()
        ids = token_ids_list("ids", ids, len(self.vocab))
        return self.detokenize([self.vocab[idx] for idx in ids])

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self.vocab[:8])
        more = ", ..." if len(self.vocab) > 8 else ""
        return f"{type(self).__name__}(vocab_size={len(self.vocab)}: [{shown}{more}], unknown={self.unknown!r})"


class CharTokenizer(_Tokenizer):
    """One token per character. Round trip: ``decode(encode(text)) == text`` for known characters."""

    def __init__(self, unknown: str = "error", min_count: int = 1):
        super().__init__(unknown=unknown, min_count=min_count)

    def tokenize(self, text: str) -> list[str]:
        return list(check_type("text", text, str, "a string"))

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(_token_strings(tokens))


class WordTokenizer(_Tokenizer):
    """One token per word or punctuation mark, optionally lower-cased.

    Spaces are not tokens, so ``decode`` puts one space between words and none before
    punctuation: ``decode(encode(text))`` is ``text`` with its spacing normalised, and
    ``encode(decode(ids)) == ids`` always holds.
    """

    def __init__(self, unknown: str = "<unk>", lowercase: bool = True, min_count: int = 1):
        super().__init__(unknown=unknown, min_count=min_count)
        self.lowercase = check_type("lowercase", lowercase, bool, "True or False")

    def _settings(self) -> dict:
        return {**super()._settings(), "lowercase": self.lowercase}

    def tokenize(self, text: str) -> list[str]:
        check_type("text", text, str, "a string")
        return _WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        out = ""
        for tok in _token_strings(tokens):
            if out and not (len(tok) == 1 and not tok.isalnum() and tok not in "([{<\"'"):
                out += " "
            out += tok
        return out


# the public name of the shared base class: ``Tokenizer.from_dict(d)`` rebuilds any saved tokenizer
Tokenizer = _Tokenizer


from .bpe import BPETokenizer  # noqa: E402,F401  (byte-level BPE, lesson 14; lives in gptlab/bpe.py)
