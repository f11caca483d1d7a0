"""gptlab.pretrained: the shipped checkpoints load, reproduce their recorded numbers, and fail clearly."""
import hashlib
import json
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from gptlab import data, pretrained
from gptlab.model import GPT, GPTConfig
from gptlab.moe import MoE
from gptlab.tokenizers import CharTokenizer
from gptlab.train import CheckpointError, History, TokenBatches, encode_splits

LESSON_CHECKPOINTS = ["lesson10", "lesson11_dense", "lesson11_moe", "lesson11_moe_no_aux"]
REBUILD = "python scripts/train_checkpoints.py --only"


@pytest.fixture(scope="module")
def shakespeare():
    """The lessons' text (first 1 MB), tokenizer and splits, built here the way lessons 10 and 11 build them."""
    text = data.load_text("shakespeare")[:1_000_000]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=0.1)
    return tok, train_ids, val_ids


@pytest.fixture(scope="module")
def lesson10():
    return pretrained.load("lesson10", device="cpu")


def validation_loss(model, val_ids, settings):
    """The Trainer's validation estimate, by hand: eval_steps batches drawn with seed + 1, plain cross-entropy
    (plus, for an MoE model, its weighted load-balancing loss, which the Trainer's loss includes)."""
    batches = TokenBatches(val_ids, settings["block_size"], settings["batch_size"], seed=settings["seed"] + 1)
    losses = []
    with torch.no_grad():
        for _ in range(settings["eval_steps"]):
            x, y = next(batches)
            logits, _ = model(x)
            aux = 0.0 if model.aux_loss is None else model.config.aux_loss_weight * model.aux_loss.item()
            losses.append(F.cross_entropy(logits.flatten(0, 1), y.flatten()).item() + aux)
    return sum(losses) / len(losses)


def test_available_lists_the_lessons_checkpoints():
    names = pretrained.available()
    assert names == sorted(names)
    for name in LESSON_CHECKPOINTS:
        assert name in names


@pytest.mark.parametrize("name", LESSON_CHECKPOINTS)
def test_files_are_small_hashed_and_weights_only(name):
    pt = pretrained.CHECKPOINT_DIR / f"{name}.pt"
    record = json.loads((pretrained.CHECKPOINT_DIR / f"{name}.json").read_text())
    assert pt.stat().st_size <= 5 * 2**20 and pt.stat().st_size == record["bytes"]
    assert hashlib.sha256(pt.read_bytes()).hexdigest() == record["sha256"]
    payload = torch.load(pt, map_location="cpu", weights_only=True)  # runs no code from the file
    assert set(payload["model"]) and all(isinstance(v, torch.Tensor) for v in payload["model"].values())
    assert record["metrics"] == payload["metrics"]
    assert record["lesson"] in (10, 11) and record["description"]


@pytest.mark.parametrize("name", LESSON_CHECKPOINTS)
def test_loaded_model_reproduces_its_recorded_validation_loss(name, shakespeare):
    tok, _, val_ids = shakespeare
    ckpt = pretrained.load(name, device="cpu")
    assert not ckpt.model.training
    assert ckpt.tokenizer.vocab == tok.vocab  # the same ids as a tokenizer fitted on the lesson's text
    settings = ckpt.meta["train_config"]
    measured = validation_loss(ckpt.model, val_ids, settings)
    assert abs(measured - ckpt.metrics["val_loss"]) < 1e-4
    assert ckpt.history.val_loss[-1] == ckpt.metrics["val_loss"]
    assert ckpt.history.eval_steps[-1] == settings["max_steps"] == len(ckpt.history.train_loss)
    assert ckpt.history.val_loss[0] > ckpt.history.val_loss[-1] + 1.0  # it learned
    assert abs(ckpt.history.val_loss[0] - math.log(tok.vocab_size)) < 0.2  # and started from a uniform guess


def test_lesson10_config_history_and_unpacking(lesson10, shakespeare):
    tok, _, _ = shakespeare
    model, config, history = lesson10
    assert config == GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=128)
    assert isinstance(model, GPT) and model.config == config
    assert isinstance(history, History) and history.eval_steps == list(range(0, 1501, 200)) + [1500]
    assert lesson10.meta["train_config"]["learning_rate"] == 0.005
    assert "lesson10" in repr(lesson10)


def test_lesson11_moe_layers_are_the_lessons_2c_wide_experts():
    ckpt = pretrained.load("lesson11_moe", device="cpu")
    assert ckpt.config.n_experts == 4 and ckpt.config.aux_loss_weight == 0.01
    for block in ckpt.model.blocks:
        assert isinstance(block.mlp, MoE) and block.mlp.d_hidden == 2 * ckpt.config.n_embd
    assert pretrained.load("lesson11_moe_no_aux", device="cpu").config.aux_loss_weight == 0.0
    assert "aux_loss" in ckpt.history.extra


def _copy(name, tmp_path):
    for ext in (".pt", ".json"):
        shutil.copy(pretrained.CHECKPOINT_DIR / f"{name}{ext}", tmp_path / f"{name}{ext}")
    return tmp_path / f"{name}.pt"


def test_a_flipped_byte_names_the_file_and_the_rebuild_command(tmp_path):
    pt = _copy("lesson11_dense", tmp_path)
    raw = bytearray(pt.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pt.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256") as err:
        pretrained.load("lesson11_dense", device="cpu", directory=tmp_path)
    assert str(pt) in str(err.value) and f"{REBUILD} lesson11_dense" in str(err.value)


def test_a_truncated_or_missing_file_names_the_rebuild_command(tmp_path):
    pt = _copy("lesson11_dense", tmp_path)
    pt.write_bytes(pt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated") as err:
        pretrained.load("lesson11_dense", device="cpu", directory=tmp_path)
    assert f"{REBUILD} lesson11_dense" in str(err.value)
    pt.unlink()
    with pytest.raises(CheckpointError, match="missing") as err:
        pretrained.load("lesson11_dense", device="cpu", directory=tmp_path)
    assert str(pt) in str(err.value) and f"{REBUILD} lesson11_dense" in str(err.value)


def test_a_file_damaged_with_its_hash_updated_still_fails_clearly(tmp_path):
    pt = _copy("lesson11_dense", tmp_path)
    garbage = b"not a checkpoint at all"
    pt.write_bytes(garbage)
    record_path = tmp_path / "lesson11_dense.json"
    record = json.loads(record_path.read_text())
    record.update(bytes=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
    record_path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="cannot be read") as err:
        pretrained.load("lesson11_dense", device="cpu", directory=tmp_path)
    assert f"{REBUILD} lesson11_dense" in str(err.value)


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(CheckpointError, match="lesson10") as err:
        pretrained.load("lesson99", device="cpu")
    assert "available" in str(err.value) and "lesson11_moe" in str(err.value)
    assert isinstance(err.value, ValueError)
    with pytest.raises(TypeError, match="name"):
        pretrained.load(10)
    with pytest.raises(ValueError, match="name"):
        pretrained.load("../lesson10")


def test_save_load_round_trip_with_swapped_moe_experts(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer().fit("abcdefgh ")
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=8, n_experts=4)
    model = GPT(config)
    model.blocks[1].mlp = MoE(8, n_experts=4, top_k=2, d_hidden=16)  # not what the config would build
    history = History(steps=[1], train_loss=[2.0], lr=[1e-3], grad_norm=[0.5], tokens_seen=[64], elapsed=[0.1],
                      eval_steps=[0, 1], val_loss=[2.2, 2.1], train_eval_loss=[2.2, 2.0])
    path = pretrained.save("tiny_moe", model, tok, history, metrics={"val_loss": 2.1}, description="a test",
                           lesson=11, meta={"note": [1, 2.5, "x"]}, directory=tmp_path)
    assert path == tmp_path / "tiny_moe.pt" and pretrained.available(tmp_path) == ["tiny_moe"]
    loaded = pretrained.load("tiny_moe", device="cpu", directory=tmp_path)
    idx = torch.tensor([tok.encode("abc def")])
    model.eval()
    assert torch.equal(loaded.model(idx)[0], model(idx)[0])
    assert loaded.model.blocks[1].mlp.d_hidden == 16 and loaded.model.blocks[0].mlp.d_hidden == 32
    assert loaded.history == history and loaded.meta == {"note": [1, 2.5, "x"]}
    assert loaded.tokenizer.decode(idx[0]) == "abc def"


def test_save_rejects_what_cannot_be_stored_plainly(tmp_path, lesson10):
    with pytest.raises(ValueError, match="metrics"):
        pretrained.save("x", lesson10.model, lesson10.tokenizer, lesson10.history, metrics={"loss": torch.tensor(1.0)},
                        description="d", lesson=10, directory=tmp_path)
    with pytest.raises(TypeError, match="model"):
        pretrained.save("x", "not a model", lesson10.tokenizer, lesson10.history, metrics={}, description="d",
                        lesson=10, directory=tmp_path)
    assert pretrained.available(tmp_path) == []
