"""Issue 12, part 6: on lesson 10's trained model, the attention explorer takes a typed line."""
import pytest
import torch

from gptlab import pretrained
from gptlab.widgets import AttentionExplorer


@pytest.fixture(scope="module")
def lesson10():
    return pretrained.load("lesson10", device="cpu")


@pytest.fixture()
def explorer(lesson10):
    text = "KING.\nWhat say you?\n"
    return AttentionExplorer.from_text(lesson10.model, lesson10.tokenizer, text, text_box=True,
                                       layer=0, head=0, query=len(text) - 1)


def test_a_typed_line_is_run_through_the_trained_model(explorer, lesson10):
    line = "HAMLET. To be, or not to be"
    explorer.set(text=line, layer=1, head=2)
    assert explorer.error is None and explorer.tokens == list(line)
    assert explorer.controls["query"].max == len(line) - 1
    ids = torch.tensor([lesson10.tokenizer.encode(line)])
    maps = lesson10.model.attention_maps(ids)  # (n_layer, B, n_head, T, T): an independent forward pass
    torch.testing.assert_close(explorer.shown_weights, maps[1, 0, 2])


@pytest.mark.parametrize("line, culprits", [
    ("Café au lait", ["'é'"]),
    ("Hello 世界", ["'世'", "'界'"]),
    ("KING. ☃ ♛", ["'☃'", "'♛'"]),
])
def test_an_unknown_character_gets_a_message_and_the_picture_stays(explorer, line, culprits):
    before, tokens = explorer.shown_weights.clone(), explorer.tokens
    explorer.set(text=line)  # no exception reaches the learner
    assert explorer.error is not None and "not among the" in explorer.error and "characters" in explorer.error
    for culprit in culprits:
        assert culprit in explorer.error
    assert "Traceback" not in explorer.error
    assert explorer.tokens == tokens
    torch.testing.assert_close(explorer.shown_weights, before)
    explorer.set(text="KING. Good")  # a line it knows again: the message goes away
    assert explorer.error is None and explorer.tokens == list("KING. Good")


def test_a_line_longer_than_the_context_gets_a_message(explorer, lesson10):
    block_size = lesson10.config.block_size
    explorer.set(text="a" * (block_size + 1))
    assert f"block_size={block_size}" in explorer.error
    explorer.set(text="a" * block_size)  # exactly the context fits
    assert explorer.error is None and len(explorer.tokens) == block_size
