"""Issue 11 for the text modules: every bad input gets a clear error, nothing is silently wrong.

Table-driven, one table per module: each row is (what is called, the exception it must raise, a
regex the message must match). The regex names the parameter and what is allowed or given, so a
bare traceback from inside Python, numpy or torch ("'NoneType' object is not iterable", "index out
of range in self", torch's list of device types) fails the row. Then one test per class of issue 11
that these modules had (silently wrong results, obscure errors, checkers that raise).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gptlab import data as D
from gptlab import device as DV
from gptlab import exercises as E
from gptlab import neural_lm as N
from gptlab import ngram as G
from gptlab import sampling as S
from gptlab import tokenizers as T
from gptlab._checks import ArgumentTypeError

NAN, INF = float("nan"), float("inf")
CHAR = T.CharTokenizer().fit("hello world")             # 8 ids: ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w'
WORD = T.WordTokenizer().fit("the cat sat on the mat .")
SENTS = [s.split() for s in ("the cat sat", "the dog sat", "a cat ran")]
LM = G.NGramLM(2, smoothing="laplace").fit(SENTS)        # V = 8
torch.manual_seed(0)
MLP = N.MLPLanguageModel(10, 3)
X, Y = N.make_windows([1, 2, 3, 4, 5, 6], 3, 0)
LOGITS = torch.tensor([1.0, 2.0, 3.0])


# --------------------------------------------------------------------------------------------
# One table per module

TOKENIZERS = [
    ("decode-float", lambda: CHAR.decode([1.7]), TypeError, r"ids\[0\]=1\.7 must be a whole-number token id"),
    ("decode-negative", lambda: CHAR.decode([-1]), ValueError, r"ids\[0\]=-1 is negative; token ids run from 0 to 7"),
    ("decode-too-big", lambda: CHAR.decode([8]), ValueError, r"ids\[0\]=8 is out of range.*0\.\.7"),
    ("decode-str", lambda: CHAR.decode("abc"), TypeError, r"ids='abc' must be a list of token ids"),
    ("decode-none", lambda: CHAR.decode(None), TypeError, r"ids=None must be a list of token ids"),
    ("decode-int", lambda: CHAR.decode(3), TypeError, r"ids=3 must be a list.*wrap it in a list"),
    ("decode-bool", lambda: CHAR.decode([True]), TypeError, r"ids\[0\]=True .*a bool"),
    ("decode-float-tensor", lambda: CHAR.decode(torch.tensor([1.0])), TypeError, r"ids .*dtype torch\.float32"),
    ("decode-2d", lambda: CHAR.decode(torch.tensor([[1, 2]])), ValueError, r"ids must be 1-D.*\(1, 2\)"),
    ("decode-nested", lambda: CHAR.decode([[1, 2]]), TypeError, r"ids\[0\]=\[1, 2\] must be a whole-number"),
    ("encode-none", lambda: CHAR.encode(None), TypeError, r"text=None must be a string"),
    ("encode-list", lambda: CHAR.encode(["h"]), TypeError, r"text=\['h'\] must be a string"),
    ("fit-none", lambda: T.CharTokenizer().fit(None), TypeError, r"texts=None must be a string or a list of strings"),
    ("fit-number", lambda: T.CharTokenizer().fit(5), TypeError, r"texts=5 must be a string or a list of strings"),
    ("fit-list-of-numbers", lambda: T.CharTokenizer().fit([1]), TypeError, r"texts\[0\]=1 must be a string"),
    ("fit-empty", lambda: T.CharTokenizer().fit(""), ValueError, r"texts is empty"),
    ("unknown-none", lambda: T.CharTokenizer(unknown=None), TypeError, r"unknown=None must be 'error', 'skip'"),
    ("unknown-empty", lambda: T.CharTokenizer(unknown=""), ValueError, r"unknown='' must be 'error', 'skip'"),
    ("min_count-zero", lambda: T.CharTokenizer(min_count=0), ValueError, r"min_count=0 must be at least 1"),
    ("min_count-float", lambda: T.WordTokenizer(min_count=1.5), TypeError, r"min_count=1\.5 must be a whole number"),
    ("min_count-keeps-nothing", lambda: T.WordTokenizer(min_count=100).fit("a b c"), ValueError,
     r"min_count=100 keeps no token.*appears 1 time.*min_count <= 1"),
    ("lowercase-str", lambda: T.WordTokenizer(lowercase="yes"), TypeError, r"lowercase='yes' must be True or False"),
    ("tokenize-none", lambda: WORD.tokenize(None), TypeError, r"text=None must be a string"),
    ("detokenize-str", lambda: CHAR.detokenize("ab"), TypeError, r"tokens='ab' must be a list of token strings"),
    ("detokenize-ints", lambda: WORD.detokenize([1]), TypeError, r"tokens\[0\]=1 must be a token string"),
    ("from_dict-none", lambda: T.Tokenizer.from_dict(None), TypeError, r"d=None must be a dict made by .*to_dict"),
    ("from_dict-missing", lambda: T.Tokenizer.from_dict({}), ValueError, r"d is missing 'class', 'settings', 'vocab'"),
    ("from_dict-class", lambda: T.Tokenizer.from_dict({"class": "X", "settings": {}, "vocab": ["a"]}), ValueError,
     r"d\['class'\]='X' is not a known tokenizer; known: .*CharTokenizer"),
]

NGRAM = [
    ("n-zero", lambda: G.NGramLM(0), ValueError, r"n=0 must be at least 1"),
    ("n-str", lambda: G.NGramLM("3"), TypeError, r"n='3' must be a whole number"),
    ("smoothing", lambda: G.NGramLM(2, smoothing="kn"), ValueError, r"smoothing='kn' is not supported.*'kneser-ney'"),
    ("k-nan", lambda: G.NGramLM(2, k=NAN), ValueError, r"k=nan must be a finite number"),
    ("discount", lambda: G.NGramLM(2, discount=1.5), ValueError, r"discount=1\.5 must be at most 1"),
    ("fit-none", lambda: G.NGramLM(2).fit(None), TypeError, r"sentences=None must be a list of sentences"),
    ("fit-number", lambda: G.NGramLM(2).fit(5), TypeError, r"sentences=5 must be a list of sentences"),
    ("fit-str", lambda: G.NGramLM(2).fit("the cat"), ValueError, r"sentences must be a list of sentences.*one str"),
    ("fit-list-of-numbers", lambda: G.NGramLM(2).fit([1, 2]), TypeError, r"sentences\[0\]=1 must be a sentence"),
    ("fit-unhashable-token", lambda: G.NGramLM(2).fit([[["a"]]]), TypeError,
     r"sentences\[0\] contains the token \['a'\] \(list\); a token must be a str"),
    ("decode-negative", lambda: LM.decode([-1]), ValueError, r"ids\[0\]=-1 is negative"),
    ("decode-float", lambda: LM.decode([1.7]), TypeError, r"ids\[0\]=1\.7 must be a whole-number token id"),
    ("decode-too-big", lambda: LM.decode([8]), ValueError, r"ids\[0\]=8 is out of range.*0\.\.7"),
    ("encode-str", lambda: LM.encode("the cat"), ValueError, r"tokens must be a list or tuple of tokens, not the str"),
    ("encode-none", lambda: LM.encode(None), TypeError, r"tokens=None must be a list or tuple of tokens"),
    ("encode-end", lambda: LM.encode(["the"], end="yes"), TypeError, r"end='yes' must be True or False"),
    ("generate-context-str", lambda: LM.generate(5, context="the cat"), ValueError,
     r"context must be a list or tuple of tokens, not the str 'the cat'"),
    ("generate-max_tokens", lambda: LM.generate(-1), ValueError, r"max_tokens=-1 must be at least 0"),
    ("generate-temperature", lambda: LM.generate(3, temperature=-1), ValueError, r"temperature=-1 must be at least 0"),
    ("generate-top_p", lambda: LM.generate(3, top_p=NAN), ValueError, r"top_p=nan must be a finite number"),
    ("prob-context-none", lambda: LM.prob("cat", None), TypeError, r"context=None must be a list or tuple of tokens"),
    ("prob-token-list", lambda: LM.prob(["cat"], ["the"]), TypeError, r"token=\['cat'\] must be one token"),
    ("next_token_logits-number", lambda: LM.next_token_logits(5), TypeError, r"context=5 must be a list"),
    ("sentence_logprob-str", lambda: LM.sentence_logprob("the cat"), ValueError, r"sentence must be a list of tokens"),
    ("perplexity-none", lambda: LM.perplexity(None), TypeError, r"sentences=None must be a list of sentences"),
    ("with_order", lambda: LM.with_order(5), ValueError, r"n=5 must be at most 2"),
    ("with_k", lambda: LM.with_k("a"), TypeError, r"k='a' must be a number"),
    ("count_sentences-str", lambda: G.count_sentences("abc"), ValueError, r"sentences must be a list of sentences"),
    ("count_sentences-none", lambda: G.count_sentences(None), TypeError, r"sentences=None must be a list"),
    ("by_counting-corpus", lambda: G.sentence_probability_by_counting("a", None), TypeError, r"corpus=None must be"),
    ("by_counting-sentence", lambda: G.sentence_probability_by_counting(None, ["a"]), TypeError,
     r"sentence=None must be a sentence: a str or a list of tokens"),
    ("coverage-train", lambda: G.heldout_sentence_coverage(None, ["a"]), TypeError, r"train=None must be a list"),
    ("ngram-coverage-train", lambda: G.heldout_ngram_coverage("a b", SENTS, 2), ValueError, r"train must be a list"),
    ("ngram-coverage-heldout", lambda: G.heldout_ngram_coverage(SENTS, None, 2), TypeError, r"heldout=None must be"),
]

DATA = [
    ("load_text-unknown", lambda: D.load_text("x"), ValueError, r"name='x' is not a corpus; choose one of 'names'"),
    ("load_text-none", lambda: D.load_text(None), TypeError, r"name=None must be a corpus name, one of 'names'"),
    ("word_sentences-lowercase", lambda: D.word_sentences(lowercase="no"), TypeError, r"lowercase='no' must be True"),
    ("split-fraction-zero", lambda: D.train_val_split([1, 2, 3], 0), ValueError, r"val_fraction=0\.0 must be between"),
    ("split-fraction-nan", lambda: D.train_val_split([1, 2, 3], NAN), ValueError, r"val_fraction=nan must be finite"
     r"|val_fraction=nan must be a finite number"),
    ("split-fraction-str", lambda: D.train_val_split([1, 2, 3], "0.1"), TypeError, r"val_fraction='0\.1' must be a"),
    ("split-items-none", lambda: D.train_val_split(None), TypeError, r"items=None must be a str \(a text\) or a list"),
    ("split-items-one", lambda: D.train_val_split([1]), ValueError, r"items has 1 item\(s\).*at least 2"),
    ("split-shuffle", lambda: D.train_val_split([1, 2, 3], shuffle="yes"), TypeError, r"shuffle='yes' must be True"),
    ("split-seed", lambda: D.train_val_split([1, 2, 3], seed=1.5), TypeError, r"seed=1\.5 must be a whole number"),
    # checked before anything else: a truthy non-bool must not start a download
    ("fetch-force", lambda: D.fetch_shakespeare(force="x"), TypeError, r"force='x' must be True or False"),
]

NEURAL_LM = [
    ("vocab_size", lambda: N.MLPLanguageModel(0, 3), ValueError, r"vocab_size=0 must be at least 1"),
    ("activation", lambda: N.MLPLanguageModel(10, 3, activation="relu"), ValueError, r"activation='relu' is not"),
    ("idx-1d", lambda: MLP(torch.tensor([1, 2, 3])), ValueError,
     r"idx must have shape \(B, context_size\), got \(3,\); for a single window use idx\.unsqueeze\(0\)"),
    ("idx-too-big", lambda: MLP(torch.tensor([[1, 2, 10]])), ValueError,
     r"idx contains token id 10, outside the vocabulary 0\.\.9 \(vocab_size=10\)"),
    ("idx-negative", lambda: MLP(torch.tensor([[1, 2, -1]])), ValueError, r"idx contains token id -1"),
    ("idx-float", lambda: MLP(torch.tensor([[1.0, 2.0, 3.0]])), ValueError, r"idx must hold integer token ids"),
    ("idx-list", lambda: MLP([[1, 2, 3]]), TypeError, r"idx must be a torch tensor of token ids"),
    ("idx-width", lambda: MLP(torch.tensor([[1, 2]])), ValueError, r"idx has 2 tokens per row.*context_size=3"),
    ("targets-shape", lambda: MLP(torch.tensor([[1, 2, 3]]), torch.tensor([1, 2])), ValueError,
     r"targets has 2 ids but idx has B=1 rows"),
    ("targets-too-big", lambda: MLP(torch.tensor([[1, 2, 3]]), torch.tensor([10])), ValueError,
     r"targets contains token id 10"),
    ("targets-float", lambda: MLP(torch.tensor([[1, 2, 3]]), torch.tensor([1.0])), ValueError,
     r"targets must hold integer token ids"),
    ("next_token_logits-pad", lambda: MLP.next_token_logits([1], 10), ValueError, r"pad_id=10 must be at most 9"),
    ("next_token_logits-float", lambda: MLP.next_token_logits([1.5], 0), TypeError, r"ids\[0\]=1\.5 must be a whole"),
    ("make_windows-none", lambda: N.make_windows(None, 2, 0), TypeError, r"token_ids=None must be a list of ids"),
    ("make_windows-str", lambda: N.make_windows("abc", 2, 0), TypeError, r"token_ids='abc' must be a list of ids"),
    ("make_windows-negative", lambda: N.make_windows([-1, 2], 2, 0), ValueError, r"token_ids\[0\]=-1 is negative"),
    ("make_windows-float-nested", lambda: N.make_windows([[1], [2.5]], 2, 0), TypeError,
     r"token_ids\[1\]\[0\]=2\.5 must be a whole-number token id"),
    ("make_windows-float-tensor", lambda: N.make_windows(torch.tensor([1.5]), 2, 0), TypeError,
     r"token_ids must hold whole-number token ids.*float32"),
    ("train-device-gpu", lambda: N.train_mlp_lm(MLP, X, Y, steps=1, device="gpu", progress=False), ValueError,
     r"device='gpu' is not supported; allowed device names: 'cpu', 'cuda', 'cuda:N'.*'mps'.*Available here: 'cpu'"),
    ("train-X-float", lambda: N.train_mlp_lm(MLP, X.float(), Y, steps=1, progress=False), ValueError,
     r"X must hold integer token ids"),
    ("train-X-list", lambda: N.train_mlp_lm(MLP, [[1, 2, 3]], Y, steps=1, progress=False), TypeError,
     r"X must be a torch tensor of token ids"),
    ("train-model-none", lambda: N.train_mlp_lm(None, X, Y, steps=1), TypeError, r"model=None must be a torch\.nn"),
    ("train-weight_decay", lambda: N.train_mlp_lm(MLP, X, Y, steps=1, weight_decay=-1), ValueError,
     r"weight_decay=-1 must be at least 0"),
    ("perplexity-batch_size", lambda: N.perplexity(MLP, X, Y, batch_size=0), ValueError,
     r"batch_size=0 must be at least 1"),
    ("perplexity-mismatch", lambda: N.perplexity(MLP, X, Y[:2]), ValueError, r"X has 6 rows and Y has 2"),
]

DEVICE = [
    ("pick-gpu", lambda: DV.pick_device("gpu"), ValueError,
     r"device='gpu' is not supported; allowed device names: 'cpu', 'cuda', 'cuda:N'.*'mps'"),
    ("pick-number", lambda: DV.pick_device(5), TypeError, r"device=5 must be a device name"),
    ("pick-empty", lambda: DV.pick_device(""), ValueError, r"device='' is not supported"),
    ("thread-candidates-float", lambda: DV.fastest_num_threads(lambda: 0, [1.5]), TypeError,
     r"candidates=\[1\.5\] must be whole-number thread counts"),
    ("thread-candidates-huge", lambda: DV.fastest_num_threads(lambda: 0, [10**6]), ValueError,
     r"candidates=\[1000000\] must be thread counts from 1 to \d+"),
    ("thread-candidates-int", lambda: DV.fastest_num_threads(lambda: 0, 3), TypeError, r"candidates=3 must be a list"),
    ("thread-margin", lambda: DV.fastest_num_threads(lambda: 0, [1], margin=NAN), ValueError, r"margin=nan must be"),
    ("timing-seconds-none", lambda: DV.describe_thread_timing(1, None), TypeError, r"seconds=None must be the"),
    ("timing-seconds-negative", lambda: DV.describe_thread_timing(1, {1: -1.0}), ValueError,
     r"seconds\[1\]=-1\.0 must be a finite number of seconds"),
    ("training-threads-float", lambda: DV.pick_training_threads(MLP, torch.zeros(2, 4)), ValueError,
     r"batch must hold integer token ids"),
]

SAMPLING = [
    ("logits-plus-inf", lambda: S.next_token_probs(torch.tensor([INF, 1.0])), ValueError,
     r"logits contain \+inf \(at index 0\); a logit must be finite, or -inf"),
    ("logits-none", lambda: S.next_token_probs(None), TypeError, r"logits=None must be a list, numpy array or"),
    ("logits-str", lambda: S.next_token_probs(["a", "b"]), TypeError, r"logits must be a list.*cannot be read"),
    ("logits-3d", lambda: S.next_token_probs(torch.zeros(1, 1, 3)), ValueError, r"logits must have shape \(V,\)"),
    ("temperature", lambda: S.next_token_probs(LOGITS, temperature=-1), ValueError, r"temperature=-1 must be at least"),
    ("top_k", lambda: S.next_token_probs(LOGITS, top_k=-3), ValueError, r"top_k=-3 must be at least 1"),
    ("top_p", lambda: S.next_token_probs(LOGITS, top_p=NAN), ValueError, r"top_p=nan must be a finite number"),
    ("previous-float", lambda: S.next_token_probs(LOGITS, previous=[1.5], repetition_penalty=1.2), TypeError,
     r"previous\[0\]=1\.5 must be a whole-number token id"),
    ("previous-negative", lambda: S.next_token_probs(LOGITS, previous=[-1]), ValueError, r"previous\[0\]=-1 is neg"),
    ("previous-too-big", lambda: S.next_token_probs(LOGITS, previous=[5]), ValueError,
     r"previous contains token id 5, outside the vocabulary 0\.\.2"),
    ("generator", lambda: S.make_generator("x"), TypeError, r"generator='x' must be None, an int seed"),
    ("generator-device", lambda: S.make_generator(1, device="gpu"), ValueError, r"device='gpu' is not supported"),
    ("generate-fn", lambda: S.generate(None, [1], 2), TypeError, r"logits_fn=None must be a function"),
    ("generate-prompt-float", lambda: S.generate(lambda ids: LOGITS, [1.5], 2), TypeError, r"prompt\[0\]=1\.5"),
    ("generate-prompt-too-big", lambda: S.generate(lambda ids: LOGITS, [7], 2), ValueError,
     r"prompt contains token id 7, outside the vocabulary 0\.\.2"),
    ("generate-stop_token", lambda: S.generate(lambda ids: LOGITS, [1], 2, stop_token=1.5), TypeError,
     r"stop_token=1\.5 must be a whole number"),
    ("generate-fn-returns-none", lambda: S.generate(lambda ids: None, [1], 2), TypeError, r"logits_fn\(ids\)=None"),
    ("entropy-unnormalised", lambda: S.entropy([2.0, 3.0]), ValueError, r"probs must sum to 1.*got a sum of 5"),
    ("entropy-nan", lambda: S.entropy([NAN, 1.0]), ValueError, r"probs contain NaN or inf"),
    ("entropy-empty", lambda: S.entropy([]), ValueError, r"probs must have shape \(V,\) or \(B, V\) with V >= 1"),
    ("kept_mass-before", lambda: S.kept_mass([2.0, 3.0], [1.0, 0.0]), ValueError, r"before must sum to 1"),
    ("kept_mass-after-none", lambda: S.kept_mass([0.5, 0.5], None), TypeError, r"after=None must be a list"),
    ("ngrams-ids-none", lambda: S.ngrams(None, 2), TypeError, r"ids=None must be a sequence of tokens"),
    ("unseen-seen-none", lambda: S.unseen_ngram_fraction([1, 2, 3], None), TypeError, r"seen=None must be a set"),
    ("banned-size", lambda: S.banned_by_no_repeat([1, 2, 1], 0), ValueError, r"ngram_size=0 must be at least 1"),
    ("ngram_logits_fn-model", lambda: S.ngram_logits_fn(None), TypeError, r"model=None must be a fitted .*NGramLM"),
    ("model_logits_fn-block", lambda: S.model_logits_fn(MLP, block_size=0), ValueError, r"block_size=0 must be at"),
]


TABLES = {"tokenizers": TOKENIZERS, "ngram": NGRAM, "data": DATA, "neural_lm": NEURAL_LM, "device": DEVICE,
          "sampling": SAMPLING}


@pytest.mark.parametrize("call, error, message", [row[1:] for rows in TABLES.values() for row in rows],
                         ids=[f"{module}-{row[0]}" for module, rows in TABLES.items() for row in rows])
def test_bad_input_gets_a_clear_error(call, error, message):
    """One table per module; the test id says which (``-k ngram`` runs the n-gram table)."""
    with pytest.raises(error, match=message):
        call()


def test_type_errors_are_also_value_errors():
    """Explorers and checkers catch ValueError; a wrong type must not slip past them."""
    with pytest.raises(ValueError):
        CHAR.decode(None)
    with pytest.raises(ArgumentTypeError):
        LM.encode(None)


# --------------------------------------------------------------------------------------------
# Issue 11, class by class

def test_silently_wrong_ids_are_refused_not_truncated_or_wrapped():
    # before: decode([1.7]) gave vocab[1], decode([-1]) gave the last token
    assert CHAR.decode([3, 2]) == "he"
    for ids in ([1.7], [-1], np.array([1.5]), torch.tensor([2.0])):
        with pytest.raises(ValueError):
            CHAR.decode(ids)
        with pytest.raises(ValueError):
            LM.decode(ids)
    # integer arrays, tensors and 0-D tensors (an argmax) still decode
    assert CHAR.decode(np.array([3, 2])) == CHAR.decode(torch.tensor([3, 2])) == CHAR.decode([torch.tensor(3), 2])


def test_ngram_string_contexts_are_refused_everywhere_prob_refuses_them():
    # before: encode and generate read "the cat" char by char into <unk>s while prob raised
    for call in (lambda: LM.prob("cat", "the"), lambda: LM.encode("the cat"),
                 lambda: LM.generate(5, context="the cat", generator=0), lambda: LM.next_token_probs("the")):
        with pytest.raises(ValueError, match=r"not the str .*\.split\(\)"):
            call()
    assert LM.encode(["the", "zebra"]) == [LM.token_to_id["the"], G.UNK_ID]
    assert isinstance(LM.generate(5, context=("the",), generator=0), list)


def test_plus_inf_logits_raise_instead_of_nan_probabilities():
    with pytest.raises(ValueError, match=r"\+inf"):
        S.sample(torch.tensor([INF, INF, 0.0]))
    probs = S.next_token_probs(torch.tensor([-INF, 0.0, 0.0]))   # -inf still means "banned"
    assert probs.tolist() == [0.0, 0.5, 0.5]


def test_entropy_of_unnormalised_numbers_raises_instead_of_going_negative():
    assert -(2 * math.log(2) + 3 * math.log(3)) < 0          # what it used to return for [2, 3]
    with pytest.raises(ValueError, match="must sum to 1"):
        S.entropy([2.0, 3.0])
    assert math.isclose(S.entropy([0.5, 0.5]), math.log(2))
    assert math.isclose(S.entropy([0.333, 0.333, 0.334]), math.log(3), rel_tol=1e-3)   # rounded by hand: fine
    assert S.kept_mass([0.5, 0.5], [1.0, 0.0]) == 0.5         # `after` may be a 0/1 mask


def test_device_names_say_what_is_allowed_and_what_exists_here():
    for call in (lambda: DV.pick_device("gpu"), lambda: N.train_mlp_lm(MLP, X, Y, steps=1, device="gpu")):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "'cuda:N'" in message and "'mps'" in message and "Available here: 'cpu'" in message
        assert "ipu" not in message and "xla" not in message                 # not torch's list of device types
    assert DV.pick_device("CPU") == torch.device("cpu")
    assert DV.pick_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_describe_device_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available here"):
        DV.describe_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_numbers_past_the_last_gpu_are_refused():
    assert DV.pick_device("cuda:0").type == "cuda"
    with pytest.raises(ValueError, match="numbered from 0"):
        DV.pick_device(f"cuda:{torch.cuda.device_count()}")


def test_mlp_checks_ids_like_gpt():
    logits, loss = MLP(X[:2], Y[:2])
    assert logits.shape == (2, 10) and loss is not None
    for bad in (torch.tensor([1, 2, 3]), torch.tensor([[1, 2, 10]]), torch.tensor([[1.0, 2.0, 3.0]])):
        with pytest.raises(ValueError, match="idx"):
            MLP(bad)


def test_tokenizers_given_a_number_or_none_name_texts_not_iterability():
    for bad in (None, 3, 2.5):
        with pytest.raises(TypeError, match="texts=.* must be a string or a list of strings") as info:
            T.WordTokenizer().fit(bad)
        assert "not iterable" not in str(info.value)


def test_word_tokenizer_min_count_too_high_blames_min_count():
    with pytest.raises(ValueError, match="min_count=100 keeps no token") as info:
        T.WordTokenizer(min_count=100).fit("a b c")
    assert "empty" not in str(info.value)


def test_checkers_never_raise_and_say_what_is_wrong(capsys):
    fn = lambda x: x  # noqa: E731
    assert E.check_function("1.1 x", fn) is None                     # cases left out
    assert "no test cases" in capsys.readouterr().out
    assert E.check_function("1.1 x", fn, cases=None) is None
    assert "no test cases" in capsys.readouterr().out
    assert E.check_function("1.1 x", fn, cases=5) is None
    assert "cases must be a list of (args, expected) pairs" in capsys.readouterr().out
    assert E.check_function(None, fn, [((1,), 1)]) is None
    assert "exercise name must be a non-empty string" in capsys.readouterr().out
    assert E.check_answer("", 1, 1) is None
    assert "exercise name must be a non-empty string" in capsys.readouterr().out
    assert E.check_answer("1.1 x", 1, accept=5) is None
    assert "accept=5 must be a function" in capsys.readouterr().out
    assert E.check_answer("1.1 x", 1.0, 1.0, rtol="x") is None
    assert "rtol='x' must be a finite number" in capsys.readouterr().out
    assert E.check_function("1.1 x", fn, [((2,), 2)]) is True       # and the right answer still passes


def test_register_hints_rejects_what_is_not_a_table():
    with pytest.raises(TypeError, match="table=.* must be a dict"):
        E.register_hints(["a hint"])
    with pytest.raises(TypeError, match=r"table\['9\.9'\]=3 must be a hint"):
        E.register_hints({"9.9": 3})
