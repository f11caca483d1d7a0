"""Faults and bad input for gptlab/train.py (issue 11): Ctrl-C, damaged checkpoints, a table of bad arguments."""
import signal
import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gptlab.train
from gptlab.tokenizers import CharTokenizer
from gptlab.train import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    History,
    TokenBatches,
    TrainConfig,
    Trainer,
    encode_splits,
    get_lr,
    load_checkpoint,
    random_batches,
    save_checkpoint,
)

VOCAB = 11
DATA = torch.arange(300) * 7 % VOCAB


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyLM(nn.Module):
    def __init__(self, n_embd=8):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, n_embd)
        self.head = nn.Linear(n_embd, VOCAB)
        self.before_forward = None  # a hook a test uses to "press Ctrl-C" mid-step

    def forward(self, idx, targets=None):
        if self.before_forward is not None:
            self.before_forward()
        logits = self.head(self.emb(idx))
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def make_model(seed=0):
    torch.manual_seed(seed)
    return TinyLM()


def config(**overrides):
    base = dict(max_steps=12, batch_size=4, block_size=8, learning_rate=1e-2, eval_interval=5, eval_steps=1,
                progress=False, device="cpu")
    return TrainConfig(**{**base, **overrides})


def trained_for(steps):
    """Reference weights: a fresh trainer that ran exactly ``steps`` optimizer steps, uninterrupted."""
    trainer = Trainer(make_model(), config(), DATA)
    trainer.fit(steps=steps)
    return trainer.model.state_dict()


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def fit_expecting_interrupt(trainer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(KeyboardInterrupt):
            trainer.fit()


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_interrupt_from_a_callback_keeps_work_reraises_and_continues():
    def stop_at_7(trainer, event):
        if event == "step" and trainer.step == 7 and not getattr(trainer, "stopped", False):
            trainer.stopped = True
            raise KeyboardInterrupt

    ends = []
    trainer = Trainer(make_model(), config(), DATA, callbacks=[stop_at_7, lambda t, e: ends.append(e)])
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.warns(UserWarning, match="after 7 of 12 steps"), pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert signal.getsignal(signal.SIGINT) is handler_before  # fit's handler is gone again
    assert trainer.step == 7 and trainer.history.steps == list(range(1, 8))
    assert trainer.history.interrupted and ends[-1] == "end"
    assert same_weights(trainer.model.state_dict(), trained_for(7))
    assert History.from_dict(trainer.history.to_dict()).interrupted

    history = trainer.fit()  # continues to the end, the same curve as a run never interrupted
    straight = Trainer(make_model(), config(), DATA).fit()
    assert not history.interrupted and history.steps == list(range(1, 13))
    assert history.train_loss == pytest.approx(straight.train_loss, abs=1e-6)
    assert same_weights(trainer.model.state_dict(), trained_for(12))


def test_a_loop_over_fit_stops_at_the_interrupt():
    done = []

    def stop(trainer, event):
        if event == "step" and trainer.step == 3 and len(done) == 1:
            raise KeyboardInterrupt

    with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
        warnings.simplefilter("ignore", UserWarning)
        for seed in range(3):
            torch.manual_seed(seed)
            done.append(Trainer(TinyLM(), config(max_steps=4), DATA, callbacks=[stop]).fit())
    assert len(done) == 1  # the second fit was interrupted, the third never started


def test_sigint_during_the_optimizer_step_is_counted_with_its_update():
    """SIGINT (a real signal) arrives just after optimizer.step() updated the weights, before the count:
    fit must not end with trainer.step one behind the weights."""
    trainer = Trainer(make_model(), config(), DATA)
    real_step, calls = trainer.optimizer.step, []

    def step_then_sigint(*args, **kwargs):
        result = real_step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:
            signal.raise_signal(signal.SIGINT)  # the handler runs right here, inside the update
        return result

    trainer.optimizer.step = step_then_sigint
    fit_expecting_interrupt(trainer)
    assert len(calls) == 5 and trainer.step == 5 and len(trainer.history.train_loss) == 5
    assert trainer.history.interrupted
    assert same_weights(trainer.model.state_dict(), trained_for(5))


def test_sigint_during_the_forward_pass_drops_that_step():
    trainer = Trainer(make_model(), config(eval_interval=100), DATA)
    calls = []

    def maybe_sigint():
        calls.append(1)
        if len(calls) == 4:  # the 4th training forward pass (eval_interval=100: the 1st call is an evaluation)
            signal.raise_signal(signal.SIGINT)

    trainer.model.before_forward = maybe_sigint
    fit_expecting_interrupt(trainer)
    assert trainer.step == 2 and trainer.history.steps == [1, 2]  # call 1 evaluated, calls 2-3 trained
    assert same_weights(trainer.model.state_dict(), trained_for(2))
    trainer.model.before_forward = None
    assert trainer.fit().steps[-1] == 12


def test_interrupt_saves_the_checkpoint_it_was_asked_for(tmp_path):
    path = tmp_path / "run.pt"

    def stop(trainer, event):
        if event == "step" and trainer.step == 3:
            raise KeyboardInterrupt

    trainer = Trainer(make_model(), config(checkpoint_path=path), DATA, callbacks=[stop])
    fit_expecting_interrupt(trainer)
    saved = load_checkpoint(path, make_model())["trainer"]
    assert saved["step"] == 3 and saved["history"]["interrupted"] is True


def test_fit_outside_the_main_thread_still_works():
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("h", Trainer(make_model(), config(), DATA).fit()))
    thread.start()
    thread.join(60)
    assert out["h"].steps[-1] == 12 and not out["h"].interrupted


# -- checkpoints --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    trainer = Trainer(make_model(), config(max_steps=2), DATA)
    trainer.fit()
    path = trainer.save_checkpoint(tmp_path_factory.mktemp("ck") / "good.pt")
    return path, path.read_bytes()


def test_truncated_anywhere_from_half_to_the_last_byte(good_checkpoint, tmp_path):
    path, data = good_checkpoint
    cuts = sorted(set(range(len(data) // 2, len(data), 37)) | set(range(len(data) - 40, len(data))))
    cut_file = tmp_path / "cut.pt"
    for cut in cuts:
        cut_file.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="cannot be read|damaged") as info:
            load_checkpoint(cut_file, make_model())
        assert str(cut_file) in str(info.value), cut


def test_flipped_bytes_in_the_tensor_data_are_caught_by_the_checksum(good_checkpoint, tmp_path):
    path, data = good_checkpoint
    weights = load_checkpoint(path, make_model())["model"]["emb.weight"]
    start = data.find(weights.numpy().tobytes())
    assert start > 0
    damaged = bytearray(data)
    damaged[start + 17] ^= 0x10  # one bit of one float of emb.weight
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(damaged))
    assert torch.load(bad, weights_only=True)["model"]["emb.weight"].ne(weights).sum() == 1  # torch alone: silent
    with pytest.raises(CheckpointError, match="SHA-256") as info:
        load_checkpoint(bad, make_model())
    assert str(bad) in str(info.value)


def test_a_flipped_byte_anywhere_is_an_error_or_changes_nothing(good_checkpoint, tmp_path):
    path, data = good_checkpoint
    reference = load_checkpoint(path, make_model())
    bad = tmp_path / "flip.pt"
    errors = 0
    for i in range(0, len(data), 53):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        bad.write_bytes(bytes(damaged))
        try:
            loaded = load_checkpoint(bad, make_model())
        except CheckpointError:
            errors += 1
            continue
        assert gptlab.train._checksum(loaded) == gptlab.train._checksum(reference), i  # silent = unchanged
    assert errors > len(range(0, len(data), 53)) // 2


def test_directory_missing_file_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path, make_model())
    with pytest.raises(FileNotFoundError, match="missing.pt.*does not exist"):
        load_checkpoint(tmp_path / "missing.pt", make_model())
    with pytest.raises(ValueError, match="is a directory"):
        save_checkpoint(tmp_path, make_model())
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(text, make_model())
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.ones(2)}, plain)
    with pytest.raises(CheckpointError, match="not a gptlab checkpoint"):
        load_checkpoint(plain, make_model())


class Payload:
    """Stands in for a pickled object that would run code when unpickled."""


def test_loads_use_weights_only(tmp_path, monkeypatch):
    evil = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": 2, "model": {}, "x": Payload()}, evil)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(evil, make_model())  # weights_only refuses the object
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: seen.append(kw) or real_load(*a, **kw))
    path = save_checkpoint(tmp_path / "ok.pt", make_model())
    load_checkpoint(path, make_model())
    assert seen and all(kw.get("weights_only") is True for kw in seen)


def test_version_1_files_without_a_checksum_still_load(tmp_path):
    model = make_model()
    old = tmp_path / "v1.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": 1, "model": model.state_dict(), "optimizer": None,
                "trainer": None, "config": None}, old)
    clone = make_model(seed=5)
    load_checkpoint(old, clone)
    assert same_weights(clone.state_dict(), model.state_dict())


# -- the learning-rate schedule -----------------------------------------------------------------


def test_get_lr_rejects_negative_steps_and_holds_after_the_end():
    cfg = config(max_steps=10, warmup_steps=2, learning_rate=1e-2, min_lr=1e-3)
    with pytest.raises(ValueError, match=r"step=-5 must be at least 0"):
        get_lr(-5, cfg)
    with pytest.raises(TypeError, match="step=1.5"):
        get_lr(1.5, cfg)
    assert get_lr(10, cfg) == pytest.approx(1e-3) and get_lr(10_000, cfg) == pytest.approx(1e-3)
    assert get_lr(50, config(max_steps=10, lr_decay="constant")) == pytest.approx(1e-2)


# -- a table of bad inputs: each must raise the right type, naming what is wrong ------------------

TOK = CharTokenizer().fit("abc")


class LogitsOnly(TinyLM):
    def forward(self, idx, targets=None):
        return super().forward(idx, targets)[0]


def _history(**d):
    return lambda: History.from_dict(d)


BAD_INPUTS = [
    # (what, call, exception, the message must match)
    ("max_steps=0", lambda: config(max_steps=0), ValueError, r"max_steps=0 must be at least 1"),
    ("max_steps float", lambda: config(max_steps=1.5), TypeError, r"max_steps=1\.5 must be a whole number"),
    ("batch_size=-1", lambda: config(batch_size=-1), ValueError, r"batch_size=-1"),
    ("block_size str", lambda: config(block_size="8"), TypeError, r"block_size='8'"),
    ("learning_rate=0", lambda: config(learning_rate=0), ValueError, r"learning_rate=0 must be greater than 0"),
    ("learning_rate nan", lambda: config(learning_rate=float("nan")), ValueError, r"learning_rate=nan"),
    ("min_lr > lr", lambda: config(min_lr=1.0), ValueError, r"min_lr=1 must be at most"),
    ("warmup > max", lambda: config(warmup_steps=50), ValueError, r"warmup_steps=50 must be at most 12"),
    ("lr_decay", lambda: config(lr_decay="linear"), ValueError, r"lr_decay='linear'.*'cosine', 'constant'"),
    ("betas length", lambda: config(betas=(0.9,)), ValueError, r"betas=\(0\.9,\) must be a pair"),
    ("betas number", lambda: config(betas=0.9), TypeError, r"betas=0\.9 must be a pair"),
    ("betas >= 1", lambda: config(betas=(1.0, 0.9)), ValueError, r"betas\[0\]=1 must be less than 1"),
    ("grad_clip<0", lambda: config(grad_clip=-1), ValueError, r"grad_clip=-1"),
    ("eval_interval=0", lambda: config(eval_interval=0), ValueError, r"eval_interval=0"),
    ("eval_steps=0", lambda: config(eval_steps=0), ValueError, r"eval_steps=0"),
    ("amp str", lambda: config(amp="yes"), TypeError, r"amp='yes' must be True or False"),
    ("device gpu", lambda: config(device="gpu"), ValueError, r"device='gpu' is not supported"),
    ("seed float", lambda: config(seed=0.5), TypeError, r"seed=0\.5"),
    ("checkpoint_path int", lambda: config(checkpoint_path=3), TypeError, r"checkpoint_path=3 must be a file path"),
    ("interval without path", lambda: config(checkpoint_interval=5), ValueError, r"needs a checkpoint_path"),
    ("model not a module", lambda: Trainer("gpt", config(), DATA), TypeError, r"model='gpt' must be"),
    ("config dict", lambda: Trainer(make_model(), {"max_steps": 3}, DATA), TypeError, r"config=.*TrainConfig"),
    ("no data", lambda: Trainer(make_model(), config()), ValueError, r"either train_data .* or get_batch"),
    ("data and get_batch", lambda: Trainer(make_model(), config(), DATA, get_batch=lambda s: None), ValueError,
     r"not both"),
    ("get_batch not callable", lambda: Trainer(make_model(), config(), get_batch=3), TypeError,
     r"get_batch=3 must be a function"),
    ("get_batch + val_data", lambda: Trainer(make_model(), config(), val_data=DATA, get_batch=lambda s: None),
     ValueError, r"val_data is not used with get_batch"),
    ("callbacks one function", lambda: Trainer(make_model(), config(), DATA, callbacks=print), TypeError,
     r"callbacks must be a list"),
    ("callbacks not callable", lambda: Trainer(make_model(), config(), DATA, callbacks=[1]), TypeError,
     r"callbacks must be functions"),
    ("train_data text", lambda: Trainer(make_model(), config(), "to be or not"), TypeError,
     r"train_data: data must be a 1-D tensor of integer token ids, got str"),
    ("train_data floats", lambda: Trainer(make_model(), config(), DATA.float()), ValueError,
     r"train_data: data must be a 1-D tensor of integer token ids, got dtype torch\.float32"),
    ("train_data too short", lambda: Trainer(make_model(), config(), DATA[:5]), ValueError,
     r"train_data: data has 5 tokens, but block_size=8"),
    ("val_data 2-D", lambda: Trainer(make_model(), config(), DATA, DATA.view(30, 10)), ValueError,
     r"val_data: .*shape \(30, 10\)"),
    ("TokenBatches mismatch", lambda: Trainer(make_model(), config(), TokenBatches(DATA, 8, 2)), ValueError,
     r"config has batch_size=4"),
    ("fit steps=0", lambda: Trainer(make_model(), config(), DATA).fit(steps=0), ValueError, r"steps=0"),
    ("get_batch wrong", lambda: Trainer(make_model(), config(), get_batch=lambda s: 5).fit(), ValueError,
     r"get_batch\('train'\) must return \(x, y\)"),
    ("model returns logits", lambda: Trainer(LogitsOnly(), config(), DATA).fit(), ValueError,
     r"must return \(logits, loss\)"),
    ("random_batches 2-D", lambda: random_batches(DATA.view(30, 10), 4, 2), ValueError, r"data must be a 1-D"),
    ("random_batches None", lambda: random_batches(None, 4, 2), TypeError, r"data must be a 1-D .* got NoneType"),
    ("random_batches list of str", lambda: random_batches(["a", "b"], 4, 2), TypeError, r"data must be a 1-D"),
    ("random_batches block 0", lambda: random_batches(DATA, 0, 2), ValueError, r"block_size=0"),
    ("random_batches batch float", lambda: random_batches(DATA, 4, 2.0), TypeError, r"batch_size=2\.0"),
    ("random_batches too short", lambda: random_batches(DATA[:4], 4, 2), ValueError, r"needs at least 5"),
    ("random_batches generator", lambda: random_batches(DATA, 4, 2, generator=0), TypeError,
     r"generator=0 must be a torch\.Generator"),
    ("TokenBatches seed", lambda: TokenBatches(DATA, 4, 2, seed="0"), TypeError, r"seed='0'"),
    ("TokenBatches too short", lambda: TokenBatches(DATA[:3], 4, 2), ValueError, r"data has 3 tokens"),
    ("encode_splits text", lambda: encode_splits(123, TOK), TypeError, r"text=123 must be a string"),
    ("encode_splits fraction", lambda: encode_splits("abcabc", TOK, val_fraction=1), ValueError,
     r"val_fraction=1 must be less than 1"),
    ("encode_splits tokenizer", lambda: encode_splits("abc", "char"), TypeError, r"tokenizer='char' must have"),
    ("encode_splits empty", lambda: encode_splits("", TOK), ValueError, r"no tokens"),
    ("History not dict", lambda: History.from_dict([1, 2]), TypeError, r"d=\[1, 2\] must be a dict"),
    ("History lengths", _history(steps=[1, 2], train_loss=[3.0]), ValueError, r"different lengths"),
    ("History interrupted", _history(interrupted="yes"), ValueError, r"interrupted.*True or False"),
    ("History list field", _history(val_loss=3.0), ValueError, r"d\['val_loss'\] must be a list"),
    ("save path None", lambda: save_checkpoint(None, make_model()), TypeError, r"path=None must be a file path"),
    ("save model", lambda: save_checkpoint("x.pt", "model"), TypeError, r"model='model' must be"),
    ("save optimizer", lambda: save_checkpoint("x.pt", make_model(), optimizer=3), TypeError,
     r"optimizer=3 must be"),
    ("load path int", lambda: load_checkpoint(5, make_model()), TypeError, r"path=5 must be a file path"),
    ("load model None", lambda: load_checkpoint("x.pt", None), TypeError, r"model=None must be"),
    ("trainer save no path", lambda: Trainer(make_model(), config(), DATA).save_checkpoint(), ValueError,
     r"say where to save"),
    ("get_lr config", lambda: get_lr(0, {"learning_rate": 1}), TypeError, r"config=.*TrainConfig"),
]


@pytest.mark.parametrize("what, call, error, message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(what, call, error, message):
    with pytest.raises(error, match=message):
        call()
