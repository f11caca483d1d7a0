import pytest
from matplotlib.figure import Figure

from gptlab.model import GPT, GPTConfig
from gptlab.plotting import plot_recipe_runs
from gptlab.widgets import RecipeExplorer

BASE = dict(block_size=64, n_layer=2, n_head=4, n_embd=64)
RUNS = [
    dict(name="gpt2", changes={}, val_loss=[2.50, 2.47], val_loss_long=[2.56, 2.60]),
    dict(name="rmsnorm", changes={"norm_type": "rmsnorm"}, val_loss=[2.49, 2.48]),
    dict(name="swiglu", changes={"norm_type": "rmsnorm", "activation": "swiglu"}, val_loss=[2.60, 2.55]),
]


@pytest.fixture
def ex():
    return RecipeExplorer(RUNS, BASE)


def real_params(**fields) -> int:
    return GPT(GPTConfig(vocab_size=65, **BASE, **fields)).num_parameters()


def test_starts_at_gpt2s_recipe_with_its_measured_loss(ex):
    assert isinstance(ex.figure, Figure) and ex.error is None
    assert f"parameters: {real_params():,} (+0.0%" in ex.summary
    assert "KV cache per token: 512 bytes in float16" in ex.summary  # 2 layers x (k, v) x 4 heads x 16 x 2 bytes
    assert "mean 2.485, range 2.470–2.500" in ex.summary
    assert "at twice the trained context: mean 2.580" in ex.summary


def test_toggles_change_parameters_cache_and_the_highlighted_run(ex):
    ex.set(rmsnorm=True, swiglu=True)
    assert f"parameters: {real_params(norm_type='rmsnorm', activation='swiglu'):,}" in ex.summary
    assert "mean 2.575" in ex.summary
    ex.set(gqa=True)  # not trained: parameters and cache, but no loss
    assert f"{real_params(norm_type='rmsnorm', activation='swiglu', n_kv_head=2):,}" in ex.summary
    assert "KV cache per token: 256 bytes" in ex.summary  # half the heads, half the cache
    assert "not measured for this combination" in ex.summary and ex.error is None


def test_a_run_trained_at_a_matched_mlp_width_is_counted_at_that_width():
    runs = [*RUNS[:2], dict(RUNS[2], mlp_hidden=180)]  # as the recipe script saves them
    ex = RecipeExplorer(runs, BASE)
    ex.set(rmsnorm=True, swiglu=True)
    assert f"parameters: {real_params(norm_type='rmsnorm', activation='swiglu', mlp_hidden=180):,}" in ex.summary
    assert "MLP width 180 (set so the trained run matches" in ex.summary
    ex.set(rope=True)  # no run: the default width (8/3 of 64 for SwiGLU)
    assert f"{real_params(norm_type='rmsnorm', activation='swiglu', pos='rope'):,}" in ex.summary
    assert "MLP width 171 (the default)" in ex.summary


def test_redraws_reuse_their_pictures(ex):
    first = ex.figure
    ex.set(rmsnorm=True)
    ex.set(rmsnorm=False)
    assert ex.figure is first


def test_bad_inputs_name_the_parameter():
    with pytest.raises(TypeError, match="runs must be a non-empty list"):
        RecipeExplorer([], BASE)
    with pytest.raises(ValueError, match=r"lacks \['val_loss'\]"):
        RecipeExplorer([dict(name="x", changes={})], BASE)
    with pytest.raises(ValueError, match="unknown change"):
        RecipeExplorer(RUNS, BASE, moe=True)
    with pytest.raises(ValueError, match="n_head"):
        RecipeExplorer(RUNS, dict(BASE, n_head=3))
    with pytest.raises(ValueError, match="vocab_size"):
        RecipeExplorer(RUNS, BASE, vocab_size=0)
    ex = RecipeExplorer(RUNS, BASE)
    before = ex.summary
    ex.set(rope="yes")
    assert ex.error is not None and "rope" in ex.error and ex.summary == before


def test_plot_recipe_runs_checks_its_inputs():
    fig = plot_recipe_runs(["a", "b"], [[1.0, 1.1], [0.9, 1.0]], highlight=1)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="names"):
        plot_recipe_runs(["a"], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="highlight"):
        plot_recipe_runs(["a", "b"], [1.0, 2.0], highlight=2)
    with pytest.raises(ValueError, match="losses"):
        plot_recipe_runs(["a", "b"], [1.0, float("nan")])


def test_with_the_recipe_checkpoint_each_run_shows_its_own_parameters_and_loss():
    from gptlab import pretrained

    if "lesson15_recipe" not in pretrained.available():
        pytest.skip("the lesson15_recipe checkpoint is not built")
    ex = RecipeExplorer()
    runs = ex.runs
    assert [r["name"] for r in runs] == ["gpt2", "rmsnorm", "swiglu", "rope", "gqa", "no_bias", "untied"]
    toggles = {}
    for r, change in zip(runs, [None, "rmsnorm", "swiglu", "rope", "gqa", "no_bias", "untied"]):
        if change:
            toggles[change] = True
        ex.set(**toggles)
        assert f"parameters: {r['params']:,}" in ex.summary, r["name"]
        assert abs(r["params"] / runs[0]["params"] - 1) < 0.005, f"{r['name']} is not at GPT-2's parameter count"
        assert f"mean {sum(r['val_loss']) / len(r['val_loss']):.3f}" in ex.summary
