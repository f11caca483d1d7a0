"""Scaling laws in miniature (gptlab/scaling_laws.py) and the lesson-10 pictures that show them."""
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gptlab.model import GPT, GPTConfig
from gptlab.plotting.gpt import LiveLossPlot, plot_parameter_counts, plot_scaling_curve
from gptlab.scaling_laws import ScalingRun, fit_power_law, run_scaling_sweep, size_label
from gptlab.train import TrainConfig, Trainer

SIZES = [dict(n_layer=1, n_head=2, n_embd=16), dict(n_layer=2, n_head=2, n_embd=32)]


def patterned_ids(n=4000, V=12, seed=0):
    """Token ids with structure a model can learn: a repeating pattern with a little noise."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n) % V
    noise = torch.rand(n, generator=g) < 0.1
    return torch.where(noise, torch.randint(V, (n,), generator=g), ids)


# --- fit_power_law --------------------------------------------------------------------------------


@pytest.mark.parametrize("a, alpha", [(5.0, 0.076), (2.0, 0.5), (10.0, -0.3)])
def test_fit_power_law_recovers_an_exact_power_law(a, alpha):
    x = np.array([1e3, 4e3, 2e4, 1e5, 7e5])
    fitted_a, fitted_alpha = fit_power_law(x, a * x ** (-alpha))
    assert fitted_a == pytest.approx(a, rel=1e-9)
    assert fitted_alpha == pytest.approx(alpha, rel=1e-9, abs=1e-12)


def test_fit_power_law_is_the_least_squares_line_on_log_log_axes():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e6, 6)
    y = 3.0 * x ** -0.1 * np.exp(rng.normal(0, 0.05, x.size))
    a, alpha = fit_power_law(list(x), list(y))
    # independent reference: the normal equations of y' = b0 + b1 x' on the logs
    X = np.stack([np.ones_like(x), np.log(x)], axis=1)
    b0, b1 = np.linalg.solve(X.T @ X, X.T @ np.log(y))
    assert a == pytest.approx(math.exp(b0), rel=1e-9)
    assert alpha == pytest.approx(-b1, rel=1e-9)


@pytest.mark.parametrize("x, y, match", [
    ([1.0], [1.0], "at least 2 points"),
    ([1.0, 2.0], [1.0], "same length"),
    ([1.0, -2.0], [1.0, 0.5], "positive"),
    ([1.0, 2.0], [0.0, 0.5], "positive"),
    ([3.0, 3.0], [1.0, 0.5], "two different x"),
])
def test_fit_power_law_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(x, y)


# --- run_scaling_sweep ------------------------------------------------------------------------------


def test_sweep_records_params_compute_and_matches_a_plain_trainer_run():
    ids = patterned_ids()
    train, val = ids[:3600], ids[3600:]
    runs = run_scaling_sweep(SIZES, train, val, vocab_size=12, steps=40, batch_size=8, block_size=16,
                             learning_rate=3e-3, eval_interval=10, eval_steps=2, seed=3, progress=False)
    assert [r.label for r in runs] == ["1L·16d", "2L·32d"]
    for run, size in zip(runs, SIZES):
        torch.manual_seed(3)
        model = GPT(GPTConfig(vocab_size=12, block_size=16, **size))
        assert run.n_params == model.num_parameters(non_embedding=True)
        assert run.n_params_total == model.num_parameters()
        assert run.flops_per_token == model.estimate_flops_per_token(16)
        assert run.eval_steps == [0, 10, 20, 30, 40]
        assert run.tokens == [s * 8 * 16 for s in run.eval_steps]
        assert run.compute == [run.flops_per_token * t for t in run.tokens]
        assert run.final_val_loss == run.val_loss[-1]
        assert run.seconds > 0
        # the same model, seed and batches through Trainer directly give the same validation losses
        config = TrainConfig(max_steps=40, batch_size=8, block_size=16, learning_rate=3e-3, eval_interval=10,
                             eval_steps=2, seed=3, progress=False)
        history = Trainer(model, config, train, val).fit()
        assert run.val_loss == pytest.approx(history.val_loss, rel=1e-5)
    # learning happened, and the bigger model (more parameters, more compute per token) is bigger
    assert all(r.val_loss[-1] < r.val_loss[0] for r in runs)
    assert runs[1].n_params > runs[0].n_params and runs[1].flops_per_token > runs[0].flops_per_token


@pytest.mark.parametrize("steps, expected", [(8, [0, 2, 4, 6, 8]), (10, [0, 3, 6, 9, 10]), (3, [0, 1, 2, 3])])
def test_sweep_default_eval_interval_gives_about_five_points_ending_at_steps(steps, expected):
    ids = patterned_ids(1000)
    runs = run_scaling_sweep(SIZES[:1], ids[:900], ids[900:], vocab_size=12, steps=steps, batch_size=2, block_size=8,
                             eval_steps=1, progress=False)
    assert runs[0].eval_steps == expected


@pytest.mark.parametrize("sizes, match", [
    ([], "non-empty list"),
    (dict(n_layer=1, n_head=1, n_embd=8), "non-empty list"),
    ([dict(n_layer=1, n_head=1, n_embd=8, vocab_size=5)], "vocab_size"),
    ([(1, 1, 8)], r"sizes\[0\] must be a dict"),
    ([dict(n_layer=1, n_head=3, n_embd=8)], "not divisible by n_head=3"),
])
def test_sweep_bad_sizes(sizes, match):
    ids = patterned_ids(200)
    with pytest.raises(ValueError, match=match):
        run_scaling_sweep(sizes, ids, ids, vocab_size=12, steps=2, progress=False)


def test_sweep_interrupted_returns_only_the_finished_runs(monkeypatch):
    """Ctrl-C during the second size: the first run comes back, the half-trained second does not."""
    import gptlab.scaling_laws as sl

    made = []

    class InterruptSecond(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
            if len(made) == 2:
                self.callbacks.append(stop_at_3)

    def stop_at_3(trainer, event):
        if event == "step" and trainer.step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(sl, "Trainer", InterruptSecond)
    ids = patterned_ids(1000)
    sizes = SIZES + [dict(n_layer=1, n_head=2, n_embd=8)]
    with pytest.warns(UserWarning) as caught:
        runs = run_scaling_sweep(sizes, ids[:900], ids[900:], vocab_size=12, steps=6, batch_size=2, block_size=8,
                                 eval_steps=1, progress=False, device="cpu")
    messages = [str(w.message) for w in caught]
    assert any("training interrupted after 3 of 6 steps" in m for m in messages)  # from Trainer.fit
    assert any("sweep interrupted while training 2L·32d; returning the 1 finished" in m for m in messages)
    assert runs.interrupted and runs.interrupted_label == "2L·32d"
    assert [r.label for r in runs] == ["1L·16d"] and runs[0].eval_steps[-1] == 6
    assert len(made) == 2  # the third size never started
    assert made[1].history.interrupted and made[1].step == 3

    monkeypatch.setattr(sl, "Trainer", Trainer)
    whole = run_scaling_sweep(SIZES[:1], ids[:900], ids[900:], vocab_size=12, steps=6, batch_size=2, block_size=8,
                              eval_steps=1, progress=False, device="cpu")
    assert not whole.interrupted and whole[0].val_loss == pytest.approx(runs[0].val_loss)


def test_size_label():
    assert size_label(GPTConfig(vocab_size=5, block_size=4, n_layer=3, n_head=2, n_embd=48)) == "3L·48d"


# --- the pictures -------------------------------------------------------------------------------------


def fake_runs():
    runs = []
    for i, (L, C) in enumerate([(1, 32), (2, 64), (4, 128)]):
        config = GPTConfig(vocab_size=10, block_size=8, n_layer=L, n_head=2, n_embd=C)
        runs.append(ScalingRun(label=size_label(config), config=config, n_params=12 * L * C * C,
                               n_params_total=12 * L * C * C + 10 * C, flops_per_token=72 * L * C * C,
                               eval_steps=[0, 50, 100], tokens=[0, 800, 1600],
                               val_loss=[4.3, 2.6 - 0.2 * i, 2.3 - 0.25 * i]))
    return runs


def test_plot_scaling_curve_draws_both_panels_on_log_axes():
    runs = fake_runs()
    fig = plot_scaling_curve(runs, fit=fit_power_law([r.n_params for r in runs], [r.final_val_loss for r in runs]))
    assert isinstance(fig, Figure)
    ax_n, ax_c = fig.axes[:2]
    assert ax_n.get_xscale() == ax_c.get_xscale() == "log"
    offsets = ax_n.collections[0].get_offsets()
    assert np.allclose(offsets[:, 0], [r.n_params for r in runs])
    assert np.allclose(offsets[:, 1], [r.final_val_loss for r in runs])
    assert len(ax_c.lines) == len(runs)  # one curve per run; step 0 (no compute) left off the log axis
    assert np.allclose(ax_c.lines[0].get_xdata(), runs[0].compute[1:])
    with pytest.raises(ValueError, match="non-empty list"):
        plot_scaling_curve([])


def test_plot_parameter_counts_bars_match_the_model():
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16))
    counts = model.parameter_counts()
    fig = plot_parameter_counts(counts)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert widths == [float(v) for v in counts.values()]
    assert sum(widths) == model.num_parameters()
    labels = [t.get_text() for t in ax.texts]
    assert any("tied to the embeddings" in t for t in labels)  # head: 0, and why
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_parameter_counts({})


def test_live_loss_plot_redraws_at_every_evaluation():
    ids = patterned_ids(1000)
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=1, n_embd=8))
    live = LiveLossPlot(show=False)
    config = TrainConfig(max_steps=6, batch_size=2, block_size=8, eval_interval=2, eval_steps=1, progress=False)
    trainer = Trainer(model, config, ids[:900], ids[900:], callbacks=[live])
    trainer.fit()
    assert trainer.history.eval_steps == [0, 2, 4, 6]
    assert live.redraws == 4 + 1  # four evaluations and the end
    assert live.ax.get_title().startswith("step 6/6 · validation loss")
    assert len(live.ax.lines) == 3  # each step, smoothed, validation
