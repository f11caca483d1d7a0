"""NGramExplorer and SamplingExplorer: move a control, read what is shown."""
import math

import numpy as np
import pytest
import torch

from gptlab.ngram import NGramLM
from gptlab.sampling import entropy
from gptlab.widgets.ngram import NGramExplorer
from gptlab.widgets.sampling import SamplingExplorer

SENTENCES = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat saw the dog", "the cat ate the fish",
    "a dog ate a bone", "the bird sat on the cat", "the cat sat on the dog", "a bird saw a fish",
]]


def bar_widths(explorer):
    return [round(p.get_width(), 12) for p in explorer.figure.axes[0].patches]


def bar_labels(explorer):
    return [t.get_text() for t in explorer.figure.axes[0].get_yticklabels()]


def test_ngram_explorer_shows_the_model_distribution():
    ex = NGramExplorer(SENTENCES, n=2, k=0.1, context="the cat")
    assert ex.error is None
    expected = NGramLM(2, "add-k", k=0.1).fit(SENTENCES).next_token_probs_array(["the", "cat"])
    assert np.allclose(ex.probs, expected)
    assert bar_labels(ex)[0] == "sat"                        # "cat" is followed by "sat" most often
    assert "context used (last n-1 = 1 tokens): cat" in ex.summary
    assert f"entropy {entropy(expected):.2f} nats" in ex.summary


def test_moving_n_and_k_changes_the_picture_and_summary():
    ex = NGramExplorer(SENTENCES, n=2, k=0.1, context="on the")
    widths, summary = bar_widths(ex), ex.summary
    ex.set(n=3)
    assert "last n-1 = 2 tokens): on the" in ex.summary and bar_widths(ex) != widths
    low = entropy(ex.probs)
    ex.set(k=10.0)                                           # a big pseudo-count flattens the distribution
    assert entropy(ex.probs) > low + 0.5 and ex.summary != summary
    ex.set(n=1)
    assert "a unigram model ignores the context" in ex.summary


def test_changing_k_or_n_never_refits(monkeypatch):
    ex = NGramExplorer(SENTENCES, n=3, k=0.1, context="the cat", max_n=4)

    def no_refit(self, sentences):
        raise AssertionError("the explorer refitted the counts")

    monkeypatch.setattr(NGramLM, "fit", no_refit)
    for n, k in [(1, 1.0), (2, 0.01), (4, 3.0), (3, 0.5)]:
        ex.set(n=n, k=k)
        assert ex.error is None
        assert np.allclose(ex.probs, ex.model.with_order(n).with_k(k).next_token_probs_array(["the", "cat"]))


def test_bad_context_shows_an_error_and_keeps_the_picture():
    ex = NGramExplorer(SENTENCES, n=2, context="the")
    png, widths, summary = ex.image.value, bar_widths(ex), ex.summary
    ex.set(context="   ")
    assert "type a context first" in ex.error
    ex.set(context="zebra unicorn")
    assert "none of ['zebra', 'unicorn'] occurs in the training text" in ex.error
    assert ex.image.value == png and bar_widths(ex) == widths and ex.summary == summary
    ex.set(context="zebra cat")                              # one known word is enough
    assert ex.error is None and "read as <unk>: 'zebra'" in ex.summary


def test_ngram_explorer_character_level():
    names = [list(w) for w in ["anna", "hannah", "ann", "nan", "hana"]]
    ex = NGramExplorer(names, n=3, context="an", tokenize=list)
    assert ex.error is None and "context used (last n-1 = 2 tokens): a n" in ex.summary


def test_sampling_explorer_filters_and_draws():
    tokens = ["a", "b", "c", "d", "e"]
    logits = torch.tensor([2.0, 1.5, 1.0, 0.0, -1.0])
    ex = SamplingExplorer(logits, tokens, n_samples=30)
    assert "kept 5 of 5 tokens, holding 100.0%" in ex.summary
    widths = bar_widths(ex)
    ex.set(temperature=0.0)
    assert "kept 1 of 5 tokens" in ex.summary
    assert ex.summary.splitlines()[-1].endswith(" ".join(["a"] * 30))     # greedy: always the argmax
    assert bar_widths(ex) != widths
    ex.set(temperature=1.0, top_k=2)
    assert ex.after.tolist()[2:] == [0.0, 0.0, 0.0] and "kept 2 of 5" in ex.summary
    ex.set(top_k=0, top_p=0.5)
    assert int((ex.after > 0).sum()) == 2                     # 0.46 alone is short of 0.5; 0.46 + 0.28 reaches it
    draws = ex.summary.splitlines()[-1].split(": ")[1].split()
    assert set(draws) <= {"a", "b"}
    ex.set(top_p=1.0, temperature=2.0)
    assert "sampled" in ex.summary and ex.error is None
    assert entropy(ex.after) > entropy(ex.before)


def test_repetition_penalty_lowers_previous_tokens():
    ex = SamplingExplorer([2.0, 1.0, 0.5], ["x", "y", "z"], previous=["x"])
    before = float(ex.after[0])
    ex.set(repetition_penalty=2.0)
    assert float(ex.after[0]) < before and "penalised as already used: x" in ex.summary


def test_sampling_explorer_accepts_probabilities_and_ngram_models():
    probs = [0.5, 0.3, 0.2]
    ex = SamplingExplorer(probs, ["x", "y", "z"])
    assert torch.allclose(ex.before.double(), torch.tensor(probs, dtype=torch.float64), atol=1e-6)
    lm = NGramLM(2, "kneser-ney").fit(SENTENCES)
    ex = SamplingExplorer.from_ngram(lm, ["the"], n_samples=10)
    assert ex.tokens == lm.vocab
    assert np.allclose(ex.before.numpy(), lm.next_token_probs_array(["the"]), atol=1e-6)
    assert ex.previous == [lm.token_to_id["the"]]
    ex.set(temperature=0.5)
    assert ex.error is None and math.isfinite(ex.last_redraw_seconds)


def test_sampling_explorer_writes_a_seeded_cached_continuation():
    from gptlab.sampling import generate, ngram_logits_fn
    lm = NGramLM(3, "kneser-ney").fit(SENTENCES)
    ex = SamplingExplorer.from_ngram(lm, ["the", "cat"], generate=12, temperature=0.0)
    greedy = generate(ngram_logits_fn(lm), lm.encode(["the", "cat"]), 12, temperature=0)[2:]
    assert ex.continuation == greedy
    assert ex.figure.axes[0].get_title(loc="left") == "next token after 'the cat'"
    ex.set(temperature=1.0)
    sampled = list(ex.continuation)
    assert sampled == generate(ngram_logits_fn(lm), lm.encode(["the", "cat"]), 12, generator=0)[2:]
    ex.set(temperature=0.0)
    ex.set(temperature=1.0)
    assert ex.continuation is ex._continuations[next(k for k in ex._continuations if ("temperature", 1.0) in k)]
    assert ex.continuation == sampled          # same setting, same text


def test_sampling_explorer_marks_a_loop():
    # a model that always says "b" after "a" and "a" after "b": greedy loops from the first token
    tokens = ["a", "b", "c"]
    loop = {0: [0.0, 5.0, 0.0], 1: [5.0, 0.0, 0.0], 2: [5.0, 0.0, 0.0]}
    ex = SamplingExplorer(loop[0], tokens, previous=["a"], next_logits=lambda ids: torch.tensor(loop[ids[-1]]),
                          generate=8, temperature=0.0, join=" ")
    assert ex.summary.splitlines()[-1] == "b ⟦a b a b a b a⟧"   # a b a: the first 3-gram to come back
    assert "repeated 3-grams in them: 0.67" in ex.summary
    assert "<mark>a b a b a b a</mark>" in ex.text.value
    with pytest.raises(ValueError, match="needs next_logits"):
        SamplingExplorer([1.0, 2.0], ["a", "b"], generate=5)


def test_sampling_explorer_from_a_gpt():
    from gptlab.model import GPT, GPTConfig
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    ex = SamplingExplorer.from_model(model, [1, 2, 3], ["a", "b", "c", "d", "e"], generate=10)
    with torch.no_grad():
        assert torch.allclose(ex.logits, model(torch.tensor([[1, 2, 3]]))[0][0, -1])
    assert len(ex.continuation) == 10 and ex.join == ""
    assert ex.context == "bcd"          # tokens 1, 2, 3


@pytest.mark.parametrize("args,kwargs,match", [
    (([1.0, 2.0], ["a"]), {}, "got 1 tokens for 2 logits"),
    (([[1.0, 2.0]], ["a", "b"]), {}, r"shape \(V,\)"),
    (([0.5, 0.7], ["a", "b"]), {"kind": "probs"}, "not a distribution"),
    (([1.0, 2.0], ["a", "b"]), {"previous": ["c"]}, "'c', which is not one of the tokens"),
])
def test_sampling_explorer_bad_construction(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingExplorer(*args, **kwargs)


def test_ngram_explorer_bad_construction():
    with pytest.raises(ValueError, match="n=6 is outside the slider's range 1 to 5"):
        NGramExplorer(SENTENCES, n=6)
    with pytest.raises(ValueError, match="sentences is empty"):
        NGramExplorer([], n=2)


def test_lm_plots_return_figures_with_what_they_were_given():
    from matplotlib.figure import Figure

    from gptlab.plotting.lm import (
        plot_coverage_vs_n,
        plot_entropy_vs_temperature,
        plot_lm_training,
        plot_next_token_probs,
        plot_perplexity_vs_n,
        plot_sampling_before_after,
        token_text,
    )

    fig = plot_next_token_probs({"a": 0.1, "b": 0.6, "c": 0.3}, top=2)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and [t.get_text() for t in ax.get_yticklabels()] == ["b", "c"]
    assert "the rest hold 10.0%" in ax.get_title()
    fig = plot_sampling_before_after(["x", "y", "z"], [0.2, 0.5, 0.3], [0.0, 1.0, 0.0])
    assert [round(p.get_width(), 6) for p in fig.axes[0].patches] == [0.5, 0.3, 0.2, 1.0, 0.0, 0.0]
    fig = plot_perplexity_vs_n([1, 2, 3], [50.0, 10.0, 3.0], [60.0, math.inf, math.inf], references={"MLP": 8.0})
    assert sum(t.get_text() == "∞" for t in fig.axes[0].texts) == 2
    assert isinstance(plot_coverage_vs_n([1, 2], [0.9, 0.4], 0.01), Figure)
    assert isinstance(plot_entropy_vs_temperature([0.5, 1.0], [0.2, 0.9], max_entropy=1.1, current=1.0), Figure)
    fig = plot_lm_training([3.0] * 60 + [2.0] * 60, baselines={"KN": math.e ** 2.5})
    assert any(abs(line.get_ydata()[0] - 2.5) < 1e-9 for line in fig.axes[0].lines)
    assert token_text(" ") == "' '" and token_text("$x") == r"\$x"
    with pytest.raises(ValueError, match="got 2 tokens but 3 probabilities"):
        plot_next_token_probs((["a", "b"], [0.2, 0.3, 0.5]))


def test_plot_decoding_measures_draws_both_measures_per_rule():
    from gptlab.plotting.lm import plot_decoding_measures
    repeated = {"greedy": 0.97, "top-p 0.9": 0.0, "Shakespeare (reference)": 0.02}
    new = {"greedy": 0.0, "top-p 0.9": 0.31, "Shakespeare (reference)": 0.57}
    fig = plot_decoding_measures(repeated, new, n_tokens=200)
    left, right = fig.axes
    assert [round(p.get_width(), 6) for p in left.patches] == [0.97, 0.0, 0.02]
    assert [round(p.get_width(), 6) for p in right.patches] == [0.0, 0.31, 0.57]
    assert "200 words" in left.get_xlabel()
    assert left.patches[2].get_facecolor()[:3] == pytest.approx((0.5, 0.5, 0.5))   # the reference in grey
    with pytest.raises(ValueError, match="same rules"):
        plot_decoding_measures({"greedy": 1.0}, {"top-k": 0.1})
