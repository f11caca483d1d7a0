"""Byte-level BPE (gptlab.bpe), checked against Hugging Face `tokenizers` and against the paper's example."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from gptlab import data
from gptlab.bpe import BPETokenizer, bytes_to_unicode
from gptlab.tokenizers import BPETokenizer as ReExported


@pytest.fixture(scope="module")
def english():
    return data.load_text("shakespeare")[:60_000]


@pytest.fixture(scope="module")
def chinese():
    return data.load_text("chinese")[:30_000]


@pytest.fixture(scope="module")
def trained(english, chinese):
    return BPETokenizer(520, pattern="gpt2").train(english + chinese)


def hf_tokenizer(tok: BPETokenizer):
    """The same vocabulary and merges, loaded into HF's own byte-level BPE (the independent reference)."""
    tokenizers = pytest.importorskip("tokenizers")
    b2u = bytes_to_unicode()
    def show(i):
        return "".join(b2u[b] for b in tok.vocab[i])
    model = tokenizers.models.BPE(vocab={show(i): i for i in tok.vocab},
                                  merges=[(show(a), show(b)) for a, b in tok.merges])
    hf = tokenizers.Tokenizer(model)
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                           use_regex=tok.pattern == "gpt2")
    hf.decoder = tokenizers.decoders.ByteLevel()
    return hf


def test_reexported_from_tokenizers():
    assert ReExported is BPETokenizer


def test_same_ids_as_hugging_face_on_held_out_english_and_chinese(trained):
    hf = hf_tokenizer(trained)
    held_out = (data.load_text("shakespeare")[-8_000:] + "\n" + data.load_text("chinese")[-4_000:]
                + " naïve café, 🙂 don't 12345 ")
    ours = trained.encode(held_out)
    assert ours == hf.encode(held_out).ids
    assert len(ours) < len(held_out.encode("utf-8")) * 0.8  # the merges do compress
    assert hf.decode(ours) == trained.decode(ours) == held_out


def test_same_ids_as_hugging_face_without_pre_splitting():
    text = "the cat sat on the mat; the cat ate the rat. " * 20
    tok = BPETokenizer(300, pattern=None).train(text)
    held_out = "the rat sat on the cat; a mat ate the hat."
    assert tok.encode(held_out) == hf_tokenizer(tok).encode(held_out).ids


def test_incremental_counts_give_the_recounting_loops_merges(english):
    for pattern in ("gpt2", None):
        text = english[:20_000] if pattern else english[:3_000]
        fast = BPETokenizer(330, pattern).train(text)
        slow = BPETokenizer(330, pattern).train(text, incremental=False)
        assert list(fast.merges.items()) == list(slow.merges.items())
        assert len(fast.merges) == 330 - 256


def test_each_merge_is_the_most_frequent_pair_by_a_plain_recount(english):
    """Replay the merges: each must be a top pair of the chunks as they stood (ties: smallest pair)."""
    tok = BPETokenizer(290, "gpt2").train(english[:10_000])
    words = Counter(tuple(c.encode()) for c in tok.split(english[:10_000]))
    for (a, b), new_id in tok.merges.items():
        counts = Counter()
        for w, f in words.items():
            for p in zip(w, w[1:]):
                counts[p] += f
        top = max(counts.values())
        assert counts[(a, b)] == top and (a, b) == min(p for p, c in counts.items() if c == top)
        merged = Counter()
        for w, f in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == (a, b):
                    out.append(new_id)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += f
        words = merged


def test_sennrich_toy_dictionary():
    """Sennrich et al. (2016), Algorithm 1's dictionary, with '_' for the end-of-word marker </w>.

    The paper's code takes the most frequent pair; where several tie, Python's max returns the first in
    dictionary order. We break ties by the smallest pair of ids instead (deterministic), so at a tie the
    order may differ; every pair chosen where the maximum is unique, and every count, must agree.
    """
    vocab = {"low_": 5, "lower_": 2, "newest_": 6, "widest_": 3}
    tok = BPETokenizer(256 + 10).train_counts(vocab)
    learned = [tok.vocab[a] + tok.vocab[b] for a, b in tok.merges]
    # the paper's first merge: 'e s' (9: newest 6 + widest 3) ties with 's t' and 't </w>' — all 9
    assert learned[0] == b"es"
    # its merged tokens after 10 merges contain 'est</w>', 'low' and 'newest</w>', as the paper's run gives
    assert {b"est_", b"low", b"newest_"} <= set(learned)
    # the word 'lowest', never seen, splits into the paper's 'low' + 'est</w>'
    assert [tok.vocab[i] for i in tok.encode("lowest_")] == [b"low", b"est_"]


def test_ties_are_broken_by_the_smallest_pair():
    tok = BPETokenizer(257).train_counts({"ab": 1, "cd": 1})
    assert list(tok.merges) == [(ord("a"), ord("b"))]


def test_no_two_tokens_share_their_bytes(trained):
    assert len(set(trained.vocab.values())) == len(trained.vocab)


@pytest.mark.parametrize("pattern", [None, "gpt2", "cjk"])
def test_random_unicode_round_trips(pattern, english):
    tok = BPETokenizer(300, pattern).train(english[:2_000] + "中文的句子。" * 30)
    rng = random.Random(0)
    for _ in range(200):
        s = "".join(chr(rng.choice([rng.randrange(0x20, 0xD800), rng.randrange(0xE000, 0x30000),
                                    rng.randrange(0x20, 0x80)])) for _ in range(rng.randrange(0, 40)))
        assert tok.decode(tok.encode(s)) == s


def test_cjk_pattern_keeps_chinese_apart_from_latin():
    tok = BPETokenizer(256, "cjk")
    assert tok.split("GPT模型很大") == ["GPT", "模型很大"]
    assert all(len(c) <= 4 for c in tok.split("我们今天学习分词和词元"))


def test_save_and_load_round_trip(tmp_path, trained):
    path = trained.save(tmp_path / "bpe.json")
    again = BPETokenizer.load(path)
    assert again.merges == trained.merges and again.vocab == trained.vocab and again.pattern == trained.pattern
    text = "To be, or not to be: 这是一个问题"
    assert again.encode(text) == trained.encode(text)
    assert "pickle" not in path.read_text() and json.loads(path.read_text())["format"] == "gptlab-bpe"


def _corrupt(tmp_path, trained, edit):
    path = trained.save(tmp_path / "bpe.json")
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize("make, exc, fragment", [
    (lambda: BPETokenizer(100), ValueError, "vocab_size=100 must be at least 256"),
    (lambda: BPETokenizer(256.5), TypeError, "vocab_size"),
    (lambda: BPETokenizer(300, pattern="gpt5"), ValueError, "pattern"),
    (lambda: BPETokenizer(300).train(b"bytes"), TypeError, "text"),
    (lambda: BPETokenizer(300).train(None), TypeError, "text"),
    (lambda: BPETokenizer(300).train(""), ValueError, "empty"),
    (lambda: BPETokenizer(300).encode(12), TypeError, "text"),
    (lambda: BPETokenizer(300).encode("a\udc00"), ValueError, "surrogate"),
    (lambda: BPETokenizer(300).decode([1000]), ValueError, "ids[0]=1000 is not a token id"),
    (lambda: BPETokenizer(300).decode([-1]), ValueError, "ids[0]=-1"),
    (lambda: BPETokenizer(300).decode([1.5]), TypeError, "ids[0]=1.5"),
    (lambda: BPETokenizer(300).decode("abc"), TypeError, "ids"),
    (lambda: BPETokenizer(300).train_counts({"ab": 0}), ValueError, "counts['ab']=0"),
    (lambda: BPETokenizer(300).train_counts(["ab"]), TypeError, "counts"),
])
def test_bad_inputs_name_the_parameter(make, exc, fragment):
    with pytest.raises(exc, match=None) as info:
        make()
    assert fragment in str(info.value)


def test_corrupt_saved_files_name_the_path(tmp_path, trained):
    cases = [
        lambda d: d.update(format="something-else"),
        lambda d: d["merges"].append([99999, 1]),
        lambda d: d["merges"].append(d["merges"][0]),
        lambda d: d.pop("merges"),
        lambda d: d.update(vocab_size=200),
    ]
    for edit in cases:
        path = _corrupt(tmp_path, trained, edit)
        with pytest.raises(ValueError) as info:
            BPETokenizer.load(path)
        assert str(path) in str(info.value)
    truncated = trained.save(tmp_path / "cut.json")
    truncated.write_text(truncated.read_text()[:50])
    with pytest.raises(ValueError, match="not valid JSON"):
        BPETokenizer.load(truncated)
    with pytest.raises(ValueError, match="directory"):
        BPETokenizer.load(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        BPETokenizer.load(tmp_path / "missing.json")
