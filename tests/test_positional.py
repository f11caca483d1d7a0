import math

import pytest
import torch

from gptlab.attention import MultiHeadAttention
from gptlab.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    rotate_half,
    sinusoidal_encoding,
)

# --- sinusoidal ---------------------------------------------------------------------------------


def test_sinusoidal_encoding_matches_the_paper_formula_entry_by_entry():
    T, d = 7, 6
    pe = sinusoidal_encoding(T, d)
    assert pe.shape == (T, d)
    for pos in range(T):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoidal_encoding_gives_every_position_a_different_code():
    pe = sinusoidal_encoding(50, 16)
    distances = torch.cdist(pe, pe)  # (50, 50)
    off_diagonal = distances[~torch.eye(50, dtype=torch.bool)]
    assert off_diagonal.min() > 0.1


def test_sinusoidal_encoding_rejects_odd_d():
    with pytest.raises(ValueError, match=r"d=5 must be even.*d=4 or d=6"):
        sinusoidal_encoding(4, 5)
    with pytest.raises(ValueError, match="d=5"):
        SinusoidalPositionalEncoding(8, 5)


def test_sinusoidal_module_adds_the_code_and_has_no_parameters(device):
    module = SinusoidalPositionalEncoding(max_len=16, d_model=8).to(device)
    assert sum(p.numel() for p in module.parameters()) == 0
    x = torch.randn(2, 5, 8, device=device)
    expected = x + sinusoidal_encoding(16, 8).to(device)[:5]
    torch.testing.assert_close(module(x), expected)
    # offset: the tokens sit at positions 3..7
    torch.testing.assert_close(module(x, offset=3), x + sinusoidal_encoding(16, 8).to(device)[3:8])


def test_learned_embedding_adds_one_trained_row_per_position(device):
    module = LearnedPositionalEmbedding(max_len=16, d_model=8).to(device)
    assert sum(p.numel() for p in module.parameters()) == 16 * 8
    x = torch.randn(2, 5, 8, device=device)
    torch.testing.assert_close(module(x), x + module.embedding.weight[:5])
    torch.testing.assert_close(module(x, offset=11), x + module.embedding.weight[11:16])
    module(x).sum().backward()
    assert module.embedding.weight.grad[:5].abs().sum() > 0  # the used rows learn
    assert module.embedding.weight.grad[5:].abs().sum() == 0  # the others are untouched


@pytest.mark.parametrize("make", [
    lambda: SinusoidalPositionalEncoding(max_len=8, d_model=4),
    lambda: LearnedPositionalEmbedding(max_len=8, d_model=4),
], ids=["sinusoidal", "learned"])
def test_additive_codes_reject_sequences_longer_than_max_len(make):
    module = make()
    module(torch.zeros(1, 8, 4))  # exactly max_len is fine
    with pytest.raises(ValueError, match=r"T=9.*max_len=8.*block_size"):
        module(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match=r"positions 6\.\.8.*max_len=8"):
        module(torch.zeros(1, 3, 4), offset=6)
    with pytest.raises(ValueError, match="d_model=4"):
        module(torch.zeros(1, 3, 5))


# --- positions break permutation equivariance ---------------------------------------------------


@pytest.mark.parametrize("kind", ["sinusoidal", "learned", "rope"])
def test_positions_break_permutation_equivariance(kind, device):
    torch.manual_seed(0)
    T, d = 6, 16
    rope = RotaryEmbedding(4, max_len=T) if kind == "rope" else None
    attn = MultiHeadAttention(d, n_head=4, causal=False, rope=rope).to(device)
    pos = {"sinusoidal": SinusoidalPositionalEncoding(T, d), "learned": LearnedPositionalEmbedding(T, d),
           "rope": torch.nn.Identity()}[kind].to(device)
    x = torch.randn(1, T, d, device=device)
    perm = torch.tensor([3, 0, 5, 1, 4, 2], device=device)
    out = attn(pos(x))
    out_of_shuffled = attn(pos(x[:, perm]))
    # without positions these would be equal (test_attention checks that); with them they differ
    assert not torch.allclose(out_of_shuffled, out[:, perm], atol=1e-3)


# --- RoPE ---------------------------------------------------------------------------------------


def _rope_reference(x, positions, base=10000.0):
    """RoPE as complex multiplication: pair (x_i, x_{i+hs/2}) is a complex number turned by pos*theta_i."""
    hs = x.size(-1)
    theta = base ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)  # (hs/2,)
    z = torch.complex(x[..., : hs // 2].double(), x[..., hs // 2:].double())  # (..., T, hs/2)
    turned = z * torch.polar(torch.ones(len(positions), hs // 2, dtype=torch.float64),
                             positions.double()[:, None] * theta)
    return torch.cat((turned.real, turned.imag), dim=-1).float()


def test_rope_matches_complex_rotation_reference(device):
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, max_len=32).to(device)
    x = torch.randn(2, 3, 5, 8, device=device)  # (B, nh, T, hs)
    torch.testing.assert_close(rope(x).cpu(), _rope_reference(x.cpu(), torch.arange(5)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rope(x, offset=20).cpu(), _rope_reference(x.cpu(), torch.arange(20, 25)),
                               atol=1e-5, rtol=1e-5)


def test_rope_keeps_lengths_and_leaves_position_zero_alone():
    torch.manual_seed(0)
    rope = RotaryEmbedding(8)
    x = torch.randn(4, 10, 8)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope(x)[:, 0], x[:, 0])
    assert not torch.allclose(rope(x)[:, 1:], x[:, 1:])


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, max_len=64)
    q, k = torch.randn(1, 16), torch.randn(1, 16)

    def score(m, n):  # q at position m, k at position n
        return (rope(q, offset=m) * rope(k, offset=n)).sum().item()

    assert score(5, 2) == pytest.approx(score(40, 37), abs=1e-4)
    assert score(5, 2) == pytest.approx(score(3, 0), abs=1e-4)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


def test_rope_offset_equals_slicing_a_longer_sequence():
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, max_len=16)
    x = torch.randn(2, 10, 8)
    torch.testing.assert_close(rope(x[:, 4:], offset=4), rope(x)[:, 4:])


def test_rotate_half_turns_each_pair_by_90_degrees():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])  # pairs (1, 3) and (2, 4)
    assert rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]


def test_rope_errors_name_the_parameter():
    with pytest.raises(ValueError, match="head_dim=7 must be even"):
        RotaryEmbedding(7)
    rope = RotaryEmbedding(8, max_len=4)
    with pytest.raises(ValueError, match="max_len=4"):
        rope(torch.zeros(5, 8))
    with pytest.raises(ValueError, match="max_len=4"):
        rope(torch.zeros(2, 8), offset=3)
    with pytest.raises(ValueError, match="head_dim=8"):
        rope(torch.zeros(2, 6))
    with pytest.raises(ValueError, match="base"):
        RotaryEmbedding(8, base=1.0)
