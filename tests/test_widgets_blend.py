"""BlendExplorer (lesson 03): a typed sentence, its self-attention weights and each output's blend."""
import pytest
import torch
import torch.nn.functional as F

from gptlab.plotting.attention import plot_blend
from gptlab.widgets import BlendExplorer

VECTORS = {"the": [-2.0, 0.0], "cat": [2.0, 0.0], "dog": [1.9, 0.6], "sat": [0.0, 2.0]}


def test_weights_and_outputs_match_softmax_of_dot_products():
    ex = BlendExplorer(VECTORS, "the cat dog sat", query=1)
    X = torch.tensor([VECTORS[w] for w in ex.words])
    W = torch.exp(X @ X.T) / torch.exp(X @ X.T).sum(-1, keepdim=True)  # independent of gptlab
    assert ex.words == ["the", "cat", "dog", "sat"]
    assert torch.allclose(ex.weights, W, atol=1e-6)
    assert torch.allclose(ex.outputs, W @ X, atol=1e-6)
    # the summary writes the blend of position 1 with its weights
    assert ex.summary.startswith("y_cat = ") and f"{W[1, 2]:.2f} × dog" in ex.summary


def test_unknown_word_is_named_and_the_picture_kept():
    ex = BlendExplorer(VECTORS, "the cat", query=0)
    before = ex.summary
    ex.set(text="the zebra")
    assert ex.error is not None and "'zebra'" in ex.error and "cat" in ex.error
    assert ex.summary == before
    ex.set(text="")
    assert "empty" in ex.error


def test_short_sentence_shows_its_last_word_and_repeated_words_agree():
    ex = BlendExplorer(VECTORS, "the cat sat the", query=5)
    assert ex.error is None and ex.summary.startswith("y_the") and "showing the last" in ex.summary
    assert torch.allclose(ex.outputs[0], ex.outputs[3])  # same word, same output: no notion of order


def test_bad_vectors_and_redraw_speed():
    with pytest.raises(ValueError, match="2 numbers"):
        BlendExplorer({"a": [1.0, 2.0, 3.0]}, "a")
    with pytest.raises(ValueError, match="non-empty"):
        BlendExplorer({}, "a")
    ex = BlendExplorer(VECTORS, "the cat dog sat", query=0)
    times = []
    for q in (1, 2, 3, 0, 1):
        ex.set(query=q)
        times.append(ex.last_redraw_seconds)
    assert sorted(times)[len(times) // 2] < 0.5  # generous: the machine is shared; < 100 ms idle


def test_plot_blend_checks_shapes():
    X = 2 * F.normalize(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)), dim=-1)
    W = torch.full((3, 3), 1 / 3)
    fig = plot_blend(X, W @ X, W, ["a", "b", "c"], query=2, radius=2.0)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="inputs must be"):
        plot_blend(torch.zeros(3, 4), torch.zeros(3, 4), W, ["a", "b", "c"])
    with pytest.raises(ValueError, match="query"):
        plot_blend(X, W @ X, W, ["a", "b", "c"], query=3)


def test_plot_qkv_flow_draws_nine_matrices_and_checks_shapes():
    from gptlab.plotting.attention import plot_qkv_flow

    g = torch.Generator().manual_seed(0)
    X, Wq, Wk, Wv = (torch.randn(*s, generator=g) for s in ((5, 4), (4, 3), (4, 3), (4, 3)))
    Q, K, V = X @ Wq, X @ Wk, X @ Wv
    W = torch.softmax(Q @ K.T / 3 ** 0.5, dim=-1)
    fig = plot_qkv_flow(X, Wq, Wk, Wv, Q, K, V, W, W @ V)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 9
    assert any("5 × 5" in ax.get_title() for ax in shown) and any("4 × 3" in ax.get_title() for ax in shown)
    with pytest.raises(ValueError, match="W_k must have d_model=4"):
        plot_qkv_flow(X, Wq, Wk.T, Wv, Q, K, V, W, W @ V)
    with pytest.raises(ValueError, match="weights must be"):
        plot_qkv_flow(X, Wq, Wk, Wv, Q, K, V, W[:4], W @ V)
