import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from gptlab.block import MLP, Block
from gptlab.moe import MoE, Routing, load_balancing_loss, moe_aux_loss, moe_parameter_counts
from gptlab.plotting.moe import expert_colors, plot_expert_utilisation, plot_router_state, plot_routing

ATOL = dict(atol=1e-5, rtol=1e-5)


def _moe(device, d_model=8, n_experts=4, top_k=2, seed=0, **kwargs) -> MoE:
    torch.manual_seed(seed)
    return MoE(d_model, n_experts, top_k=top_k, d_hidden=16, **kwargs).to(device)


def _one_hot_router(moe: MoE, scale: float = 10.0) -> None:
    """Router logits = scale * x, so a one-hot input row e picks expert e with certainty."""
    with torch.no_grad():
        moe.router.weight.copy_(scale * torch.eye(moe.n_experts, moe.d_model))


def reference_moe(moe: MoE, x: torch.Tensor) -> torch.Tensor:
    """Slow MoE, one token at a time in time order, with a counter per expert for the capacity."""
    B, T, C = x.shape
    E, k = moe.n_experts, moe.top_k
    capacity = math.inf if moe.capacity_factor is None else math.ceil(moe.capacity_factor * B * T * k / E)
    used = [0] * E
    out = torch.zeros_like(x)
    for t in range(T):
        for b in range(B):
            probs = torch.softmax(moe.router.weight @ x[b, t], dim=-1).tolist()
            chosen = sorted(range(E), key=lambda e: -probs[e])[:k]
            total = sum(probs[e] for e in chosen)
            for e in chosen:
                if used[e] < capacity:
                    used[e] += 1
                    out[b, t] += probs[e] / total * moe.experts[e](x[b, t])
    return out


# --- the mixture -----------------------------------------------------------------------------------


def test_experts_are_the_dense_blocks_mlp():
    moe = MoE(8, 3, d_hidden=16)
    assert len(moe.experts) == 3 and all(type(e) is MLP for e in moe.experts)
    assert isinstance(moe.router, nn.Linear) and moe.router.bias is None
    assert moe.router.weight.shape == (3, 8)


def test_identical_experts_give_that_experts_output(device):
    moe = _moe(device, n_experts=4, top_k=2)
    for expert in moe.experts[1:]:
        expert.load_state_dict(moe.experts[0].state_dict())
    x = torch.randn(2, 5, 8, device=device)
    with torch.no_grad():
        torch.testing.assert_close(moe(x), moe.experts[0](x), **ATOL)  # gates sum to 1: any router works


def test_uniform_router_with_all_experts_averages_them(device):
    moe = _moe(device, n_experts=3, top_k=3)
    nn.init.zeros_(moe.router.weight)
    x = torch.randn(2, 4, 8, device=device)
    with torch.no_grad():
        expected = torch.stack([expert(x) for expert in moe.experts]).mean(dim=0)
        torch.testing.assert_close(moe(x), expected, **ATOL)
    torch.testing.assert_close(moe.last_routing.gates, torch.full((8, 3), 1 / 3, device=device))


def test_matches_slow_per_token_reference(device):
    moe = _moe(device, n_experts=4, top_k=2)
    x = torch.randn(3, 5, 8, device=device)
    with torch.no_grad():
        torch.testing.assert_close(moe(x), reference_moe(moe, x), **ATOL)


def test_matches_reference_with_capacity_dropping(device):
    moe = _moe(device, n_experts=4, top_k=2, capacity_factor=0.5)
    x = torch.randn(3, 5, 8, device=device)
    with torch.no_grad():
        out = moe(x)
        torch.testing.assert_close(out, reference_moe(moe, x), **ATOL)
    assert moe.dropped_fraction > 0  # the capacity did bite


def test_gates_sum_to_one_and_chosen_experts_are_distinct(device):
    moe = _moe(device, n_experts=6, top_k=3)
    x = torch.randn(4, 7, 8, device=device)
    moe(x)
    routing = moe.last_routing
    assert routing.experts.shape == (28, 3) and routing.experts.dtype == torch.long
    torch.testing.assert_close(routing.gates.sum(dim=-1), torch.ones(28, device=device))
    assert bool((routing.experts.sort(dim=-1).values.diff(dim=-1) > 0).all())
    assert bool((routing.gates[:, :-1] >= routing.gates[:, 1:]).all())  # best choice first
    torch.testing.assert_close(routing.router_probs.sum(dim=-1), torch.ones(28, device=device))


def test_two_dim_input_is_one_sequence(device):
    moe = _moe(device, capacity_factor=0.75)
    x = torch.randn(6, 8, device=device)
    with torch.no_grad():
        out = moe(x)
        assert out.shape == (6, 8)
        torch.testing.assert_close(out, moe(x.unsqueeze(0)).squeeze(0))


def test_last_routing_is_detached_and_counts_assignments(device):
    moe = _moe(device, n_experts=4, top_k=2)
    moe(torch.randn(2, 5, 8, device=device))
    routing = moe.last_routing
    assert isinstance(routing, Routing)
    for tensor in (routing.experts, routing.gates, routing.router_probs, routing.dropped, routing.tokens_per_expert):
        assert not tensor.requires_grad
    assert routing.tokens_per_expert.shape == (4,) and int(routing.tokens_per_expert.sum()) == 10 * 2
    assert torch.equal(routing.tokens_per_expert.cpu(), torch.bincount(routing.experts.flatten().cpu(), minlength=4))
    assert routing.capacity is None and not bool(routing.dropped.any()) and moe.dropped_fraction == 0.0


# --- load balancing ----------------------------------------------------------------------------------


def test_aux_loss_is_one_when_routing_is_uniform(device):
    moe = _moe(device, n_experts=4, top_k=4)
    nn.init.zeros_(moe.router.weight)
    moe(torch.randn(2, 5, 8, device=device))
    assert moe.aux_loss.dim() == 0
    torch.testing.assert_close(moe.aux_loss.item(), 1.0)


def test_aux_loss_is_one_for_a_balanced_confident_router(device):
    moe = _moe(device, d_model=4, n_experts=4, top_k=1)
    _one_hot_router(moe)
    x = torch.eye(4, device=device).repeat(3, 1)  # (12, 4) every expert gets 3 tokens
    moe(x)
    assert moe.last_routing.tokens_per_expert.tolist() == [3, 3, 3, 3]
    torch.testing.assert_close(moe.aux_loss.item(), 1.0)


def test_aux_loss_grows_to_n_experts_under_collapse(device):
    moe = _moe(device, n_experts=4, top_k=1)
    with torch.no_grad():
        moe.router.weight.zero_()
        moe.router.weight[0, 0] = 20.0  # a constant feature votes hard for expert 0
    x = torch.randn(2, 5, 8, device=device)
    x[..., 0] = 1.0
    moe(x)
    assert moe.last_routing.tokens_per_expert.tolist() == [10, 0, 0, 0]
    assert 3.99 < moe.aux_loss.item() <= 4.0 + 1e-5


def test_load_balancing_loss_by_hand():
    router_probs = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
    expert_index = torch.tensor([[0], [1]])  # f = (1/2, 1/2, 0), P = (0.65, 0.25, 0.1)
    torch.testing.assert_close(load_balancing_loss(router_probs, expert_index), torch.tensor(3 * (0.325 + 0.125)))


# --- capacity --------------------------------------------------------------------------------------


def test_capacity_drops_the_late_comers_top1(device):
    moe = _moe(device, d_model=2, n_experts=2, top_k=1, capacity_factor=1.0)
    _one_hot_router(moe)
    x = torch.tensor([[1.0, 0]] * 4 + [[0, 1.0]] * 2, device=device)  # 4 tokens want E0, 2 want E1
    with torch.no_grad():
        out = moe(x)
        routing = moe.last_routing
        assert routing.capacity == 3  # ceil(1.0 * 6 tokens * 1 / 2 experts)
        assert routing.dropped.squeeze(1).tolist() == [False, False, False, True, False, False]
        assert routing.tokens_per_expert.tolist() == [4, 2]
        assert routing.processed_per_expert.tolist() == [3, 2]
        torch.testing.assert_close(out[3], torch.zeros(2, device=device))  # the residual carries it
        torch.testing.assert_close(out[:3], moe.experts[0](x[:3]), **ATOL)
        torch.testing.assert_close(out[4:], moe.experts[1](x[4:]), **ATOL)
    assert moe.dropped_fraction == pytest.approx(1 / 6)


def test_capacity_serves_a_tokens_choices_before_the_next_token(device):
    moe = _moe(device, d_model=2, n_experts=2, top_k=2, capacity_factor=0.5)
    x = torch.randn(3, 2, device=device)
    with torch.no_grad():
        out = moe(x)
    assert moe.last_routing.capacity == 2  # ceil(0.5 * 3 * 2 / 2)
    assert moe.last_routing.dropped.tolist() == [[False, False], [False, False], [True, True]]
    torch.testing.assert_close(out[2], torch.zeros(2, device=device))
    assert moe.dropped_fraction == pytest.approx(2 / 6)


def test_capacity_priority_is_time_order_across_the_batch(device):
    moe = _moe(device, d_model=2, n_experts=2, top_k=1, capacity_factor=0.5)
    _one_hot_router(moe)
    x = torch.tensor([[[0, 1.0], [1.0, 0]], [[1.0, 0], [1.0, 0]]], device=device)  # (B=2, T=2): E1 once, E0 3x
    moe(x)
    assert moe.last_routing.capacity == 1
    # time order: (b0,t0)->E1 kept, (b1,t0)->E0 kept, (b0,t1) and (b1,t1) dropped; rows are (b, t) order
    assert moe.last_routing.dropped.squeeze(1).tolist() == [False, True, False, True]


def test_capacity_keeps_a_causal_model_causal(device):
    moe = _moe(device, n_experts=4, top_k=2, capacity_factor=0.5)
    x = torch.randn(2, 6, 8, device=device)
    x_new_future = x.clone()
    x_new_future[:, 4:] = torch.randn(2, 2, 8, device=device)
    with torch.no_grad():
        out, out_new_future = moe(x), moe(x_new_future)
    assert moe.dropped_fraction > 0.2  # many drops: priority matters here
    torch.testing.assert_close(out[:, :4], out_new_future[:, :4])


# --- gradients and noise -----------------------------------------------------------------------------


def test_gradients_reach_the_router_through_gates_and_aux_loss(device):
    moe = _moe(device, n_experts=4, top_k=2)
    x = torch.randn(2, 5, 8, device=device)
    moe(x).pow(2).sum().backward()
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in moe.experts[int(moe.last_routing.experts[0, 0])].parameters())

    moe.zero_grad()
    moe(x)
    moe.aux_loss.backward()
    assert moe.router.weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in moe.experts.parameters())


def test_top1_router_learns_only_from_aux_loss(device):
    moe = _moe(device, n_experts=4, top_k=1)
    moe(torch.randn(2, 5, 8, device=device)).pow(2).sum().backward()
    grad = moe.router.weight.grad
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-6, rtol=0)  # the gate p/p is always 1


def test_router_noise_only_in_training(device):
    moe = _moe(device, router_noise=1.0)
    x = torch.randn(2, 5, 8, device=device)
    with torch.no_grad():
        clean_probs = torch.softmax(moe.router(x.view(-1, 8)), dim=-1)
        moe.train()
        moe(x)
        first = moe.last_routing.router_probs
        moe(x)
        assert not torch.allclose(first, moe.last_routing.router_probs)
        assert not torch.allclose(first, clean_probs)
        moe.eval()
        out = moe(x)
        torch.testing.assert_close(moe.last_routing.router_probs, clean_probs)
        torch.testing.assert_close(moe(x), out)


def test_no_noise_when_router_noise_is_zero(device):
    moe = _moe(device, router_noise=0.0).train()
    x = torch.randn(2, 5, 8, device=device)
    with torch.no_grad():
        torch.testing.assert_close(moe(x), moe(x))


# --- parameters, the block, the training loss ------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_parameter_counts_match_the_module(bias):
    moe = MoE(8, 4, top_k=2, d_hidden=16, bias=bias)
    counts = moe.count_parameters()
    assert counts == moe_parameter_counts(8, 4, top_k=2, d_hidden=16, bias=bias)
    assert counts["total"] == sum(p.numel() for p in moe.parameters())
    assert counts["per_expert"] == sum(p.numel() for p in MLP(8, 16, bias=bias).parameters())
    assert counts["router"] == 8 * 4
    assert counts["active_per_token"] == counts["router"] + 2 * counts["per_expert"]
    assert counts["flops_per_token"] == 2 * counts["active_per_token"]


def test_one_expert_is_all_active():
    counts = moe_parameter_counts(8, 1, top_k=1)  # d_hidden defaults to 4 * d_model, like MLP
    assert counts["active_per_token"] == counts["total"] == 8 + sum(p.numel() for p in MLP(8).parameters())


def test_moe_replaces_the_blocks_mlp(device):
    torch.manual_seed(0)
    block = Block(8, 2, mlp=MoE(8, 4, d_hidden=16)).to(device)
    out = block(torch.randn(2, 5, 8, device=device))
    assert out.shape == (2, 5, 8)
    assert block.mlp.last_routing.router_probs.shape == (10, 4)
    assert torch.equal(moe_aux_loss(block), block.mlp.aux_loss)


def test_moe_aux_loss_sums_every_layer(device):
    torch.manual_seed(0)
    model = nn.Sequential(MoE(8, 4, d_hidden=16), nn.GELU(), MoE(8, 2, top_k=1, d_hidden=16)).to(device)
    with pytest.raises(ValueError, match="forward pass first"):
        moe_aux_loss(model)
    model(torch.randn(2, 5, 8, device=device))
    total = moe_aux_loss(model)
    torch.testing.assert_close(total, model[0].aux_loss + model[2].aux_loss)
    assert total.requires_grad
    assert moe_aux_loss(nn.Linear(2, 2)).item() == 0.0


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_experts=0), "n_experts"),
    (dict(top_k=0), r"top_k=0 must be between 1 and n_experts=4"),
    (dict(top_k=5), r"top_k=5 must be between 1 and n_experts=4"),
    (dict(top_k=1.5), "top_k"),
    (dict(capacity_factor=0.0), "capacity_factor"),
    (dict(capacity_factor=-1.0), "capacity_factor"),
    (dict(router_noise=-0.1), "router_noise"),
    (dict(d_hidden=0), "d_hidden"),
])
def test_bad_configuration_is_named(kwargs, match):
    config = dict(d_model=8, n_experts=4, top_k=2) | kwargs
    with pytest.raises(ValueError, match=match):
        MoE(**config)
    if "capacity_factor" not in kwargs and "router_noise" not in kwargs:
        with pytest.raises(ValueError, match=match):
            moe_parameter_counts(**config)


@pytest.mark.parametrize("shape", [(2, 5, 7), (5, 7), (8,), (1, 2, 5, 8)])
def test_bad_input_shape_is_named(shape):
    moe = MoE(8, 4, d_hidden=16)
    with pytest.raises(ValueError, match=r"d_model=8.*got"):
        moe(torch.randn(*shape))


def test_dropped_fraction_before_forward_says_so():
    with pytest.raises(RuntimeError, match="forward pass"):
        _ = MoE(8, 4).dropped_fraction


# --- plotting --------------------------------------------------------------------------------------------


def test_plot_expert_utilisation_draws_one_bar_per_expert():
    fig = plot_expert_utilisation(torch.tensor([3, 1, 0, 4]), capacity=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == [3, 1, 0, 4]
    assert [line.get_ydata()[0] for line in ax.lines] == [2.0, 3]  # fair share, capacity

    fig2 = Figure()
    ax2 = fig2.subplots()
    assert plot_expert_utilisation([1, 2], ax=ax2) is fig2 and len(ax2.patches) == 2
    with pytest.raises(ValueError, match="tokens_per_expert"):
        plot_expert_utilisation([[1, 2]])


def test_plot_routing_colours_tokens_by_first_choice():
    experts = torch.tensor([[2, 0], [0, 1], [1, 2]])
    gates = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]])
    fig = plot_routing(["The", " cat", " sat"], experts, gates)
    assert isinstance(fig, Figure)
    tiles = fig.axes[0].patches
    colors = expert_colors(3)
    assert [np.allclose(to_rgba(t.get_facecolor())[:3], colors[e][:3]) for t, e in zip(tiles, [2, 0, 1])] == [True] * 3
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert " cat" in texts and "E2:0.90 E0:0.10" in texts
    with pytest.raises(ValueError, match="2 tokens"):
        plot_routing(["a", "b"], experts, gates)


def test_plot_router_state_shows_the_same_as_the_two_plots_and_updates_in_place():
    experts = torch.tensor([[2, 0], [0, 1], [1, 2]])
    gates = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5]])
    counts = torch.tensor([2, 2, 2])
    fig = plot_router_state(["The", " cat", " sat"], experts, gates, counts, n_experts=3, title="layer 0")
    tiles, util = fig.axes
    visible = [t for t in tiles.patches if t.get_visible()]
    assert len(visible) == 3  # one tile per token; the row's other slots are hidden
    colors = expert_colors(3)
    assert all(np.allclose(to_rgba(t.get_facecolor())[:3], colors[e][:3]) for t, e in zip(visible, [2, 0, 1]))
    assert "E2:0.90 E0:0.10" in [t.get_text() for t in tiles.texts if t.get_visible()]
    assert [bar.get_height() for bar in util.patches] == [2, 2, 2] and util.get_title() == "layer 0"
    # the same figure again with two tokens: updated, not rebuilt; the third tile is hidden
    again = plot_router_state(["a", "b"], experts[:2], gates[:2], torch.tensor([2, 1, 1]), n_experts=3, fig=fig)
    assert again is fig and fig.axes[0] is tiles
    assert sum(t.get_visible() for t in tiles.patches) == 2
    assert [bar.get_height() for bar in util.patches] == [2, 1, 1]


def test_plot_router_state_rejects_mismatched_inputs():
    experts, gates = torch.tensor([[0], [1]]), torch.tensor([[1.0], [1.0]])
    with pytest.raises(ValueError, match="T = len\\(tokens\\) = 3"):
        plot_router_state(["a", "b", "c"], experts, gates, torch.tensor([1, 1]), n_experts=2)
    with pytest.raises(ValueError, match="one count per expert \\(2\\)"):
        plot_router_state(["a", "b"], experts, gates, torch.tensor([1, 1, 0]), n_experts=2)


def test_dense_gates_matches_moe_routing_and_rows_sum_to_one():
    from gptlab.moe import dense_gates
    from gptlab.plotting.moe import show_token

    torch.manual_seed(0)
    moe = MoE(8, 4, top_k=2)
    x = torch.randn(6, 8)
    moe(x)
    probs = torch.softmax(moe.router(x), dim=-1)
    g = dense_gates(probs, 2)
    r = moe.last_routing
    assert torch.allclose(g.gather(-1, r.experts), r.gates, atol=1e-6)  # the same gates, in place
    assert ((g > 0).sum(-1) == 2).all() and torch.allclose(g.sum(-1), torch.ones(6))
    assert torch.allclose(dense_gates(probs, 4), probs, atol=1e-6)  # top-k = all: the probabilities
    with pytest.raises(ValueError, match="top_k"):
        dense_gates(probs, 5)
    assert show_token(" ") == "␣" and show_token("\n") == "\\n" and show_token("a") == "a"
