import pytest
from matplotlib.figure import Figure

from gptlab.model import GPTConfig
from gptlab.serving import gpus_needed
from gptlab.widgets import ServingExplorer


@pytest.fixture(scope="module")
def explorer():
    lesson = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=128)
    return ServingExplorer(models={"lesson 10": lesson})


def test_summary_states_what_gpus_needed_computes(explorer):
    explorer.set(model="llama-70b", dtype="bfloat16", gpu="H100", context=4096, users=64, tokens_per_s=20.0)
    expected = gpus_needed("llama-70b", "bfloat16", 64, 4096, 20.0, "H100")
    assert explorer.error is None and isinstance(explorer.figure, Figure)
    assert f"-> {expected['gpus']:,} H100 (binding: {expected['binding']})" in explorer.summary
    bars = [p.get_height() for p in explorer.figure.axes[0].patches]
    assert bars == [expected["by_limit"][k] for k in ("memory", "bandwidth", "compute")]


def test_the_binding_limit_moves(explorer):
    explorer.set(model="gpt3-175b", dtype="float16", gpu="H100", context=128, users=1, tokens_per_s=1.0)
    assert "binding: memory" in explorer.summary
    explorer.set(model="gpt2", dtype="int4", context=1, users=200_000, tokens_per_s=30.0)
    assert "binding: compute" in explorer.summary


def test_extra_model_is_offered(explorer):
    explorer.set(model="lesson 10", dtype="float32", gpu="laptop CPU", context=64, users=1, tokens_per_s=10.0)
    assert explorer.error is None and "lesson 10 in float32" in explorer.summary


@pytest.mark.parametrize("change, name", [(dict(users=0), "users"), (dict(context=10**6), "context"),
                                          (dict(tokens_per_s=-1.0), "tokens_per_s_per_user")])
def test_bad_input_shows_error_and_keeps_picture(explorer, change, name):
    explorer.set(model="llama-7b", dtype="int4", gpu="RTX 4090", context=2048, users=4, tokens_per_s=10.0)
    summary, figure = explorer.summary, explorer.figure
    explorer.set(**change)
    assert explorer.error is not None and name in explorer.error
    assert explorer.summary == summary and explorer.figure is figure
    explorer.set(users=4, context=2048, tokens_per_s=10.0)
    assert explorer.error is None
