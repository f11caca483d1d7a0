"""Issue 11's fresh sweep: each bad input it found answered obscurely or silently, now a clear error.

One row per finding: the call, the exception type, and words the message must contain (the
parameter's name and what is allowed).
"""
from __future__ import annotations

import shutil

import pytest
import torch

from gptlab import distributed as di
from gptlab import exercises, moe, pretrained, quantization, scaling_laws
from gptlab.model import GPT, GPTConfig
from gptlab.train import CheckpointError, TrainConfig, Trainer

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)
DATA = torch.randint(0, 11, (200,))
W = torch.randn(8, 16)


def _pt_is_a_directory(tmp_path):
    shutil.copy(pretrained.CHECKPOINT_DIR / "lesson10.json", tmp_path / "lesson10.json")
    (tmp_path / "lesson10.pt").mkdir()
    return pretrained.load("lesson10", directory=tmp_path)


CASES = [
    # distributed
    ("DistInfo(rank=-1)", lambda p: di.DistInfo(rank=-1), ValueError, ["rank", "at least 0"]),
    ("DistInfo(world_size=0)", lambda p: di.DistInfo(world_size=0), ValueError, ["world_size", "at least 1"]),
    ("DistInfo(rank=2, world_size=2)", lambda p: di.DistInfo(rank=2, world_size=2), ValueError,
     ["rank=2", "below world_size=2"]),
    ("DistInfo(rank=1.5)", lambda p: di.DistInfo(rank=1.5), TypeError, ["rank"]),
    ("env_info(5)", lambda p: di.env_info(5), TypeError, ["environ", "mapping"]),
    ("backend_for('tpu')", lambda p: di.backend_for("tpu"), ValueError, ["device='tpu'", "'cpu' or 'cuda'"]),
    ("backend_for(5)", lambda p: di.backend_for(5), TypeError, ["device=5"]),
    ("setup('gpu')", lambda p: di.setup("gpu"), ValueError, ["device='gpu'"]),
    # pretrained
    ("load(device='gpu')", lambda p: pretrained.load("lesson10", device="gpu"), ValueError, ["device='gpu'"]),
    ("available(directory=5)", lambda p: pretrained.available(directory=5), TypeError, ["directory=5", "folder"]),
    ("load: .pt is a directory", _pt_is_a_directory, CheckpointError, ["lesson10.pt", "directory"]),
    # quantization
    ("QuantizedTensor codes beyond bits", lambda p: quantization.QuantizedTensor(
        torch.full((2, 2), 100, dtype=torch.int8), torch.ones(2, 1), bits=3), ValueError, ["codes", "[-3, 3]"]),
    ("QuantizedTensor float codes", lambda p: quantization.QuantizedTensor(torch.ones(2, 2), torch.ones(2, 1), 8),
     ValueError, ["codes", "integer"]),
    ("QuantizedTensor wrong scale shape", lambda p: quantization.QuantizedTensor(
        torch.ones(2, 4, dtype=torch.int8), torch.ones(3, 1), 8), ValueError, ["scale", "(2, 1)"]),
    ("QuantizedTensor bits=9", lambda p: quantization.QuantizedTensor(
        torch.ones(2, 2, dtype=torch.int8), torch.ones(2, 1), 9), ValueError, ["bits", "at most 8"]),
    ("QuantizedLinear(5)", lambda p: quantization.QuantizedLinear(5), TypeError, ["qweight", "QuantizedTensor"]),
    ("QuantizedLinear bias shape", lambda p: quantization.QuantizedLinear(
        quantization.quantize_absmax(W), torch.zeros(3)), ValueError, ["bias", "(8,)"]),
    ("QuantizedLinear forward wrong width", lambda p: quantization.QuantizedLinear(
        quantization.quantize_absmax(W))(torch.randn(2, 5)), ValueError, ["in_features=16", "(2, 5)"]),
    ("layer_inputs unknown name", lambda p: quantization.layer_inputs(
        GPT(TINY), torch.zeros(1, 4, dtype=torch.long), ["nope"]), ValueError, ["names", "'nope'", "Linear"]),
    ("layer_inputs names='lm_head'", lambda p: quantization.layer_inputs(
        GPT(TINY), torch.zeros(1, 4, dtype=torch.long), "lm_head"), TypeError, ["names", "list"]),
    # train
    ("Trainer block_size > model's", lambda p: Trainer(GPT(TINY), TrainConfig(
        max_steps=1, batch_size=2, block_size=16, progress=False, device="cpu"), DATA, DATA), ValueError,
     ["block_size=16", "at most 8"]),
    # scaling_laws
    ("fit_power_law('ab', 'cd')", lambda p: scaling_laws.fit_power_law("ab", "cd"), TypeError, ["x='ab'"]),
    ("fit_power_law(['a', 'b'], ...)", lambda p: scaling_laws.fit_power_law(["a", "b"], [1, 2]), ValueError,
     ["x=", "numbers"]),
    ("fit_power_law(None, ...)", lambda p: scaling_laws.fit_power_law([1, 2], None), TypeError, ["y=None"]),
    ("size_label(None)", lambda p: scaling_laws.size_label(None), TypeError, ["config", "GPTConfig"]),
    # exercises
    ("hints_for(5)", lambda p: exercises.hints_for(5), TypeError, ["exercise id", "string", "'1.3'", "int"]),
    ("exercise_id(None)", lambda p: exercises.exercise_id(None), TypeError, ["exercise id", "NoneType"]),
    # moe
    ("dense_gates rows not summing to 1", lambda p: moe.dense_gates(torch.full((3, 4), 2.0), 2), ValueError,
     ["router_probs", "sum to 1", "softmax"]),
]


@pytest.mark.parametrize("label, call, error, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_answered_clearly(label, call, error, words, tmp_path):
    with pytest.raises(error) as info:
        call(tmp_path)
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), f"{label}: {word!r} missing from {message!r}"


def test_the_fixes_keep_good_inputs_working():
    """The new checks reject only what is wrong: the ordinary calls still work."""
    assert di.DistInfo(rank=1, world_size=2).rank == 1
    assert di.backend_for("cpu") == "gloo" and di.backend_for(torch.device("cuda", 1)) == "nccl"
    q = quantization.quantize_absmax(W, bits=4, group_size=8)
    layer = quantization.QuantizedLinear(q, torch.zeros(8))
    x = torch.randn(3, 16)
    torch.testing.assert_close(layer(x), x @ q.dequantize().T)
    gates = moe.dense_gates(torch.randn(5, 4).softmax(-1), 2)
    torch.testing.assert_close(gates.sum(-1), torch.ones(5))
    assert (gates > 0).sum(-1).tolist() == [2] * 5
    a, alpha = scaling_laws.fit_power_law([1, 10, 100], [4.0, 2.0, 1.0])
    assert alpha == pytest.approx(0.30103, rel=1e-4) and a == pytest.approx(4.0, rel=1e-6)
    assert scaling_laws.size_label(TINY) == "1L·16d"
    assert pretrained.available(directory=str(pretrained.CHECKPOINT_DIR))
