import pytest
import torch

from gptlab.tokenizers import CharTokenizer, WordTokenizer

TEXT = "To be, or not to be: that is the question.\n无可奈何花落去"


def test_char_round_trip_and_sorted_vocab():
    tok = CharTokenizer().fit(TEXT)
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.vocab == sorted(set(TEXT))
    assert tok.vocab_size == len(set(TEXT))


def test_char_unknown_policies():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharTokenizer().fit("abc").encode("abz")
    assert CharTokenizer(unknown="skip").fit("abc").encode("abz") == [0, 1]
    tok = CharTokenizer(unknown="<unk>").fit("abc")
    assert tok.encode("abz") == [tok.stoi["a"], tok.stoi["b"], tok.unk_id]
    assert tok.unk_id == 0


def test_word_round_trip_normalises_spacing():
    tok = WordTokenizer().fit(TEXT)
    assert tok.decode(tok.encode("To  be,or not")) == "to be, or not"
    ids = tok.encode(TEXT)
    assert tok.encode(tok.decode(ids)) == ids


def test_word_unknown_maps_to_unk_and_min_count():
    tok = WordTokenizer(min_count=2).fit("the cat and the dog and the end")
    assert set(tok.vocab) == {"<unk>", "the", "and"}
    assert tok.encode("the zebra") == [tok.stoi["the"], tok.unk_id]


def test_decode_accepts_tensors_and_rejects_out_of_range():
    tok = CharTokenizer().fit("abc")
    assert tok.decode(torch.tensor([2, 1, 0])) == "cba"
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([3])


def test_bad_arguments_and_unfitted_use():
    with pytest.raises(ValueError, match="min_count"):
        CharTokenizer(min_count=0)
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer().fit("")
    with pytest.raises(ValueError, match="fit"):
        CharTokenizer().encode("a")
