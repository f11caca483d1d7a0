"""TokenizerExplorer (lesson 14): the tokens it shows are the tokenizer's, and bad input is refused clearly."""
from __future__ import annotations

import pytest

from gptlab import data
from gptlab.bpe import BPETokenizer
from gptlab.widgets import TokenizerExplorer
from gptlab.widgets.tokens import token_label, tokens_html

ENGLISH = data.load_text("shakespeare")[:20_000]
TEXT = ENGLISH + data.load_text("chinese")[:8_000]


@pytest.fixture(scope="module")
def tokenizers():
    return {"both": BPETokenizer(400, "gpt2").train(TEXT), "English": BPETokenizer(400, "gpt2").train(ENGLISH)}


def test_tokens_are_the_truncated_tokenizers_and_cover_the_text(tokenizers):
    ex = TokenizerExplorer(tokenizers, "the cat sat on the mat", vocab_size=300)
    assert ex.error is None
    assert ex.ids == BPETokenizer(300, "gpt2").train(TEXT).encode("the cat sat on the mat")
    assert b"".join(ex.pieces) == b"the cat sat on the mat"
    assert f"{len(ex.ids)} tokens for 22 characters" in ex.summary


def test_truncating_equals_training_to_the_smaller_size(tokenizers):
    big = tokenizers["both"]
    for size in (256, 270, 333):
        small = BPETokenizer(size, "gpt2").train(TEXT)
        assert big.truncate(size).merges == small.merges


def test_curves_fall_with_the_vocabulary_and_english_bpe_costs_chinese_more(tokenizers):
    ex = TokenizerExplorer(tokenizers, "我们的产品质量很好，价格也不错。", vocab_size=400)
    sizes, both = ex.curves["both"]
    assert sizes[0] == 256 and both[0] == len("我们的产品质量很好，价格也不错。".encode()) / 16  # bytes per character
    assert all(a >= b for a, b in zip(both, both[1:]))
    assert ex.curves["English"][1][-1] > both[-1]


def test_a_character_split_across_tokens_shows_its_bytes():
    assert token_label("中".encode()[:2]) == "‹e4 b8›"
    assert token_label(b" the") == "␣the"
    assert "&lt;b&gt;" in tokens_html([b"<b>"])


def test_bad_input_names_the_control_and_keeps_the_picture(tokenizers):
    ex = TokenizerExplorer(tokenizers, "the cat", vocab_size=300)
    picture = bytes(ex.image.value)
    ex.set(vocab_size=123)
    assert "vocab_size=123" in ex.error and ex.state["vocab_size"] == 300
    ex.set(text="   ")
    assert "text is empty" in ex.error and bytes(ex.image.value) == picture
    ex.set(text="x" * 1000)
    assert "max_chars" in ex.error
    ex.set(text="the dog")
    assert ex.error is None


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(tokenizers={}), "non-empty dict"),
    (dict(tokenizers={"a": "not a tokenizer"}), "tokenizers['a']"),
    (dict(vocab_size=5000), "vocab_size=5000"),
    (dict(trained_on="French"), "trained_on='French'"),
    (dict(max_chars=0), "max_chars=0"),
])
def test_impossible_starting_values_raise(tokenizers, kwargs, fragment):
    args = {"tokenizers": tokenizers, "text": "the cat", **kwargs}
    with pytest.raises(ValueError) as info:
        TokenizerExplorer(args.pop("tokenizers"), args.pop("text"), **args)
    assert fragment in str(info.value)
