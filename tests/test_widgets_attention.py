"""AttentionExplorer and the attention pictures: every control changes what is shown, the numbers
shown are the ones ``record_attention`` reads, and bad input gets a message naming the parameter."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from gptlab import plotting
from gptlab.attention import SelfAttention, causal_mask, dot_product_attention, record_attention
from gptlab.block import Block
from gptlab.model import GPT, GPTConfig
from gptlab.plotting.attention import (
    AttentionView,
    plot_attention,
    plot_attention_before_after,
    plot_attention_heads,
    plot_attention_query,
    plot_attention_row,
    plot_attention_training,
    plot_change_by_position,
    token_label,
)
from gptlab.tokenizers import WordTokenizer
from gptlab.widgets import AttentionExplorer

WORDS = ["the", "cat", "sat", "on", "the", "mat"]


def _toy_weights(T=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, 4, generator=g)
    _, plain = dot_product_attention(x)
    _, masked = dot_product_attention(x, causal=True)
    return plain, masked


class TwoBlocks(nn.Module):
    """Embedding + 2 causal blocks: a small model with two MultiHeadAttention layers of 2 heads."""

    def __init__(self, vocab=10, d=8, n_head=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, n_head) for _ in range(2))

    def forward(self, idx):
        x = self.emb(idx)
        for block in self.blocks:
            x = block(x)
        return x


class Lookup(nn.Module):
    """One SelfAttention layer and a readout, as in lesson 04."""

    def __init__(self, d=6):
        super().__init__()
        self.attn = SelfAttention(d)
        self.readout = nn.Linear(d, 3)

    def forward(self, x):
        return self.readout(self.attn(x)[..., -1, :])


def _png(explorer):
    return bytes(explorer.image.value)


# --- plotting -------------------------------------------------------------------------------------


def test_plot_attention_draws_one_heatmap_and_a_colorbar():
    plain, masked = _toy_weights()
    fig = plot_attention(plain, WORDS, title="toy")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # the heatmap and its colorbar
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == WORDS
    np.testing.assert_allclose(ax.images[0].get_array(), plain.numpy(), rtol=1e-6)
    assert len(ax.texts) == 36  # 6 x 6 values written in
    assert ax.get_title() == "toy"


def test_plot_attention_greys_out_masked_cells_and_writes_no_numbers_there():
    _, masked = _toy_weights()
    keep = causal_mask(6)
    fig = plot_attention(masked, WORDS, mask=keep, query=2)
    shown = fig.axes[0].images[0].get_array()
    assert np.array_equal(np.ma.getmaskarray(shown), (~keep).numpy())
    assert len(fig.axes[0].texts) == int(keep.sum())  # 21 visible cells, no text in the grey ones
    assert len(fig.axes[0].patches) == 1  # the outline of query row 2


def test_plot_attention_into_given_axes_adds_no_colorbar():
    plain, _ = _toy_weights()
    fig, ax = plotting.new_figure()
    assert plot_attention(plain, WORDS, ax=ax) is fig
    assert len(fig.axes) == 1


def test_plot_attention_cross_attention_labels_both_sides():
    w = torch.softmax(torch.randn(2, 3), dim=-1)
    fig = plot_attention(w, ["q0", "q1"], ["k0", "k1", "k2"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k0", "k1", "k2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q0", "q1"]


def test_plotting_package_finds_the_attention_functions():
    assert plotting.plot_attention is plot_attention
    assert plotting.plot_attention_heads is plot_attention_heads
    assert "plot_change_by_position" in dir(plotting)


@pytest.mark.parametrize("n_head, ncols, panels", [(1, None, 1), (3, None, 3), (5, 4, 5), (4, 2, 4)])
def test_plot_attention_heads_draws_one_panel_per_head_plus_a_colorbar(n_head, ncols, panels):
    w = torch.softmax(torch.randn(n_head, 5, 5), dim=-1)
    fig = plot_attention_heads(w, WORDS[:5], ncols=ncols)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == panels + 1
    assert [ax.get_title() for ax in fig.axes[:panels]] == [f"head {h}" for h in range(n_head)]


def test_plot_attention_before_after_has_two_panels_on_one_scale():
    plain, masked = _toy_weights()
    fig = plot_attention_before_after(plain, masked, WORDS)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes[:2]] == ["before training", "after training"]
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in fig.axes[:2])


def test_plot_attention_query_row_and_change_by_position():
    plain, _ = _toy_weights()
    assert len(plot_attention_query(plain, WORDS, query=1).axes) == 1
    assert len(plot_attention_row(plain[1], WORDS).axes) == 1
    fig = plot_change_by_position({"with mask": torch.tensor([0.0, 0.0, 1.0]),
                                   "without mask": torch.tensor([0.5, 0.2, 1.0])}, changed_from=2)
    assert len(fig.axes) == 1
    zeros = [t for t in fig.axes[0].texts if t.get_text() == "0"]
    assert len(zeros) == 2  # the two exactly-zero bars are marked
    fig = plot_attention_training([0, 10, 20], {"accuracy": [0.1, 0.5, 1.0], "weight": [0.2, 0.4, 0.9]}, chance=0.125)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3


def test_attention_view_updates_in_place():
    plain, masked = _toy_weights()
    view = AttentionView(WORDS)
    fig = view.update(plain, query=None)
    assert view.update(masked, query=3, mask=causal_mask(6)) is fig
    shown = [t.get_text() for t in view.texts if t.get_visible()]
    assert shown == [f"{float(v):.2f}" for v in masked[3, :4]]  # row 3 sees 4 keys; the rest is masked


def test_live_attention_view_redraws_only_the_heatmap_and_its_numbers():
    from gptlab.plotting._live import is_live

    plain, masked = _toy_weights()
    view = AttentionView(WORDS, live=True)
    fig = view.update(plain, query=2)
    assert is_live(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == WORDS  # the labels stay, drawn once
    np.testing.assert_allclose(view.image.get_array(), plain.numpy(), rtol=1e-6)
    view.update(masked, mask=causal_mask(6), query=None)
    shown = view.image.get_array()
    assert np.array_equal(np.ma.getmaskarray(shown), (~causal_mask(6)).numpy())  # grey cells
    assert not is_live(AttentionView(WORDS).update(plain))  # the one-shot picture draws in full


def test_token_label_makes_whitespace_visible():
    assert token_label(" ") == "␣"
    assert token_label("\n") == "↵"
    assert token_label("a" * 20) == "a" * 11 + "…"


@pytest.mark.parametrize("call, name", [
    (lambda w: plot_attention(w, WORDS[:5]), "tokens_q"),
    (lambda w: plot_attention(w, WORDS, ["a"]), "tokens_k"),
    (lambda w: plot_attention(w, WORDS, query=6), "query"),
    (lambda w: plot_attention(w, WORDS, mask=torch.ones(5, 5, dtype=torch.bool)), "mask"),
    (lambda w: plot_attention(w[0], WORDS), "weights"),
    (lambda w: plot_attention_heads(w.expand(2, 6, 6), WORDS, titles=["one"]), "titles"),
    (lambda w: plot_attention_before_after(w, w[:3], WORDS), "before"),
    (lambda w: plot_attention_query(w, WORDS[:2]), "tokens_q"),
    (lambda w: plot_change_by_position({}), "changes"),
    (lambda w: plot_attention_training([0, 1], {"acc": [0.5]}), "acc"),
    (lambda w: plot_attention_training([0, 1], {}), "curves"),
])
def test_plotting_bad_input_names_the_parameter(call, name):
    plain, _ = _toy_weights()
    with pytest.raises(ValueError, match=name):
        call(plain)


# --- the explorer on precomputed weights (lesson 03) --------------------------------------------


def test_from_weights_every_control_changes_the_summary_and_the_picture():
    plain, masked = _toy_weights()
    layers = torch.stack([torch.stack([plain, plain.flip(0)]), torch.stack([masked, masked])])  # (2, 2, 6, 6)
    layers_masked = torch.stack([torch.stack([masked, masked]), torch.stack([masked, masked.flip(1)])])
    ex = AttentionExplorer.from_weights(layers, WORDS, masked_weights=layers_masked, causal=False)
    assert ex.error is None and ex.n_layer == 2
    for control, value in [("query", 2), ("head", 1), ("layer", 1), ("causal", True), ("query", -1)]:
        before_text, before_png = ex.summary, _png(ex)
        ex.set(**{control: value})
        assert ex.error is None
        assert ex.summary != before_text, control
        assert _png(ex) != before_png, control


def test_from_weights_shows_the_chosen_row_and_names_its_strongest_key():
    plain, masked = _toy_weights()
    ex = AttentionExplorer.from_weights(plain, WORDS, masked_weights=masked, causal=False, query=2)
    torch.testing.assert_close(ex.shown_weights, plain)
    torch.testing.assert_close(ex.shown_row, plain[2])
    j = int(plain[2].argmax())
    assert f"query 'sat' (position 2): attends most to {WORDS[j]!r} (position {j}, {float(plain[2, j]):.2f})" \
        in ex.summary
    ex.set(query=-1)
    assert ex.shown_row is None and "all 6 queries" in ex.summary


def test_long_rows_are_summarised_by_their_largest_weights():
    w = torch.softmax(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    tokens = [f"w{i}" for i in range(16)]
    ex = AttentionExplorer.from_weights(w, tokens, query=7)
    line = next(line for line in ex.summary.splitlines() if line.startswith("largest weights: "))
    top = torch.topk(w[7], 5).indices.tolist()
    assert line == "largest weights: " + "  ".join(f"'w{k}'@{k} {float(w[7, k]):.2f}" for k in top)


def test_mask_toggle_on_precomputed_weights_zeroes_the_future():
    plain, masked = _toy_weights()
    ex = AttentionExplorer.from_weights(plain, WORDS, masked_weights=masked)
    assert ex.controls["causal"].value is True and not ex.controls["causal"].disabled
    future = ~causal_mask(6)
    assert bool((ex.shown_weights[future] == 0).all())
    assert "15 future weights are exactly 0" in ex.summary
    ex.set(causal=False)
    assert bool((ex.shown_weights[future] > 0).all())


def test_without_a_masked_version_the_toggle_is_disabled_with_a_note():
    plain, masked = _toy_weights()
    ex = AttentionExplorer.from_weights(plain, WORDS)
    assert ex.controls["causal"].disabled and ex.controls["causal"].value is False
    assert "mask toggle off" in ex.summary and "unmasked" in ex.summary
    ex2 = AttentionExplorer.from_weights(masked, WORDS)  # already masked: recognised as such
    assert ex2.controls["causal"].value is True and "already masked" in ex2.summary


def test_bad_control_value_sets_error_and_keeps_the_last_picture():
    plain, _ = _toy_weights()
    ex = AttentionExplorer.from_weights(plain, WORDS, query=1)
    summary, png = ex.summary, _png(ex)
    ex.set(causal=True)  # the checkbox is disabled, but code can still tick it
    assert ex.error is not None and "causal=True" in ex.error and "masked_weights" in ex.error
    assert ex.summary == summary and _png(ex) == png
    ex.set(causal=False)
    assert ex.error is None


def test_head_beyond_a_smaller_layer_is_an_error_naming_head():
    two_heads = torch.softmax(torch.randn(2, 4, 4), dim=-1)
    one_head = torch.softmax(torch.randn(1, 4, 4), dim=-1)
    ex = AttentionExplorer.from_weights([two_heads, one_head], WORDS[:4], head=1)
    ex.set(layer=1)
    assert ex.error is not None and ex.error.startswith("head=1") and "layer 1 has 1 head" in ex.error


@pytest.mark.parametrize("kwargs, name", [
    (dict(query=6), "query"),
    (dict(query=-2), "query"),
    (dict(head=1), "head"),
    (dict(layer=1), "layer"),
    (dict(tokens=[]), "tokens"),
    (dict(tokens="the cat sat on the mat"), "tokens"),
    (dict(tokens=WORDS[:5]), "tokens"),
    (dict(tokens_k=WORDS[:2]), "tokens_k"),
    (dict(masked_weights=torch.ones(5, 5) / 5), "masked_weights"),
    (dict(weights=torch.ones(2, 2, 2, 6, 6)), "weights"),
    (dict(weights=-torch.ones(6, 6)), "weights"),
    (dict(weights=[]), "weights"),
    (dict(layer_names=["a", "b"]), "layer_names"),
    (dict(causal=True), "causal"),
])
def test_from_weights_bad_input_names_the_parameter(kwargs, name):
    plain, _ = _toy_weights()
    args = dict(weights=plain, tokens=WORDS)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        AttentionExplorer.from_weights(**args)


def test_from_weights_accepts_the_shapes_the_library_returns():
    model = GPT(GPTConfig.preset("gpt-nano", vocab_size=12, block_size=8))
    idx = torch.arange(6).unsqueeze(0)
    maps = model.attention_maps(idx)  # (n_layer, B=1, n_head, T, T)
    with record_attention(model) as rec:
        model(idx)
    for weights in (maps, rec.weights, maps[:, 0], list(maps[:, 0])):
        ex = AttentionExplorer.from_weights(weights, WORDS, query=4)
        assert ex.n_layer == 3 and ex.controls["head"].max == 2
        assert ex.controls["causal"].value is True  # GPT weights are masked, and the explorer sees it
    ex.set(layer=2, head=1)
    torch.testing.assert_close(ex.shown_row, maps[2, 0, 1, 4])


# --- the explorer on models (lessons 04, 09, 10) --------------------------------------------------


def test_model_explorer_rows_equal_record_attention(device):
    torch.manual_seed(0)
    model = TwoBlocks().to(device)
    idx = torch.tensor([1, 2, 3, 4, 5, 6], device=device)
    with record_attention(model) as rec, torch.no_grad():
        model(idx.unsqueeze(0))
    ex = AttentionExplorer(model, idx, WORDS)
    assert [o[0] for o in ex.controls["layer"].options] == ["0: blocks.0.attn", "1: blocks.1.attn"]
    for layer, head, query in [(0, 0, 0), (0, 1, 3), (1, 0, 5), (1, 1, 2)]:
        ex.set(layer=layer, head=head, query=query)
        assert ex.error is None
        assert torch.equal(ex.shown_weights, rec.weights[layer][0, head])
        assert torch.equal(ex.shown_row, rec.weights[layer][0, head, query])


def test_model_mask_toggle_changes_the_weights_and_restores_the_model():
    torch.manual_seed(0)
    model = TwoBlocks()
    model.train()
    ex = AttentionExplorer(model, torch.arange(6), WORDS, query=2)
    assert ex.controls["causal"].value is True and not ex.controls["causal"].disabled  # built causal
    future = ~causal_mask(6)
    assert bool((ex.shown_weights[future] == 0).all())
    assert "the 3 later token(s) get weight exactly 0" in ex.summary
    masked_row = ex.shown_row.clone()
    ex.set(causal=False)
    assert bool((ex.shown_weights[future] > 0).all())
    assert not torch.allclose(ex.shown_row, masked_row)
    # the toggle switches the layers for one forward pass only, and leaves the model as it was
    assert all(block.attn.causal and block.attn.fused for block in model.blocks)
    assert model.training
    with record_attention(model) as rec, torch.no_grad():
        model(torch.arange(6).unsqueeze(0))
    ex.set(causal=True)
    torch.testing.assert_close(ex.shown_weights, rec.weights[0][0, 0])


def test_mask_toggle_runs_the_model_once_per_setting():
    model = TwoBlocks()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    ex = AttentionExplorer(model, torch.arange(6), WORDS)
    for value in (False, True, False, True):
        ex.set(causal=value)
        assert ex.error is None
    assert len(calls) == 2  # the model as built (causal), then once without the mask


def test_single_self_attention_layer_and_its_mask():
    torch.manual_seed(0)
    model = Lookup()
    x = torch.randn(6, 6)
    model(x)
    expected = model.attn.last_weights
    ex = AttentionExplorer(model, x, WORDS, query=5)
    assert ex.controls["causal"].value is False
    assert ex.controls["layer"].options[0][0] == "0: attn" and ex.controls["head"].disabled
    torch.testing.assert_close(ex.shown_weights, expected)
    ex.set(causal=True)
    model.attn(x, causal=True)
    torch.testing.assert_close(ex.shown_weights, model.attn.last_weights)
    assert bool((ex.shown_weights[~causal_mask(6)] == 0).all())
    bare = AttentionExplorer(SelfAttention(6), x, WORDS)
    assert bare.controls["layer"].options[0][0] == "0: SelfAttention"


class PositionalCaller(nn.Module):
    """Calls its SelfAttention as attn(x, mask, causal): the toggle must override causal given by position."""

    def __init__(self):
        super().__init__()
        self.attn = SelfAttention(6)

    def forward(self, x):
        return self.attn(x, None, True)


def test_mask_toggle_overrides_causal_passed_by_position():
    torch.manual_seed(0)
    model, x = PositionalCaller(), torch.randn(6, 6)
    ex = AttentionExplorer(model, x, WORDS)
    assert ex.controls["causal"].value is True  # the model masks itself, and the explorer sees it
    ex.set(causal=False)
    model.attn(x)
    torch.testing.assert_close(ex.shown_weights, model.attn.last_weights)


def test_from_text_encodes_and_labels_the_tokens():
    tok = WordTokenizer().fit("the cat sat on the mat")
    model = GPT(GPTConfig.preset("gpt-nano", vocab_size=tok.vocab_size, block_size=8))
    ex = AttentionExplorer.from_text(model, tok, "the cat sat on the mat", query=3)
    assert ex.tokens == WORDS
    assert "query 'on' (position 3)" in ex.summary
    maps = model.attention_maps(torch.tensor([tok.encode(" ".join(WORDS))]))  # (n_layer, B, n_head, T, T)
    torch.testing.assert_close(ex.shown_weights, maps[0, 0, 0])


def test_text_box_runs_the_model_on_a_line_the_learner_types():
    from gptlab.tokenizers import CharTokenizer

    tok = CharTokenizer(unknown="error").fit("the cat sat on a mat")
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("gpt-nano", vocab_size=tok.vocab_size, block_size=12))
    ex = AttentionExplorer.from_text(model, tok, "the cat", text_box=True, query=6)
    assert "text" in ex.controls and ex.tokens == list("the cat")
    ex.set(text="a mat", head=1)
    assert ex.error is None and ex.tokens == list("a mat")
    assert ex.controls["query"].max == 4 and ex.controls["query"].value == 4  # clamped to the shorter line
    maps = model.attention_maps(torch.tensor([tok.encode("a mat")]))  # an independent forward pass
    torch.testing.assert_close(ex.shown_weights, maps[0, 0, 1])
    assert "query 't' (position 4)" in ex.summary
    ex.set(causal=False)  # the mask toggle works on the typed line too
    assert ex.error is None and ex.shown_weights.shape == (5, 5) and ex.shown_weights[0, 1] > 0
    ex.set(causal=True)
    before = ex.shown_weights.clone()
    ex.set(text="the dog")  # 'd' and 'g' are not in the vocabulary: a message, and the last picture stays
    assert "can't be encoded" in ex.error and ex.tokens == list("a mat")
    torch.testing.assert_close(ex.shown_weights, before)
    ex.set(text="the cat sat on")  # 14 characters > block_size 12
    assert "block_size=12" in ex.error and ex.tokens == list("a mat")
    ex.set(text="a cat")
    assert ex.error is None and ex.tokens == list("a cat")


@pytest.mark.parametrize("make, name", [
    (lambda m: AttentionExplorer(m, torch.arange(6), WORDS, query=6), "query"),
    (lambda m: AttentionExplorer(m, torch.arange(6), WORDS, head=2), "head"),
    (lambda m: AttentionExplorer(m, torch.arange(6), []), "tokens"),
    (lambda m: AttentionExplorer(m, torch.arange(6), WORDS[:4]), "tokens"),
    (lambda m: AttentionExplorer(m, torch.arange(12).view(2, 6), WORDS), "idx"),
    (lambda m: AttentionExplorer(m, [0, 1, 2], WORDS[:3]), "idx"),
    (lambda m: AttentionExplorer("model", torch.arange(6), WORDS), "model"),
    (lambda m: AttentionExplorer(nn.Linear(6, 6), torch.randn(6, 6), WORDS), "model"),
    (lambda m: AttentionExplorer.from_text(m, WordTokenizer().fit("a b"), ""), "text"),
])
def test_model_explorer_bad_input_names_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make(TwoBlocks())


def test_redraw_keeps_one_figure_per_explorer():
    plain, masked = _toy_weights()
    ex = AttentionExplorer.from_weights(plain, WORDS, masked_weights=masked)
    first = ex.figure
    ex.set(query=3, causal=False)
    assert ex.figure is first  # the picture is updated in place, not rebuilt
