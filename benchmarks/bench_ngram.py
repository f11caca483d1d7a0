"""Counting n-grams: gptlab's vectorised NGramLM against NLTK's nltk.lm, measured in one run.

Both fit a trigram model (MLE, and Laplace for held-out perplexity) on the same ~200k-token word
corpus with the same padding and vocabulary (see tests/test_ngram.py), and must give the same
probabilities. NLTK counts with a Python dict update per n-gram; gptlab encodes tokens as
integers and counts every n-gram at once with ``np.unique``.

Run:  python benchmarks/bench_ngram.py    (under a minute on a 2-core CPU; the Shakespeare corpus
      comes from `python -m gptlab.data fetch`, with a synthetic fallback when it is missing)
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from itertools import chain

from nltk.lm import MLE, Laplace
from nltk.lm.vocabulary import Vocabulary
from nltk.util import ngrams

from gptlab.ngram import BOS, EOS, UNK, NGramLM


def load_corpus(n_tokens: int) -> tuple[list[list[str]], str]:
    """Shakespeare's sentences up to ``n_tokens`` words, or a synthetic Markov text if not fetched."""
    try:
        from gptlab.data import word_sentences

        sentences, source = word_sentences("shakespeare"), "Shakespeare (gptlab.data.word_sentences)"
    except Exception:                       # no data module, or the corpus is not fetched
        rng = random.Random(0)
        words = [f"w{i}" for i in range(5000)]
        follow = {w: rng.sample(words, 40) for w in words[:500]}
        sentences = []
        for _ in range(40_000):
            w = rng.choice(words[:500])
            sentence = [w]
            for _ in range(rng.randint(3, 15)):
                w = rng.choice(follow.get(w, words[:500])) if rng.random() < 0.8 else rng.choice(words)
                sentence.append(w)
            sentences.append(sentence)
        source = "synthetic Markov text (Shakespeare not fetched)"
    out, total = [], 0
    for s in sentences:
        if total >= n_tokens:
            break
        out.append(s)
        total += len(s)
    return out, source


class VocabWithoutBOS(Vocabulary):
    """gptlab leaves <s> out of the vocabulary size (it is never predicted); tell NLTK the same."""

    def __len__(self):
        return super().__len__() - (BOS in self)


def pad(sentence, n):
    return [BOS] * (n - 1) + list(sentence) + [EOS]


def nltk_fit(cls, sentences, n):
    vocab = VocabWithoutBOS(chain.from_iterable(pad(s, n) for s in sentences), unk_label=UNK)
    model = cls(order=n, vocabulary=vocab)
    model.fit([list(ngrams(pad(s, n), n)) for s in sentences])
    return model


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200_000, help="size of the training corpus in words")
    parser.add_argument("--n", type=int, default=3)
    args = parser.parse_args()
    n = args.n

    sentences, source = load_corpus(args.tokens + 20_000)
    split = len(sentences) * 9 // 10
    train, heldout = sentences[:split], sentences[split:]
    print(f"corpus: {source}: {sum(map(len, train)):,} training words in {len(train):,} sentences, "
          f"{sum(map(len, heldout)):,} held-out words")

    ours, t_ours = timed(lambda: NGramLM(n).fit(train), repeat=3)
    ref, t_ref = timed(lambda: nltk_fit(MLE, train, n), repeat=1)

    # the same probabilities on a few hundred n-grams, seen and unseen
    rng = random.Random(0)
    grams = [g for s in rng.sample(heldout, 150) + rng.sample(train, 150) for g in ngrams(pad(s, n), n)][:600]
    diff = max(abs(ours.prob(g[-1], g[:-1]) - ref.score(g[-1], g[:-1])) for g in grams)

    laplace, t_lap = timed(lambda: NGramLM(n, "laplace").fit(train), repeat=3)
    ref_lap = nltk_fit(Laplace, train, n)
    held_grams = [g for s in heldout for g in ngrams(pad(s, n), n)]
    ppl_ours, t_ppl_ours = timed(lambda: laplace.perplexity(heldout), repeat=3)
    ppl_ref, t_ppl_ref = timed(lambda: ref_lap.perplexity(held_grams), repeat=1)

    print(f"\n{'task (n = ' + str(n) + ')':<34}{'gptlab':>10}{'nltk.lm':>10}{'speed-up':>10}")
    print(f"{'fit MLE':<34}{t_ours:>9.3f}s{t_ref:>9.3f}s{t_ref / t_ours:>9.1f}x")
    print(f"{'held-out perplexity (Laplace)':<34}{t_ppl_ours:>9.3f}s{t_ppl_ref:>9.3f}s{t_ppl_ref / t_ppl_ours:>9.1f}x")
    print(f"\nmax |P_gptlab - P_nltk| over {len(grams)} n-grams (MLE): {diff:.2e}")
    print(f"held-out perplexity, Laplace: gptlab {ppl_ours:.6f}, nltk {ppl_ref:.6f}")
    print(f"(gptlab Laplace fit took {t_lap:.3f}s; target for the MLE fit: >= 10x faster than nltk)")


if __name__ == "__main__":
    main()
