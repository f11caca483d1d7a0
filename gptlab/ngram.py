"""Counting language models (lesson 01, lecture notes 1 and 1.1).

A language model gives a sentence a probability. The most naive model counts whole sentences:
P(sentence) = how often it occurs / how many sentences there are (``sentence_probability_by_counting``).
It fails at once, because almost every new sentence was never seen (``heldout_sentence_coverage``).

The n-gram model approximates. The chain rule splits a sentence into next-word predictions, and a
short memory keeps each one countable (lecture notes 1.2):

    P(w_1 .. w_m) = prod_i P(w_i | w_1 .. w_{i-1})  ~  prod_i P(w_i | w_{i-n+1} .. w_{i-1})

``NGramLM`` estimates each factor from counts. Conventions (as in Jurafsky & Martin, ch. 3):

- every sentence is padded with n-1 ``<s>`` in front and one ``</s>`` at the end, so the model
  learns how sentences start and stop; ``<s>`` is only ever context, never predicted;
- ``vocab`` = ``<unk>``, ``</s>`` and every training word seen at least ``min_count`` times; rarer
  words and words never seen become ``<unk>``. With ``min_count=1`` (default) ``<unk>`` has no
  training count: MLE gives it probability 0, while laplace, add-k and Kneser-Ney give it the mass
  every vocabulary entry gets. ``min_count=2`` turns training singletons into real ``<unk>`` counts.

Counting is vectorised: tokens become integer ids, a context of j tokens becomes one integer
(built one token at a time from the right, so the ids of all shorter contexts come for free), and
``np.unique`` counts every (context, next token) pair at once.
"""
from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
import torch

from ._checks import ArgumentTypeError, check_choice, check_float, check_int, check_type
from .sampling import generate as sample_loop
from .tokenizers import token_ids_list

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
UNK_ID, EOS_ID = 0, 1            # vocab starts with these two; <s> gets id len(vocab), outside it
SMOOTHINGS = ("mle", "laplace", "add-k", "kneser-ney")


# --- the naive idea: count whole sentences ------------------------------------------------------

def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _sentence_key(sentence, name: str = "sentence"):
    """A sentence (a str, or a sequence of tokens) as something a Counter can count."""
    if isinstance(sentence, str):
        return sentence
    if sentence is None or isinstance(sentence, (dict, set)) or not isinstance(sentence, Iterable):
        raise ArgumentTypeError(f"{name}={_short(sentence)} must be a sentence: a str or a list of tokens, "
                                f"got {type(sentence).__name__}")
    key = tuple(sentence)
    try:
        hash(key)
    except TypeError:
        bad = next(t for t in key if not _hashable(t))
        raise ArgumentTypeError(f"{name} contains the token {_short(bad)} ({type(bad).__name__}); "
                                f"a token must be a str (or another hashable value)") from None
    return key


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _sentence_list(sentences, name: str, tokens_only: bool = False) -> Iterable:
    """``sentences`` must be a collection of sentences, not one str (which would count its characters).

    ``tokens_only``: each sentence must be a list of tokens (the n-gram model), not a str.
    """
    what = "each a list of tokens" if tokens_only else "each a str or a list of tokens"
    if isinstance(sentences, str):
        fix = ("[line.split() for line in text.splitlines()]" if tokens_only
               else "wrap it in a list, or split it: text.splitlines()")
        raise ValueError(f"{name} must be a list of sentences, {what}; got one str {_short(sentences)}. "
                         f"Split it first, e.g. {fix}")
    if sentences is None or isinstance(sentences, (bytes, dict)) or not isinstance(sentences, Iterable):
        raise ArgumentTypeError(f"{name}={_short(sentences)} must be a list of sentences, {what}, "
                                f"got {type(sentences).__name__}")
    return sentences


def count_sentences(sentences: Iterable) -> Counter:
    """How often each sentence (a str, or a list of tokens) occurs verbatim in a corpus."""
    sentences = _sentence_list(sentences, "sentences")
    return Counter(_sentence_key(s, f"sentences[{i}]") for i, s in enumerate(sentences))


def sentence_probability_by_counting(sentence, corpus) -> float:
    """The naive language model: P(sentence) = count(sentence) / number of sentences in ``corpus``.

    ``corpus`` is a list of sentences or the ``Counter`` from ``count_sentences``. Any sentence
    not in the corpus gets probability 0, however reasonable it is: the sparsity problem.
    """
    key = _sentence_key(sentence, "sentence")
    if isinstance(corpus, Counter):
        counts = corpus
    else:
        corpus = _sentence_list(corpus, "corpus")
        counts = Counter(_sentence_key(s, f"corpus[{i}]") for i, s in enumerate(corpus))
    total = sum(counts.values())
    if total == 0:
        raise ValueError("corpus is empty; give at least one sentence to count")
    return counts[key] / total


def heldout_sentence_coverage(train: Iterable, heldout: Iterable) -> float:
    """The fraction of held-out sentences that occur verbatim in ``train`` (usually tiny)."""
    train = _sentence_list(train, "train")
    seen = {_sentence_key(s, f"train[{i}]") for i, s in enumerate(train)}
    heldout = [_sentence_key(s, f"heldout[{i}]") for i, s in enumerate(_sentence_list(heldout, "heldout"))]
    if not heldout:
        raise ValueError("heldout is empty; give at least one held-out sentence")
    return sum(s in seen for s in heldout) / len(heldout)


def heldout_ngram_coverage(train: Iterable[Sequence], heldout: Iterable[Sequence], n: int) -> float:
    """The fraction of held-out n-grams (padded as ``NGramLM`` pads) that occur in ``train``.

    Near 1 for n = 1, falling towards ``heldout_sentence_coverage`` as n grows: the longer the
    memory, the more often a context was never seen.
    """
    train = _as_sentences(train, "train")
    heldout = _as_sentences(heldout, "heldout")
    model = NGramLM(n).fit(train)
    contexts, targets = model._contexts_and_targets(heldout)
    return float((model._top_counts(contexts, targets) > 0).mean())


# --- the n-gram model ----------------------------------------------------------------------------

@dataclass
class _Level:
    """Counts for contexts of one length j, that is for n-grams of order j + 1 (ids: see fit)."""
    context_keys: np.ndarray    # (n_contexts,) sorted; key = id of the context without its oldest token * (V+1)
                                #   + that oldest token, so a context's id is its position here
    pair_keys: np.ndarray       # (n_pairs,) sorted; key = context id * V + next token id
    counts: np.ndarray          # (n_pairs,) how often each (context, next token) occurred
    totals: np.ndarray          # (n_contexts,) sum of counts per context
    types: np.ndarray           # (n_contexts,) distinct next tokens per context: N1+(context .)
    kn_counts: np.ndarray       # (n_pairs,) Kneser-Ney continuation counts N1+(. context w)
    kn_totals: np.ndarray       # (n_contexts,) their sum per context


def _as_sentences(sentences, name: str = "sentences") -> list[list]:
    """Check the corpus is a list of token lists (a learner often passes plain strings)."""
    sentences = _sentence_list(sentences, name, tokens_only=True)
    out = []
    for i, s in enumerate(sentences):
        if isinstance(s, str):
            raise ValueError(f"each sentence in {name} must be a list of tokens, not a str like {s[:30]!r}; "
                             f"use s.split() for words or list(s) for characters")
        if s is None or isinstance(s, (bytes, dict)) or not isinstance(s, Iterable):
            raise ArgumentTypeError(f"{name}[{i}]={_short(s)} must be a sentence (a list of tokens), got "
                                    f"{type(s).__name__}; {name} is a list of sentences such as "
                                    f"[['the', 'cat'], ['a', 'dog']]")
        out.append(s if isinstance(s, list) else list(s))
    if not out:
        raise ValueError(f"{name} is empty; give at least one sentence (a list of tokens)")
    return out


def _unhashable_token_error(sentences: list[list], name: str) -> ArgumentTypeError:
    """The message for a corpus with a token that cannot be counted (a list inside a sentence, say)."""
    one = name == "sentence"   # sentence_logprob's one sentence, wrapped in a list
    for i, s in enumerate(sentences):
        for tok in s:
            if not _hashable(tok):
                where, shape = (name, "a list of str") if one else (f"{name}[{i}]", "a list of lists of str")
                return ArgumentTypeError(f"{where} contains the token {_short(tok)} ({type(tok).__name__}); "
                                         f"a token must be a str (or another hashable value), so {name} "
                                         f"is {shape}")
    return ArgumentTypeError(f"{name} contains a token that cannot be counted; tokens must be str")


class NGramLM:
    """An n-gram language model estimated by counting, with a choice of smoothing.

    - ``"mle"``: count(context, w) / count(context). Unseen n-grams get 0, so held-out perplexity
      is usually infinite.
    - ``"laplace"``: add one to every count (add-k with k = 1).
    - ``"add-k"``: (count(context, w) + k) / (count(context) + k V), V = len(vocab).
    - ``"kneser-ney"``: interpolated Kneser-Ney (Chen & Goodman 1998) with absolute discount
      ``discount`` (0.75): subtract d from every seen count and give the freed mass to the
      next-shorter context, whose counts are *continuation* counts (in how many different contexts
      a word appears, not how often). The shortest level interpolates with the uniform 1/V.

    Contexts: only the last n-1 tokens matter; a longer context is cut, a shorter one is treated as
    the start of a sentence and padded with ``<s>`` in front (so ``()`` asks for the first word).
    """

    def __init__(self, n: int = 3, smoothing: str = "mle", k: float = 1.0, min_count: int = 1,
                 discount: float = 0.75):
        self.n = check_int("n", n, min_value=1)
        self.smoothing = check_choice("smoothing", smoothing, SMOOTHINGS)
        self.k = check_float("k", k, min_value=0.0, min_inclusive=False)
        self.min_count = check_int("min_count", min_count, min_value=1)
        self.discount = check_float("discount", discount, min_value=0.0, max_value=1.0, min_inclusive=False)
        self.vocab: list | None = None
        self.token_to_id: dict = {}
        self._levels: list[_Level] = []

    def __repr__(self) -> str:
        size = "unfitted" if self.vocab is None else f"V={len(self.vocab)}"
        k = f", k={self.k:g}" if self.smoothing == "add-k" else ""
        return f"NGramLM(n={self.n}, smoothing={self.smoothing!r}{k}, {size})"

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, sentences: Iterable[Sequence]) -> NGramLM:
        """Count every n-gram (and every shorter one) in ``sentences``, a list of token lists."""
        sentences = _as_sentences(sentences)
        if not any(sentences):
            raise ValueError("sentences contains only empty sentences; there is nothing to count")
        try:
            word_counts = Counter(chain.from_iterable(sentences))
        except TypeError:
            raise _unhashable_token_error(sentences, "sentences") from None
        kept = sorted(w for w, c in word_counts.items() if c >= self.min_count and w not in (BOS, EOS, UNK))
        self.vocab = [UNK, EOS, *kept]
        self.token_to_id = {w: i for i, w in enumerate(self.vocab)}

        n, V = self.n, len(self.vocab)
        padded = self._padded_ids(sentences)              # (L,) ids; <s> = V
        targets = np.flatnonzero(padded != V)             # (N,) every position that is predicted
        next_ids = padded[targets]                        # (N,)
        context = np.zeros(targets.size, dtype=np.int64)  # (N,) id of the empty context: 0
        levels = []
        for j in range(n):                                # contexts of length j = 0 .. n-1
            if j == 0:
                context_keys = np.zeros(1, dtype=np.int64)
            else:
                # extend every context by one older token; np.unique renumbers them 0, 1, 2 ...,
                # so keys stay small (< N * (V+1)) however long the context grows
                context_keys, context = np.unique(context * (V + 1) + padded[targets - j], return_inverse=True)
            pair_keys, counts = np.unique(context * V + next_ids, return_counts=True)
            pair_context = pair_keys // V
            totals = np.bincount(pair_context, weights=counts, minlength=context_keys.size)
            types = np.bincount(pair_context, minlength=context_keys.size)
            levels.append(_Level(context_keys, pair_keys, counts, totals, types, counts, totals))

        # Kneser-Ney continuation counts: (context, w) at level j counts the distinct one-token-longer
        # contexts it followed, i.e. the distinct pairs at level j+1 whose context shortens to it
        for j in range(n - 2, -1, -1):
            longer, level = levels[j + 1], levels[j]
            shorter_context = longer.context_keys[longer.pair_keys // V] // (V + 1)
            keys, kn_counts = np.unique(shorter_context * V + longer.pair_keys % V, return_counts=True)
            assert np.array_equal(keys, level.pair_keys)   # every pair seen at level j is seen at j+1
            level.kn_counts = kn_counts
            level.kn_totals = np.bincount(keys // V, weights=kn_counts, minlength=level.context_keys.size)
        self._levels = levels
        return self

    def _padded_ids(self, sentences: list[list]) -> np.ndarray:
        """All sentences as one id stream: n-1 <s> (id V), the words, one </s>, the next sentence..."""
        n, V = self.n, len(self.vocab)
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        # one C-level pass: map(dict.get, words, repeat(<unk>)) looks every word up, unknown ones as <unk>
        words = chain.from_iterable(sentences)
        ids = np.fromiter(map(self.token_to_id.get, words, repeat(UNK_ID)), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate([[0], np.cumsum(lengths + n)[:-1]])            # where each padded sentence starts
        word_starts = starts + n - 1
        offset_in_sentence = np.arange(ids.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        padded = np.full(int((lengths + n).sum()), V, dtype=np.int64)
        padded[np.repeat(word_starts, lengths) + offset_in_sentence] = ids
        padded[word_starts + lengths] = EOS_ID
        return padded

    def _contexts_and_targets(self, sentences: list[list], name: str = "sentences") -> tuple[np.ndarray, np.ndarray]:
        """Every prediction in ``sentences``: contexts (N, n-1) of ids and targets (N,)."""
        try:
            padded = self._padded_ids(sentences)
        except TypeError:
            raise _unhashable_token_error(sentences, name) from None
        targets = np.flatnonzero(padded != len(self.vocab))
        contexts = padded[targets[:, None] + np.arange(-(self.n - 1), 0)]   # (N, n-1)
        return contexts, padded[targets]

    def _check_fitted(self):
        if self.vocab is None:
            raise ValueError("this NGramLM is not fitted yet; call .fit(sentences) first")

    # --- cheap variants (the widget moves k without recounting) ---------------------------------
    def with_smoothing(self, smoothing: str | None = None, k: float | None = None) -> NGramLM:
        """A copy that shares these counts (no refit) but smooths differently; costs microseconds."""
        other = copy.copy(self)
        if smoothing is not None:
            other.smoothing = check_choice("smoothing", smoothing, SMOOTHINGS)
        if k is not None:
            other.k = check_float("k", k, min_value=0.0, min_inclusive=False)
        return other

    def with_order(self, n: int) -> NGramLM:
        """The n-gram model of a smaller (or equal) order on these counts, without refitting.

        Exact, not an approximation: the counts of every shorter context were made by the same fit,
        and padding with more ``<s>`` than needed changes no context of length < n.
        """
        self._check_fitted()
        n = check_int("n", n, min_value=1, max_value=self.n)
        other = copy.copy(self)
        other.n, other._levels = n, self._levels[:n]
        return other

    def with_k(self, k: float) -> NGramLM:
        """The add-k model with pseudo-count ``k`` on these counts."""
        return self.with_smoothing("add-k", k)

    # --- encoding -------------------------------------------------------------------------------
    def encode(self, tokens: Sequence, end: bool = False) -> list[int]:
        """Vocabulary ids of ``tokens`` (unknown words -> ``<unk>``); ``end=True`` appends ``</s>``."""
        self._check_fitted()
        tokens = self._token_list("tokens", tokens)
        check_type("end", end, bool, "True or False")
        ids = [self.token_to_id.get(w, UNK_ID) for w in tokens]
        return ids + [EOS_ID] if end else ids

    def decode(self, ids: Iterable[int]) -> list:
        """Tokens of vocabulary ids (a list, or a 1-D array or tensor, of ints in 0..V-1)."""
        self._check_fitted()
        return [self.vocab[i] for i in token_ids_list("ids", ids, len(self.vocab))]

    @staticmethod
    def _token_list(name: str, tokens) -> list:
        """``tokens`` as a list of hashable tokens; a str is refused (it would be read char by char)."""
        if isinstance(tokens, str):
            raise ValueError(f"{name} must be a list or tuple of tokens, not the str {_short(tokens)}; "
                             f"use {_short(tokens)}.split() for words or list({_short(tokens)}) for characters")
        if tokens is None or isinstance(tokens, (bytes, dict)) or not isinstance(tokens, Iterable):
            raise ArgumentTypeError(f"{name}={_short(tokens)} must be a list or tuple of tokens (str), "
                                    f"got {type(tokens).__name__}")
        tokens = list(tokens)
        for i, tok in enumerate(tokens):
            if not _hashable(tok):
                raise ArgumentTypeError(f"{name}[{i}]={_short(tok)} must be a token (a str), "
                                        f"got {type(tok).__name__}")
        return tokens

    def _context_row(self, context) -> np.ndarray:
        """The last n-1 tokens of ``context`` as ids, padded with <s> in front: shape (n-1,).

        Only tokens after the last ``</s>`` count: generating across sentences starts each new
        one the way training sentences start.
        """
        self._check_fitted()
        V, m = len(self.vocab), self.n - 1
        tokens = self._token_list("context", context)
        if EOS in tokens:  # a sentence ended: what follows is a new sentence, so it starts from <s> padding
            tokens = tokens[len(tokens) - tokens[::-1].index(EOS):]
        tokens = tokens[-m:] if m > 0 else []
        ids = [V if w == BOS else self.token_to_id.get(w, UNK_ID) for w in tokens]
        return np.array([V] * (m - len(ids)) + ids, dtype=np.int64)

    def _target_id(self, token) -> int:
        self._check_fitted()
        if not _hashable(token) or isinstance(token, (list, tuple)):
            raise ArgumentTypeError(f"token={_short(token)} must be one token (a str such as 'cat'), "
                                    f"got {type(token).__name__}")
        if token == BOS:
            raise ValueError(f"{BOS!r} is only ever context; the model never predicts it")
        return self.token_to_id.get(token, UNK_ID)

    # --- probabilities, vectorised over many (context, target) pairs -----------------------------
    def _context_ids(self, contexts: np.ndarray) -> np.ndarray:
        """Row j: the id of the last j tokens of each context at level j, -1 if never seen. (n, N)"""
        V = len(self.vocab)
        ids = np.zeros((self.n, contexts.shape[0]), dtype=np.int64)
        for j in range(1, self.n):
            keys = self._levels[j].context_keys
            key = ids[j - 1] * (V + 1) + contexts[:, -j]
            pos = np.minimum(np.searchsorted(keys, key), keys.size - 1)
            found = (ids[j - 1] >= 0) & (keys[pos] == key)
            ids[j] = np.where(found, pos, -1)
        return ids

    def _pair_counts(self, j: int, context: np.ndarray, target: np.ndarray, kn: bool) -> np.ndarray:
        """count(context, target) at level j (0 where never seen); continuation counts if ``kn``."""
        level = self._levels[j]
        key = context * len(self.vocab) + target
        pos = np.minimum(np.searchsorted(level.pair_keys, key), level.pair_keys.size - 1)
        hit = (context >= 0) & (level.pair_keys[pos] == key)
        counts = level.kn_counts if kn else level.counts
        return np.where(hit, counts[pos], 0)

    def _top_counts(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        top = self.n - 1
        return self._pair_counts(top, self._context_ids(contexts)[top], targets, kn=False)

    def _probs(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """P(target | context) for N pairs at once: contexts (N, n-1), targets (N,) -> (N,)."""
        V, top = len(self.vocab), self.n - 1
        context_ids = self._context_ids(contexts)                # (n, N)
        if self.smoothing != "kneser-ney":
            context = context_ids[top]
            counts = self._pair_counts(top, context, targets, kn=False)
            totals = np.where(context >= 0, self._levels[top].totals[np.maximum(context, 0)], 0.0)
            if self.smoothing == "mle":
                # an unseen context has no counts at all: probability 0, as NLTK's MLE says
                return np.where(totals > 0, counts / np.maximum(totals, 1), 0.0)
            k = 1.0 if self.smoothing == "laplace" else self.k
            return (counts + k) / (totals + k * V)
        probs = np.full(targets.shape, 1.0 / V)                  # below the unigram level: uniform
        for j in range(self.n):
            context = context_ids[j]
            seen, safe = context >= 0, np.maximum(context, 0)
            kn = j < top                                         # lower levels use continuation counts
            counts = self._pair_counts(j, context, targets, kn=kn)
            level = self._levels[j]
            totals = (level.kn_totals if kn else level.totals)[safe]
            interpolated = (np.maximum(counts - self.discount, 0) + self.discount * level.types[safe] * probs) / totals
            probs = np.where(seen, interpolated, probs)          # unseen context: keep the shorter one's answer
        return probs

    def _dense_probs(self, context_row: np.ndarray) -> np.ndarray:
        """P(w | context) for every w in vocab, shape (V,); vectorised over the vocabulary."""
        V, top = len(self.vocab), self.n - 1
        context_ids = self._context_ids(context_row[None, :])[:, 0]   # (n,)

        def counts_after(j: int, kn: bool) -> np.ndarray:
            level, c = self._levels[j], int(context_ids[j])
            lo, hi = np.searchsorted(level.pair_keys, [c * V, (c + 1) * V])   # this context's pairs are contiguous
            dense = np.zeros(V)
            dense[level.pair_keys[lo:hi] - c * V] = (level.kn_counts if kn else level.counts)[lo:hi]
            return dense

        if self.smoothing != "kneser-ney":
            seen = context_ids[top] >= 0
            if self.smoothing == "mle":
                if not seen:
                    raise ValueError(f"the context {self._describe_context(context_row)} never occurs in the training "
                                     "text, so MLE has no distribution for it (0/0); use smoothing='add-k' or "
                                     "'kneser-ney', or a context seen in training")
                counts = counts_after(top, kn=False)
                return counts / counts.sum()
            k = 1.0 if self.smoothing == "laplace" else self.k
            counts = counts_after(top, kn=False) if seen else np.zeros(V)
            return (counts + k) / (counts.sum() + k * V)
        probs = np.full(V, 1.0 / V)
        for j in range(self.n):
            if context_ids[j] < 0:                      # never seen: longer contexts are unseen too
                break
            kn = j < top
            level, c = self._levels[j], int(context_ids[j])
            counts = counts_after(j, kn)
            total = (level.kn_totals if kn else level.totals)[c]
            probs = (np.maximum(counts - self.discount, 0) + self.discount * level.types[c] * probs) / total
        return probs

    def _describe_context(self, context_row: np.ndarray) -> str:
        """A readable form of an id context (for messages)."""
        V = len(self.vocab)
        return "(" + " ".join(BOS if i == V else str(self.vocab[i]) for i in context_row) + ")"

    # --- the public questions ---------------------------------------------------------------------
    def prob(self, token, context: Sequence = ()) -> float:
        """P(token | last n-1 tokens of context); unknown words count as ``<unk>``."""
        contexts = self._context_row(context)[None, :]
        return float(self._probs(contexts, np.array([self._target_id(token)]))[0])

    def logprob(self, token, context: Sequence = ()) -> float:
        """Natural log of ``prob``; -inf where the probability is 0."""
        p = self.prob(token, context)
        return math.log(p) if p > 0 else float("-inf")

    def next_token_probs_array(self, context: Sequence = ()) -> np.ndarray:
        """P(w | context) for every w in ``vocab`` as a numpy array of shape (V,), summing to 1."""
        return self._dense_probs(self._context_row(context))

    def next_token_probs(self, context: Sequence = ()) -> dict:
        """The whole next-token distribution as {token: probability}, summing to 1."""
        return dict(zip(self.vocab, self.next_token_probs_array(context).tolist()))

    def next_token_logits(self, context: Sequence = ()) -> torch.Tensor:
        """Log-probabilities over ``vocab`` (-inf for 0) as a float32 tensor of shape (V,).

        Softmax of these gives back the probabilities, so ``gptlab.sampling`` can drive this model
        exactly as it drives a neural one.
        """
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(self.next_token_probs_array(context))).float()

    def context_count(self, context: Sequence = ()) -> int:
        """How many times the (last n-1 tokens of the) context occurred in training."""
        context_id = int(self._context_ids(self._context_row(context)[None, :])[self.n - 1, 0])
        return 0 if context_id < 0 else int(self._levels[self.n - 1].totals[context_id])

    def sentence_logprob(self, sentence: Sequence) -> float:
        """log P(sentence), including the final ``</s>``: the model used as a sentence scorer."""
        self._check_fitted()
        if isinstance(sentence, str):
            raise ValueError(f"sentence must be a list of tokens, not the str {_short(sentence)}; "
                             f"use {_short(sentence)}.split() for words or list(...) for characters")
        if sentence is None or not isinstance(sentence, Iterable):
            raise ArgumentTypeError(f"sentence={_short(sentence)} must be a list of tokens, "
                                    f"got {type(sentence).__name__}")
        contexts, targets = self._contexts_and_targets(_as_sentences([sentence], "sentence"), "sentence")
        with np.errstate(divide="ignore"):
            return float(np.log(self._probs(contexts, targets)).sum())

    def perplexity(self, sentences: Iterable[Sequence]) -> float:
        """exp(average negative log-probability per predicted token, ``</s>`` included).

        Infinite when some token gets probability 0, which MLE does to every unseen n-gram.
        """
        self._check_fitted()
        contexts, targets = self._contexts_and_targets(_as_sentences(sentences))
        probs = self._probs(contexts, targets)
        if (probs == 0).any():
            return float("inf")
        return float(np.exp(-np.log(probs).mean()))

    def generate(self, max_tokens: int = 30, context: Sequence = (), generator=None, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None) -> list:
        """Sample a sentence continuation token by token, until ``</s>`` or ``max_tokens`` new tokens.

        Returns the new tokens (without ``</s>``). ``generator``: a ``random.Random``, an int seed
        or a ``torch.Generator``, for reproducible text. The decoding settings are those of
        ``gptlab.sampling.next_token_probs``, which does the drawing.
        """
        self._check_fitted()
        max_tokens = check_int("max_tokens", max_tokens, min_value=0)
        context = self._token_list("context", context)
        prompt = self.encode([w for w in context if w != BOS])   # <s> is implied at a sentence start
        start = len(prompt)
        # the sampler knows only ids; turn them back into this model's context each step
        ids = sample_loop(lambda ids: self.next_token_logits(self.decode(ids)), prompt, max_tokens,
                          temperature=temperature, top_k=top_k, top_p=top_p, generator=generator,
                          stop_token=EOS_ID)
        new = ids[start:]
        if new and new[-1] == EOS_ID:
            new = new[:-1]
        return self.decode(new)
