"""Decoding rules against distributions computed by hand, and the sampler against its own probabilities."""
import math
import random

import numpy as np
import pytest
import torch

from gptlab.sampling import (
    banned_by_no_repeat,
    entropy,
    generate,
    kept_mass,
    make_generator,
    model_logits_fn,
    next_token_probs,
    ngram_logits_fn,
    ngrams,
    repeated_ngram_fraction,
    repeated_ngram_mask,
    sample,
    unseen_ngram_fraction,
)

PROBS = torch.tensor([0.5, 0.25, 0.15, 0.1])      # a distribution easy to check by hand
LOGITS = PROBS.log()


def close(a, b, atol=1e-6):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), atol=atol)


def test_plain_softmax(device):
    logits = torch.tensor([1.0, 2.0, 3.0], device=device)
    probs = next_token_probs(logits)
    e = [math.exp(1), math.exp(2), math.exp(3)]
    assert probs.device == logits.device
    assert close(probs.cpu(), [x / sum(e) for x in e])


def test_accepts_lists_and_numpy():
    assert close(next_token_probs([0.0, 0.0]), [0.5, 0.5])
    assert close(next_token_probs(np.log(np.array([0.2, 0.8]))), [0.2, 0.8])


def test_temperature_matches_hand_computation(device):
    # softmax(log p / T) is p^(1/T) renormalised
    for T in (0.5, 2.0):
        expected = PROBS ** (1 / T) / (PROBS ** (1 / T)).sum()
        assert close(next_token_probs(LOGITS.to(device), temperature=T).cpu(), expected)


def test_temperature_zero_is_greedy_one_hot_ties_to_lowest_index(device):
    probs = next_token_probs(torch.tensor([1.0, 3.0, 3.0, -2.0], device=device), temperature=0)
    assert probs.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert not torch.isnan(probs).any()
    # tiny but positive temperature is almost greedy and still finite
    nearly = next_token_probs(torch.tensor([1.0, 3.0, 2.9], device=device), temperature=1e-30)
    assert nearly.tolist() == [0.0, 1.0, 0.0]


def test_top_k_keeps_k_most_likely(device):
    probs = next_token_probs(LOGITS.to(device), top_k=2).cpu()
    assert close(probs, [0.5 / 0.75, 0.25 / 0.75, 0, 0])
    assert close(next_token_probs(LOGITS, top_k=10), PROBS)           # k >= V: nothing cut
    # ties with the k-th largest are all kept, whatever their position
    tied = next_token_probs(torch.tensor([2.0, 1.0, 1.0, 0.0]), top_k=2)
    assert (tied > 0).tolist() == [True, True, True, False]


def test_top_p_keeps_the_smallest_set_reaching_p(device):
    logits = LOGITS.to(device)
    assert close(next_token_probs(logits, top_p=0.6).cpu(), [0.5 / 0.75, 0.25 / 0.75, 0, 0])
    # boundary: 0.5 already reaches p = 0.5, so one token; just above needs two
    assert close(next_token_probs(logits, top_p=0.5).cpu(), [1, 0, 0, 0])
    assert close(next_token_probs(logits, top_p=0.5001).cpu(), [0.5 / 0.75, 0.25 / 0.75, 0, 0])
    assert close(next_token_probs(logits, top_p=0.9).cpu(), [0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0])
    assert close(next_token_probs(logits, top_p=1.0).cpu(), PROBS)
    # the most likely token always survives, however small p is
    assert close(next_token_probs(logits, top_p=1e-9).cpu(), [1, 0, 0, 0])
    # permuting the vocabulary permutes the answer
    perm = torch.tensor([2, 0, 3, 1])
    assert close(next_token_probs(LOGITS[perm], top_p=0.6), next_token_probs(LOGITS, top_p=0.6)[perm])


def _nucleus_by_hand(probs: torch.Tensor, top_p: float) -> list[bool]:
    """Top-p in plain Python: rank by probability (ties: lower id first), keep while the mass
    ranked above is short of p, always keep the first."""
    p = probs.tolist()
    keep, mass = [False] * len(p), 0.0
    for rank, i in enumerate(sorted(range(len(p)), key=lambda i: (-p[i], i))):
        if rank == 0 or mass < top_p - 1e-6:
            keep[i] = True
        mass += p[i]
    return keep


@pytest.mark.parametrize("V, temperature", [(300, 1.0), (3000, 0.3), (3000, 3.0), (50_257, 1.0), (50_257, 0.7)])
def test_top_p_over_a_large_vocabulary_matches_a_plain_ranking(V, temperature):
    """Large vocabularies take a fast path (only the most likely tokens are ranked): it must keep
    exactly the tokens a full ranking keeps, ties and flat distributions included."""
    g = torch.Generator().manual_seed(V)
    logits = torch.randn(V, generator=g) * 3
    logits[10:20] = logits.max()          # ten tokens tied for the top
    logits[100:400] = logits[5]           # a long tie further down
    for top_p in (0.01, 0.3, 0.6, 0.9, 0.99):
        probs = next_token_probs(logits, temperature=temperature, top_p=top_p)
        unfiltered = next_token_probs(logits, temperature=temperature)
        assert (probs > 0).tolist() == _nucleus_by_hand(unfiltered, top_p), f"top_p={top_p}"
        assert close(probs.sum(), 1.0)


def test_top_p_is_measured_after_top_k_and_temperature():
    # top_k=3 leaves (0.5, 0.25, 0.15)/0.9; p = 0.8 needs 0.5/0.9 + 0.25/0.9 = 0.833 -> two tokens
    assert close(next_token_probs(LOGITS, top_k=3, top_p=0.8), [0.5 / 0.75, 0.25 / 0.75, 0, 0])
    # T = 0.5 squares: (0.25, 0.0625, 0.0225, 0.01) / 0.345; the first alone is 0.725 >= 0.7
    assert close(next_token_probs(LOGITS, temperature=0.5, top_p=0.7), [1, 0, 0, 0])


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([2.0, -1.0, 0.5, 1.0])
    got = next_token_probs(logits, repetition_penalty=2.0, previous=[0, 1, 1])
    expected = torch.softmax(torch.tensor([1.0, -2.0, 0.5, 1.0]), -1)
    assert close(got, expected)
    assert close(next_token_probs(logits, repetition_penalty=2.0), torch.softmax(logits, -1))  # no history


def test_no_repeat_ngram_ban():
    previous = [5, 6, 7, 5, 6]
    assert banned_by_no_repeat(previous, 3) == [7]          # (5, 6) was followed by 7 before
    assert banned_by_no_repeat(previous, 2) == [7]          # 6 was followed by 7
    assert banned_by_no_repeat(previous, 1) == [5, 6, 7]
    assert banned_by_no_repeat([5, 6], 4) == []             # no complete 4-gram yet
    probs = next_token_probs(torch.zeros(8), previous=previous, no_repeat_ngram_size=3)
    assert probs[7] == 0 and close(probs.sum(), 1.0) and close(probs[0], 1 / 7)


def test_order_penalty_then_ban_then_temperature_then_top_k():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0])
    # penalty lowers token 0 to 1.5; ban removes token 1; T = 1; top_k=2 keeps tokens 0 and 2
    got = next_token_probs(logits, repetition_penalty=2.0, previous=[0, 1, 0], no_repeat_ngram_size=2, top_k=2)
    expected = torch.softmax(torch.tensor([1.5, 1.0]), -1)
    assert close(got, [expected[0], 0, expected[1], 0])


def test_batched_equals_unbatched(device):
    torch.manual_seed(0)
    logits = torch.randn(3, 50, device=device)
    previous = [[1, 2, 3, 1, 2], [], [7, 7, 7]]
    kwargs = dict(temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.3, no_repeat_ngram_size=2)
    batched = next_token_probs(logits, previous=previous, **kwargs)
    for b in range(3):
        assert close(batched[b].cpu(), next_token_probs(logits[b], previous=previous[b], **kwargs).cpu(), atol=1e-7)
    assert close(next_token_probs(logits, temperature=0).cpu(),
                 torch.stack([next_token_probs(row, temperature=0) for row in logits]).cpu())


def test_sample_frequencies_match_probabilities(device):
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 1.5], device=device)
    kwargs = dict(temperature=0.8, top_k=5, top_p=0.95)
    probs = next_token_probs(logits, **kwargs).cpu()
    draws = sample(logits, num_samples=200_000, generator=torch.Generator().manual_seed(0), **kwargs)
    assert draws.shape == (200_000,) and draws.device == logits.device
    freqs = torch.bincount(draws.cpu(), minlength=6).double() / 200_000
    assert (freqs - probs).abs().max() < 0.01
    assert freqs[probs == 0].sum() == 0                    # filtered tokens are never drawn


def test_sample_is_reproducible_and_batched():
    logits = torch.randn(2, 10, generator=torch.Generator().manual_seed(1))
    a = sample(logits, num_samples=5, generator=3)
    assert a.shape == (2, 5)
    assert torch.equal(a, sample(logits, num_samples=5, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(sample(logits, temperature=0), logits.argmax(-1, keepdim=True))


def test_generate_with_a_toy_model():
    # a "model" that always prefers the token after the last one, cycling through 5 ids
    def logits_fn(ids):
        logits = torch.full((5,), -10.0)
        logits[(ids[-1] + 1) % 5] = 10.0
        return logits

    assert generate(logits_fn, [0], 7, temperature=0) == [0, 1, 2, 3, 4, 0, 1, 2]
    assert generate(logits_fn, [0], 7, temperature=0, stop_token=3) == [0, 1, 2, 3]
    assert generate(logits_fn, [2], 0) == [2]
    # the n-gram ban breaks the cycle as soon as it would repeat a bigram: greedy on the rest
    out = generate(logits_fn, [0], 7, temperature=0, no_repeat_ngram_size=2)
    assert out[:6] == [0, 1, 2, 3, 4, 0] and out[6] != 1     # (0, 1) already occurred
    # numpy and list logits work too, and a random.Random seeds the draws just as well
    from_random = [generate(lambda ids: np.zeros(4), [1], 20, generator=random.Random(5)) for _ in range(2)]
    assert from_random[0] == from_random[1]
    seeded = [generate(lambda ids: torch.zeros(4), [1], 20, generator=5) for _ in range(2)]
    assert seeded[0] == seeded[1] and len(seeded[0]) == 21 and set(seeded[0]) <= {0, 1, 2, 3}


def test_entropy_and_kept_mass():
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    assert entropy(torch.full((8,), 1 / 8)) == pytest.approx(math.log(8))
    assert entropy({"a": 0.5, "b": 0.5}) == pytest.approx(math.log(2))
    assert torch.allclose(entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]])), torch.tensor([0.0, math.log(2)],
                                                                                        dtype=torch.float64))
    after = next_token_probs(LOGITS, top_k=2)
    assert kept_mass(PROBS, after) == pytest.approx(0.75)
    assert kept_mass(PROBS, PROBS) == pytest.approx(1.0)
    assert entropy(after) < entropy(PROBS)


def test_make_generator():
    assert make_generator(None) is None
    g = torch.Generator()
    assert make_generator(g) is g
    assert torch.equal(torch.rand(3, generator=make_generator(4)), torch.rand(3, generator=make_generator(4)))
    with pytest.raises(ValueError, match="generator='seed'"):
        make_generator("seed")


@pytest.mark.parametrize("kwargs,match", [
    (dict(temperature=-0.1), "temperature=-0.1 must be at least 0"),
    (dict(temperature="hot"), "temperature='hot' must be a number"),
    (dict(temperature=float("nan")), "temperature=nan must be a finite number"),
    (dict(top_k=0), "top_k=0 must be at least 1"),
    (dict(top_k=2.5), "top_k=2.5 must be a whole number"),
    (dict(top_p=0.0), "top_p=0 must be greater than 0"),
    (dict(top_p=1.5), "top_p=1.5 must be at most 1"),
    (dict(repetition_penalty=0.0), "repetition_penalty=0 must be greater than 0"),
    (dict(repetition_penalty=-1.0), "repetition_penalty=-1 must be greater than 0"),
    (dict(no_repeat_ngram_size=0, previous=[1]), "no_repeat_ngram_size=0 must be at least 1"),
    (dict(previous=[0, 9]), "outside the vocabulary 0..3"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        next_token_probs(LOGITS, **kwargs)
    with pytest.raises(ValueError, match=match):
        sample(LOGITS, **kwargs)


def test_bad_logits():
    with pytest.raises(ValueError, match=r"shape \(V,\) or \(B, V\)"):
        next_token_probs(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="NaN"):
        next_token_probs(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="every token has probability 0"):
        next_token_probs(torch.zeros(2), previous=[0, 1], no_repeat_ngram_size=1)
    with pytest.raises(ValueError, match="B=2"):
        next_token_probs(torch.zeros(2, 3), previous=[[0]])
    with pytest.raises(ValueError, match=r"shape \(V,\)"):
        generate(lambda ids: torch.zeros(1, 3), [0], 2)
    with pytest.raises(ValueError, match="did you pass logits"):
        entropy([-1.0, 2.0])


# --- measuring generated text (lesson 02) ---------------------------------------------------


def test_ngrams_and_repeated_fraction_by_hand():
    assert ngrams([1, 2, 3, 4], 2) == [(1, 2), (2, 3), (3, 4)]
    assert ngrams([1, 2], 3) == []
    # 123 231 312 123: three distinct of four
    assert repeated_ngram_fraction([1, 2, 3, 1, 2, 3], 3) == pytest.approx(0.25)
    assert repeated_ngram_fraction([1, 1, 1, 1], 2) == pytest.approx(2 / 3)
    assert repeated_ngram_fraction([1, 2, 3, 4], 2) == 0.0
    assert repeated_ngram_fraction([1], 3) == 0.0
    with pytest.raises(ValueError, match="n"):
        ngrams([1, 2], 0)


def test_repeated_ngram_mask_marks_the_second_occurrence_only():
    #        a  b  c  x  a  b  c  a  b
    ids = [0, 1, 2, 9, 0, 1, 2, 0, 1]
    mask = repeated_ngram_mask(ids, 3)
    assert mask == [False, False, False, False, True, True, True, False, False]
    assert repeated_ngram_mask([5, 5, 5, 5], 2) == [False, True, True, True]
    assert not any(repeated_ngram_mask(list(range(10)), 3))


def test_unseen_ngram_fraction():
    seen = set(ngrams([1, 2, 3, 4, 5], 3))               # 123 234 345
    assert unseen_ngram_fraction([1, 2, 3, 4], seen, 3) == 0.0
    assert unseen_ngram_fraction([1, 2, 3, 9], seen, 3) == pytest.approx(0.5)
    assert unseen_ngram_fraction([7], seen, 3) == 0.0


def test_ngram_logits_fn_reads_the_current_sentence():
    from gptlab.ngram import NGramLM
    sents = [s.split() for s in ["the cat sat", "a dog sat", "the dog ran", "a cat ran"]]
    lm = NGramLM(3, "kneser-ney").fit(sents)
    fn = ngram_logits_fn(lm)
    ids = lm.encode(["the", "cat", "sat", "</s>", "a"])
    # after </s> a new sentence starts: the model sees only ["a"]
    assert torch.equal(fn(ids), lm.next_token_logits(["a"]))
    assert torch.equal(fn(lm.encode(["the", "cat"])), lm.next_token_logits(["the", "cat"]))
    assert torch.equal(fn([]), lm.next_token_logits([]))


def test_ngram_logits_fn_with_a_cache_asks_the_model_once_per_context(monkeypatch):
    from gptlab.ngram import NGramLM
    sents = [s.split() for s in ["the cat sat", "a dog sat", "the dog ran", "a cat ran"]]
    lm = NGramLM(3, "kneser-ney").fit(sents)
    plain, cached = ngram_logits_fn(lm), ngram_logits_fn(lm, cache=True)
    calls = []
    original = type(lm).next_token_logits
    monkeypatch.setattr(type(lm), "next_token_logits", lambda self, context=(): calls.append(tuple(context))
                        or original(self, context))
    for words in (["the", "cat"], ["a", "the", "cat"], ["the", "cat", "sat", "</s>", "a"], ["a"], ["the", "cat"]):
        ids = lm.encode(words)
        got = cached(ids)
        assert torch.equal(got, plain(ids))
        got += 1.0  # the caller may change what it gets: the cache keeps its own copy
    assert calls.count(("the", "cat")) == 4  # plain asked 3 times, the cached function once
    assert calls.count(("a",)) == 3          # plain twice, cached once


def test_model_logits_fn_is_the_last_position_of_a_gpt():
    from gptlab.model import GPT, GPTConfig
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=8)).eval()
    fn = model_logits_fn(model)
    ids = [1, 2, 3, 4, 5, 6]
    with torch.no_grad():
        expected = model(torch.tensor([ids[-4:]]))[0][0, -1]
    assert fn(ids).shape == (11,) and torch.allclose(fn(ids), expected)
    assert len(generate(fn, ids, 5, temperature=0)) == 11
