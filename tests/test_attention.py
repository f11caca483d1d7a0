import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gptlab.attention import (
    AttentionPattern,
    KVCache,
    MultiHeadAttention,
    SelfAttention,
    attention_weights,
    average_attention,
    causal_mask,
    dot_product_attention,
    kv_cache_bytes,
    record_attention,
    scaled_dot_product_attention,
)
from gptlab.positional import RotaryEmbedding

ATOL = dict(atol=1e-5, rtol=1e-5)


def _random_keep_mask(*shape, device):
    """A random bool mask that leaves every query at least its diagonal key."""
    keep = torch.rand(*shape, device=device) > 0.5
    return keep | torch.eye(shape[-2], shape[-1], dtype=torch.bool, device=device)


# --- attention without parameters (lesson 03) ---------------------------------------------------


def test_average_attention_is_the_plain_mean(device):
    x = torch.randn(2, 5, 3, device=device)
    out, weights = average_attention(x)
    assert weights.shape == (2, 5, 5)
    torch.testing.assert_close(weights, torch.full((2, 5, 5), 0.2, device=device))
    torch.testing.assert_close(out, x.mean(dim=1, keepdim=True).expand(2, 5, 3))


def test_causal_average_is_the_running_mean(device):
    x = torch.randn(2, 5, 3, device=device)
    out, weights = average_attention(x, causal=True)
    counts = torch.arange(1, 6, device=device).view(1, 5, 1)
    torch.testing.assert_close(out, x.cumsum(dim=1) / counts)
    assert weights[0, 1].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]


def test_dot_product_attention_matches_pytorch_with_unit_scale(device):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4, device=device)
    for causal in (False, True):
        out, weights = dot_product_attention(x, causal=causal)
        expected = F.scaled_dot_product_attention(x, x, x, is_causal=causal, scale=1.0)
        torch.testing.assert_close(out, expected, **ATOL)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6, device=device), **ATOL)


def test_dot_product_attention_weights_follow_similarity():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    _, weights = dot_product_attention(x)
    assert weights[0].argmax() in (0, 1) and weights[0, 2] < weights[0, 1]
    assert weights[2].argmax() == 2


def test_dot_product_attention_is_permutation_equivariant(device):
    torch.manual_seed(0)
    x = torch.randn(7, 4, device=device)
    perm = torch.randperm(7, device=device)
    out, _ = dot_product_attention(x)
    out_of_shuffled, _ = dot_product_attention(x[perm])
    torch.testing.assert_close(out_of_shuffled, out[perm], **ATOL)


# --- masks and scaled dot-product attention -----------------------------------------------------


def test_causal_mask_is_the_lower_triangle_and_aligns_queries_to_the_end():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    # 2 new queries after 3 cached keys sit at positions 3 and 4
    assert causal_mask(2, T_k=5).tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert causal_mask(4).dtype == torch.bool
    with pytest.raises(ValueError, match="T_k=2"):
        causal_mask(3, T_k=2)


@pytest.mark.parametrize("case", ["plain", "bool_mask", "causal", "causal_and_mask", "scale"])
def test_sdpa_matches_pytorch(case, device):
    torch.manual_seed(0)
    B, nh, T, d, d_v = 2, 3, 7, 8, 5
    q, k = torch.randn(B, nh, T, d, device=device), torch.randn(B, nh, T, d, device=device)
    v = torch.randn(B, nh, T, d_v, device=device)
    mask = _random_keep_mask(B, 1, T, T, device=device) if "mask" in case else None
    causal = case.startswith("causal")
    scale = 0.3 if case == "scale" else None
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, scale=scale)
    if causal and mask is not None:  # PyTorch takes one or the other: combine them for the reference
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask & causal_mask(T, device=device))
    else:
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    assert out.shape == (B, nh, T, d_v) and weights.shape == (B, nh, T, T)
    torch.testing.assert_close(out, expected, **ATOL)


def test_sdpa_causal_with_fewer_queries_attends_like_the_last_rows(device):
    """T_q < T_k (decoding with a cache): the queries are the last positions, unlike PyTorch's is_causal."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 6, 4, device=device) for _ in range(3))
    full, _ = scaled_dot_product_attention(q, k, v, causal=True)
    last_two, weights = scaled_dot_product_attention(q[:, 4:], k, v, causal=True)
    torch.testing.assert_close(last_two, full[:, 4:], **ATOL)
    reference = F.scaled_dot_product_attention(q[:, 4:], k, v, attn_mask=torch.ones(2, 6, dtype=torch.bool,
                                                                                      device=device).tril(4))
    torch.testing.assert_close(last_two, reference, **ATOL)
    assert (weights[:, 0, 5] == 0).all()  # position 4 does not see position 5


def test_weights_sum_to_one_and_masked_weights_are_exactly_zero(device):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 9, 4, device=device) for _ in range(3))
    mask = _random_keep_mask(2, 9, 9, device=device)
    _, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 9, device=device), **ATOL)
    blocked = ~(mask & causal_mask(9, device=device))
    assert blocked.any()
    assert (weights[blocked] == 0).all()
    assert (weights[~blocked] > 0).all()


def test_default_scale_is_one_over_sqrt_d():
    torch.manual_seed(0)
    q, k = torch.randn(5, 16), torch.randn(5, 16)
    torch.testing.assert_close(attention_weights(q, k), torch.softmax(q @ k.T / 4.0, dim=-1), **ATOL)
    torch.testing.assert_close(attention_weights(q, k, scale=1.0), torch.softmax(q @ k.T, dim=-1), **ATOL)


def test_a_fully_masked_row_raises_instead_of_giving_nan():
    q = k = v = torch.randn(3, 4)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match="no key to attend to"):
        scaled_dot_product_attention(q, k, v, mask=mask)
    # the row may also be emptied by the mask and causality together
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[0, 0] = False
    with pytest.raises(ValueError, match="no key to attend to"):
        scaled_dot_product_attention(q, k, v, mask=mask, causal=True)


def test_sdpa_bad_shapes_name_the_problem():
    q, k, v = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    with pytest.raises(ValueError, match="q and k must have the same last dimension"):
        scaled_dot_product_attention(q, torch.randn(4, 6), v)
    with pytest.raises(ValueError, match="k and v must hold the same number of positions T_k"):
        scaled_dot_product_attention(q, k, torch.randn(5, 8))
    with pytest.raises(ValueError, match="leading"):
        scaled_dot_product_attention(torch.randn(2, 4, 8), torch.randn(3, 4, 8), torch.randn(3, 4, 8))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 4\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"causal=True.*T_q=4 and T_k=2"):
        scaled_dot_product_attention(q, k[:2], v[:2], causal=True)
    with pytest.raises(ValueError, match="scale"):
        scaled_dot_product_attention(q, k, v, scale=0.0)
    with pytest.raises(ValueError, match=r"q must be a tensor of shape \(\.\.\., T, d\)"):
        scaled_dot_product_attention(torch.randn(8), k, v)


# --- SelfAttention ------------------------------------------------------------------------------


def test_self_attention_is_softmax_of_projected_scores(device):
    torch.manual_seed(0)
    head = SelfAttention(d_model=6, d_head=4).to(device)
    x = torch.randn(2, 5, 6, device=device)
    q, k, v = x @ head.query.weight.T, x @ head.key.weight.T, x @ head.value.weight.T
    weights = torch.softmax(q @ k.transpose(1, 2) / 2.0, dim=-1)  # sqrt(4) = 2
    torch.testing.assert_close(head(x), weights @ v, **ATOL)
    torch.testing.assert_close(head.last_weights, weights, **ATOL)
    assert not head.last_weights.requires_grad
    assert head.query.bias is None  # bias=False by default: a head is three matrices


def test_self_attention_unscaled_and_causal(device):
    torch.manual_seed(0)
    head = SelfAttention(d_model=4, scaled=False).to(device)
    x = torch.randn(5, 4, device=device)
    q, k = head.query(x), head.key(x)
    head(x, causal=True)
    expected = torch.softmax((q @ k.T).masked_fill(~causal_mask(5, device=device), float("-inf")), dim=-1)
    torch.testing.assert_close(head.last_weights, expected, **ATOL)


def test_self_attention_can_take_keys_and_values_from_another_sequence():
    head = SelfAttention(d_model=4, d_head=3)
    out = head(torch.randn(2, 5, 4), context=torch.randn(2, 9, 4))
    assert out.shape == (2, 5, 3) and head.last_weights.shape == (2, 5, 9)
    with pytest.raises(ValueError, match="d_model=4"):
        head(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="context has last dimension 5"):
        head(torch.randn(2, 5, 4), context=torch.randn(2, 5, 5))


# --- MultiHeadAttention -------------------------------------------------------------------------


def _torch_mha_copy(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    """torch.nn.MultiheadAttention holding the same weights (it stacks W_q, W_k, W_v in in_proj)."""
    ref = nn.MultiheadAttention(mha.d_model, mha.n_head, bias=True, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref.to(mha.q_proj.weight.device)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_matches_torch_multihead_attention(causal, device):
    torch.manual_seed(0)
    B, T, d, nh = 2, 6, 16, 4
    mha = MultiHeadAttention(d, nh, causal=causal).to(device).eval()
    ref = _torch_mha_copy(mha).eval()
    x = torch.randn(B, T, d, device=device)
    blocked = ~causal_mask(T, device=device) if causal else None  # nn.MultiheadAttention: True = blocked
    expected, expected_weights = ref(x, x, x, attn_mask=blocked, need_weights=True, average_attn_weights=True)
    torch.testing.assert_close(mha(x), expected, **ATOL)  # fused path
    with record_attention(mha) as rec:
        out = mha(x)  # explicit path
    torch.testing.assert_close(out, expected, **ATOL)
    torch.testing.assert_close(rec.weights[0].mean(dim=1), expected_weights.cpu(), **ATOL)


@pytest.mark.parametrize("n_kv_head", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
@pytest.mark.parametrize("causal", [True, False])
def test_explicit_path_equals_fused_path(n_kv_head, causal, device):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, n_kv_head=n_kv_head, causal=causal, rope=RotaryEmbedding(4)).to(device)
    x = torch.randn(2, 7, 16, device=device)
    padding = torch.ones(2, 1, 1, 7, dtype=torch.bool, device=device)
    padding[1, ..., 5:] = False  # second sequence: last two positions are padding
    for mask in (None, padding):
        mha.fused = True
        fused = mha(x, mask=mask)
        mha.fused = False
        explicit = mha(x, mask=mask)
        torch.testing.assert_close(explicit, fused, **ATOL)


def test_gqa_query_heads_share_key_value_heads_in_groups():
    """With n_kv_head=2 and n_head=4, query heads 0,1 read K/V head 0 and heads 2,3 read K/V head 1."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 4, n_kv_head=2, causal=False)
    with torch.no_grad():  # give every query head the same query so only the K/V heads differ
        mha.q_proj.weight.copy_(mha.q_proj.weight[:2].repeat(4, 1))
        mha.q_proj.bias.zero_()
    with record_attention(mha) as rec:
        mha(torch.randn(1, 5, 8))
    w = rec.weights[0][0]  # (nh, T, T)
    torch.testing.assert_close(w[0], w[1])
    torch.testing.assert_close(w[2], w[3])
    assert not torch.allclose(w[0], w[2])


@pytest.mark.parametrize("fused", [True, False])
def test_mha_is_causal_future_tokens_do_not_change_past_outputs(fused, device):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, causal=True).to(device)
    mha.fused = fused
    x = torch.randn(2, 8, 16, device=device)
    x_changed = x.clone()
    x_changed[:, 5:] = torch.randn(2, 3, 16, device=device)
    out, out_changed = mha(x), mha(x_changed)
    assert torch.equal(out[:, :5], out_changed[:, :5])  # bit-identical, as lesson 09 promises
    assert not torch.allclose(out[:, 5:], out_changed[:, 5:])


def test_mha_without_positions_is_permutation_equivariant(device):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, causal=False).to(device)
    x = torch.randn(2, 6, 16, device=device)
    perm = torch.randperm(6, device=device)
    torch.testing.assert_close(mha(x[:, perm]), mha(x)[:, perm], **ATOL)


@pytest.mark.parametrize("n_head", [1, 2, 4, 8])
def test_mha_parameter_count_does_not_depend_on_n_head(n_head):
    d = 32
    mha = MultiHeadAttention(d, n_head)
    assert sum(p.numel() for p in mha.parameters()) == 4 * d * d + 4 * d  # W_q, W_k, W_v, W_o and biases


@pytest.mark.parametrize("n_kv_head", [8, 4, 2, 1])
def test_gqa_and_mqa_shrink_only_the_key_value_projections(n_kv_head):
    d, nh = 64, 8
    hs = d // nh
    mha = MultiHeadAttention(d, nh, n_kv_head=n_kv_head)
    kv_params = sum(p.numel() for m in (mha.k_proj, mha.v_proj) for p in m.parameters())
    assert kv_params == 2 * (d * n_kv_head * hs + n_kv_head * hs)
    assert sum(p.numel() for p in mha.parameters()) == 2 * (d * d + d) + kv_params


# --- KV cache -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_kv_head", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
@pytest.mark.parametrize("rope", [False, True], ids=["no-rope", "rope"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_kv_cached_decoding_equals_full_recomputation(n_kv_head, rope, fused, device):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, n_kv_head=n_kv_head, rope=RotaryEmbedding(4) if rope else None).to(device)
    mha.fused = fused
    x = torch.randn(2, 10, 16, device=device)
    full = mha(x)
    cache = KVCache()
    steps = [mha(x[:, :4], cache=cache)]  # the prompt in one go
    steps += [mha(x[:, t:t + 1], cache=cache) for t in range(4, 7)]  # then one token at a time
    steps.append(mha(x[:, 7:], cache=cache))  # then a chunk of three
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **ATOL)
    assert cache.length == 10
    assert cache.k.shape == cache.v.shape == (2, n_kv_head, 10, 4)


def test_cache_stores_keys_after_rope():
    torch.manual_seed(0)
    rope = RotaryEmbedding(4)
    mha = MultiHeadAttention(8, 2, rope=rope)
    x = torch.randn(1, 5, 8)
    cache = KVCache()
    mha(x, cache=cache)
    raw_k = mha.k_proj(x).view(1, 5, 2, 4).transpose(1, 2)
    torch.testing.assert_close(cache.k, rope(raw_k))


@pytest.mark.parametrize("n_kv_head", [8, 2, 1])
def test_kv_cache_bytes_predicts_the_cache_size(n_kv_head):
    B, T, d, nh = 3, 11, 32, 8
    mha = MultiHeadAttention(d, nh, n_kv_head=n_kv_head)
    cache = KVCache()
    assert cache.nbytes() == 0 and cache.length == 0
    with torch.no_grad():
        mha(torch.randn(B, T, d), cache=cache)
    assert cache.nbytes() == kv_cache_bytes(1, n_kv_head, d // nh, T, B=B) == 2 * B * n_kv_head * T * (d // nh) * 4
    assert kv_cache_bytes(12, 12, 64, 1024, dtype=torch.float16) == 2 * 12 * 12 * 64 * 1024 * 2
    cache.reset()
    assert cache.nbytes() == 0 and cache.length == 0


def test_a_cache_from_another_batch_is_refused():
    mha = MultiHeadAttention(8, 2)
    cache = KVCache()
    mha(torch.randn(2, 3, 8), cache=cache)
    with pytest.raises(ValueError, match="one KVCache per layer"):
        mha(torch.randn(3, 1, 8), cache=cache)
    with pytest.raises(ValueError, match=r"cache must be a KVCache \(one per layer\), got list"):
        mha(torch.randn(2, 1, 8), cache=[cache])


# --- bad input ----------------------------------------------------------------------------------


def test_mha_errors_name_the_parameter_and_what_is_allowed():
    with pytest.raises(ValueError, match=r"d_model=100 is not divisible by n_head=3.*1, 2, 4, 5, 10"):
        MultiHeadAttention(100, 3)
    with pytest.raises(ValueError, match=r"n_head=6 is not divisible by n_kv_head=4.*1, 2, 3, 6"):
        MultiHeadAttention(24, 6, n_kv_head=4)
    with pytest.raises(ValueError, match=r"rope was built for head_dim=8.*head_dim=4"):
        MultiHeadAttention(16, 4, rope=RotaryEmbedding(8))
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(16, 4, dropout=1.0)
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match="d_model=16"):
        mha(torch.randn(2, 5, 12))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model\)"):
        mha(torch.randn(5, 16))
    for fused in (True, False):
        mha.fused = fused
        with pytest.raises(ValueError, match=r"mask has shape \(4, 4\)"):
            mha(torch.randn(2, 5, 16), mask=torch.ones(4, 4, dtype=torch.bool))


# --- record_attention ---------------------------------------------------------------------------


def test_record_attention_collects_one_pattern_per_layer_and_restores_fused():
    torch.manual_seed(0)
    layers = nn.Sequential(MultiHeadAttention(16, 4), MultiHeadAttention(16, 2, n_kv_head=1),
                           MultiHeadAttention(16, 8))
    layers[1].fused = False  # already explicit: must stay so
    x = torch.randn(3, 5, 16)
    expected = layers(x)
    with record_attention(layers) as rec:
        assert not any(m.fused for m in layers)
        out = layers(x)
    torch.testing.assert_close(out, expected, **ATOL)
    assert [w.shape for w in rec.weights] == [(3, 4, 5, 5), (3, 2, 5, 5), (3, 8, 5, 5)]
    assert rec.names == ["0", "1", "2"]
    assert all(w.device.type == "cpu" and not w.requires_grad for w in rec.weights)
    assert [m.fused for m in layers] == [True, False, True]
    layers(x)  # hooks are gone: nothing more is recorded
    assert len(rec.weights) == 3


def test_record_attention_restores_even_after_an_error_and_records_self_attention():
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(RuntimeError, match="boom"), record_attention(mha):
        raise RuntimeError("boom")
    assert mha.fused is True
    assert not mha.pattern._forward_hooks
    head = SelfAttention(8, 4)
    with record_attention(head) as rec:
        head(torch.randn(2, 5, 8))
        head(torch.randn(5, 8))
    assert [w.shape for w in rec.weights] == [(2, 1, 5, 5), (1, 1, 5, 5)]
    rec.clear()
    assert rec.weights == [] and rec.names == []


def test_a_hook_on_the_pattern_can_edit_the_weights():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, causal=False)
    mha.fused = False
    assert isinstance(mha.pattern, AttentionPattern) and isinstance(mha.pattern, nn.Identity)
    x = torch.randn(1, 4, 8)
    uniform = torch.full((1, 2, 4, 4), 0.25)
    handle = mha.pattern.register_forward_hook(lambda module, inputs, output: uniform)
    out = mha(x)
    handle.remove()
    v = mha.v_proj(x).mean(dim=1, keepdim=True)  # uniform weights: every output is the mean value
    torch.testing.assert_close(out, mha.out_proj(v).expand(1, 4, 8), **ATOL)


# --- lesson 06: split_heads, decode_step_attention, decode_step_bytes ------------------------

def test_split_heads_matches_column_slices():
    from gptlab.attention import split_heads
    x = torch.randn(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 4 * h:4 * (h + 1)])
    with pytest.raises(ValueError, match="n_head"):
        split_heads(x, 5)


@pytest.mark.parametrize("n_kv_head", [8, 2, 1])
def test_decode_step_attention_equals_repeated_heads(n_kv_head):
    from gptlab.attention import decode_step_attention
    torch.manual_seed(0)
    B, nh, T, hs = 2, 8, 7, 4
    q = torch.randn(B, nh, 1, hs)
    k, v = torch.randn(B, n_kv_head, T, hs), torch.randn(B, n_kv_head, T, hs)
    group = nh // n_kv_head
    k_rep, v_rep = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    ref = torch.softmax(q @ k_rep.transpose(-2, -1) / hs**0.5, dim=-1) @ v_rep   # independent: copy each K/V head
    assert torch.allclose(decode_step_attention(q, k, v), ref, atol=1e-6)
    with pytest.raises(ValueError):
        decode_step_attention(q, k, v[:, :, :-1])   # keys and values of different lengths


def test_decode_step_bytes_counts_weights_and_cache():
    from gptlab.attention import decode_step_bytes
    d = decode_step_bytes(n_layer=2, d_model=16, n_head=4, n_kv_head=1, T=10, B=3)
    # per layer: q and out 16x16, k and v 16x4, MLP 16x64 twice -> 512 + 128 + 2048 = 2688 numbers
    assert d["weights"] == 2 * 2688 * 4
    assert d["kv_cache"] == 2 * 2 * 3 * 1 * 10 * 4 * 4 == kv_cache_bytes(2, 1, 4, 10, B=3)
    with pytest.raises(ValueError, match="n_kv_head"):
        decode_step_bytes(n_layer=1, d_model=16, n_head=4, n_kv_head=3, T=1)
