import re

import pytest
import torch
from matplotlib.figure import Figure

from gptlab.model import GPT, GPTConfig
from gptlab.moe import MoE
from gptlab.plotting import figure_to_png
from gptlab.tokenizers import CharTokenizer
from gptlab.widgets import RouterExplorer
from gptlab.widgets.router import moe_layers

CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\nAll: Speak, speak."
PROMPT = "hear me speak."  # short: each tile is two text labels to draw


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer().fit(CORPUS)


def moe_gpt(tok, seed: int, n_experts: int = 4, top_k: int = 2, n_layer: int = 2, **kwargs) -> GPT:
    """A tiny untrained MoE GPT whose routers are sharpened, so that routing differs between tokens."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=n_layer, n_head=2, n_embd=16,
                          n_experts=n_experts, top_k=top_k, **kwargs))
    with torch.no_grad():
        for layer in moe_layers(model):
            layer.router.weight.mul_(100.0)  # init std 0.02 -> 2: confident, varied choices
    return model


@pytest.fixture(scope="module")
def models(tok):
    return {"A": moe_gpt(tok, 0), "B": moe_gpt(tok, 1), "two experts": moe_gpt(tok, 2, n_experts=2, top_k=1,
                                                                                  n_layer=1)}


START = dict(model="A", layer=0, top_k=2, text=PROMPT)


@pytest.fixture(scope="module")
def shared(models, tok):
    return RouterExplorer(models, tok, PROMPT)


@pytest.fixture
def explorer(shared):
    """One explorer for the whole module (its figure cache keeps the tests fast), reset to START."""
    return shared.set(**START)


def _png(ex) -> bytes:
    return figure_to_png(ex.figure, dpi=20)


def test_explorer_draws_and_summarises(explorer):
    assert explorer.error is None and isinstance(explorer.figure, Figure)
    assert explorer.state == {"model": "A", "layer": 0, "top_k": 2, "text": PROMPT}
    lines = explorer.summary.splitlines()
    assert lines[0] == f"A: MoE layer 0 of 0..1, top_k=2, {len(PROMPT)} tokens"
    for word in ("utilisation:", "busiest expert: E", "aux (load-balancing) loss", "first choices: E0"):
        assert word in explorer.summary
    # the figure holds the routing tiles and the utilisation bars
    assert len(explorer.figure.axes) == 2
    assert explorer.figure.axes[1].get_title() == "layer 0: assignments per expert"


@pytest.mark.parametrize("control, value", [("model", "B"), ("layer", 1), ("top_k", 3), ("text", "All: speak")])
def test_every_control_changes_the_summary_and_the_figure(explorer, control, value):
    before_summary, before_png = explorer.summary, _png(explorer)
    explorer.set(**{control: value})
    assert explorer.error is None, explorer.error
    assert explorer.summary != before_summary
    assert _png(explorer) != before_png


@pytest.mark.parametrize("top_k", [1, 2, 3, 4])
def test_utilisation_counts_sum_to_tokens_times_top_k(explorer, top_k):
    for layer in (0, 1):
        explorer.set(top_k=top_k, layer=layer)
        T = len(PROMPT)
        assert explorer.utilisation.shape == (4,)
        assert int(explorer.utilisation.sum()) == T * top_k
        assert explorer.routing.experts.shape == (T, top_k)
        # each token visits top_k different experts, so the busiest one sees at most every token
        assert all(len(set(row)) == top_k for row in explorer.routing.experts.tolist())
        assert explorer.busiest_fraction == pytest.approx(int(explorer.utilisation.max()) / T)
        assert top_k / 4 <= explorer.busiest_fraction <= 1.0
        assert f"(sum {T * top_k} = {T} tokens x top_k {top_k})" in explorer.summary


def test_routing_matches_a_direct_forward_pass(models, tok, explorer):
    """The explorer shows the model's own routing: the same as running the model by hand."""
    explorer.set(model="B", layer=1, top_k=2)
    model = models["B"].eval()
    with torch.no_grad():
        model(torch.tensor([tok.encode(PROMPT)]))
    r = model.blocks[1].mlp.last_routing
    assert torch.equal(explorer.routing.experts, r.experts)
    torch.testing.assert_close(explorer.routing.gates, r.gates)
    assert torch.equal(explorer.utilisation, r.tokens_per_expert)
    assert explorer.aux_loss == pytest.approx(model.blocks[1].mlp.aux_loss.item())
    # a balanced router has aux loss near 1, the bound is n_experts
    assert 1.0 - 1e-4 <= explorer.aux_loss <= 4.0


def test_top_k_is_restored_after_rerouting(models, explorer):
    trained = {name: [layer.top_k for layer in moe_layers(m)] for name, m in models.items()}
    for k in (1, 4, 3):
        explorer.set(model="A", top_k=k)
        assert explorer.error is None and explorer.routing.experts.shape[1] == k
        assert [layer.top_k for layer in moe_layers(models["A"])] == trained["A"]
    explorer.set(model="two experts", top_k=3)  # fails: this model has 2 experts
    assert explorer.error is not None
    assert {name: [layer.top_k for layer in moe_layers(m)] for name, m in models.items()} == trained
    explorer.set(top_k=2)  # the same layers, now within range: routing works again
    assert explorer.error is None and explorer.routing.experts.shape[1] == 2


def test_training_mode_is_restored(tok):
    model = moe_gpt(tok, 3).train()
    RouterExplorer(model, tok, PROMPT)
    assert model.training
    model.eval()
    RouterExplorer(model, tok, PROMPT, top_k=1)
    assert not model.training


def test_forward_passes_are_cached_per_model_top_k_and_text(explorer, models):
    calls = []
    hook = models["A"].register_forward_hook(lambda *args: calls.append(1))
    try:
        explorer.set(model="A", top_k=3, text="hear me")
        assert len(calls) == 1
        explorer.set(layer=1)
        explorer.set(layer=0)
        explorer.set(model="B")
        explorer.set(model="A")
        assert len(calls) == 1  # only the first setting ran the model
        explorer.set(top_k=2)
        assert len(calls) == 2
    finally:
        hook.remove()


@pytest.mark.parametrize("state, message", [
    (dict(text=""), "text is empty"),
    (dict(text="hear me, Zebra!"), r"text: token 'Z' is not in the vocabulary"),
    (dict(text="e" * 33), "text has 33 tokens, but the model reads at most block_size=32"),
    (dict(model="two experts", top_k=3), r"top_k=3 must be between 1 and n_experts=2 for model 'two experts'"),
    (dict(model="two experts", top_k=1, layer=1), r"layer=1: model 'two experts' has 1 MoE layer\(s\), 0..0"),
])
def test_bad_input_is_shown_and_keeps_the_last_picture(explorer, state, message):
    good_summary, good_figure = explorer.summary, explorer.figure
    explorer.set(**state)
    assert explorer.error is not None
    assert re.search(message, explorer.error), explorer.error
    assert explorer.summary == good_summary and explorer.figure is good_figure
    explorer.set(**START)  # a good input clears the error
    assert explorer.error is None


def test_render_rejects_top_k_out_of_range(explorer):
    with pytest.raises(ValueError, match="top_k=0 must be between 1 and n_experts=4"):
        explorer.render(model="A", layer=0, top_k=0, text=PROMPT)
    with pytest.raises(ValueError, match="top_k=5 must be between 1 and n_experts=4"):
        explorer.render(model="A", layer=0, top_k=5, text=PROMPT)


def test_constructor_rejects_bad_arguments(models, tok):
    with pytest.raises(ValueError, match="non-empty dict"):
        RouterExplorer({}, tok, PROMPT)
    torch.manual_seed(0)
    dense = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match=r"models\['dense'\] has no MoE layer"):
        RouterExplorer({"dense": dense}, tok, PROMPT)
    with pytest.raises(ValueError, match="model='C' is not one of the models"):
        RouterExplorer(models, tok, PROMPT, model="C")
    with pytest.raises(ValueError, match="top_k=5 is outside the slider's range 1 to 4"):
        RouterExplorer(models, tok, PROMPT, top_k=5)
    with pytest.raises(ValueError, match="tokenizer must have encode"):
        RouterExplorer(models, "abc", PROMPT)


def test_capacity_shows_dropped_assignments(tok):
    model = moe_gpt(tok, 0, capacity_factor=0.5)
    ex = RouterExplorer(model, tok, PROMPT)
    T = len(PROMPT)
    capacity = ex.routing.capacity
    assert capacity == -(-T * 2 // 8)  # ceil(0.5 * T * top_k / n_experts)
    dropped = int(ex.routing.dropped.sum())
    assert dropped >= T * 2 - 4 * capacity > 0  # at most capacity per expert survive
    assert f"{dropped} of {T * 2} assignments dropped" in ex.summary
    assert isinstance(model.blocks[0].mlp, MoE) and model.blocks[0].mlp.capacity_factor == 0.5


def test_spaces_are_drawn_as_a_visible_glyph(explorer):
    """A space is a token too: its tile and its place in the first-choice line show '␣', never a blank."""
    assert " " in PROMPT
    first_choices = [line for line in explorer.summary.splitlines() if line.startswith("first choices:")][0]
    assert "␣" in first_choices and "' '" not in first_choices
    labels = [t.get_text() for t in explorer.figure.axes[0].texts if t.get_visible()]
    assert "␣" in labels and " " not in labels
