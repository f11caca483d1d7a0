"""The explorers' fast redraw shows exactly what a full redraw of the same figure shows.

An explorer's figure keeps a saved background and, after a move, draws only the artists that
changed (``gptlab.plotting._live``). If a plotting function forgot to list an artist that
changes, or let a saved background outlive what it shows, the fast picture would differ from
``savefig`` of the same figure: these tests compare the two, pixel by pixel, after every move.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gptlab.model import GPT, GPTConfig
from gptlab.plotting import figure_to_png
from gptlab.plotting._live import is_live, mark_dynamic
from gptlab.plotting.lm import _nice_limit
from gptlab.tokenizers import CharTokenizer
from gptlab.widgets import (
    AttentionExplorer,
    BlendExplorer,
    LookupExplorer,
    NGramExplorer,
    PositionExplorer,
    RecipeExplorer,
    RouterExplorer,
    SamplingExplorer,
    ScalingExplorer,
    TokenizerExplorer,
)

# antialiased edges where a redrawn artist meets a kept one (a bar's corner on the frame) may
# blend a little differently; anything that was forgotten or stale covers far more than this
MAX_DIFFERENT = 1e-3


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(int)


def _full_render(fig: Figure) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)  # every artist, in z-order, nothing reused
    return _pixels(buf.getvalue())


def _different(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"fast picture {a.shape} but full render {b.shape}"
    return float((np.abs(a - b).max(axis=-1) > 0).mean())


class DrawCounter:
    """Counts full figure draws (the fast path pastes a saved background instead)."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = FigureCanvasAgg.draw

        def draw(canvas, *args, **kwargs):
            self.count += 1
            return original(canvas, *args, **kwargs)

        monkeypatch.setattr(FigureCanvasAgg, "draw", draw)


WORDS = "the king my lord i am to be or not that is the question and so".split()


def _sentences():
    rng = np.random.default_rng(0)
    return [[WORDS[i] for i in rng.integers(len(WORDS), size=8)] for _ in range(400)]


def _tiny_gpt(**extra):
    torch.manual_seed(0)
    tok = CharTokenizer().fit("to be, or not to be: that is the question")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32, **extra))
    return model, tok


def _ngram():
    return NGramExplorer(_sentences(), n=3, k=0.1, context="i am", max_n=4), [
        {"n": 1}, {"k": 1.0}, {"n": 3, "context": "the king"}, {"n": 4}, {"k": 0.01},
        {"context": "to be or not"}, {"n": 2}, {"context": "question"}, {"smoothing": "kneser-ney"}, {"n": 4},
        {"smoothing": "add-k"}]


def _sampling():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, generator=g) * 0.5  # flat enough that each rule keeps several tokens
    # the text so far holds likely tokens, so the repetition penalty moves bars that are shown
    return SamplingExplorer(logits, [f"tok{i}" for i in range(300)],
                            previous=logits.topk(3).indices.tolist()), [
        {"temperature": 0.5}, {"top_k": 5}, {"top_p": 0.3}, {"repetition_penalty": 1.8},
        {"temperature": 0.0, "top_p": 1.0},
        {"temperature": 2.0, "top_k": 0, "top_p": 1.0}, {"repetition_penalty": 1.0}]


def _sampling_continuation():
    # a bigram-like toy model: the next token's logits depend on the last token only
    table = torch.randn(60, 60, generator=torch.Generator().manual_seed(1)) * 2
    return SamplingExplorer(table[3], [f"w{i}" for i in range(60)], previous=[*table[3].topk(2).indices.tolist(), 3],
                            next_logits=lambda ids: table[ids[-1]], generate=40), [
        {"temperature": 0.0}, {"temperature": 1.0}, {"top_k": 3}, {"repetition_penalty": 1.8},
        {"temperature": 0.5, "top_k": 0}, {"top_p": 0.3}]


def _scaling():
    return ScalingExplorer(n_samples=16), [
        {"d": 512}, {"scaled": False}, {"T": 4}, {"d": 2}, {"T": 32}, {"scaled": True}, {"d": 128}]


def _position():
    return PositionExplorer(d=16, max_len=32, max_d=32), [
        {"position": 3}, {"kind": "rope"}, {"d": 8}, {"position": 31}, {"kind": "learned"}, {"d": 32},
        {"kind": "sinusoidal", "position": 0}]


def _router():
    model, tok = _tiny_gpt(n_experts=4)
    return RouterExplorer(model, tok, "to be, or not"), [
        {"layer": 1}, {"top_k": 1}, {"top_k": 3}, {"text": "to be, or not to be: that is the"}, {"layer": 0},
        {"text": "be"}, {"top_k": 4}]


def _blend():
    vectors = {"the": [-2.0, 0.0], "cat": [2.0, 0.0], "dog": [1.9, 0.6], "sat": [0.0, 2.0]}
    return BlendExplorer(vectors, "the cat sat", query=1), [
        {"query": 2}, {"text": "the dog sat the cat"}, {"query": 4}, {"text": "cat dog"}, {"query": 0}]


def _lookup():
    from gptlab.attention import SelfAttention

    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.attn = SelfAttention(10, 4)
    model.forward = lambda x: model.attn(x)[:, -1]  # four "values": the output itself is the score

    def encode(text):
        *pairs, question = text.split()
        x = torch.zeros(1, len(pairs) + 1, 10)
        for t, pair in enumerate(pairs):
            key, value = pair.split(":")
            x[0, t, "ABC".index(key)] = 1
            x[0, t, 3 + int(value)] = 1
        x[0, -1, 7 + "ABC".index(question.rstrip("?"))] = 1
        return x

    return LookupExplorer(model, model.attn, encode, "A:1 B:2 C:3 B?"), [
        {"text": "A:1 B:2 C:3 A?"}, {"text": "C:0 C?"}, {"text": "A:3 B:3 C:3 A:0 B:1 C?"}, {"text": "A:1 B:2 C:3 B?"}]


def _tokens():
    from gptlab import data
    from gptlab.bpe import BPETokenizer

    english = data.load_text("shakespeare")[:20_000]
    tokenizers = {"both": BPETokenizer(330, "gpt2").train(english + data.load_text("chinese")[:8_000]),
                  "English": BPETokenizer(330, "gpt2").train(english)}
    return TokenizerExplorer(tokenizers, "the cat sat", vocab_size=256), [
        {"vocab_size": 300}, {"trained_on": "English"}, {"text": "产品质量很好"}, {"vocab_size": 256}]


def _attention():
    model, tok = _tiny_gpt()
    return AttentionExplorer.from_text(model, tok, "to be, or not to be", text_box=True), [
        {"query": 3}, {"head": 2}, {"causal": False}, {"layer": 1}, {"query": -1}, {"causal": True},
        {"text": "that is the question"}, {"query": 7}]


def _recipe():
    return RecipeExplorer(), [{"rmsnorm": True}, {"swiglu": True}, {"gqa": True}, {"rope": True}]


EXPLORERS = {"attention": _attention, "blend": _blend, "lookup": _lookup, "tokens": _tokens,
             "ngram": _ngram, "sampling": _sampling, "sampling_continuation": _sampling_continuation,
             "scaling": _scaling, "position": _position,
             "router": _router, "recipe": _recipe}


@pytest.mark.parametrize("name", EXPLORERS)
def test_fast_redraw_equals_a_full_redraw_after_every_move(name):
    explorer, moves = EXPLORERS[name]()
    assert is_live(explorer.figure), "the explorer's figure should redraw the fast way"
    for move in moves:
        before = bytes(explorer.image.value)
        explorer.set(**move)
        assert explorer.error is None, explorer.error
        fast = _pixels(explorer.image.value)
        assert bytes(explorer.image.value) != before, f"{move} did not change the picture"
        assert _different(fast, _full_render(explorer.figure)) <= MAX_DIFFERENT, f"after {move}"


@pytest.mark.parametrize("name, move", [("blend", {"query": 2}), ("ngram", {"k": 0.5}),
                                        ("scaling", {"d": 8}), ("scaling", {"T": 5}),
                                        ("position", {"position": 9}), ("position", {"kind": "rope"}),
                                        ("attention", {"query": 5}), ("attention", {"causal": False}),
                                        ("tokens", {"vocab_size": 300}), ("recipe", {"rmsnorm": True})])
def test_a_first_move_draws_only_what_changed(name, move, monkeypatch):
    explorer, _ = EXPLORERS[name]()
    counter = DrawCounter(monkeypatch)
    explorer.set(**move)
    assert explorer.error is None
    assert counter.count == 0, f"{name}: {move} redrew the whole figure"


@pytest.mark.parametrize("name, move", [("ngram", {"context": "my lord"}), ("ngram", {"n": 1}),
                                        ("sampling", {"top_k": 7}), ("sampling", {"temperature": 0.0}),
                                        ("sampling_continuation", {"temperature": 0.0}),
                                        ("router", {"layer": 1}), ("router", {"top_k": 4})])
def test_moving_back_and_forth_reuses_saved_backgrounds(name, move, monkeypatch):
    """A move may rescale an axis (a new background); going back and forth then costs no full draw."""
    explorer, _ = EXPLORERS[name]()
    start = {control: explorer.state[control] for control in move}
    explorer.set(**move)
    explorer.set(**start)
    counter = DrawCounter(monkeypatch)
    for _ in range(2):
        explorer.set(**move)
        explorer.set(**start)
    assert explorer.error is None
    assert counter.count == 0, f"{name}: {move} and back redrew the whole figure"


def test_mark_dynamic_on_a_plain_figure(monkeypatch):
    fig = Figure(figsize=(3, 2), dpi=50)
    ax = fig.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    (line,) = ax.plot([0, 1], [0, 0.5])
    counter = DrawCounter(monkeypatch)
    pictures = []
    for y in (0.2, 0.9, 0.2):
        line.set_ydata([0, y])
        mark_dynamic(fig, [line], key="axes fixed")
        pictures.append(_pixels(figure_to_png(fig, dpi=50)))
        assert _different(pictures[-1], _full_render(fig)) <= MAX_DIFFERENT
    assert counter.count - 3 == 1, "one background drawn, then reused (the other draws are the full renders)"
    assert np.array_equal(pictures[0], pictures[2]) and not np.array_equal(pictures[0], pictures[1])
    # another key (the limits changed): a new background, so the new axis shows
    ax.set_ylim(0, 2)
    mark_dynamic(fig, [line], key="taller")
    assert _different(_pixels(figure_to_png(fig, dpi=50)), _full_render(fig)) <= MAX_DIFFERENT
    # at another dpi the figure is simply drawn in full, and the dynamic line is not lost
    other = _pixels(figure_to_png(fig, dpi=100))
    assert other.shape[:2] == (200, 300)


@pytest.mark.parametrize("largest", [0.0, 0.004, 0.03, 0.0951, 0.1, 0.19, 0.3, 0.5, 0.96, 1.0, 3.2])
def test_nice_limit_leaves_room_and_moves_in_steps(largest):
    limit = _nice_limit(largest)
    assert limit >= largest * 1.04
    assert limit <= max(largest * 2.5, 1e-3) or largest > 0.5
    mantissa = limit / 10 ** np.floor(np.log10(limit))
    assert limit == 1.05 or any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def test_encode_png_is_lossless_and_any_png_reader_opens_it():
    from gptlab.plotting._live import encode_png

    rgba = np.random.default_rng(0).integers(0, 256, size=(37, 53, 4), dtype=np.uint8)  # odd sizes, noise
    png = encode_png(rgba)
    image = Image.open(io.BytesIO(png))
    image.load()  # PIL checks the chunks' CRCs and the deflate stream while decoding
    assert image.mode == "RGBA" and image.size == (53, 37)
    assert np.array_equal(np.asarray(image), rgba)
    with pytest.raises(ValueError, match="RGBA"):
        encode_png(rgba[..., :3].copy())
