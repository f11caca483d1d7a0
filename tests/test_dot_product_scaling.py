import math

import pytest
import torch
import torch.nn.functional as F

from gptlab.dot_product_scaling import (
    KeyValueLookup,
    attention_sharpness,
    dot_product_variance,
    lookup_batch,
    query_gradient_norm,
    saturation_curve,
    softmax_entropy,
    softmax_jacobian,
    softmax_jacobian_norm,
)
from gptlab.train import TrainConfig, Trainer

# --- the variance of q·k --------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 16, 256])
def test_dot_product_variance_is_d_unscaled_and_1_scaled(d):
    assert dot_product_variance(d) == pytest.approx(d, rel=0.1)
    assert dot_product_variance(d, scaled=True) == pytest.approx(1.0, rel=0.1)


def test_dot_product_variance_is_reproducible_and_seeded():
    assert dot_product_variance(64, seed=3) == dot_product_variance(64, seed=3)
    assert dot_product_variance(64, seed=3) != dot_product_variance(64, seed=4)


# --- entropy and the softmax Jacobian -------------------------------------------------------------


def test_softmax_entropy_matches_torch_distributions_and_its_extremes():
    torch.manual_seed(0)
    p = F.softmax(torch.randn(5, 7) * 3, dim=-1)
    expected = torch.distributions.Categorical(probs=p).entropy()
    torch.testing.assert_close(softmax_entropy(p), expected)
    assert softmax_entropy(torch.full((8,), 1 / 8)).item() == pytest.approx(math.log(8))
    assert softmax_entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0  # 0·log 0 counts as 0, not NaN


def test_softmax_jacobian_matches_autograd():
    torch.manual_seed(0)
    s = torch.randn(6, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(lambda x: F.softmax(x, dim=-1), s)  # (T, T)
    torch.testing.assert_close(softmax_jacobian(F.softmax(s, dim=-1)), expected)
    # batched: one Jacobian per row
    s = torch.randn(3, 4, dtype=torch.float64)
    jac = softmax_jacobian(F.softmax(s, dim=-1))
    assert jac.shape == (3, 4, 4)
    torch.testing.assert_close(jac[1], torch.autograd.functional.jacobian(lambda x: F.softmax(x, -1), s[1]))


def test_softmax_jacobian_norm_is_largest_for_uniform_and_zero_for_one_hot():
    T = 8
    p = torch.full((T,), 1 / T, dtype=torch.float64)
    assert softmax_jacobian_norm(p).item() == pytest.approx(math.sqrt(T - 1) / T)
    assert softmax_jacobian_norm(torch.tensor([0.0, 0.0, 1.0, 0.0])).item() == 0.0
    # closed form ||J||² = Σp² − 2Σp³ + (Σp²)²
    q = F.softmax(torch.randn(10, dtype=torch.float64), dim=-1)
    s2, s3 = (q**2).sum(), (q**3).sum()
    assert softmax_jacobian_norm(q).item() == pytest.approx(math.sqrt(s2 - 2 * s3 + s2**2))


def test_query_gradient_norm_matches_autograd():
    torch.manual_seed(0)
    d, T, scale = 16, 5, 0.25
    q, k = torch.randn(d, dtype=torch.float64), torch.randn(T, d, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda x: F.softmax(k @ x * scale, dim=-1), q)  # (T, d)
    p = F.softmax(k @ q * scale, dim=-1)
    assert query_gradient_norm(p, k, scale).item() == pytest.approx(jac.norm().item())


def test_softmax_helpers_reject_non_probability_input():
    with pytest.raises(ValueError, match="weights"):
        softmax_entropy([0.5, 0.5])
    with pytest.raises(ValueError, match="weights"):
        softmax_jacobian(torch.tensor([1, 0]))


# --- saturation ----------------------------------------------------------------------------------


def test_attention_sharpness_fields_agree_with_a_direct_computation():
    torch.manual_seed(0)
    q, k = torch.randn(32), torch.randn(6, 32)
    sharp = attention_sharpness(q, k, scaled=True)
    torch.testing.assert_close(sharp.scores, k @ q / math.sqrt(32))
    torch.testing.assert_close(sharp.weights, F.softmax(k @ q / math.sqrt(32), dim=-1))
    assert sharp.max_weight.item() == pytest.approx(sharp.weights.max().item())
    unscaled = attention_sharpness(q, k, scaled=False)
    torch.testing.assert_close(unscaled.scores, k @ q)
    with pytest.raises(ValueError, match="same last dimension"):
        attention_sharpness(torch.randn(4), torch.randn(3, 5))


def test_unscaled_softmax_saturates_as_d_grows_and_scaled_does_not():
    dims = [2, 32, 512]
    unscaled = saturation_curve(dims, T=8, scaled=False, n_samples=200)
    scaled = saturation_curve(dims, T=8, scaled=True, n_samples=200)
    assert unscaled["d"].tolist() == dims
    # unscaled: entropy and gradient collapse with d
    assert unscaled["entropy"][0] > 1.0 > 0.1 > unscaled["entropy"][-1]
    assert unscaled["max_weight"][-1] > 0.99
    assert unscaled["jacobian_norm"][-1] < 1e-2 * scaled["jacobian_norm"][-1]
    # scaled: about the same at every d
    assert scaled["entropy"].min() > 0.8 * scaled["entropy"].max()
    assert scaled["entropy"][-1] > 10 * unscaled["entropy"][-1]


def test_saturation_curve_rejects_bad_dims():
    with pytest.raises(ValueError, match="dims"):
        saturation_curve([])
    with pytest.raises(ValueError, match=r"dims\[1\]=0"):
        saturation_curve([4, 0])
    with pytest.raises(ValueError, match="T=0"):
        saturation_curve([4], T=0)


# --- the lookup task and model ------------------------------------------------------------------


def test_lookup_batch_asks_for_the_value_stored_under_the_query_key():
    g = torch.Generator().manual_seed(0)
    x, y = lookup_batch(50, n_pairs=6, n_keys=10, n_values=7, generator=g)
    assert x.shape == (50, 13) and y.shape == (50,)
    keys, values, query = x[:, :6], x[:, 6:12], x[:, 12]
    for b in range(50):
        assert len(set(keys[b].tolist())) == 6  # distinct keys
        (j,) = (keys[b] == query[b]).nonzero()[0].tolist()
        assert values[b, j] == y[b]
    assert int(values.max()) < 7 and int(keys.max()) < 10
    with pytest.raises(ValueError, match="n_keys=4 must be at least n_pairs=6"):
        lookup_batch(2, n_pairs=6, n_keys=4)


def test_key_value_lookup_unscaled_scores_start_with_std_sqrt_d():
    x, y = lookup_batch(256, n_pairs=8, n_keys=16, generator=torch.Generator().manual_seed(0))
    P, entropy = 8, {}
    for scaled in (True, False):
        torch.manual_seed(0)
        model = KeyValueLookup(n_keys=16, d_head=256, scaled=scaled)
        logits, loss = model(x, y)
        assert logits.shape == (256, 16) and loss.dim() == 0
        assert model.attn.last_weights.shape == (256, 1, 8)
        entropy[scaled] = softmax_entropy(model.attn.last_weights).mean().item()
    # q and k have unit-variance entries, so the raw scores q·k have std about sqrt(d_head) = 16
    memory = (model.key_emb(x[:, :P]) + model.value_emb(x[:, P:2 * P])) / math.sqrt(2)
    q = model.attn.query(model.key_emb(x[:, 2 * P:]))  # (B, 1, hs)
    k = model.attn.key(memory)  # (B, P, hs)
    assert q.var().item() == pytest.approx(1.0, rel=0.25) and k.var().item() == pytest.approx(1.0, rel=0.25)
    assert (q @ k.transpose(-2, -1)).std().item() == pytest.approx(16, rel=0.25)
    assert entropy[False] < 0.3 * entropy[True]  # unscaled starts (nearly) saturated


def test_key_value_lookup_learns_the_task_when_scaled():
    torch.manual_seed(0)
    model = KeyValueLookup(n_keys=8, n_values=8, d_model=16, d_head=32, scaled=True)
    g = torch.Generator().manual_seed(0)
    config = TrainConfig(max_steps=150, batch_size=64, block_size=1, learning_rate=1e-2, weight_decay=0.0,
                         lr_decay="constant", eval_interval=10**6, progress=False, device="cpu")
    trainer = Trainer(model, config, get_batch=lambda split: lookup_batch(64, 4, 8, 8, generator=g))
    trainer.fit()
    x, y = lookup_batch(500, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        accuracy = (model(x)[0].argmax(-1) == y).float().mean().item()
    assert accuracy > 0.9  # uniform attention would get about 1 in 4


def test_key_value_lookup_rejects_a_bad_input_shape():
    model = KeyValueLookup(d_head=8)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2·n_pairs \+ 1\)"):
        model(torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="d_head=0"):
        KeyValueLookup(d_head=0)


def test_jacobian_norm_rises_then_falls_with_sharpness():
    # lesson 05 section 4: a little sharpening raises |J|, saturation brings it to 0
    # (independent reference: autograd's Jacobian of the softmax)
    s = torch.tensor([0.3, -1.2, 1.1, 0.4, -0.5, 0.9, -0.1, 1.3])
    sizes = [torch.linalg.norm(torch.autograd.functional.jacobian(lambda x: torch.softmax(x, -1), s * c)).item()
             for c in (0, 1, 4, 22.6)]  # the Jacobian with respect to the sharpened scores s * c
    assert sizes[0] < sizes[1] < sizes[2] > sizes[3]
    assert sizes[3] < 0.1 * sizes[2]
    # and two equal weights beat uniform over 4 keys, although sharper
    assert softmax_jacobian_norm(torch.tensor([0.5, 0.5, 0, 0])) > softmax_jacobian_norm(torch.full((4,), 0.25))
