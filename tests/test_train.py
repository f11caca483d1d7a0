import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from tqdm.auto import tqdm

import gptlab.train
from gptlab.plotting.training import plot_history, plot_lr_schedule
from gptlab.tokenizers import CharTokenizer
from gptlab.train import (
    CheckpointError,
    History,
    TokenBatches,
    TrainConfig,
    Trainer,
    configure_optimizer,
    encode_splits,
    get_lr,
    load_checkpoint,
    random_batches,
    save_checkpoint,
)

VOCAB = 11

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one CPU thread is much faster than several fighting over 2 shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _markov_chain(n, seed=0):
    """Token ids where each token is followed by 2*token or 2*token+1 (mod VOCAB): a bigram can learn it."""
    coin = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(seed))
    ids = [0]
    for c in coin[1:].tolist():
        ids.append((2 * ids[-1] + c) % VOCAB)
    return torch.tensor(ids)


DATA = _markov_chain(400)


class TinyLM(nn.Module):
    """A bigram language model with an embedding, a LayerNorm and a head: (logits, loss) like nanoGPT."""

    def __init__(self, vocab_size=VOCAB, n_embd=8, aux=False):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, n_embd)
        self.ln = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size)
        self.aux = aux
        self.modes = []  # self.training at every forward pass

    def forward(self, idx, targets=None):
        self.modes.append(self.training)
        logits = self.head(self.ln(self.emb(idx)))  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        if self.aux:
            self.aux_loss = logits.float().pow(2).mean()  # stands in for an MoE load-balancing loss
        return logits, loss


def make_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return TinyLM(**kwargs)


def config(**overrides):
    base = dict(max_steps=20, batch_size=4, block_size=8, learning_rate=1e-2, eval_interval=10, eval_steps=2,
                progress=False, device="cpu")
    return TrainConfig(**{**base, **overrides})


# -- learning-rate schedule --------------------------------------------------------------------


def test_lr_warmup_is_linear_then_cosine_reaches_min_lr():
    cfg = config(learning_rate=1.0, min_lr=0.1, warmup_steps=4, max_steps=14)
    assert [get_lr(s, cfg) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert get_lr(9, cfg) == pytest.approx(0.55)  # cosine midpoint: halfway between lr and min_lr
    assert get_lr(14, cfg) == pytest.approx(0.1)
    assert get_lr(100, cfg) == pytest.approx(0.1)
    cfg = config(learning_rate=1.0, min_lr=0.1, max_steps=8)
    assert get_lr(2, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert get_lr(0, cfg) == 1.0


def test_lr_default_min_lr_and_constant_schedule():
    assert get_lr(20, config(learning_rate=3e-3)) == pytest.approx(3e-4)
    cfg = config(learning_rate=0.5, warmup_steps=1, lr_decay="constant")
    assert [get_lr(s, cfg) for s in (0, 1, 10, 20)] == pytest.approx([0.25, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("field, value", [
    ("max_steps", 0), ("batch_size", 0), ("block_size", 2.5), ("learning_rate", -1e-3), ("min_lr", 1.0),
    ("warmup_steps", 21), ("lr_decay", "linear"), ("weight_decay", -0.1), ("betas", (0.9, 1.0)),
    ("grad_clip", -1.0), ("eval_interval", 0), ("eval_steps", 0), ("amp", "yes"), ("device", "tpu"),
    ("checkpoint_interval", 5),
])
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field.split("[")[0]):
        config(**{field: value})


# -- data --------------------------------------------------------------------------------------


def test_random_batches_shift_targets_and_are_reproducible():
    x, y = random_batches(DATA, 8, 5, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted left by one
    starts = [next(i for i in range(len(DATA) - 8) if torch.equal(DATA[i:i + 8], row)) for row in x]
    assert all(torch.equal(y[b], DATA[s + 1:s + 9]) for b, s in enumerate(starts))
    x2, _ = random_batches(DATA, 8, 5, torch.Generator().manual_seed(1))
    x3, _ = random_batches(DATA, 8, 5, torch.Generator().manual_seed(2))
    assert torch.equal(x, x2) and not torch.equal(x, x3)
    with pytest.raises(ValueError, match="block_size=8"):
        random_batches(DATA[:8], 8, 2)
    with pytest.raises(ValueError, match="integer token ids"):
        random_batches(DATA.float(), 8, 2)


def test_token_batches_state_dict_resumes_the_stream():
    batches = TokenBatches(DATA, block_size=8, batch_size=3, seed=5)
    next(batches)
    state = batches.state_dict()
    expected = next(batches)
    batches.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(next(batches), expected))


def test_encode_splits_keeps_order():
    text = "hello world, hello gpt"
    tok = CharTokenizer().fit(text)
    train, val = encode_splits(text, tok, val_fraction=0.25)
    assert len(train) == int(len(text) * 0.75) and train.dtype == torch.long
    assert torch.cat([train, val]).tolist() == tok.encode(text)
    with pytest.raises(ValueError, match="val_fraction"):
        encode_splits(text, tok, val_fraction=1.0)


# -- optimizer and one step --------------------------------------------------------------------


def test_weight_decay_only_on_matrices():
    model = make_model()
    decay, no_decay = configure_optimizer(model, config(weight_decay=0.2)).param_groups
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model.emb.weight), id(model.head.weight)}
    assert {id(p) for p in no_decay["params"]} == {id(model.head.bias), id(model.ln.weight), id(model.ln.bias)}


def test_grad_clip_matches_clip_grad_norm_and_the_reference_step():
    x, y = random_batches(DATA, 8, 4, torch.Generator().manual_seed(3))
    reference = make_model()
    model = copy.deepcopy(reference)
    cfg = config(max_steps=1, grad_clip=0.01, weight_decay=0.1)
    trainer = Trainer(model, cfg, get_batch=lambda split: (x, y))
    trainer.fit()

    _, loss = reference(x, y)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.01)
    opt = configure_optimizer(reference, cfg)
    for group in opt.param_groups:
        group["lr"] = get_lr(0, cfg)
    opt.step()

    assert norm > 0.1  # the clip really bites
    assert trainer.history.grad_norm == [pytest.approx(norm.item(), rel=1e-5)]  # recorded before clipping
    clipped = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert clipped.norm().item() == pytest.approx(0.01, rel=1e-4)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
        torch.testing.assert_close(p, q)


def test_overfits_one_batch():
    x = torch.randint(0, VOCAB, (4, 8), generator=torch.Generator().manual_seed(0))
    y = (x + 1) % VOCAB  # each token has one successor, so a bigram model can reach zero loss
    cfg = config(max_steps=150, learning_rate=3e-2, weight_decay=0.0, eval_interval=1000)
    history = Trainer(make_model(), cfg, get_batch=lambda split: (x, y)).fit()
    assert history.train_loss[0] > 2.0
    assert history.train_loss[-1] < 0.05


def test_model_that_does_not_return_a_loss_gets_a_clear_error():
    class NoLoss(TinyLM):
        def forward(self, idx, targets=None):
            return super().forward(idx)

    with pytest.raises(ValueError, match=r"\(logits, loss\)"):
        Trainer(NoLoss(), config(), DATA).fit()


def test_trainer_needs_exactly_one_data_source():
    with pytest.raises(ValueError, match="train_data"):
        Trainer(make_model(), config())
    with pytest.raises(ValueError, match="train_data"):
        Trainer(make_model(), config(), DATA, get_batch=lambda split: None)
    with pytest.raises(ValueError, match="val_data"):
        Trainer(make_model(), config(), DATA, DATA[:5])


# -- the loop ----------------------------------------------------------------------------------


def test_evaluate_uses_eval_mode_and_restores_train_mode():
    model = make_model()
    trainer = Trainer(model, config(), DATA[:300], DATA[300:])
    model.modes.clear()
    losses = trainer.evaluate()
    assert set(losses) == {"train", "val"} and all(math.isfinite(v) for v in losses.values())
    assert model.modes == [False] * 4  # 2 eval_steps x 2 splits, all in eval mode
    assert model.training
    assert trainer.evaluate() == losses  # the same fixed batches every time


def test_callbacks_history_extras_and_throughput():
    events = []
    model = make_model(aux=True)
    trainer = Trainer(model, config(max_steps=12, eval_interval=5), DATA[:300], DATA[300:],
                      callbacks=[lambda t, e: events.append((e, t.step))])
    h = trainer.fit()
    assert events == ([("eval", 0)] + [("step", s) for s in range(1, 6)] + [("eval", 5)]
                      + [("step", s) for s in range(6, 11)] + [("eval", 10), ("step", 11), ("step", 12),
                                                               ("eval", 12), ("end", 12)])
    assert h.steps == list(range(1, 13)) and h.eval_steps == [0, 5, 10, 12]
    assert len(h.val_loss) == len(h.train_eval_loss) == 4 and not any(map(math.isnan, h.val_loss))
    assert h.tokens_seen == [32 * s for s in h.steps]
    assert h.lr == pytest.approx([get_lr(s - 1, trainer.config) for s in h.steps])
    assert len(h.extra["aux_loss"]) == 12 and h.extra["aux_loss"][0] > 0
    assert all(b >= a for a, b in zip(h.elapsed, h.elapsed[1:]))
    assert trainer.tokens_per_second > 0
    assert History.from_dict(h.to_dict()) == h


def test_keyboard_interrupt_keeps_progress_warns_and_reraises(monkeypatch):
    def stop_at_5(trainer, event):
        if event == "step" and trainer.step == 5:
            raise KeyboardInterrupt

    bars = []

    class RecordedBar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(gptlab.train, "tqdm", RecordedBar)
    model = make_model()
    before = copy.deepcopy(model.state_dict())
    trainer = Trainer(model, config(progress=True), DATA, callbacks=[stop_at_5])
    with pytest.warns(UserWarning, match="after 5 of 20 steps"), pytest.raises(KeyboardInterrupt):
        trainer.fit()
    history = trainer.history
    assert history.steps == [1, 2, 3, 4, 5] and history.interrupted
    assert not torch.equal(model.emb.weight, before["emb.weight"])
    assert len(bars) == 1 and bars[0].n == 5 and bars[0].disable  # tqdm.close() sets disable


def test_fit_saves_every_checkpoint_interval(tmp_path):
    path = tmp_path / "run.pt"
    seen = {}

    def peek(trainer, event):
        if event == "step" and trainer.step in (4, 6):
            seen[trainer.step] = torch.load(path, weights_only=True)["trainer"]["step"] if path.exists() else None

    Trainer(make_model(), config(max_steps=7, checkpoint_path=path, checkpoint_interval=5), DATA,
            callbacks=[peek]).fit()
    assert seen == {4: None, 6: 5}
    assert load_checkpoint(path, make_model())["trainer"]["step"] == 7  # and once more at the end
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_resume_continues_the_same_loss_curve(tmp_path):
    cfg = config(max_steps=20, warmup_steps=3, eval_interval=4)
    straight = Trainer(make_model(), cfg, DATA[:300], DATA[300:]).fit()

    first = Trainer(make_model(), cfg, DATA[:300], DATA[300:])
    first.fit(steps=10)
    first.save_checkpoint(tmp_path / "half.pt")
    second = Trainer(make_model(seed=99), cfg, DATA[:300], DATA[300:], resume_from=tmp_path / "half.pt")
    assert second.step == 10 and second.history.steps == list(range(1, 11))
    resumed = second.fit()

    assert resumed.steps == straight.steps
    assert resumed.train_loss == pytest.approx(straight.train_loss, abs=1e-6)
    assert resumed.lr == pytest.approx(straight.lr)
    assert resumed.val_loss[-1] == pytest.approx(straight.val_loss[-1], abs=1e-6)


# -- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = make_model()
    trainer = Trainer(model, config(max_steps=5), DATA)
    trainer.fit()
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, trainer.optimizer, trainer.state_dict(),
                           trainer.config)
    clone = make_model(seed=1)
    opt = configure_optimizer(clone, trainer.config)
    checkpoint = load_checkpoint(path, clone, opt)
    x = DATA[:16].view(2, 8)
    assert torch.equal(model(x)[0], clone(x)[0])
    assert checkpoint["config"]["max_steps"] == 5 and checkpoint["trainer"]["step"] == 5
    saved, loaded = trainer.optimizer.state_dict()["state"], opt.state_dict()["state"]
    assert all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)


def test_damaged_or_foreign_files_raise_checkpoint_error(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", make_model())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    plain = tmp_path / "plain.pt"
    torch.save(make_model().state_dict(), plain)
    for path, message in [(truncated, "cannot be read"), (text, "cannot be read"), (plain, "not a gptlab")]:
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(path, make_model())
        assert str(path) in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt", make_model())


def test_checkpoint_for_another_architecture_lists_the_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "small.pt", make_model(n_embd=8))
    with pytest.raises(CheckpointError, match=r"emb\.weight checkpoint \(11, 8\) vs model \(11, 16\)"):
        load_checkpoint(path, make_model(n_embd=16))

    class Deeper(TinyLM):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Linear(8, 8)

    with pytest.raises(CheckpointError, match=r"missing from checkpoint: mlp\.weight \(8, 8\)"):
        load_checkpoint(path, Deeper())


# -- devices and plots -------------------------------------------------------------------------


def test_trains_on_every_device(device):
    model = make_model(aux=True)
    trainer = Trainer(model, config(max_steps=30, learning_rate=3e-2, device=device, eval_interval=30),
                      DATA[:300], DATA[300:])
    history = trainer.fit()
    assert next(model.parameters()).device.type == device.type
    assert len(history.train_loss) == 30 and all(map(math.isfinite, history.train_loss))
    assert history.val_loss[-1] < history.val_loss[0]  # it learned something
    if device.type == "cuda":
        assert trainer.amp_dtype in (torch.bfloat16, torch.float16)
    else:
        assert trainer.amp_dtype is None


def test_plots_return_figures():
    history = Trainer(make_model(), config(max_steps=6, eval_interval=3), DATA[:300], DATA[300:]).fit()
    fig = plot_history(history)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and list(ax.lines[2].get_xdata()) == [0, 3, 6]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the step-0 evaluation must not trouble a log axis
        log_fig = plot_history(history.to_dict(), log_x=True)
        log_fig.canvas.draw()
    assert list(log_fig.axes[0].lines[2].get_xdata()) == [3, 6]

    cfg = config(max_steps=50, warmup_steps=5)
    line = plot_lr_schedule(cfg).axes[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([get_lr(s, cfg) for s in range(51)])
