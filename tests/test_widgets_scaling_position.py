import math

import pytest
import torch
from matplotlib.figure import Figure

from gptlab.plotting import figure_to_png
from gptlab.positional import RotaryEmbedding, sinusoidal_encoding
from gptlab.widgets import PositionExplorer, ScalingExplorer


def _png(explorer) -> bytes:
    return figure_to_png(explorer.figure, dpi=40)


def _diagonal_spread(matrix: torch.Tensor) -> float:
    """How much a (T, T) matrix varies along its diagonals: 0 when S[m, n] depends on m − n only."""
    T = matrix.size(0)
    spreads = [torch.diagonal(matrix, o).max() - torch.diagonal(matrix, o).min() for o in range(-(T - 2), T - 1)]
    return max(spreads).item()


# --- ScalingExplorer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaling():
    return ScalingExplorer(d=64, scaled=True, T=8, n_samples=64)


def test_scaling_explorer_draws_and_summarises(scaling):
    assert isinstance(scaling.figure, Figure) and scaling.error is None
    assert scaling.summary.startswith("d = 64, T = 8 keys")
    for word in ("entropy", "max weight", "gradient"):
        assert word in scaling.summary
    assert scaling.stats.weights.shape == (8,)


@pytest.mark.parametrize("control, value", [("d", 512), ("scaled", False), ("T", 16)])
def test_every_scaling_control_changes_the_summary_and_the_figure(control, value):
    ex = ScalingExplorer(d=64, scaled=True, T=8, n_samples=32)
    before_summary, before_png = ex.summary, _png(ex)
    ex.set(**{control: value})
    assert ex.error is None
    assert ex.summary != before_summary
    assert _png(ex) != before_png


def test_unscaled_at_d_512_has_much_lower_entropy_than_scaled(scaling):
    scaling.set(d=512, scaled=False, T=8)
    unscaled = scaling.stats
    scaling.set(scaled=True)
    scaled = scaling.stats
    # the same draw: only the 1/sqrt(d) factor differs
    torch.testing.assert_close(unscaled.scores / math.sqrt(512), scaled.scores)
    assert unscaled.entropy < 0.1 * scaled.entropy
    assert unscaled.max_weight > 0.99 > 0.9 > scaled.max_weight
    assert unscaled.jacobian_norm < 1e-3 * scaled.jacobian_norm
    assert "(0%)" in scaling.set(scaled=False).summary


def test_scaling_explorer_draw_is_fixed_for_a_given_d(scaling):
    scaling.set(d=128, T=4, scaled=True)
    first = scaling.stats.scores.clone()
    scaling.set(d=32)
    scaling.set(d=128, T=12)
    torch.testing.assert_close(scaling.stats.scores[:4], first)  # the first 4 keys are the same keys


def test_scaling_explorer_curves_are_section_4s_and_the_star_is_not_clamped_at_1e_12():
    import inspect

    from gptlab.dot_product_scaling import saturation_curve

    # lesson 05 says the widget shows the median curves of section 4: the same number of draws
    default = inspect.signature(ScalingExplorer).parameters["n_samples"].default
    assert default == inspect.signature(saturation_curve).parameters["n_samples"].default
    ex = ScalingExplorer(d=1024, scaled=False, T=8, n_samples=16)
    assert 0 < ex.stats.jacobian_norm.item() < 1e-12  # this draw is far below the old 1e-12 clamp
    star = ex.figure.__dict__["_gptlab_scaling_state"]["star_g"]
    assert star.get_ydata()[0] == pytest.approx(ex.stats.jacobian_norm.item())
    assert ex.figure.axes[2].get_ylim()[0] <= star.get_ydata()[0]


def test_scaling_explorer_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="d=3 is not one of the slider's choices: 2, 4"):
        ScalingExplorer(d=3)
    with pytest.raises(ValueError, match="T_max=1"):
        ScalingExplorer(T_max=1)
    with pytest.raises(ValueError, match="T=40 is outside the slider's range 2 to 32"):
        ScalingExplorer(T=40)
    with pytest.raises(ValueError, match="dims"):
        ScalingExplorer(dims=[])
    with pytest.raises(ValueError, match=r"dims\[1\]=0"):
        ScalingExplorer(dims=[2, 0])
    ex = ScalingExplorer(n_samples=16)
    with pytest.raises(ValueError, match="d=0 must be at least 1"):
        ex.render(d=0, scaled=True, T=8)
    with pytest.raises(ValueError, match="T=33"):
        ex.render(d=64, scaled=True, T=33)


# --- PositionExplorer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def position():
    return PositionExplorer(kind="sinusoidal", d=32, position=10, max_len=48)


def test_position_explorer_draws_and_summarises(position):
    position.set(kind="sinusoidal", d=32, position=10)
    assert position.error is None
    assert position.codes.shape == (48, 32) and position.similarity.shape == (48, 48)
    assert "similarity falls from 1.00 at distance 0 to" in position.summary
    assert "at distance 20" in position.summary


@pytest.mark.parametrize("control, value", [("kind", "learned"), ("kind", "rope"), ("d", 16), ("position", 30)])
def test_every_position_control_changes_the_summary_and_the_figure(control, value):
    ex = PositionExplorer(kind="sinusoidal", d=32, position=10, max_len=48)
    before_summary, before_png = ex.summary, _png(ex)
    ex.set(**{control: value})
    assert ex.error is None
    assert ex.summary != before_summary
    assert _png(ex) != before_png


def test_sinusoidal_similarity_is_symmetric_and_depends_only_on_distance(position):
    position.set(kind="sinusoidal", d=32)
    sim = position.similarity
    torch.testing.assert_close(sim, sim.T)  # symmetric
    assert _diagonal_spread(sim) < 1e-5  # a function of n - p ...
    T = sim.size(0)
    for p in (5, 20):  # ... and of |n - p|: the same distance left and right
        for dist in range(1, 5):
            assert sim[p, p - dist].item() == pytest.approx(sim[p, p + dist].item(), abs=1e-5)
    # the explorer draws the library's code
    torch.testing.assert_close(position.codes, sinusoidal_encoding(T, 32))
    assert "depends only on the offset" in position.summary


def test_rope_similarity_depends_only_on_offset_and_learned_does_not(position):
    position.set(kind="rope", d=32)
    assert _diagonal_spread(position.similarity) < 1e-5
    position.set(kind="learned")
    assert _diagonal_spread(position.similarity) > 0.3  # a random table has no notion of distance
    assert "knows nothing about distance" in position.summary


def test_learned_codes_are_a_fixed_draw_that_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = PositionExplorer(kind="learned", d=16, max_len=16, seed=5)
    assert torch.equal(torch.rand(3), expected_next)
    b = PositionExplorer(kind="learned", d=16, max_len=16, seed=5)
    torch.testing.assert_close(a.codes, b.codes)


def test_rope_dot_products_depend_only_on_the_offset_for_every_pair_of_positions():
    """rope(q, m)·rope(k, n) as a full (T, T) matrix: constant along every diagonal m - n = const."""
    torch.manual_seed(0)
    T, hs = 24, 16
    rope = RotaryEmbedding(hs, max_len=T)
    q, k = torch.randn(3, hs), torch.randn(3, hs)  # three (query, key) content pairs
    q_at = rope(q[:, None, :].expand(3, T, hs))  # (3, T, hs): q rotated to each position m
    k_at = rope(k[:, None, :].expand(3, T, hs))  # (3, T, hs): k rotated to each position n
    scores = q_at @ k_at.transpose(-2, -1)  # (3, T, T) S[m, n]
    for s in scores:
        assert _diagonal_spread(s) < 1e-4
    # different content, different function of the offset; and q != k makes it asymmetric
    assert not torch.allclose(scores[0], scores[0].T, atol=1e-3)
    # the offset-0 score is the plain dot product: rotating both by the same angle changes nothing
    torch.testing.assert_close(torch.diagonal(scores[0]), (q[0] @ k[0]).expand(T), atol=1e-4, rtol=1e-4)


def test_position_explorer_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="kind='alibi' is not one of the dropdown's choices: 'sinusoidal'"):
        PositionExplorer(kind="alibi")
    with pytest.raises(ValueError, match="d=7 must be even"):
        PositionExplorer(d=7)
    with pytest.raises(ValueError, match="position=64 is outside the slider's range 0 to 63"):
        PositionExplorer(position=64)
    with pytest.raises(ValueError, match="max_len=1"):
        PositionExplorer(max_len=1)
    ex = PositionExplorer(d=16, max_len=16, position=3)
    with pytest.raises(ValueError, match="kind='none'"):
        ex.render(kind="none", d=16, position=3)
    # through the slider: the message is shown and the last good picture is kept
    good_figure, good_summary = ex.figure, ex.summary
    ex.set(d=9)
    assert ex.error is not None and "d=9 must be even" in ex.error
    assert ex.figure is good_figure and ex.summary == good_summary
    ex.set(d=8)
    assert ex.error is None and "d = 8" in ex.summary
