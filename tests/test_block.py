import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gptlab.attention import KVCache, MultiHeadAttention, record_attention
from gptlab.block import MLP, Block
from gptlab.positional import RotaryEmbedding

ATOL = dict(atol=1e-5, rtol=1e-5)


class Zero(nn.Module):
    """A sublayer that contributes nothing, to see what the residual wiring does on its own."""

    def forward(self, x, **kwargs):
        return torch.zeros_like(x)


# --- MLP ----------------------------------------------------------------------------------------


def test_mlp_is_linear_gelu_linear_with_4x_hidden(device):
    torch.manual_seed(0)
    mlp = MLP(8).to(device)
    assert mlp.fc.out_features == 32 and mlp.proj.in_features == 32 and mlp.proj.out_features == 8
    x = torch.randn(2, 5, 8, device=device)
    expected = F.linear(F.gelu(F.linear(x, mlp.fc.weight, mlp.fc.bias)), mlp.proj.weight, mlp.proj.bias)
    torch.testing.assert_close(mlp(x), expected, **ATOL)
    assert MLP(8, d_hidden=10, bias=False).fc.out_features == 10
    assert MLP(8, bias=False).fc.bias is None


def test_mlp_can_use_gpt2s_tanh_gelu():
    torch.manual_seed(0)
    mlp = MLP(8, activation="gelu_tanh")
    x = torch.randn(2, 5, 8)
    h = mlp.fc(x)
    tanh_gelu = 0.5 * h * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (h + 0.044715 * h**3)))  # GPT-2's formula
    torch.testing.assert_close(mlp(x), mlp.proj(tanh_gelu), **ATOL)
    assert not torch.equal(mlp(x), mlp.proj(F.gelu(h)))  # close to the exact GELU, but not the same
    with pytest.raises(ValueError, match=r"activation='relu' is not supported.*'gelu', 'gelu_tanh'"):
        MLP(8, activation="relu")


def test_mlp_treats_each_token_alone():
    torch.manual_seed(0)
    mlp = MLP(8)
    x = torch.randn(1, 5, 8)
    torch.testing.assert_close(mlp(x)[:, 2], mlp(x[:, 2]), **ATOL)


# --- Block --------------------------------------------------------------------------------------


def test_block_keeps_the_shape_and_has_the_gpt2_parameter_count():
    d = 32
    block = Block(d, n_head=4)
    x = torch.randn(2, 7, d)
    assert block(x).shape == x.shape  # output length = input length
    # attention 4d^2 + 4d, MLP 8d^2 + 5d, two LayerNorms 4d  (nanoGPT's 12 d^2 per layer)
    assert sum(p.numel() for p in block.parameters()) == 12 * d * d + 13 * d
    assert [name for name, _ in block.named_children()] == ["ln_1", "attn", "ln_2", "mlp"]


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_block_computes_what_its_norm_says(norm, device):
    torch.manual_seed(0)
    block = Block(16, n_head=4, norm=norm).to(device)
    with torch.no_grad():  # non-default LayerNorm parameters, so the check can tell the two apart
        for ln in (block.ln_1, block.ln_2):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 6, 16, device=device)
    a, m, ln_1, ln_2 = block.attn, block.mlp, block.ln_1, block.ln_2
    if norm == "pre":
        h = x + a(ln_1(x))
        expected = h + m(ln_2(h))
    else:
        h = ln_1(x + a(x))
        expected = ln_2(h + m(h))
    torch.testing.assert_close(block(x), expected, **ATOL)


def test_pre_ln_block_is_the_identity_plus_its_sublayers():
    torch.manual_seed(0)
    block = Block(16, n_head=4, norm="pre")
    block.attn, block.mlp = Zero(), Zero()
    x = 5 * torch.randn(2, 6, 16) + 3
    assert torch.equal(block(x), x)  # the residual stream passes through untouched


def test_post_ln_block_normalizes_its_output():
    torch.manual_seed(0)
    block = Block(16, n_head=4, norm="post")
    x = 5 * torch.randn(2, 6, 16) + 3
    out = block(x)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(2, 6), atol=1e-3, rtol=0)
    # even with silent sublayers the stream is renormalized, so x does not pass through
    block.attn, block.mlp = Zero(), Zero()
    assert not torch.allclose(block(x), x, atol=0.1)
    # whereas a pre-LN block keeps the scale of its input
    pre = Block(16, n_head=4, norm="pre")
    assert pre(x).var(-1).mean() > 5


def test_pre_ln_sublayers_see_normalized_input():
    torch.manual_seed(0)
    block = Block(16, n_head=4, norm="pre")
    seen = {}
    block.attn.register_forward_hook(lambda mod, args, kwargs, out: seen.update(attn=args[0]), with_kwargs=True)
    block.mlp.register_forward_hook(lambda mod, args, out: seen.update(mlp=args[0]))
    block(5 * torch.randn(2, 6, 16) + 3)
    for name in ("attn", "mlp"):
        torch.testing.assert_close(seen[name].mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
        torch.testing.assert_close(seen[name].var(-1, unbiased=False), torch.ones(2, 6), atol=1e-3, rtol=0)


def test_block_is_causal(device):
    torch.manual_seed(0)
    block = Block(16, n_head=4).to(device)
    x = torch.randn(1, 8, 16, device=device)
    x_changed = x.clone()
    x_changed[:, 6:] = torch.randn(1, 2, 16, device=device)
    out, out_changed = block(x), block(x_changed)
    assert torch.equal(out[:, :6], out_changed[:, :6])
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


@pytest.mark.parametrize("n_kv_head", [4, 1], ids=["MHA", "MQA"])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_kv_cached_stack_of_blocks_equals_full_recomputation(n_kv_head, norm, device):
    torch.manual_seed(0)
    rope = RotaryEmbedding(4, max_len=16)
    blocks = nn.ModuleList(Block(16, 4, n_kv_head=n_kv_head, norm=norm, rope=rope) for _ in range(3)).to(device)
    x = torch.randn(2, 9, 16, device=device)

    def run(x, caches=None):
        for i, block in enumerate(blocks):
            x = block(x, cache=None if caches is None else caches[i])
        return x

    full = run(x)
    caches = [KVCache() for _ in blocks]
    steps = [run(x[:, :3], caches)] + [run(x[:, t:t + 1], caches) for t in range(3, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **ATOL)
    assert [c.length for c in caches] == [9, 9, 9]


def test_block_passes_its_settings_to_attention_and_accepts_a_replacement_mlp():
    torch.manual_seed(0)
    block = Block(16, n_head=4, n_kv_head=2, causal=False, bias=False)
    assert isinstance(block.attn, MultiHeadAttention)
    assert (block.attn.n_kv_head, block.attn.causal, block.ln_1.bias) == (2, False, None)
    expert = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
    block = Block(16, n_head=4, mlp=expert)
    assert block.mlp is expert
    x = torch.randn(1, 3, 16)
    h = x + block.attn(block.ln_1(x))
    torch.testing.assert_close(block(x), h + expert(block.ln_2(h)), **ATOL)


def test_record_attention_sees_every_block():
    blocks = nn.Sequential(*(Block(16, n_head=4) for _ in range(3)))
    with record_attention(blocks) as rec:
        blocks(torch.randn(2, 5, 16))
    assert rec.names == ["0.attn", "1.attn", "2.attn"]
    assert all(w.shape == (2, 4, 5, 5) for w in rec.weights)
    assert all(b.attn.fused for b in blocks)


def test_block_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"norm='middle' is not supported.*'pre', 'post'"):
        Block(16, 4, norm="middle")
    with pytest.raises(ValueError, match="either mlp.*or d_hidden"):
        Block(16, 4, d_hidden=32, mlp=nn.Identity())
    with pytest.raises(ValueError, match="n_head"):
        Block(16, 3)
    with pytest.raises(ValueError, match="d_model=16"):
        Block(16, 4)(torch.randn(1, 3, 8))


# --- lesson 07: the wiring picture ------------------------------------------------------------

def _box_y(ax, gid):
    texts = [t for t in ax.texts if t.get_gid() == gid]
    assert len(texts) == 1, gid
    return texts[0].get_position()[1]


def test_plot_block_wiring_puts_layernorm_before_or_after_the_sum():
    import pytest

    from gptlab.plotting import plot_block_wiring
    fig = plot_block_wiring()
    pre, post = fig.axes
    assert "pre-LN" in pre.get_title() and "post-LN" in post.get_title()
    # pre-LN: LayerNorm feeds the sublayer, below it; post-LN: LayerNorm follows the residual sum
    pre_order = [_box_y(pre, g) for g in ("ln_1", "attention", "plus_1", "ln_2", "MLP")]
    post_order = [_box_y(post, g) for g in ("attention", "plus_1", "ln_1", "MLP", "ln_2")]
    assert pre_order == sorted(pre_order) and post_order == sorted(post_order)
    assert _box_y(post, "plus_2") < _box_y(post, "ln_2")
    assert len(plot_block_wiring(["post"]).axes) == 1
    with pytest.raises(ValueError, match="norms"):
        plot_block_wiring(["middle"])


# --- RMSNorm and SwiGLU (lesson 15) -------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-6, 1e-5, 0.1])
def test_rmsnorm_equals_torch_rmsnorm(device, eps):
    from gptlab.block import RMSNorm

    torch.manual_seed(0)
    ours, theirs = RMSNorm(12, eps=eps).to(device), nn.RMSNorm(12, eps=eps).to(device)
    with torch.no_grad():
        w = torch.randn(12)
        ours.weight.copy_(w)
        theirs.weight.copy_(w)
    x = torch.randn(3, 5, 12, device=device) * 3 + 1
    torch.testing.assert_close(ours(x), theirs(x), **ATOL)
    assert sum(p.numel() for p in ours.parameters()) == 12  # a scale, no bias
    # unlike LayerNorm it does not re-centre: a constant vector keeps its sign and becomes ±1
    y = RMSNorm(4, eps=0.0)(torch.full((1, 4), -2.0))
    torch.testing.assert_close(y, torch.full((1, 4), -1.0))


def test_swiglu_is_down_of_silu_gate_times_up(device):
    from gptlab.block import SwiGLU

    torch.manual_seed(0)
    for bias in (False, True):
        f = SwiGLU(8, 20, bias=bias).to(device)
        x = torch.randn(2, 5, 8, device=device)
        g = x @ f.gate.weight.T + (f.gate.bias if bias else 0)
        u = x @ f.up.weight.T + (f.up.bias if bias else 0)
        h = g * torch.sigmoid(g) * u  # silu(g) = g * sigmoid(g), written out
        expected = h @ f.down.weight.T + (f.down.bias if bias else 0)
        torch.testing.assert_close(f(x), expected, **ATOL)
        n = 3 * 8 * 20 + (20 + 20 + 8 if bias else 0)
        assert sum(p.numel() for p in f.parameters()) == n


def test_block_with_rmsnorm_and_swiglu_and_qkv_bias():
    from gptlab.block import RMSNorm, SwiGLU

    b = Block(16, 4, n_kv_head=2, bias=False, norm_type="rmsnorm", norm_eps=1e-6, qkv_bias=True,
              mlp=SwiGLU(16, 40))
    assert isinstance(b.ln_1, RMSNorm) and isinstance(b.ln_2, RMSNorm)
    assert b.attn.v_proj.bias is not None and b.attn.out_proj.bias is None
    x = torch.randn(2, 5, 16)
    assert b(x).shape == (2, 5, 16)


def _rms(**kw):
    from gptlab.block import RMSNorm
    return RMSNorm(**kw)


def _swiglu(**kw):
    from gptlab.block import SwiGLU
    return SwiGLU(**kw)


NEW_BAD = [
    (_rms, dict(dim=0), ValueError, r"dim"),
    (_rms, dict(dim=4, eps=-1e-6), ValueError, r"eps"),
    (_rms, dict(dim=2.5), TypeError, r"dim"),
    (_swiglu, dict(d_model=0, d_hidden=4), ValueError, r"d_model"),
    (_swiglu, dict(d_model=4, d_hidden=0), ValueError, r"d_hidden"),
    (_swiglu, dict(d_model=4, d_hidden=8, bias="no"), ValueError, r"bias"),
    (Block, dict(d_model=8, n_head=2, norm_type="batchnorm"), ValueError, r"norm_type"),
    (Block, dict(d_model=8, n_head=2, norm_type="rmsnorm", norm_eps=-1.0), ValueError, r"eps"),
    (Block, dict(d_model=8, n_head=2, qkv_bias="yes"), ValueError, r"qkv_bias"),
    (RotaryEmbedding, dict(head_dim=7), ValueError, r"head_dim=7 must be even"),
]


@pytest.mark.parametrize("make,kwargs,error,message", NEW_BAD, ids=[f"{m.__name__}-{k}" for m, k, _, _ in NEW_BAD])
def test_new_parts_reject_bad_arguments_naming_them(make, kwargs, error, message):
    with pytest.raises(error, match=message):
        make(**kwargs)


def test_rmsnorm_and_swiglu_reject_a_wrong_width():
    from gptlab.block import RMSNorm, SwiGLU

    with pytest.raises(ValueError, match="dim=4"):
        RMSNorm(4)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="d_model=4"):
        SwiGLU(4, 8)(torch.randn(2, 5))
    with pytest.raises((TypeError, ValueError), match="x"):
        RMSNorm(4)(torch.ones(2, 4, dtype=torch.long))
