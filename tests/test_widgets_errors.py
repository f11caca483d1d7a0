"""Every explorer's bad input (issue 11): no silent clamping, a message that says what is allowed.

The contract (``Explorer.set`` and ``gptlab.widgets._validate``):
- a constructor given an impossible starting value raises ``ValueError`` (``ArgumentTypeError``,
  also a ``TypeError``, for the wrong type) naming the parameter and what is allowed;
- ``set()`` with a bad value does not raise: it changes no control, keeps the picture, and puts a
  message naming the control, the value and what is allowed in ``explorer.error`` and the red line;
- a value the controls take but ``render`` rejects is undone the same way (``state`` = the picture);
- the next good ``set()`` clears the message.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gptlab import widgets
from gptlab.attention import SelfAttention
from gptlab.model import GPT, GPTConfig
from gptlab.ngram import NGramLM
from gptlab.tokenizers import CharTokenizer
from gptlab.widgets.router import moe_layers

WORDS = ["mat", "sofa", "floor", "roof", "table", "dog", "moon", "keyboard"]
LOGITS = [3.0, 2.2, 2.0, 1.2, 1.0, 0.2, -0.5, -1.0]
SENTENCES = [s.split() for s in ["the cat sat on the mat", "the dog sat on the rug", "a cat saw a dog"]]
VECTORS = {"the": [-2.0, 0.0], "cat": [2.0, 0.0], "dog": [1.9, 0.6], "sat": [0.0, 2.0]}
TEXT = "hear me speak."
TOK = CharTokenizer().fit("First Citizen:\nBefore we proceed any further, hear me speak.")
KEYS = "ABCD"


def encode_lookup(text):
    """Each word's first letter, one-hot (1, T, 4); a letter outside KEYS raises ValueError."""
    return torch.eye(len(KEYS))[[KEYS.index(word[0]) for word in text.split()]][None]


class Lookup(nn.Module):
    """Untrained: one attention layer and a readout to 4 values; enough to draw."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.attn, self.readout = SelfAttention(len(KEYS), 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.readout(self.attn(x)[:, -1])


def tiny_gpt(**kwargs) -> GPT:
    torch.manual_seed(0)
    config = dict(vocab_size=TOK.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16)
    model = GPT(GPTConfig(**{**config, **kwargs}))
    for layer in moe_layers(model):
        with torch.no_grad():
            layer.router.weight.mul_(100.0)
    return model.eval()


GPT_MODEL = tiny_gpt()
MOE_MODELS = {"A": tiny_gpt(n_experts=4, top_k=2), "small": tiny_gpt(n_experts=2, top_k=1, n_layer=1)}
LOOKUP = Lookup()
IDS = torch.tensor(TOK.encode(TEXT))

# name -> a function building the explorer with its usual arguments, overridden by **kwargs
MAKE = {
    "sampling": lambda **kw: widgets.SamplingExplorer(LOGITS, WORDS, **{"previous": ["dog"], "n_samples": 5, **kw}),
    "ngram": lambda **kw: widgets.NGramExplorer(SENTENCES, **{"n": 2, "context": "the cat", "max_n": 3, **kw}),
    "attention": lambda **kw: widgets.AttentionExplorer(GPT_MODEL, IDS, list(TEXT), **kw),
    "blend": lambda **kw: widgets.BlendExplorer(VECTORS, **{"text": "the cat sat", "query": 1, **kw}),
    "lookup": lambda **kw: widgets.LookupExplorer(LOOKUP, LOOKUP.attn, encode_lookup, **{"text": "A:1 B:2 B?", **kw}),
    "scaling": lambda **kw: widgets.ScalingExplorer(n_samples=16, **kw),
    "position": lambda **kw: widgets.PositionExplorer(**{"d": 16, "max_len": 16, "position": 3, **kw}),
    "router": lambda **kw: widgets.RouterExplorer(MOE_MODELS, TOK, TEXT, **kw),
    "serving": lambda **kw: widgets.ServingExplorer(**kw),
}

# (explorer, constructor arguments, words the ValueError must contain)
BAD_CONSTRUCTION = [
    ("sampling", {"temperature": -1}, "temperature=-1 is outside the slider's range 0 to 2"),
    ("sampling", {"temperature": 3.0}, "temperature=3 is outside the slider's range 0 to 2"),
    ("sampling", {"temperature": "hot"}, "temperature='hot' must be a number"),
    ("sampling", {"top_k": -3}, "top_k=-3 is outside the slider's range 0 to 8"),
    ("sampling", {"top_k": 2.5}, "top_k=2.5 must be a whole number"),
    ("sampling", {"top_p": math.nan}, "top_p=nan is not a finite number; the slider takes 0.05 to 1"),
    ("sampling", {"top_p": 0.0}, "top_p=0 is outside the slider's range 0.05 to 1"),
    ("sampling", {"repetition_penalty": 0.5}, "repetition_penalty=0.5 is outside the slider's range 1 to 2"),
    ("sampling", {"n_samples": -1}, "n_samples=-1"),
    ("sampling", {"top": 0}, "top=0"),
    ("sampling", {"previous": [99]}, "previous contains the id 99, but ids run from 0 to 7"),
    ("sampling", {"previous": [-1]}, "previous contains the id -1"),
    ("sampling", {"next_logits": 5}, "next_logits must be a function"),
    ("sampling", {"kind": "raw"}, "kind='raw'"),
    ("sampling", {"context": 5}, "context=5 must be a string"),
    ("ngram", {"n": 0}, "n=0 is outside the slider's range 1 to 3"),
    ("ngram", {"n": 4}, "n=4 is outside the slider's range 1 to 3"),
    ("ngram", {"k": 0}, "k=0 is outside the slider's range 0.001 to 10"),
    ("ngram", {"k": math.inf}, "k=inf is not a finite number"),
    ("ngram", {"smoothing": "kn"}, "smoothing='kn' is not one of the dropdown's choices: 'add-k', 'kneser-ney'"),
    ("ngram", {"max_n": 9}, "max_n=9"),
    ("ngram", {"context": 5}, "context=5 must be a string"),
    ("ngram", {"tokenize": 5}, "tokenize must be a function"),
    ("attention", {"layer": 2}, "layer=2 is out of range; choose 0..1"),
    ("attention", {"head": 2}, "head=2 is out of range; choose 0..1"),
    ("attention", {"head": -1}, "head=-1 is out of range"),
    ("attention", {"query": -2}, "query=-2 is out of range; choose -1 (every row) or 0..13"),
    ("attention", {"query": 1.0}, "query=1.0 is out of range"),
    ("attention", {"causal": "yes"}, "causal='yes' must be True (mask on), False (mask off) or None"),
    ("blend", {"query": 12}, "query=12 is outside the slider's range 0 to 11"),
    ("blend", {"query": -1}, "query=-1 is outside the slider's range 0 to 11"),
    ("blend", {"max_words": 0}, "max_words=0"),
    ("blend", {"text": 3}, "text=3 must be a string"),
    ("lookup", {"text": None}, "text=None must be a string"),
    ("scaling", {"d": 3}, "d=3 is not one of the slider's choices: 2, 4, 8"),
    ("scaling", {"T": 1}, "T=1 is outside the slider's range 2 to 32"),
    ("scaling", {"T": 33}, "T=33 is outside the slider's range 2 to 32"),
    ("scaling", {"scaled": "yes"}, "scaled='yes' must be True or False"),
    ("scaling", {"dims": []}, "dims must be a non-empty list"),
    ("position", {"kind": "alibi"}, "kind='alibi' is not one of the dropdown's choices: 'sinusoidal', 'learned'"),
    ("position", {"d": 7}, "d=7 must be even"),
    ("position", {"d": 0}, "d=0 is outside the slider's range 2 to 128"),
    ("position", {"position": 16}, "position=16 is outside the slider's range 0 to 15"),
    ("position", {"max_len": 1}, "max_len=1"),
    ("router", {"model": "C"}, "model='C' is not one of the models: 'A', 'small'"),
    ("router", {"layer": 2}, "layer=2 is outside the slider's range 0 to 1"),
    ("router", {"top_k": 0}, "top_k=0 is outside the slider's range 1 to 4"),
    ("router", {"top_k": 5}, "top_k=5 is outside the slider's range 1 to 4"),
    ("router", {"per_row": 0}, "per_row=0"),
    ("serving", {"model": "gpt-9"}, "model='gpt-9' is not one of the dropdown's choices: 'gpt2'"),
    ("serving", {"context": -5}, "context=-5 must be at least 1"),
    ("serving", {"users": "many"}, "users='many' must be a whole number"),
    ("serving", {"tokens_per_s": math.inf}, "tokens_per_s=inf is not a finite number"),
]


@pytest.mark.parametrize("name, kwargs, message", BAD_CONSTRUCTION,
                         ids=[f"{n}-{'-'.join(map(str, kw))}={list(kw.values())[0]!r}"
                              for n, kw, _ in BAD_CONSTRUCTION])
def test_an_impossible_start_raises_naming_the_parameter(name, kwargs, message):
    with pytest.raises(ValueError) as caught:
        MAKE[name](**kwargs)
    assert message in str(caught.value)


@pytest.mark.parametrize("kwargs", [{"temperature": "hot"}, {"top_k": 2.5}, {"context": 5}])
def test_a_wrong_type_is_also_a_type_error(kwargs):
    with pytest.raises(TypeError):
        MAKE["sampling"](**kwargs)


BAD_CLASSMETHODS = [
    (lambda: widgets.SamplingExplorer.from_model(GPT_MODEL, [1.7, 2.0], TOK.vocab), "got 1.7"),
    (lambda: widgets.SamplingExplorer.from_model(GPT_MODEL, [], TOK.vocab), "got an empty list"),
    (lambda: widgets.SamplingExplorer.from_model(GPT_MODEL, torch.zeros(2, 3, dtype=torch.long), TOK.vocab),
     "ONE prompt"),
    (lambda: widgets.SamplingExplorer.from_model("gpt", [1, 2], TOK.vocab), "model='gpt' must be a GPT"),
    (lambda: widgets.SamplingExplorer.from_model(GPT_MODEL, [1, 2], TOK.vocab, temperature=-1),
     "temperature=-1 is outside"),
    (lambda: widgets.SamplingExplorer.from_ngram(NGramLM(2).fit(SENTENCES), "the cat"),
     "context must be a list of tokens"),
    (lambda: widgets.SamplingExplorer.from_ngram(NGramLM(2).fit(SENTENCES), ["the"], top_p=2.0),
     "top_p=2 is outside the slider's range 0.05 to 1"),
    (lambda: widgets.AttentionExplorer.from_text(GPT_MODEL, TOK, ""), "text must be a non-empty string"),
    (lambda: widgets.AttentionExplorer.from_text(GPT_MODEL, TOK, TEXT, head=9), "head=9 is out of range"),
    (lambda: widgets.AttentionExplorer.from_weights(torch.full((3, 3), 1 / 3), list("abc"), causal="on"),
     "causal='on'"),
    (lambda: widgets.AttentionExplorer.from_weights(torch.full((3, 3), 1 / 3), list("abc"), query=3), "query=3"),
    (lambda: widgets.AttentionExplorer.from_weights(torch.full((3, 3), math.nan), list("abc")), "non-finite"),
]


@pytest.mark.parametrize("build, message", BAD_CLASSMETHODS, ids=range(len(BAD_CLASSMETHODS)))
def test_classmethods_check_their_arguments(build, message):
    with pytest.raises(ValueError) as caught:
        build()
    assert message in str(caught.value)


# (explorer, control, bad value, words the message must contain); every one is refused before
# the control sees it, or by render and then undone
BAD_SET = [
    ("sampling", "temperature", -1, "temperature=-1 is outside the slider's range 0 to 2"),
    ("sampling", "temperature", 2.5, "temperature=2.5 is outside the slider's range 0 to 2"),
    ("sampling", "temperature", math.inf, "temperature=inf is not a finite number"),
    ("sampling", "temperature", "hot", "temperature='hot' must be a number"),
    ("sampling", "top_k", -3, "top_k=-3 is outside the slider's range 0 to 8"),
    ("sampling", "top_k", 9, "top_k=9 is outside the slider's range 0 to 8"),
    ("sampling", "top_k", True, "top_k=True must be a whole number"),
    ("sampling", "top_p", math.nan, "top_p=nan is not a finite number; the slider takes 0.05 to 1"),
    ("sampling", "top_p", 1.5, "top_p=1.5 is outside the slider's range 0.05 to 1"),
    ("sampling", "repetition_penalty", 0.0, "repetition_penalty=0 is outside the slider's range 1 to 2"),
    ("ngram", "n", 0, "n=0 is outside the slider's range 1 to 3"),
    ("ngram", "n", 2.0, "n=2 must be a whole number"),
    ("ngram", "smoothing", "foo", "smoothing='foo' is not one of the dropdown's choices: 'add-k', 'kneser-ney'"),
    ("ngram", "smoothing", None, "smoothing=None is not one of the dropdown's choices"),
    ("ngram", "k", -1, "k=-1 is outside the slider's range 0.001 to 10"),
    ("ngram", "k", math.nan, "k=nan is not a finite number"),
    ("ngram", "context", 5, "context=5 must be a string"),
    ("ngram", "context", "zebra", "none of ['zebra'] occurs in the training text"),  # render's own check
    ("attention", "layer", 5, "layer=5 is not one of the dropdown's choices: 0, 1"),
    ("attention", "head", 2, "head=2 is outside the slider's range 0 to 1"),
    ("attention", "query", -2, "query=-2 is outside the slider's range -1 to 13"),
    ("attention", "query", 14, "query=14 is outside the slider's range -1 to 13"),
    ("attention", "causal", "yes", "causal='yes' must be True or False"),
    ("attention", "causal", 1, "causal=1 must be True or False"),
    ("blend", "query", 12, "query=12 is outside the slider's range 0 to 11"),
    ("blend", "text", 3, "text=3 must be a string"),
    ("blend", "text", "the zebra", "no vector for 'zebra'"),  # render's own check
    ("lookup", "text", None, "text=None must be a string"),
    ("lookup", "text", "A:1 Z?", "text='A:1 Z?' could not be read"),  # render's own check
    ("scaling", "d", 3, "d=3 is not one of the slider's choices: 2, 4, 8"),
    ("scaling", "d", "64", "d='64' is not one of the slider's choices"),
    ("scaling", "T", 1, "T=1 is outside the slider's range 2 to 32"),
    ("scaling", "scaled", "no", "scaled='no' must be True or False"),
    ("position", "kind", "alibi", "kind='alibi' is not one of the dropdown's choices"),
    ("position", "d", 130, "d=130 is outside the slider's range 2 to 128"),
    ("position", "d", 9, "d=9 must be even"),  # render's own check
    ("position", "position", -1, "position=-1 is outside the slider's range 0 to 15"),
    ("router", "model", "C", "model='C' is not one of the dropdown's choices: 'A', 'small'"),
    ("router", "layer", 2, "layer=2 is outside the slider's range 0 to 1"),
    ("router", "top_k", 0, "top_k=0 is outside the slider's range 1 to 4"),
    ("router", "text", "", "text is empty"),  # render's own check
    ("serving", "gpu", "TPU", "gpu='TPU' is not one of the dropdown's choices: 'H100'"),
    ("serving", "context", 2.5, "context=2.5 must be a whole number"),
    ("serving", "users", 0, "users=0 must be at least 1"),  # render's own check
    ("serving", "tokens_per_s", math.nan, "tokens_per_s=nan is not a finite number"),
]

# a good move for each explorer, away from its start
GOOD_SET = {"sampling": {"temperature": 0.5}, "ngram": {"n": 3}, "attention": {"head": 1},
            "blend": {"query": 2}, "lookup": {"text": "A:1 B:2 A?"}, "scaling": {"T": 9},
            "position": {"position": 4}, "router": {"layer": 1}, "serving": {"users": 32}}


@pytest.fixture(scope="module")
def explorers():
    return {}


def _explorer(explorers, name):
    """One explorer per kind for the module, put back to its starting state."""
    if name not in explorers:
        explorers[name] = (MAKE[name](), None)
        explorers[name] = (explorers[name][0], dict(explorers[name][0].state))
    ex, start = explorers[name]
    ex.set(**start)
    assert ex.error is None
    return ex


@pytest.mark.parametrize("name, control, value, message", BAD_SET,
                         ids=[f"{n}-{c}={v!r}" for n, c, v, _ in BAD_SET])
def test_a_bad_set_changes_nothing_and_says_why(explorers, name, control, value, message):
    ex = _explorer(explorers, name)
    state, figure, summary, png = dict(ex.state), ex.figure, ex.summary, ex.image.value
    returned = ex.set(**{control: value})  # never raises for a bad value
    assert returned is ex
    assert ex.error is not None and message in ex.error
    assert ex.state == state  # the control was not moved (nor clamped)
    assert ex.figure is figure and ex.summary == summary and ex.image.value == png  # the last picture stays
    assert "color:#b00020" in ex.text.value and control in ex.text.value  # the red line names the control
    ex.set(**GOOD_SET[name])  # a good move clears the message and draws
    assert ex.error is None
    assert ex.state == {**state, **GOOD_SET[name]}
    assert ex.image.value != png


def test_set_is_all_or_nothing(explorers):
    ex = _explorer(explorers, "sampling")
    state = dict(ex.state)
    ex.set(temperature=0.5, top_k=-3)  # one good value, one bad: neither is applied
    assert ex.state == state
    assert "top_k=-3" in ex.error and "temperature" not in ex.error


def test_several_bad_values_are_all_named(explorers):
    ex = _explorer(explorers, "sampling")
    ex.set(temperature=-1, top_p=math.nan)
    assert "temperature=-1" in ex.error and "top_p=nan" in ex.error


def test_an_unknown_control_name_still_raises(explorers):
    ex = _explorer(explorers, "sampling")
    with pytest.raises(ValueError, match="unknown control"):
        ex.set(temprature=0.5)


def test_a_dropdown_never_raises_a_bare_trait_error(explorers):
    for name, control in (("ngram", "smoothing"), ("position", "kind"), ("router", "model"), ("attention", "layer")):
        ex = _explorer(explorers, name)
        ex.set(**{control: "no such choice"})  # ipywidgets alone would raise TraitError here
        assert ex.error.startswith(f"{control}='no such choice' is not one of the")


def test_a_per_layer_head_count_is_checked_by_render_and_undone():
    """The head slider goes to the largest head count; a layer with fewer heads refuses the rest."""
    weights = [torch.full((4, 3, 3), 1 / 3), torch.full((1, 3, 3), 1 / 3)]
    ex = widgets.AttentionExplorer.from_weights(weights, list("abc"), layer=0, head=3)
    ex.set(layer=1)
    assert "head=3 is out of range: layer 1 has 1 head(s)" in ex.error
    assert ex.state["layer"] == 0 and ex.state["head"] == 3


def test_valid_values_of_numpy_types_still_work():
    ex = widgets.SamplingExplorer(np.array(LOGITS), WORDS, temperature=np.float32(0.5), top_k=np.int64(3))
    assert ex.error is None and ex.state["top_k"] == 3
    ex.set(top_k=np.int64(2), top_p=np.float64(0.9))
    assert ex.error is None and ex.state["top_k"] == 2
    assert int((ex.after > 0).sum()) == 2


def test_logits_with_nan_or_plus_inf_are_refused():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match=r"NaN or \+inf"):
            widgets.SamplingExplorer([1.0, bad, 0.0], ["a", "b", "c"])
    # -inf is a token that can never come: allowed
    ex = widgets.SamplingExplorer([1.0, -math.inf, 0.0], ["a", "b", "c"])
    assert ex.error is None and float(ex.after[1]) == 0.0
