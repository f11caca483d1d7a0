import math

import pytest
import torch
import torch.nn as nn

from gptlab.attention import MultiHeadAttention, kv_cache_bytes
from gptlab.block import Block
from gptlab.diagnostics import (
    DecodeTiming,
    attention_head_stats,
    count_parameters,
    count_parameters_by,
    grad_norms_per_layer,
    greedy_decode,
    time_decoding,
)
from gptlab.model import GPT, GPTConfig


def tiny_gpt(**overrides) -> GPT:
    torch.manual_seed(0)
    config = dict(vocab_size=11, block_size=32, n_layer=2, n_head=4, n_embd=16)
    return GPT(GPTConfig(**{**config, **overrides}))


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_head", [1, 2, 4, 8])
def test_multi_head_attention_has_the_same_parameters_for_any_number_of_heads(n_head):
    d = 512
    mha = MultiHeadAttention(d, n_head)
    by_part = count_parameters_by(mha)
    # four d x d matrices and four d-vectors of biases, whatever n_head is (lecture question 2)
    assert by_part == {name: d * d + d for name in ("q_proj", "k_proj", "v_proj", "out_proj")}
    assert count_parameters(mha) == 4 * (d * d + d) == sum(p.numel() for p in mha.parameters())


@pytest.mark.parametrize("n_kv_head", [1, 2, 4, 8])
def test_fewer_key_value_heads_shrink_only_the_k_and_v_projections(n_kv_head):
    d, n_head = 512, 8
    head_dim = d // n_head
    by_part = count_parameters_by(MultiHeadAttention(d, n_head, n_kv_head=n_kv_head))
    kv = n_kv_head * head_dim
    assert by_part == {"q_proj": d * d + d, "k_proj": d * kv + kv, "v_proj": d * kv + kv, "out_proj": d * d + d}


def test_count_parameters_by_depth_counts_tied_weights_once_and_sums_to_the_total():
    model = tiny_gpt()
    top = count_parameters_by(model)
    assert list(top) == ["wte", "pos", "blocks", "ln_f"]  # lm_head is tied to wte: counted there, once
    assert sum(top.values()) == count_parameters(model) == model.num_parameters()
    deeper = count_parameters_by(model, depth=2)
    assert deeper["blocks.0"] == deeper["blocks.1"] == count_parameters(model.blocks[0])
    leaves = count_parameters_by(model.blocks[0].attn.q_proj, depth=5)
    assert leaves == {"weight": 16 * 16, "bias": 16}  # names shorter than depth keep their whole name


def test_count_parameters_can_skip_frozen_parameters():
    block = Block(8, 2)
    block.ln_1.requires_grad_(False)
    assert count_parameters(block) - count_parameters(block, trainable_only=True) == 2 * 8


def test_parameter_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="module must be a torch.nn.Module"):
        count_parameters([1, 2])
    with pytest.raises(ValueError, match="depth=0 must be at least 1"):
        count_parameters_by(Block(8, 2), depth=0)


# --- gradient norms ---------------------------------------------------------------------------------


def test_grad_norms_per_layer_is_the_norm_of_each_blocks_gradient():
    model = tiny_gpt(n_layer=3)
    x = torch.randint(11, (2, 8))
    _, loss = model(x, x)
    loss.backward()
    norms = grad_norms_per_layer(model)
    assert len(norms) == 3
    for norm, block in zip(norms, model.blocks):
        flat = torch.cat([p.grad.flatten() for p in block.parameters()])
        assert math.isclose(norm, flat.norm().item(), rel_tol=1e-5)
    # torch's own global-norm helper agrees on one layer
    expected = torch.nn.utils.get_total_norm([p.grad for p in model.blocks[1].parameters()]) \
        if hasattr(torch.nn.utils, "get_total_norm") else torch.cat(
            [p.grad.flatten() for p in model.blocks[1].parameters()]).norm()
    assert math.isclose(norms[1], float(expected), rel_tol=1e-5)
    # a ModuleList or a plain list of the layers gives the same numbers
    assert grad_norms_per_layer(model.blocks) == norms == grad_norms_per_layer(list(model.blocks))


def test_grad_norms_can_look_at_one_parameter_per_layer():
    model = tiny_gpt()
    x = torch.randint(11, (2, 8))
    model(x, x)[1].backward()
    norms = grad_norms_per_layer(model, name_contains="mlp.proj.weight")
    assert norms == pytest.approx([b.mlp.proj.weight.grad.norm().item() for b in model.blocks], rel=1e-6)
    assert all(n < full for n, full in zip(norms, grad_norms_per_layer(model)))


def test_at_xavier_init_post_ln_has_the_larger_top_gradients_and_pre_ln_gradients_fall_with_depth():
    # Xiong et al. (2020), theorem 1: at initialisation (Xavier, as in the paper) the last layer's
    # gradient is about sqrt(L) times larger with post-LN than with pre-LN. Pre-LN's shrink from
    # the input side to the output side (the residual stream grows, and each LN divides by it);
    # post-LN's do not.
    top, fall = {}, {}
    for norm in ("post", "pre"):
        model = tiny_gpt(n_layer=8, n_embd=32, norm=norm)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
        torch.manual_seed(100)
        x = torch.randint(11, (8, 16))
        model(x, x)[1].backward()
        g = grad_norms_per_layer(model, name_contains="mlp.proj.weight")
        top[norm], fall[norm] = g[-1], sum(g[-3:]) / sum(g[:3])
    assert top["post"] > 1.5 * top["pre"]
    assert fall["pre"] < 0.7 < fall["post"]


def test_grad_norms_refuse_a_model_without_gradients_or_layers():
    model = tiny_gpt()
    with pytest.raises(ValueError, match=r"call loss.backward\(\) first"):
        grad_norms_per_layer(model)
    x = torch.randint(11, (2, 8))
    model(x, x)[1].backward()
    with pytest.raises(ValueError, match="no parameter name contains 'nope'.*ln_1.weight"):
        grad_norms_per_layer(model, name_contains="nope")
    with pytest.raises(ValueError, match="must have a .blocks ModuleList"):
        grad_norms_per_layer(nn.Linear(3, 3))


# --- decoding -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_greedy_decode_gives_generates_tokens_and_a_cache_of_the_predicted_size(n_kv_head):
    model = tiny_gpt(n_kv_head=n_kv_head)
    prompt = torch.randint(11, (2, 5))
    model.train()
    ids, caches = greedy_decode(model, prompt, 7)
    assert model.training  # restored
    assert torch.equal(ids, model.generate(prompt, 7, temperature=0))
    assert torch.equal(ids[:, :5], prompt)
    # every position but the last was fed through the stack, so it sits in the cache
    assert [c.length for c in caches] == [5 + 7 - 1] * 2
    measured = sum(c.nbytes() for c in caches)
    assert measured == kv_cache_bytes(n_layer=2, n_kv_head=n_kv_head, head_dim=4, T=11, B=2)


def test_time_decoding_measures_every_model_on_the_same_prompt():
    models = {"MHA": tiny_gpt(), "MQA": tiny_gpt(n_kv_head=1)}
    prompt = torch.randint(11, (1, 4))
    result = time_decoding(models, prompt, max_new_tokens=6, repeats=3, warmup=0)
    assert list(result) == ["MHA", "MQA"]
    for name, timing in result.items():
        assert isinstance(timing, DecodeTiming)
        assert len(timing.seconds) == 3 and all(s > 0 for s in timing.seconds)
        assert timing.new_tokens == 6
        assert timing.tokens_per_second == pytest.approx(6 / sorted(timing.seconds)[1])
        assert torch.equal(timing.ids, greedy_decode(models[name], prompt, 6)[0])
    assert result["MHA"].cache_bytes == 4 * result["MQA"].cache_bytes  # 4 heads vs 1 K/V head


def test_decoding_helpers_refuse_bad_input():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="more than block_size=32"):
        greedy_decode(model, torch.zeros(1, 30, dtype=torch.long), 5)
    with pytest.raises(ValueError, match=r"prompt must be a \(B, T\) tensor"):
        greedy_decode(model, torch.zeros(5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="max_new_tokens=0 must be at least 1"):
        greedy_decode(model, torch.zeros(1, 3, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="must have a .blocks ModuleList"):
        greedy_decode(nn.Linear(2, 2), torch.zeros(1, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="non-empty dict"):
        time_decoding({}, torch.zeros(1, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="repeats=0 must be at least 1"):
        time_decoding({"m": model}, torch.zeros(1, 3, dtype=torch.long), 2, repeats=0)


# --- attention heads ------------------------------------------------------------------------------------


def test_attention_head_stats_on_patterns_whose_numbers_are_known():
    T = 5
    eye = torch.eye(T)  # every token looks at itself
    prev = torch.zeros(T, T)  # every token looks at the one before (token 0 at itself)
    prev[0, 0] = 1.0
    prev[torch.arange(1, T), torch.arange(T - 1)] = 1.0
    uniform = torch.tril(torch.ones(T, T))
    uniform = uniform / uniform.sum(-1, keepdim=True)  # causal average: row i spreads over i + 1 tokens
    stats = attention_head_stats(torch.stack([eye, prev, uniform]))  # (3 heads, T, T)
    assert set(stats) == {"self", "previous", "distance", "entropy"}
    torch.testing.assert_close(stats["self"], torch.tensor([1.0, 0.2, sum(1 / (i + 1) for i in range(T)) / T]))
    torch.testing.assert_close(stats["previous"][:2], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(stats["distance"], torch.tensor([0.0, 0.8, sum(i / 2 for i in range(T)) / T]))
    expected_entropy = sum(math.log(i + 1) for i in range(T)) / T
    torch.testing.assert_close(stats["entropy"], torch.tensor([0.0, 0.0, expected_entropy]))


def test_attention_head_stats_average_over_the_batch_and_read_a_recorded_model():
    model = tiny_gpt()
    x = torch.randint(11, (3, 6))
    weights = model.attention_maps(x)[0]  # (B, nh, T, T) of layer 0
    batch = attention_head_stats(weights)
    one_by_one = [attention_head_stats(weights[b]) for b in range(3)]
    for name, value in batch.items():
        assert value.shape == (4,)
        torch.testing.assert_close(value, torch.stack([s[name] for s in one_by_one]).mean(0))
    assert bool((batch["entropy"] >= 0).all()) and bool((batch["distance"] >= 0).all())  # causal: never forward


def test_attention_head_stats_refuse_what_is_not_square_attention():
    with pytest.raises(ValueError, match=r"\(n_head, T, T\) or \(B, n_head, T, T\)"):
        attention_head_stats(torch.ones(4, 4))
    with pytest.raises(ValueError, match="square self-attention weights"):
        attention_head_stats(torch.ones(2, 3, 4))


# --- the lessons' plots (gptlab/plotting/blocks.py) ----------------------------------------------------


def test_block_plots_draw_what_they_are_given():
    from matplotlib.figure import Figure

    from gptlab import plotting

    fig = plotting.plot_loss_curves({"pre-LN": [3.0, 2.5, 2.0], "post-LN": [3.0, 3.0, 2.9]},
                                    styles={"post-LN": dict(color="C3", ls="--")}, reference={"unigram": 3.35})
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 * 2 + 1  # faint + smoothed per run, one reference line
    # the smoothed line is the de-biased moving average: (0.9 * 0.1 * 3.0 + 0.1 * 2.5) / (1 - 0.9**2) at step 2
    assert list(lines[1].get_ydata()[:2]) == pytest.approx([3.0, (0.9 * 0.1 * 3.0 + 0.1 * 2.5) / (1 - 0.9**2)])
    assert lines[3].get_color() == "C3" and lines[3].get_linestyle() == "--"
    assert lines[-1].get_ydata()[0] == pytest.approx(3.35)

    fig = plotting.plot_grad_norms_per_layer({"post": [0.4, 0.5, 0.7], "pre": [0.7, 0.4, 0.2]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and [list(l.get_ydata()) for l in ax.get_lines()] == [[0.4, 0.5, 0.7],
                                                                                         [0.7, 0.4, 0.2]]
    fig = plotting.plot_layer_norm(torch.tensor([2.0, 4.0, 6.0]), torch.tensor([-1.22, 0.0, 1.22]))
    assert len(fig.axes) == 2 and "mean +4.00" in fig.axes[0].get_title()
    fig = plotting.plot_decode_speed({"MHA": 100.0, "MQA": 120.0}, {"MHA": 8192, "MQA": 1024})
    assert [p.get_height() for p in fig.axes[0].patches] == [8.0, 1.0]  # KiB
    assert [p.get_height() for p in fig.axes[1].patches] == [100.0, 120.0]


def test_block_plots_refuse_bad_input():
    from gptlab import plotting

    with pytest.raises(ValueError, match="non-empty dict"):
        plotting.plot_loss_curves([])
    with pytest.raises(ValueError, match="smooth=1"):
        plotting.plot_loss_curves({"a": [1.0]}, smooth=1)
    with pytest.raises(ValueError, match="positive and finite on a log scale"):
        plotting.plot_grad_norms_per_layer({"a": [0.0, 1.0]})
    with pytest.raises(ValueError, match="same length"):
        plotting.plot_layer_norm([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="same variants"):
        plotting.plot_decode_speed({"MHA": 1.0}, {"MQA": 1})


# --- lesson 06: count_flops, time_calls ---------------------------------------------------------

def test_count_flops_of_a_matmul():
    from gptlab.diagnostics import count_flops
    a, b = torch.randn(3, 5), torch.randn(5, 7)
    assert count_flops(torch.matmul, a, b) == 2 * 3 * 5 * 7
    with pytest.raises(ValueError):
        count_flops(3)


def test_count_flops_decode_step_same_for_mha_and_mqa():
    from gptlab.attention import decode_step_attention
    from gptlab.diagnostics import count_flops
    q = torch.randn(2, 8, 1, 4)
    flops = {nkv: count_flops(decode_step_attention, q, torch.randn(2, nkv, 9, 4), torch.randn(2, nkv, 9, 4))
             for nkv in (8, 1)}
    assert flops[8] == flops[1] == 2 * (2 * 2 * 8 * 9 * 4)   # q.k and weights.v: 2 flops per multiply-add


def test_time_calls_alternates_and_summarises():
    from gptlab.diagnostics import time_calls
    order = []
    out = time_calls({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=4, warmup=1)
    assert order == ["a", "b"] * 5
    for t in out.values():
        assert len(t.seconds) == 4 and t.q1 <= t.median <= t.q3
    with pytest.raises(ValueError):
        time_calls({}, repeats=3)
    with pytest.raises(ValueError):
        time_calls({"a": lambda: None}, repeats=1)
