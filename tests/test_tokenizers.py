import re

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


def test_to_dict_from_dict_round_trip_keeps_ids():
    import json

    from gptlab.tokenizers import Tokenizer
    for tok in (CharTokenizer().fit(TEXT), CharTokenizer(unknown="<unk>").fit(TEXT),
                WordTokenizer(lowercase=False, min_count=1).fit(TEXT), WordTokenizer(min_count=2).fit(TEXT * 2)):
        d = json.loads(json.dumps(tok.to_dict()))  # plain JSON data survives a round trip through text
        assert d["class"] == type(tok).__name__ and d["vocab"] == tok.vocab
        back = Tokenizer.from_dict(d)
        assert type(back) is type(tok)
        assert back.vocab == tok.vocab and back.unknown == tok.unknown and back.min_count == tok.min_count
        assert back.encode("To be, or not") == tok.encode("To be, or not")
        assert type(tok).from_dict(d).stoi == tok.stoi
    assert WordTokenizer.from_dict(WordTokenizer(lowercase=False).fit(TEXT).to_dict()).lowercase is False


@pytest.mark.parametrize("bad, fragment", [
    (None, "must be a dict"),
    ({"class": "CharTokenizer", "vocab": ["a"]}, "'settings'"),
    ({"class": "Nope", "settings": {}, "vocab": ["a"]}, "not a known tokenizer"),
    ({"class": "CharTokenizer", "settings": {}, "vocab": "abc"}, "d['vocab']"),
    ({"class": "CharTokenizer", "settings": {}, "vocab": ["a", 1]}, "non-string"),
    ({"class": "CharTokenizer", "settings": {}, "vocab": ["a", "a"]}, "twice"),
    ({"class": "CharTokenizer", "settings": {}, "vocab": []}, "empty"),
    ({"class": "CharTokenizer", "settings": {"colour": 1}, "vocab": ["a"]}, "d['settings']"),
    ({"class": "CharTokenizer", "settings": {"min_count": 0}, "vocab": ["a"]}, "min_count"),
    ({"class": "CharTokenizer", "settings": {"unknown": "<unk>"}, "vocab": ["a"]}, "'<unk>'"),
    ({"class": "CharTokenizer", "settings": [], "vocab": ["a"]}, "d['settings']"),
])
def test_from_dict_rejects_malformed_dicts(bad, fragment):
    from gptlab.tokenizers import Tokenizer
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Tokenizer.from_dict(bad)


def test_from_dict_on_a_subclass_rejects_another_class():
    d = CharTokenizer().fit("abc").to_dict()
    with pytest.raises(ValueError, match="is not a WordTokenizer"):
        WordTokenizer.from_dict(d)
