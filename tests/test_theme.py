"""The classroom theme: every picture gptlab shows is legible on a projector.

On the PNG that is shown, a text's height in pixels is its size in points × dpi / 72. In the
classroom theme the smallest text of every public plotting function and of every explorer must
be at least 16 px, and an explorer's picture at least 1100 px wide; in the notebook theme
(the default) nothing changes: the same dpi and font sizes the lessons always had.
"""
from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from gptlab import plotting
from gptlab.plotting import theme

FLOOR_PX = 16
MIN_WIDTH_PX = 1100


@pytest.fixture
def classroom():
    theme.set_theme("classroom")
    yield
    theme.set_theme("notebook")


def _all_texts(fig: Figure) -> list[Text]:
    """Every non-empty text artist, tick labels included (visible or not: an explorer shows some later)."""
    found = [t for t in fig.findobj(Text) if t.get_text().strip()]
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                found += [t for t in (tick.label1, tick.label2) if t.get_text().strip() or t.get_visible()]
    return found


def _smallest_px(fig: Figure, dpi: float) -> tuple[float, str]:
    texts = _all_texts(fig)
    smallest = min(texts, key=lambda t: t.get_size())
    return smallest.get_size() * dpi / 72, smallest.get_text()


def _png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


# --- one call of every public plotting function ---------------------------------------------------

def _history():
    from gptlab.train import History

    h = History()
    for step in range(0, 200, 10):
        h.steps.append(step)
        h.train_loss.append(3.0 - step / 100)
        h.lr.append(1e-3)
        h.grad_norm.append(1.0)
        h.tokens_seen.append(step * 64)
        h.elapsed.append(step / 10)
    h.eval_steps += [0, 100, 190]
    h.val_loss += [3.0, 2.2, 1.3]
    h.train_eval_loss += [3.0, 2.1, 1.2]
    return h


def _runs():  # the shape of run_scaling_sweep's result
    from test_scaling_laws import fake_runs

    return fake_runs()


def _calls():
    """name -> a function that draws the figure with small, typical inputs."""
    from gptlab.alignment import PPOHistory
    from gptlab.dot_product_scaling import saturation_curve, softmax_jacobian
    from gptlab.model import GPTConfig
    from gptlab.positional import sinusoidal_encoding
    from gptlab.serving import gpus_needed
    from gptlab.train import TrainConfig

    g = torch.Generator().manual_seed(0)
    served = gpus_needed(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768),
                         "float16", 64, 1024, 20.0, "H100")
    words = ["to", "be", "or", "not", "to", "be", ":", "that"]
    long_words = [f"w{i}" for i in range(30)]  # a crowded heatmap: its labels are drawn small
    w8 = torch.softmax(torch.randn(8, 8, generator=g), -1)
    w30 = torch.softmax(torch.randn(30, 30, generator=g), -1)
    heads = torch.softmax(torch.randn(4, 8, 8, generator=g), -1)
    x, W = torch.randn(5, 4, generator=g), torch.randn(4, 4, generator=g)
    q, k, v = x @ W, x @ W.T, x
    pe = sinusoidal_encoding(32, 16)
    dims = [2, 8, 32, 128]
    unscaled, scaled = saturation_curve(dims, T=8, scaled=False, n_samples=16), saturation_curve(dims, T=8,
                                                                                                n_samples=16)
    probs = torch.softmax(torch.randn(40, generator=g), -1)
    experts = torch.tensor([[2, 0], [0, 1], [1, 2]])
    gates = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]])
    jac_weights = [torch.softmax(torch.randn(4, generator=g) * s, -1) for s in (0.5, 3.0)]
    return {
        "plot_attention": lambda: plotting.plot_attention(w8, words, title="weights"),
        "plot_attention (30 tokens)": lambda: plotting.plot_attention(w30, long_words, query=3),
        "plot_attention_before_after": lambda: plotting.plot_attention_before_after(w8, w8, words, query=2),
        "plot_attention_heads": lambda: plotting.plot_attention_heads(heads, words, suptitle="four heads"),
        "plot_attention_query": lambda: plotting.plot_attention_query(w8, words, query=3, title="q"),
        "plot_attention_row": lambda: plotting.plot_attention_row(w30[3], long_words, title="row"),
        "plot_attention_training": lambda: plotting.plot_attention_training(
            [0, 10, 20], {"accuracy": [0.1, 0.5, 0.9]}, chance=0.25, title="lookup"),
        "plot_bigram_counts": lambda: plotting.plot_bigram_counts(
            {("a", "b"): 3, ("b", "a"): 1, ("a", "a"): 2}, title="bigrams"),
        "plot_blend": lambda: plotting.plot_blend(x[:, :2], (w8[:5, :5] @ x[:, :2]), w8[:5, :5] / w8[:5, :5].sum(-1,
                                                  keepdim=True), words[:5], query=1, title="blend"),
        "plot_block_wiring": lambda: plotting.plot_block_wiring(),
        "plot_chain_rule": lambda: plotting.plot_chain_rule(["the", "cat", "sat"], [0.1, 0.02, 0.3], title="chain"),
        "plot_change_by_position": lambda: plotting.plot_change_by_position(
            {"causal": [0.0, 0.0, 0.5, 0.7], "full": [0.4, 0.3, 0.5, 0.7]}, changed_from=2, tokens=words[:4],
            title="change"),
        "plot_coverage_vs_n": lambda: plotting.plot_coverage_vs_n([1, 2, 3], [0.99, 0.8, 0.4], 0.2, title="cov"),
        "plot_decode_speed": lambda: plotting.plot_decode_speed({"MHA": 100.0, "MQA": 120.0},
                                                                {"MHA": 8192, "MQA": 1024}, title="decode"),
        "plot_decoding_measures": lambda: plotting.plot_decoding_measures(
            {"greedy": 0.6, "T=1": 0.1}, {"greedy": 0.05, "T=1": 0.3}, n_tokens=200),
        "plot_entropy_vs_temperature": lambda: plotting.plot_entropy_vs_temperature(
            [0.25, 0.5, 1.0, 2.0], [0.5, 1.0, 2.0, 3.0], max_entropy=3.7, current=1.0),
        "plot_expert_utilisation": lambda: plotting.plot_expert_utilisation(torch.tensor([5, 3, 8, 0]), capacity=6),
        "plot_grad_norms_per_layer": lambda: plotting.plot_grad_norms_per_layer(
            {"post": [0.4, 0.5, 0.7], "pre": [0.7, 0.4, 0.2]}, title="grads"),
        "plot_history": lambda: plotting.plot_history(_history()),
        "plot_layer_norm": lambda: plotting.plot_layer_norm(torch.randn(32, generator=g) * 3 + 1,
                                                            torch.randn(32, generator=g)),
        "plot_lm_training": lambda: plotting.plot_lm_training(list(np.linspace(4, 2, 200)), {"bigram": 2.5},
                                                              smooth=20, title="training"),
        "plot_loss_curves": lambda: plotting.plot_loss_curves({"pre-LN": [3.0, 2.5, 2.0], "post-LN": [3.0, 3.0, 2.9]},
                                                              reference={"unigram": 3.35}, title="loss"),
        "plot_lr_schedule": lambda: plotting.plot_lr_schedule(TrainConfig(max_steps=100, batch_size=4, block_size=8,
                                                                          warmup_steps=10, progress=False)),
        "plot_next_token_probs": lambda: plotting.plot_next_token_probs(
            {f"tok{i}": float(p) for i, p in enumerate(probs)}, top=20, title="next"),
        "plot_parameter_counts": lambda: plotting.plot_parameter_counts(
            {"token embedding": 8192, "attention": 65536, "MLP": 131072}, title="params"),
        "plot_perplexity_bars": lambda: plotting.plot_perplexity_bars({"unigram": 500.0, "bigram": 150.0},
                                                                      title="ppl"),
        "plot_perplexity_vs_n": lambda: plotting.plot_perplexity_vs_n(
            [1, 2, 3], [500, 100, 20], [520, 180, 300], references={"uniform": 3000}, title="ppl vs n"),
        "plot_position_accuracy": lambda: plotting.plot_position_accuracy(
            {"none": [0.5, 0.5, 0.52], "sinusoidal": [0.5, 0.7, 0.95]}, chance=0.5),
        "plot_position_codes": lambda: plotting.plot_position_codes(pe, position=4),
        "plot_position_state": lambda: plotting.plot_position_state(pe, pe @ pe.T, 4, "codes", "similarity"),
        "plot_qk_variance": lambda: plotting.plot_qk_variance(dims, [2.0, 8.0, 30.0, 130.0], [1.0, 1.0, 0.9, 1.0]),
        "plot_qkv_flow": lambda: plotting.plot_qkv_flow(x, W, W, W, q, k, v, w8[:5, :5], v, tokens=words[:5]),
        "plot_router_state": lambda: plotting.plot_router_state(["The", " cat", " sat"], experts, gates,
                                                                torch.tensor([2, 2, 2]), n_experts=3, capacity=3),
        "plot_routing": lambda: plotting.plot_routing(["The", " cat", " sat"], experts, gates),
        "plot_sampling_before_after": lambda: plotting.plot_sampling_before_after(
            [f"t{i}" for i in range(40)], probs, torch.softmax(torch.log(probs) * 2, -1), title="T=0.5"),
        "plot_saturation": lambda: plotting.plot_saturation(unscaled, scaled, T=8),
        "plot_scaled_vs_unscaled": lambda: plotting.plot_scaled_vs_unscaled(
            {"scaled": list(np.linspace(3, 1, 60)), "unscaled": list(np.linspace(3, 2, 60))},
            {"scaled": list(np.linspace(0, 1, 60)), "unscaled": list(np.linspace(0, 0.5, 60))}),
        "plot_scaling_curve": lambda: plotting.plot_scaling_curve(_runs(), fit=(10.0, 0.1), title="scaling"),
        "plot_scaling_state": lambda: plotting.plot_scaling_state(w8[0], 32, True, 1.5, 0.3, unscaled, scaled),
        "plot_score_matrix": lambda: plotting.plot_score_matrix(pe @ pe.T, title="scores"),
        "plot_similarity_vs_offset": lambda: plotting.plot_similarity_vs_offset(pe @ pe.T / 8, position=10,
                                                                                title="similarity"),
        "plot_softmax_jacobians": lambda: plotting.plot_softmax_jacobians(
            jac_weights, [softmax_jacobian(p) for p in jac_weights], ["soft", "sharp"]),
        # lessons 12-15
        "plot_model_comparison": lambda: plotting.plot_model_comparison(
            {"base": {"accuracy": 0.19, "reward": -0.4, "KL": 0.0, "length": 9.0},
             "SFT": {"accuracy": 0.51, "reward": 0.6, "KL": 0.0, "length": 5.0}}),
        "plot_reward_ranking": lambda: plotting.plot_reward_ranking([0.9, 0.3, 1.2, -0.1], [0.1, 0.5, -0.2, -0.6]),
        "plot_ppo_curves": lambda: plotting.plot_ppo_curves(
            {"β = 0.5": PPOHistory(steps=[0, 1, 2], reward=[0.1, 0.3, 0.4], kl=[0.0, 0.5, 1.0],
                                   accuracy=[0.5, 0.5, 0.49])}),
        "plot_accuracy_against_kl": lambda: plotting.plot_accuracy_against_kl(
            {"labeller": PPOHistory(steps=[1, 2, 3], kl=[0.0, 0.8, 1.5], accuracy=[0.5, 0.6, 0.7]),
             "reward model": PPOHistory(steps=[1, 2, 3], kl=[0.0, 1.5, 3.0], accuracy=[0.5, 0.4, 0.35])},
            baseline=0.5, window=2),
        "plot_answers": lambda: plotting.plot_answers(
            [{"name": "base", "answer": "abq", "reward": -0.5, "logprob": -3.2, "correct": False},
             {"name": "SFT", "answer": "cba", "reward": 0.8, "logprob": -1.1, "correct": True}], title="reverse"),
        "plot_bits_vs_loss": lambda: plotting.plot_bits_vs_loss(
            {"round-to-nearest": {8: 1.61, 4: 1.70, 3: 1.9}, "GPTQ": {8: 1.60, 4: 1.64, 3: 1.75}}, baseline=1.60),
        "plot_column_scales": lambda: plotting.plot_column_scales(torch.randn(16, 32, generator=g)),
        "plot_memory_fit": lambda: plotting.plot_memory_fit(),
        "plot_gpus_needed": lambda: plotting.plot_gpus_needed(
            served["by_limit"], served["binding"], served["memory"], title="H100"),
        "plot_batching": lambda: plotting.plot_batching([1, 2, 4, 8], [10.0, 19.0, 36.0, 60.0], [5.0, 5.2, 5.5, 6.6]),
        "plot_recipe_runs": lambda: plotting.plot_recipe_runs(
            ["GPT-2", "+ RMSNorm", "+ SwiGLU"], [[2.10, 2.12], [2.09, 2.11], [2.05, 2.07]], highlight=2),
        "plot_tokens_per_char": lambda: plotting.plot_tokens_per_char(
            {"BPE": ([256, 512, 1024], [0.9, 0.6, 0.45]), "characters": ([256, 512, 1024], [1.0, 1.0, 1.0])},
            marker=(512, 0.6), title="tokens per character"),
    }


CALLS = _calls()


# every lesson's plotting module; a new one joins this list with a call for each of its functions
LESSON_MODULES = ("lm", "attention", "dot_product_scaling", "position", "blocks", "training", "gpt", "moe",
                  "alignment", "quantization", "recipe", "tokens")  # lessons 12-15: the last four
LESSON_EXPLORERS = ("NGramExplorer", "SamplingExplorer", "AttentionExplorer", "BlendExplorer", "LookupExplorer",
                    "ScalingExplorer", "PositionExplorer", "RouterExplorer",
                    "AlignmentExplorer", "ServingExplorer", "TokenizerExplorer", "RecipeExplorer")  # 12-15


def test_every_public_plotting_function_is_covered():
    from importlib import import_module

    public = {n for m in LESSON_MODULES for n in dir(import_module(f"gptlab.plotting.{m}"))
              if n.startswith("plot_") and inspect.isfunction(getattr(plotting, n, None))}
    covered = {name.split(" ")[0] for name in CALLS}
    assert public <= covered, f"add these to tests/test_theme.py: {sorted(public - covered)}"


@pytest.mark.parametrize("name", CALLS)
def test_classroom_plotting_text_is_at_least_16_px(name, classroom):
    fig = CALLS[name]()
    png = plotting.shown_png(fig)  # what a notebook shows
    dpi = theme.picture_dpi(fig.get_figwidth())
    px, text = _smallest_px(fig, dpi)
    assert px >= FLOOR_PX, f"{name}: {text!r} is {px:.1f} px tall at {dpi:.0f} dpi"
    assert _png_size(png)[0] >= MIN_WIDTH_PX


# --- every explorer -------------------------------------------------------------------------------

def _explorers():
    import test_widgets_fast_redraw as fr

    from gptlab.widgets import AttentionExplorer

    def attention():
        model, tok = fr._tiny_gpt()
        return AttentionExplorer.from_text(model, tok, "to be, or not to be"), [{"layer": 1}, {"query": 3}]

    def attention_long():  # a 30-token heatmap: the crowded case
        model, tok = fr._tiny_gpt()
        return AttentionExplorer.from_text(model, tok, "to be, or not to be: that is th"), [{"head": 2}]

    def alignment():  # lesson 12: tiny untrained models, the explorer's picture is what is checked
        from gptlab import alignment as A
        from gptlab.model import GPT, GPTConfig
        from gptlab.tokenizers import CharTokenizer
        from gptlab.widgets import AlignmentExplorer

        tok = CharTokenizer().fit(A.web_text(200) + "ABCDEF0123456789")

        def gpt(seed):
            torch.manual_seed(seed)
            return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()

        explorer = AlignmentExplorer({"base": gpt(0), "SFT": gpt(1)}, {0.0: gpt(2), 0.5: gpt(3)},
                                     A.RewardModel(gpt(9)).eval(), tok, instruction="reverse: abc => ", beta=0.5)
        return explorer, [{"beta": 0.0}, {"instruction": "upper: abc => "}]

    def serving():  # lesson 13
        from gptlab.model import GPTConfig
        from gptlab.widgets import ServingExplorer

        lesson = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128)
        return ServingExplorer(models={"lesson 10": lesson}), [
            {"model": "llama-70b", "dtype": "bfloat16", "gpu": "H100", "context": 4096, "users": 64},
            {"model": "lesson 10", "dtype": "float32", "gpu": "laptop CPU", "context": 64, "users": 1}]

    makers = dict(fr.EXPLORERS)
    makers.update(attention=attention, attention_long=attention_long, alignment=alignment, serving=serving)
    return makers


EXPLORERS = _explorers()


def test_every_explorer_is_covered():
    from gptlab import widgets

    covered = {type(EXPLORERS[name]()[0]).__name__ for name in EXPLORERS}
    assert set(LESSON_EXPLORERS) <= set(widgets._WHERE)
    assert set(LESSON_EXPLORERS) <= covered, sorted(set(LESSON_EXPLORERS) - covered)


@pytest.mark.parametrize("name", EXPLORERS)
def test_classroom_explorer_pictures_are_wide_and_their_text_at_least_16_px(name, classroom):
    explorer, moves = EXPLORERS[name]()
    for move in [{}, *moves[:2]]:
        explorer.set(**move)
        assert explorer.error is None, explorer.error
        width, _ = _png_size(explorer.image.value)
        assert width >= MIN_WIDTH_PX, f"{name} after {move}: {width} px wide"
        dpi = explorer.shown_dpi(explorer.figure)
        px, text = _smallest_px(explorer.figure, dpi)
        assert px >= FLOOR_PX, f"{name} after {move}: {text!r} is {px:.1f} px at {dpi:.0f} dpi"
    assert "gptlab-classroom" in explorer.widget._dom_classes  # the controls' labels grow too
    assert "font-size: 20px" in explorer.widget.children[0].value


@pytest.mark.parametrize("name", ["sampling", "router", "attention_long"])
def test_notebook_theme_draws_as_before(name):
    """The default theme: explorers at 80 dpi and their small labels left small (e.g. 9 px)."""
    assert theme.get_theme() == "notebook"
    explorer, _ = EXPLORERS[name]()
    assert explorer.dpi == 80 and explorer.shown_dpi(explorer.figure) == 80
    width, _ = _png_size(explorer.image.value)
    assert width == int(explorer.figure.get_figwidth() * 80)
    assert _smallest_px(explorer.figure, 80)[0] < FLOOR_PX  # nothing raised
    assert "gptlab-" not in " ".join(explorer.widget._dom_classes)
    fig = CALLS["plot_attention (30 tokens)"]()
    assert fig.dpi == 100 and theme.picture_dpi(fig.get_figwidth()) == 100
    assert min(t.get_size() for t in _all_texts(fig)) == 5  # the crowded heatmap's labels, as before


def test_set_theme_and_get_theme(classroom):
    assert plotting.get_theme() == "classroom"
    assert plotting.set_theme("notebook").name == "notebook" and plotting.get_theme() == "notebook"
    with pytest.raises(ValueError, match="name"):
        plotting.set_theme("projector")
    assert plotting.get_theme() == "notebook"


def test_theme_numbers_follow_the_formula(classroom):
    # 6.4 in at 150 dpi is 960 px: raised to just over 1100 px; a wide figure keeps 150 dpi
    assert 6.4 * theme.picture_dpi(6.4, explorer=True) >= MIN_WIDTH_PX + 1
    assert theme.picture_dpi(11.0) == 150
    assert theme.min_points(150) == pytest.approx(16 * 72 / 150)
    fig = plotting.new_figure()[0]
    fig.axes[0].set_title("tiny", fontsize=3)
    assert theme.apply_text_floor(fig, 150) >= 1 and fig.axes[0].title.get_size() * 150 / 72 >= 16


def test_environment_variable_sets_the_theme_at_import():
    code = "from gptlab import plotting; print(plotting.get_theme())"
    env = {**os.environ, "GPTLAB_THEME": "classroom"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "classroom", out.stderr
    env["GPTLAB_THEME"] = "projector"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "notebook" and "not a theme" in out.stderr

