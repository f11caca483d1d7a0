import pytest

from gptlab import data


def test_corpora_load_and_are_large_enough():
    names = data.load_names()
    assert len(names) > 4000 and names[0] == "mary" and all(n.islower() for n in names)
    assert len(data.load_text("shakespeare")) > 1_000_000       # at least 1 MB of English
    assert "To be, or not to be" in data.load_text("shakespeare")
    chinese = data.load_text("chinese")
    assert len(chinese) > 1_000_000 and "的" in chinese


def test_word_sentences_are_lower_case_tokens():
    sents = data.word_sentences("shakespeare")
    assert len(sents) > 10_000
    assert all(tok == tok.lower() for s in sents[:500] for tok in s)


def test_splits_are_deterministic_and_disjoint():
    items = list(range(100))
    tr1, va1 = data.train_val_split(items, 0.2)
    tr2, va2 = data.train_val_split(items, 0.2)
    assert (tr1, va1) == (tr2, va2) and len(va1) == 20 and not set(tr1) & set(va1)
    text = "abcdefghij"
    assert data.train_val_split(text, 0.3) == ("abcdefg", "hij")


def test_bad_names_and_fractions_give_clear_errors():
    with pytest.raises(ValueError, match="choose one of"):
        data.load_text("klingon")
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split([1, 2, 3], 1.5)
    with pytest.raises(ValueError, match="too small"):
        data.train_val_split([1], 0.5)


def test_missing_corpus_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GPTLAB_DATA", str(tmp_path))
    data._load_shakespeare.cache_clear()
    try:
        with pytest.raises(data.CorpusNotFoundError, match="python -m gptlab.data fetch"):
            data.load_text("shakespeare")
        (tmp_path / "shakespeare.txt").write_text("damaged")
        with pytest.raises(data.CorpusNotFoundError, match="checksum"):
            data.load_text("shakespeare")
    finally:
        data._load_shakespeare.cache_clear()
