"""Mixture of experts inside the whole GPT (``GPTConfig(n_experts=...)``): training, the loss, gradients, counts."""
import pytest
import torch
import torch.nn.functional as F

from gptlab.model import GPT, GPTConfig
from gptlab.moe import MoE, moe_parameter_counts

V, C, L = 23, 16, 2  # vocabulary, n_embd, n_layer of the tiny models below


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """Tiny models: a second CPU thread only adds hand-off cost (and waits on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def moe_gpt(seed=0, **overrides) -> GPT:
    torch.manual_seed(seed)
    values = dict(vocab_size=V, block_size=16, n_layer=L, n_head=2, n_embd=C, n_experts=4, top_k=2)
    return GPT(GPTConfig(**{**values, **overrides}))


def ids(B, T, seed=0, device="cpu"):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed)).to(device)


def reference_aux(layer: MoE) -> torch.Tensor:
    """Switch Transformer eq. 4 from the layer's recorded routing: E * sum_i f_i * P_i."""
    r = layer.last_routing
    E = layer.n_experts
    f = torch.stack([(r.experts == i).sum() for i in range(E)]).double() / r.experts.numel()
    P = r.router_probs.double().mean(dim=0)
    return E * (f * P).sum()


def with_moe_mlps(model: GPT, n_experts: int, top_k: int, d_hidden: int) -> GPT:
    """Replace every block's MLP with an MoE of ``n_experts`` experts ``d_hidden`` wide (GPTConfig
    has no field for the expert width: its experts are always 4 x n_embd wide)."""
    c = model.config
    for block in model.blocks:
        block.mlp = MoE(c.n_embd, n_experts, top_k=top_k, d_hidden=d_hidden, bias=c.bias)
    return model


# --- training --------------------------------------------------------------------------------------


def test_moe_gpt_trains_on_every_device(device):
    model = moe_gpt().to(device).train()
    assert all(isinstance(block.mlp, MoE) for block in model.blocks)
    x, y = ids(4, 16, seed=1, device=device), ids(4, 16, seed=2, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(60):
        _, loss = model(x, y)
        losses.append(model.last_loss_parts["lm"].item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], f"cross-entropy {losses[0]:.3f} -> {losses[-1]:.3f}"
    for block in model.blocks:  # and the routers still use more than one expert
        assert int((block.mlp.last_routing.tokens_per_expert > 0).sum()) >= 2


# --- the loss ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0.01, 0.5])
def test_loss_is_lm_plus_weight_times_the_sum_of_aux_losses(device, weight):
    model = moe_gpt(aux_loss_weight=weight).to(device).train()
    x, y = ids(3, 16, device=device), ids(3, 16, seed=1, device=device)
    logits, loss = model(x, y)
    lm = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    aux = [reference_aux(block.mlp) for block in model.blocks]
    assert all(1.0 - 1e-5 <= a.item() <= 4.0 + 1e-5 for a in aux)  # 1 = balanced, n_experts = collapsed
    expected = lm.double() + weight * torch.stack(aux).sum()
    torch.testing.assert_close(loss.double(), expected, atol=1e-5, rtol=1e-5)
    parts = model.last_loss_parts
    torch.testing.assert_close(parts["lm"], lm.detach())
    torch.testing.assert_close(parts["aux"].double(), torch.stack(aux).sum(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(parts["total"], loss.detach())


def test_aux_loss_weight_zero_removes_the_aux_term(device):
    weighted = moe_gpt(aux_loss_weight=0.01).to(device)
    plain = moe_gpt(aux_loss_weight=0.0).to(device)
    plain.load_state_dict(weighted.state_dict())  # the same weights; only the loss differs
    x, y = ids(3, 16, device=device), ids(3, 16, seed=1, device=device)
    logits, loss = plain(x, y)
    assert torch.equal(loss, F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)))
    assert plain.aux_loss is not None and plain.aux_loss.item() >= 2 - 1e-5  # still measured (and logged)
    _, loss_weighted = weighted(x, y)
    torch.testing.assert_close(loss_weighted - loss, 0.01 * weighted.aux_loss, atol=1e-6, rtol=1e-4)
    # the gradients differ only by the aux term's: weight 0 leaves the router to the LM loss alone
    plain.zero_grad()
    loss.backward()
    weighted.zero_grad()
    loss_weighted.backward()
    for p_block, w_block in zip(plain.blocks, weighted.blocks):
        assert not torch.allclose(p_block.mlp.router.weight.grad, w_block.mlp.router.weight.grad)
        torch.testing.assert_close(p_block.attn.q_proj.weight.grad, w_block.attn.q_proj.weight.grad)


# --- gradients --------------------------------------------------------------------------------------


@pytest.mark.parametrize("aux_loss_weight", [0.0, 0.01])
def test_gradients_reach_every_layers_router(device, aux_loss_weight):
    model = moe_gpt(aux_loss_weight=aux_loss_weight).to(device).train()
    _, loss = model(ids(4, 16, device=device), ids(4, 16, seed=1, device=device))
    loss.backward()
    for i, block in enumerate(model.blocks):
        grad = block.mlp.router.weight.grad
        assert grad is not None and torch.isfinite(grad).all(), f"layer {i}"
        assert grad.abs().max().item() > 0, f"layer {i}'s router got no gradient"
        used = block.mlp.last_routing.tokens_per_expert > 0
        for expert, was_used in zip(block.mlp.experts, used.tolist()):
            got = expert.fc.weight.grad is not None and expert.fc.weight.grad.abs().max().item() > 0
            assert got == was_used  # sparse activation: an expert no token chose learns nothing this step


def test_a_top1_router_learns_only_from_the_aux_loss(device):
    """With top_k=1 the renormalised gate p / p is always 1: the LM loss gives the router no gradient
    (up to rounding), so without the aux loss a top-1 router never changes."""
    x, y = ids(4, 16, device=device), ids(4, 16, seed=1, device=device)
    grads = {}
    for weight in (0.0, 0.01):
        model = moe_gpt(top_k=1, aux_loss_weight=weight).to(device).train()  # the same seed, same weights
        _, loss = model(x, y)
        loss.backward()
        grads[weight] = [block.mlp.router.weight.grad.abs().max().item() for block in model.blocks]
    for without, with_aux in zip(grads[0.0], grads[0.01]):
        assert with_aux > 1e-5
        assert without < 1e-3 * with_aux


# --- capacity ---------------------------------------------------------------------------------------


def test_capacity_drops_assignments_but_the_gpt_stays_causal(device):
    model = moe_gpt(capacity_factor=1.0).to(device).eval()
    with torch.no_grad():  # sharpen the routers so that some experts overflow
        for block in model.blocks:
            block.mlp.router.weight.mul_(100)
    x = ids(2, 16, device=device)
    x_changed = x.clone()
    x_changed[:, 9:] = ids(2, 7, seed=5, device=device)  # change every token after position 8
    with torch.no_grad():
        logits, _ = model(x)
        dropped = [block.mlp.dropped_fraction for block in model.blocks]
        capacity = model.blocks[0].mlp.last_routing.capacity
        processed = [block.mlp.last_routing.processed_per_expert for block in model.blocks]
        logits_changed, _ = model(x_changed)
    assert capacity == 16  # ceil(1.0 * 32 tokens * top_k 2 / 4 experts)
    assert max(dropped) > 0
    assert all(int(p.max()) <= capacity for p in processed)
    # served in time order: a later token can never push an earlier one out of an expert
    torch.testing.assert_close(logits[:, :9], logits_changed[:, :9], atol=1e-6, rtol=0)
    assert not torch.allclose(logits[:, 9:], logits_changed[:, 9:])


# --- parameters at equal active compute ---------------------------------------------------------------


def _dense(bias=True) -> GPT:
    return moe_gpt(n_experts=0, bias=bias)


@pytest.mark.parametrize("bias", [True, False])
def test_switch_style_moe_has_n_experts_times_the_mlp_and_the_same_active_compute(bias):
    """n_experts experts as wide as the dense MLP, top_k=1 (Switch Transformer): same compute per token."""
    dense, moe = _dense(bias), moe_gpt(n_experts=8, top_k=1, bias=bias)
    counts = moe_parameter_counts(C, 8, top_k=1, bias=bias)
    dense_mlp = dense.parameter_counts()["mlp"] // L
    assert counts["per_expert"] == dense_mlp == 2 * C * 4 * C + (5 * C if bias else 0)
    assert moe.parameter_counts()["mlp"] == L * counts["total"] == L * (C * 8 + 8 * dense_mlp)
    for part in ("embeddings", "position", "attention", "norms", "head"):
        assert moe.parameter_counts()[part] == dense.parameter_counts()[part]
    # per token: the router and one expert, i.e. the dense model plus a d_model x n_experts router
    active = moe.num_parameters() - L * (counts["total"] - counts["active_per_token"])
    assert active == dense.num_parameters() + L * counts["router"]
    assert counts["flops_per_token"] == 2 * (dense_mlp + C * 8)


@pytest.mark.parametrize("bias", [True, False])
def test_half_width_top2_moe_has_twice_the_mlp_and_the_same_active_compute(bias):
    """4 experts of width 2C, top_k=2: a token runs 2 x 2C = 4C hidden units, as the dense MLP does."""
    dense = _dense(bias)
    moe = with_moe_mlps(moe_gpt(n_experts=4, top_k=2, bias=bias), n_experts=4, top_k=2, d_hidden=2 * C)
    counts = moe_parameter_counts(C, 4, top_k=2, d_hidden=2 * C, bias=bias)
    dense_mlp = dense.parameter_counts()["mlp"] // L
    assert moe.parameter_counts()["mlp"] == L * counts["total"]
    # total: twice the dense MLP's weights; active: the same weights (two experts each carry an output bias)
    assert counts["total"] - counts["router"] == 2 * dense_mlp + (2 * C if bias else 0)
    assert counts["active_per_token"] - counts["router"] == dense_mlp + (C if bias else 0)
    x, y = ids(2, 16), ids(2, 16, seed=1)
    _, loss = moe(x, y)  # and it runs: a drop-in replacement for the MLP
    assert torch.isfinite(loss) and moe.aux_loss is not None


@pytest.mark.parametrize("n_experts, top_k, width", [(4, 2, 4), (8, 1, 4), (4, 2, 2)])
def test_estimate_flops_per_token_counts_the_active_parameters(n_experts, top_k, width):
    """6 x (what a token uses: the whole router, top_k experts, attention, ...) + attention's 12 L T C."""
    dense, moe = _dense(), moe_gpt(n_experts=n_experts, top_k=top_k)
    if width != 4:
        moe = with_moe_mlps(moe, n_experts, top_k, d_hidden=width * C)
    counts = moe_parameter_counts(C, n_experts, top_k=top_k, d_hidden=width * C)
    active = moe.num_parameters(non_embedding=True) - L * (counts["total"] - counts["active_per_token"])
    T = 16
    assert moe.estimate_flops_per_token(T) == 6 * active + 12 * L * T * C
    assert dense.estimate_flops_per_token(T) == 6 * dense.num_parameters(non_embedding=True) + 12 * L * T * C
    if width * top_k == 4:  # equal active compute: the same estimate up to the router and the extra biases
        extra = counts["router"] + (top_k - 1) * C
        assert moe.estimate_flops_per_token(T) - dense.estimate_flops_per_token(T) == 6 * L * extra
