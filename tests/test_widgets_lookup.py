"""LookupExplorer (lesson 04): a typed key:value sequence through a (here untrained) lookup model."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gptlab.attention import SelfAttention
from gptlab.widgets import LookupExplorer

KEYS, N_VALUES = "ABCD", 4
D = len(KEYS) + N_VALUES + len(KEYS)


def encode(text):
    *pairs, question = text.split()
    x = torch.zeros(1, len(pairs) + 1, D)
    for t, pair in enumerate(pairs):
        key, value = pair.split(":")
        x[0, t, KEYS.index(key)] = 1
        x[0, t, len(KEYS) + int(value)] = 1
    x[0, -1, len(KEYS) + N_VALUES + KEYS.index(question.rstrip("?"))] = 1
    return x


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = SelfAttention(D, 4)
        self.readout = nn.Linear(4, N_VALUES)

    def forward(self, x):
        return self.readout(self.attn(x)[:, -1])


def make():
    torch.manual_seed(0)
    model = Tiny()
    return model, LookupExplorer(model, model.attn, encode, "A:1 B:2 C:3 B?")


def test_weights_and_probabilities_are_the_models():
    model, ex = make()
    x = encode("A:1 B:2 C:3 B?")
    with torch.no_grad():
        probs = F.softmax(model(x)[0], dim=-1)
    assert ex.tokens == ["A:1", "B:2", "C:3", "B?"]
    assert torch.allclose(ex.probs, probs)
    assert torch.allclose(ex.question_weights, model.attn.last_weights[0, -1])
    assert abs(float(ex.question_weights.sum()) - 1) < 1e-5
    assert f"answers {int(probs.argmax())}" in ex.summary


def test_a_malformed_sequence_says_the_format_and_keeps_the_picture():
    _, ex = make()
    before = ex.summary
    for bad in ("A:1 B:x B?", "A1 B?", "A:1 Z?", ""):
        ex.set(text=bad)
        assert ex.error is not None and "e.g. 'B:5" in ex.error, bad
        assert ex.summary == before
    ex.set(text="D:0 D?")
    assert ex.error is None and ex.tokens == ["D:0", "D?"]


def test_bad_arguments():
    model, _ = make()
    with pytest.raises(ValueError, match="encode"):
        LookupExplorer(model, model.attn, None, "A:1 A?")
    with pytest.raises(ValueError, match="attention"):
        LookupExplorer(model, model.readout, encode, "A:1 A?")
