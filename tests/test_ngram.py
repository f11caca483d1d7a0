"""NGramLM against NLTK's nltk.lm (MLE, Laplace, Lidstone) and a plain-dict Kneser-Ney reference."""
import math
import random
from collections import Counter, defaultdict
from itertools import chain

import numpy as np
import pytest
import torch
from nltk.lm import MLE, Laplace, Lidstone
from nltk.lm.vocabulary import Vocabulary
from nltk.util import ngrams

from gptlab.ngram import (
    BOS,
    EOS,
    UNK,
    NGramLM,
    count_sentences,
    heldout_ngram_coverage,
    heldout_sentence_coverage,
    sentence_probability_by_counting,
)


def make_corpus(n_sentences, seed, extra_words=()):
    """Sentences from a small Markov chain over 25 words, so counts are uneven and many n-grams unseen."""
    words = [f"w{i}" for i in range(25)]
    structure = random.Random(1234)                        # the same chain for training and held-out text
    follow = {w: structure.sample(words, 6) for w in words}  # each word is mostly followed by one of 6
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        w = rng.choice(words[:8])
        sent = [w]
        for _ in range(rng.randint(1, 8)):
            w = rng.choice(follow[w]) if rng.random() < 0.9 else rng.choice(words)
            sent.append(w)
        sentences.append(sent)
    for i, word in enumerate(extra_words):                 # words the training text never contains
        sentences[i % len(sentences)] = sentences[i % len(sentences)] + [word]
    return sentences


TRAIN = make_corpus(300, seed=0, extra_words=["rare_a", "rare_b", "rare_b"])
HELDOUT = make_corpus(60, seed=1, extra_words=["never_seen", "also_new"])


def pad(sentence, n):
    return [BOS] * (n - 1) + list(sentence) + [EOS]


class VocabWithoutBOS(Vocabulary):
    """NLTK counts every vocabulary item in Laplace's denominator, <s> included; gptlab leaves <s> out
    (it is only context, never predicted). Same counts, same lookups, one fewer in len()."""

    def __len__(self):
        return super().__len__() - (BOS in self)


def nltk_model(cls, sentences, n, min_count=1, **kwargs):
    """An nltk.lm model padded exactly as NGramLM pads: n-1 <s> in front, one </s> at the end."""
    vocab = VocabWithoutBOS(chain.from_iterable(pad(s, n) for s in sentences), unk_cutoff=min_count, unk_label=UNK)
    model = cls(order=n, vocabulary=vocab, **kwargs)
    model.fit([list(ngrams(pad(s, n), n)) for s in sentences])
    return model


def heldout_ngrams(sentences, n):
    return [g for s in sentences for g in ngrams(pad(s, n), n)]


def test_vocab_and_padding():
    lm = NGramLM(3).fit([["a", "b"], ["b"]])
    assert lm.vocab == [UNK, EOS, "a", "b"]
    assert BOS not in lm.vocab
    # 'a' starts 1 of 2 sentences: P(a | <s> <s>) = 1/2; 'b' then ends its sentence
    assert lm.prob("a", [BOS, BOS]) == 0.5
    assert lm.prob(EOS, ["a", "b"]) == 1.0
    assert lm.context_count([BOS, BOS]) == 2


@pytest.mark.parametrize("n", [1, 2, 3])
def test_mle_matches_nltk(n):
    ours, ref = NGramLM(n, "mle").fit(TRAIN), nltk_model(MLE, TRAIN, n)
    grams = heldout_ngrams(HELDOUT, n) + heldout_ngrams(TRAIN[:50], n)
    for g in grams:
        assert ours.prob(g[-1], g[:-1]) == pytest.approx(ref.score(g[-1], g[:-1]), abs=1e-12)
    assert ours.perplexity(TRAIN[:50]) == pytest.approx(ref.perplexity(heldout_ngrams(TRAIN[:50], n)), rel=1e-9)
    # held-out text has unseen words and n-grams: both say infinite
    assert ours.perplexity(HELDOUT) == ref.perplexity(heldout_ngrams(HELDOUT, n)) == math.inf


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("smoothing,k", [("laplace", 1.0), ("add-k", 0.1), ("add-k", 2.5)])
def test_add_k_matches_nltk(n, smoothing, k):
    ours = NGramLM(n, smoothing, k=k).fit(TRAIN)
    ref = nltk_model(Laplace, TRAIN, n) if smoothing == "laplace" else nltk_model(Lidstone, TRAIN, n, gamma=k)
    assert len(ref.vocab) == len(ours.vocab)
    for g in heldout_ngrams(HELDOUT, n):
        assert ours.prob(g[-1], g[:-1]) == pytest.approx(ref.score(g[-1], g[:-1]), abs=1e-12)
    ppl = ours.perplexity(HELDOUT)
    assert math.isfinite(ppl)
    assert ppl == pytest.approx(ref.perplexity(heldout_ngrams(HELDOUT, n)), rel=1e-9)


def test_min_count_makes_rare_words_unk_like_nltk_cutoff():
    ours = NGramLM(2, "laplace", min_count=3).fit(TRAIN)
    ref = nltk_model(Laplace, TRAIN, 2, min_count=3)
    counts = Counter(chain.from_iterable(TRAIN))
    rare = [w for w, c in counts.items() if c < 3]
    assert rare, "the corpus should contain rare words for this test to mean something"
    assert not set(rare) & set(ours.vocab)
    assert len(ours.vocab) == len(ref.vocab)
    for g in heldout_ngrams(HELDOUT, 2) + [(rare[0], "w1"), ("w1", rare[0])]:
        assert ours.prob(g[-1], g[:-1]) == pytest.approx(ref.score(g[-1], g[:-1]), abs=1e-12)
    # <unk> now has real counts: MLE gives it mass, where with min_count=1 it gets none
    assert NGramLM(1, min_count=3).fit(TRAIN).prob(UNK) == pytest.approx(sum(counts[w] for w in rare) /
                                                                           (sum(counts.values()) + len(TRAIN)))
    assert NGramLM(1).fit(TRAIN).prob(UNK) == 0.0


def test_unknown_words_are_unk():
    lm = NGramLM(2, "add-k", k=0.5).fit(TRAIN)
    assert lm.prob("never_seen", ["w1"]) == lm.prob(UNK, ["w1"]) > 0
    assert lm.prob("w2", ["never_seen"]) == lm.prob("w2", [UNK])
    assert lm.encode(["w1", "zzz"], end=True) == [lm.token_to_id["w1"], 0, 1]


CONTEXTS = [(), ("w0",), ("w0", "w3"), (BOS, "w1"), ("w5", "w5", "w5"), ("never_seen", "w2"), ("zzz", "qqq")]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("smoothing", ["laplace", "add-k", "kneser-ney"])
def test_every_distribution_sums_to_one(n, smoothing):
    lm = NGramLM(n, smoothing, k=0.05).fit(TRAIN)
    for context in CONTEXTS:
        probs = lm.next_token_probs(context)
        assert list(probs) == lm.vocab
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
        assert min(probs.values()) > 0           # smoothing leaves no zero, <unk> included
        # the dense vector and the one-at-a-time probabilities agree
        for w in ["w1", EOS, UNK]:
            assert lm.prob(w, context) == pytest.approx(probs[w], abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_mle_sums_to_one_on_seen_contexts_and_refuses_unseen(n):
    lm = NGramLM(n).fit(TRAIN)
    for context in [(), ("w0",), (BOS, "w1")]:
        assert sum(lm.next_token_probs(context).values()) == pytest.approx(1.0, abs=1e-12)
    if n > 1:
        assert lm.context_count(("zzz", "qqq")) == 0
        assert lm.prob("w1", ("zzz", "qqq")) == 0.0           # as NLTK: no counts, probability 0
        with pytest.raises(ValueError, match="never occurs in the training text"):
            lm.next_token_probs(("zzz", "qqq"))


def kneser_ney_reference(sentences, n, d=0.75):
    """Interpolated Kneser-Ney with plain dicts, written straight from Chen & Goodman (1998)."""
    counts = [defaultdict(Counter) for _ in range(n)]     # counts[j][context of length j][word]
    for s in sentences:
        p = pad(s, n)
        for i in range(n - 1, len(p)):
            counts[n - 1][tuple(p[i - n + 1:i])][p[i]] += 1
    for j in range(n - 2, -1, -1):                         # continuation counts: distinct left extensions
        for ctx, following in counts[j + 1].items():
            for w in following:
                counts[j][ctx[1:]][w] += 1
    vocab = sorted({w for s in sentences for w in s} | {EOS, UNK})

    def prob(w, context):
        p = 1 / len(vocab)
        for j in range(n):
            ctx = tuple(context[len(context) - j:]) if j else ()
            c = counts[j].get(ctx)
            if not c:
                break
            total = sum(c.values())
            p = max(c[w] - d, 0) / total + d * len(c) / total * p
        return p

    return prob, vocab


@pytest.mark.parametrize("n", [1, 2, 3])
def test_kneser_ney_matches_reference(n):
    lm = NGramLM(n, "kneser-ney").fit(TRAIN)
    ref, vocab = kneser_ney_reference(TRAIN, n)
    assert sorted(lm.vocab) == vocab
    for context in CONTEXTS:
        row = ([BOS] * (n - 1) + list(context))[-(n - 1):] if n > 1 else []
        row = [w if w in vocab or w == BOS else UNK for w in row]
        probs = lm.next_token_probs(context)
        for w in vocab:
            assert probs[w] == pytest.approx(ref(w, row), abs=1e-12)
    if n > 1:                                   # with a context to back off from, KN beats add-one
        assert lm.perplexity(HELDOUT) < NGramLM(n, "laplace").fit(TRAIN).perplexity(HELDOUT)


def test_context_longer_than_n_minus_1_uses_only_the_last_tokens():
    lm = NGramLM(3, "kneser-ney").fit(TRAIN)
    long_context = ["w7", "w9", "w0", "w3"]
    assert lm.next_token_probs(long_context) == lm.next_token_probs(long_context[-2:])
    assert lm.prob("w1", long_context) == lm.prob("w1", ["w0", "w3"])
    assert lm.next_token_probs(["w7", "w9", "w0", "w3"]) != lm.next_token_probs(["w7", "w9", "w3", "w0"])
    # a shorter context is the start of a sentence
    assert lm.next_token_probs(["w0"]) == lm.next_token_probs([BOS, "w0"])
    assert lm.next_token_probs([]) == lm.next_token_probs([BOS, BOS])


def test_with_k_shares_counts_and_equals_a_fresh_fit():
    base = NGramLM(3, "add-k", k=1.0).fit(TRAIN)
    cheap = base.with_k(0.3)
    assert cheap._levels is base._levels                    # no recount
    fresh = NGramLM(3, "add-k", k=0.3).fit(TRAIN)
    assert cheap.next_token_probs(["w0", "w3"]) == pytest.approx(fresh.next_token_probs(["w0", "w3"]), abs=1e-15)
    assert cheap.perplexity(HELDOUT) == pytest.approx(fresh.perplexity(HELDOUT), rel=1e-12)
    assert base.k == 1.0                                    # the original is untouched


@pytest.mark.parametrize("smoothing", ["mle", "add-k", "kneser-ney"])
def test_with_order_equals_a_fresh_fit_of_that_order(smoothing):
    big = NGramLM(4, smoothing, k=0.2).fit(TRAIN)
    for n in (1, 2, 3):
        small, fresh = big.with_order(n), NGramLM(n, smoothing, k=0.2).fit(TRAIN)
        assert small.n == n and big.n == 4
        for context in [(), ("w0",), ("w0", "w3")]:
            assert small.next_token_probs(context) == pytest.approx(fresh.next_token_probs(context), abs=1e-15)
        assert small.perplexity(HELDOUT[:20]) == pytest.approx(fresh.perplexity(HELDOUT[:20]), rel=1e-12)
    with pytest.raises(ValueError, match="n=5 must be at most 4"):
        big.with_order(5)


def test_logits_give_back_the_probabilities():
    lm = NGramLM(2).fit(TRAIN)
    probs = lm.next_token_probs_array(["w0"])
    logits = lm.next_token_logits(["w0"])
    assert logits.shape == (len(lm.vocab),) and logits.dtype == torch.float32
    assert torch.isneginf(logits[torch.from_numpy(probs == 0)]).all()
    assert torch.allclose(torch.softmax(logits, -1), torch.from_numpy(probs).float(), atol=1e-6)
    assert lm.logprob(UNK, ["w0"]) == -math.inf
    likely = lm.vocab[int(probs.argmax())]
    assert lm.logprob(likely, ["w0"]) == pytest.approx(math.log(probs.max()))


def test_sentence_logprob_is_the_chain_rule():
    lm = NGramLM(3, "kneser-ney").fit(TRAIN)
    sentence = ["w0", "w3", "never_seen"]
    padded = pad(sentence, 3)
    by_hand = sum(lm.logprob(padded[i], padded[i - 2:i]) for i in range(2, len(padded)))
    assert lm.sentence_logprob(sentence) == pytest.approx(by_hand, rel=1e-12)


def test_generate_is_reproducible_and_stays_in_vocab():
    lm = NGramLM(3, "kneser-ney").fit(TRAIN)
    a = lm.generate(max_tokens=15, generator=7)
    assert a == lm.generate(max_tokens=15, generator=torch.Generator().manual_seed(7))
    assert lm.generate(max_tokens=15, generator=random.Random(3)) == lm.generate(max_tokens=15,
                                                                                 generator=random.Random(3))
    assert 1 <= len(a) <= 15 and set(a) <= set(lm.vocab) - {EOS}
    assert len(lm.generate(max_tokens=3, context=["w0"], generator=0)) <= 3
    # greedy decoding follows the argmax chain
    greedy = lm.generate(max_tokens=4, context=["w0", "w3"], generator=0, temperature=0)
    context = ["w0", "w3"]
    for w in greedy:
        probs = lm.next_token_probs(context)
        assert w == max(probs, key=probs.get)
        context.append(w)


def test_mle_generation_only_uses_seen_ngrams():
    lm = NGramLM(2).fit(TRAIN)
    seen = {g for s in TRAIN for g in ngrams(pad(s, 2), 2)}
    for seed in range(5):
        text = lm.generate(max_tokens=20, generator=seed)
        assert all(g in seen for g in ngrams([BOS, *text], 2))


def test_counting_whole_sentences():
    corpus = [["a", "b"], ["a", "b"], ["c"], "x y"]
    counts = count_sentences(corpus)
    assert counts[("a", "b")] == 2 and counts["x y"] == 1
    assert sentence_probability_by_counting(["a", "b"], corpus) == 0.5
    assert sentence_probability_by_counting(["b", "a"], counts) == 0.0
    assert heldout_sentence_coverage(corpus, [["a", "b"], ["b", "a"], ["c"], ["d"]]) == 0.5
    # longer memory, less coverage; every training n-gram is covered by its own corpus
    coverage = [heldout_ngram_coverage(TRAIN, HELDOUT, n) for n in (1, 2, 3, 5)]
    assert all(a > b for a, b in zip(coverage, coverage[1:]))
    assert heldout_ngram_coverage(TRAIN, TRAIN, 4) == 1.0
    assert heldout_sentence_coverage(TRAIN, HELDOUT) < coverage[-1]


def test_counting_is_vectorised_not_per_ngram():
    # the counts of a trigram model hold every level; sizes agree with a direct count
    lm = NGramLM(3).fit(TRAIN)
    trigrams = Counter(g for s in TRAIN for g in ngrams(pad(s, 3), 3))
    assert lm._levels[2].counts.sum() == sum(trigrams.values())
    assert lm._levels[2].pair_keys.size == len(trigrams)
    assert isinstance(lm._levels[2].counts, np.ndarray)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0), "n=0 must be at least 1"),
    (dict(n=2.5), "n=2.5 must be a whole number"),
    (dict(smoothing="good-turing"), "smoothing='good-turing' is not supported"),
    (dict(smoothing="add-k", k=0), "k=0 must be greater than 0"),
    (dict(smoothing="add-k", k=-1.0), "k=-1 must be greater than 0"),
    (dict(min_count=0), "min_count=0 must be at least 1"),
    (dict(discount=1.5), "discount=1.5 must be at most 1"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


@pytest.mark.parametrize("sentences,match", [
    ([], "sentences is empty"),
    ([[], []], "only empty sentences"),
    ("the cat sat", "got one str"),
    (["the cat sat", "a dog"], "not a str"),
])
def test_bad_corpus(sentences, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(2).fit(sentences)


def test_bad_queries():
    with pytest.raises(ValueError, match="not fitted yet"):
        NGramLM(2).prob("a", ["b"])
    lm = NGramLM(2).fit(TRAIN)
    with pytest.raises(ValueError, match="not the str"):
        lm.prob("w1", "w0")
    with pytest.raises(ValueError, match="only ever context"):
        lm.prob(BOS, ["w0"])
    with pytest.raises(ValueError, match="sentences is empty"):
        lm.perplexity([])
    with pytest.raises(ValueError, match="heldout is empty"):
        heldout_sentence_coverage(TRAIN, [])
    with pytest.raises(ValueError, match="corpus is empty"):
        sentence_probability_by_counting(["a"], [])


def test_context_after_sentence_end_starts_a_new_sentence():
    lm = NGramLM(3, "kneser-ney").fit([["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]])
    fresh = lm.next_token_probs([])
    after_end = lm.next_token_probs(["a", "b", "c", "</s>"])
    assert after_end == fresh
    assert lm.next_token_probs(["c", "</s>", "b"]) == lm.next_token_probs(["b"])


# --- lesson 01 additions: the explorer's Kneser-Ney option and the lesson's new pictures ----------

def test_ngram_explorer_offers_kneser_ney_on_the_same_counts(monkeypatch):
    from gptlab.widgets.ngram import NGramExplorer
    sentences = [s.split() for s in ["the cat sat on the mat", "the dog sat on the log", "a cat ate the fish"]]
    ex = NGramExplorer(sentences, n=3, k=0.1, context="on the", max_n=3)
    add_k = ex.probs.copy()
    monkeypatch.setattr(NGramLM, "fit", lambda self, s: (_ for _ in ()).throw(AssertionError("refit")))
    ex.set(smoothing="kneser-ney")
    reference = ex.model.with_smoothing("kneser-ney").next_token_probs_array(["on", "the"])
    assert ex.error is None and np.allclose(ex.probs, reference) and not np.allclose(ex.probs, add_k)
    assert "Kneser-Ney, discount 0.75" in ex.figure.axes[0].get_title()
    ex.set(context="purple cat")                        # an unseen context backs off instead of going flat
    assert ex.error is None and ex.probs.max() > 2 * ex.probs.min()
    assert "Kneser-Ney falls back on what follows 'cat'" in ex.summary
    ex.set(smoothing="add-k")
    assert np.allclose(ex.probs, ex.model.with_order(3).with_k(0.1).next_token_probs_array(["purple", "cat"]))


def test_kneser_ney_widget_matches_an_independent_fit():
    from gptlab.widgets.ngram import NGramExplorer
    sentences = [s.split() for s in ["the cat sat on the mat", "the dog sat on the log", "a cat ate the fish"]]
    ex = NGramExplorer(sentences, n=2, context="the", max_n=3, smoothing="kneser-ney")
    assert np.allclose(ex.probs, NGramLM(2, "kneser-ney").fit(sentences).next_token_probs_array(["the"]))
    with pytest.raises(ValueError, match="smoothing"):
        NGramExplorer(sentences, smoothing="laplace")


def test_plot_bigram_counts_writes_every_nonzero_count():
    from matplotlib.figure import Figure

    from gptlab.plotting import plot_bigram_counts
    counts = {("<s>", "i"): 2, ("i", "am"): 2, ("am", "sam"): 1}
    fig = plot_bigram_counts(counts, title="toy")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (3, 3) and image.sum() == 5 and image[0, 0] == 2      # rows <s>, i, am; cols i, am, sam
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "2"]
    with pytest.raises(ValueError, match="empty"):
        plot_bigram_counts({})


def test_plot_chain_rule_ends_at_the_product():
    from gptlab.plotting import plot_chain_rule
    fig = plot_chain_rule(["i", "am", "sam", "</s>"], [2 / 3, 2 / 3, 0.5, 0.5])
    ax, right = fig.axes[0], fig.axes[1]
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.666667, 0.666667, 0.5, 0.5]
    assert np.allclose(right.lines[0].get_ydata(), np.cumprod([2 / 3, 2 / 3, 0.5, 0.5]))
    assert "0.111" in ax.get_xlabel()
    with pytest.raises(ValueError, match="one factor per token"):
        plot_chain_rule(["a", "b"], [0.5])
    with pytest.raises(ValueError, match="between 0 and 1"):
        plot_chain_rule(["a"], [1.5])


def test_plot_perplexity_bars_zooms_on_the_gap():
    from gptlab.plotting import plot_perplexity_bars
    fig = plot_perplexity_bars({"MLP": 56.0, "best n-gram": 58.6})
    ax = fig.axes[0]
    assert [round(p.get_width(), 3) for p in ax.patches] == [56.0, 58.6]
    lo, hi = ax.get_xlim()
    assert 0 < lo < 56.0 and hi > 58.6 and (58.6 - 56.0) / (hi - lo) > 0.2   # the gap fills a visible share
    assert {t.get_text().strip() for t in ax.texts} == {"56.00", "58.60"}
    with pytest.raises(ValueError, match="finite"):
        plot_perplexity_bars({"MLE": math.inf})


def test_plot_perplexity_vs_n_keeps_infinite_marks_inside_the_frame():
    from gptlab.plotting import plot_perplexity_vs_n
    fig = plot_perplexity_vs_n([1, 2, 3], [50.0, 10.0, 3.0], [60.0, math.inf, math.inf])
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo < 1 and hi > 3                                   # the n = 3 mark is not on the frame
    marks = [line for line in ax.lines if line.get_marker() == "^"]
    assert len(marks) == 1 and marks[0].get_ydata()[0] < ax.get_ylim()[1] / 2
    assert not ax.texts or all(t.get_text() == "∞" for t in ax.texts)     # no note next to the title
    assert any("∞" in t.get_text() for t in ax.get_legend().get_texts())
