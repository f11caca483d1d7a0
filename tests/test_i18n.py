"""The package's own strings in Chinese (gptlab.i18n): figures, explorers and exercise verdicts.

``gptlab.set_language("zh_CN")`` (or ``GPTLAB_LANG=zh_CN``) puts titles, axis labels, legends,
explorer controls and summary lines into Chinese, each one the catalog's translation
(``gptlab/locale/zh_CN/LC_MESSAGES/gptlab.po``); in English every string is exactly what it always
was. A Chinese figure draws every character (the CJK font that ``mplfonts`` installs), and the
catalog is complete, with every ``{}`` field of its templates kept.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import polib
import pytest
import torch

import gptlab
from gptlab import exercises, i18n, plotting
from gptlab.i18n import package
from gptlab.train import History, TrainConfig

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def catalog() -> dict[str, str]:
    """msgid -> msgstr of the package catalog."""
    return {e.msgid: e.msgstr for e in polib.pofile(str(package.catalog_path("zh_CN")))}


@pytest.fixture
def reset_language():
    """Whatever a test sets, the next one starts in English with matplotlib's fonts as they were."""
    family = list(matplotlib.rcParams["font.family"])
    try:
        yield
    finally:
        gptlab.set_language("en")
        matplotlib.rcParams["font.family"] = family
        i18n.register_cjk_font.cache_clear()  # so that the next set_language("zh_CN") adds the font again


@pytest.fixture
def zh(reset_language):
    gptlab.set_language("zh_CN")
    yield


def _glyph_warnings(fig) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=60)
    return [str(w.message) for w in caught if "Glyph" in str(w.message) or "missing from" in str(w.message)]


# --- choosing the language ---------------------------------------------------------------------

@pytest.mark.parametrize("given, chosen", [("en", "en"), ("zh_CN", "zh_CN"), ("zh", "zh_CN"), ("zh-CN", "zh_CN")])
def test_set_language_takes_the_languages_and_their_aliases(given, chosen, reset_language):
    assert gptlab.set_language(given) == chosen
    assert gptlab.get_language() == chosen == i18n.get_language()


def test_set_language_refuses_other_languages_and_non_strings(reset_language):
    with pytest.raises(ValueError, match="lang='fr'"):
        gptlab.set_language("fr")
    assert gptlab.get_language() == "en"  # a refused language changes nothing
    with pytest.raises(TypeError, match="lang must be a string"):
        gptlab.set_language(3)
    with pytest.raises(TypeError, match="lang"):
        gptlab.set_language(None)
    assert gptlab.get_language() == "en"


def test_environment_variable_chooses_the_language_at_import():
    code = ("import gptlab; from gptlab import plotting; from gptlab.train import TrainConfig; "
            "fig = plotting.plot_lr_schedule(TrainConfig(max_steps=10, batch_size=1, block_size=4, warmup_steps=2, "
            "progress=False)); print(gptlab.get_language()); print(fig.axes[0].get_ylabel())")
    run = lambda env: subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},  # noqa: E731
                                     capture_output=True, text=True, timeout=180)
    out = run({"GPTLAB_LANG": "zh_CN"})
    assert out.stdout.split() == ["zh_CN", "学习率"], out.stderr
    out = run({"GPTLAB_LANG": "fr"})  # not a language of the course: English
    assert out.stdout.split() == ["en", "learning", "rate"], out.stderr


# --- figures -----------------------------------------------------------------------------------

def _history() -> History:
    h = History()
    for step in range(0, 100, 10):
        h.steps.append(step)
        h.train_loss.append(3.0 - step / 100)
        h.lr.append(1e-3)
        h.grad_norm.append(1.0)
        h.tokens_seen.append(step * 64)
        h.elapsed.append(step / 10)
    h.eval_steps += [0, 90]
    h.val_loss += [3.0, 2.2]
    h.train_eval_loss += [3.0, 2.1]
    return h


def _legend(fig, i=0) -> list[str]:
    return [t.get_text() for t in fig.axes[i].get_legend().get_texts()]


def message(msgid: str, **fields) -> tuple[str, dict]:
    """A package string with its fields; a field that is itself a ``message`` is translated too."""
    return msgid, fields


def shown(msg, catalog: dict | None = None) -> str:
    """``msg`` as gptlab writes it: in English (no catalog) or from the catalog."""
    if not isinstance(msg, tuple):
        return msg  # data (a token, a config value): never translated
    msgid, fields = msg
    template = msgid if catalog is None else catalog[msgid]
    return template.format(**{k: shown(v, catalog) for k, v in fields.items()})


def pattern(template: str) -> re.Pattern:
    """A template's text with every field standing for any text (for lines with unknown numbers)."""
    return re.compile(".+?".join(re.escape(part) for part in package.FIELD.split(template)))


W = torch.softmax(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), -1)
CONFIG = TrainConfig(max_steps=50, batch_size=4, block_size=8, warmup_steps=5, learning_rate=3e-4, progress=False)

# name -> (draw, [(what is read, the message, the English it is; None: only its template is known)])
FIGURES = {
    "plot_attention": (lambda: plotting.plot_attention(W, ["a", "b", "c"], ["k", "l", "m", "n"]), [
        (lambda f: f.axes[0].get_xlabel(), message("key: the token looked at"), "key: the token looked at"),
        (lambda f: f.axes[0].get_ylabel(), message("query: the token looking"), "query: the token looking"),
        (lambda f: f.axes[1].get_ylabel(), message("attention weight"), "attention weight")]),
    "plot_attention_heads": (lambda: plotting.plot_attention_heads(torch.stack([W, W]), ["a", "b", "c"],
                                                                    ["k", "l", "m", "n"]), [
        (lambda f: f.axes[1].get_title(), message("head {h}", h=1), "head 1")]),
    "plot_attention_before_after": (lambda: plotting.plot_attention_before_after(W, W, ["a", "b", "c"],
                                                                                  ["k", "l", "m", "n"]), [
        (lambda f: f.axes[0].get_title(), message("before training"), "before training"),
        (lambda f: f.axes[1].get_title(), message("after training"), "after training")]),
    "plot_history": (lambda: plotting.plot_history(_history()), [
        (lambda f: f.axes[0].get_xlabel(), message("step"), "step"),
        (lambda f: f.axes[0].get_ylabel(), message("loss (cross-entropy, nats)"), "loss (cross-entropy, nats)"),
        (lambda f: _legend(f)[2], message("validation"), "validation")]),
    "plot_lr_schedule": (lambda: plotting.plot_lr_schedule(CONFIG), [
        (lambda f: f.axes[0].get_title(), message("{decay} schedule, peak {lr:g}", decay="cosine", lr=3e-4),
         "cosine schedule, peak 0.0003"),
        (lambda f: f.axes[0].texts[0].get_text(), message("end of warm-up"), "end of warm-up")]),
    "plot_next_token_probs": (lambda: plotting.plot_next_token_probs({"a": 0.5, "b": 0.3, "c": 0.2}, top=2), [
        (lambda f: f.axes[0].get_title(),
         message("top {shown} of {total}; the rest hold {rest:.1%}", shown=2, total=3, rest=0.2),
         "top 2 of 3; the rest hold 20.0%"),
        (lambda f: f.axes[0].get_xlabel(), message("P(next token)"), "P(next token)")]),
    "plot_expert_utilisation": (lambda: plotting.plot_expert_utilisation([5, 3, 8, 0], capacity=6), [
        (lambda f: f.axes[0].get_title(), message("Tokens per expert"), "Tokens per expert"),
        (lambda f: f.axes[0].get_xlabel(), message("expert"), "expert"),
        (lambda f: _legend(f)[1], message("capacity = {capacity}", capacity=6), "capacity = 6")]),
    "plot_layer_norm": (lambda: plotting.plot_layer_norm([1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]), [
        (lambda f: f.axes[1].get_title(),
         message("{label}\nmean {mean:+.2f}, std {std:.2f}", label=message("after: LayerNorm(x)"), mean=0.0,
                 std=float(np.std([-1.0, 0.0, 1.0]))),
         "after: LayerNorm(x)\nmean +0.00, std 0.82")]),
    "plot_gpus_needed": (lambda: plotting.plot_gpus_needed({"memory": 2, "bandwidth": 5, "compute": 1}, "bandwidth",
                                                           {"weights": 4e9, "kv_cache": 1e9}), [
        (lambda f: f.axes[0].get_title(), message("binding limit: {limit}", limit=message("bandwidth")),
         "binding limit: bandwidth"),
        (lambda f: f.axes[0].get_xticklabels()[1].get_text(), message("bandwidth"), "bandwidth"),
        (lambda f: f.axes[1].get_xticklabels()[1].get_text(), message("KV cache"), "KV cache")]),
}


def _check_english(reads, thing) -> None:
    for read, msg, english in reads:
        if english is None:
            assert pattern(msg[0]).fullmatch(read(thing)), msg[0]
        else:
            assert read(thing) == english == shown(msg), msg[0]


def _check_chinese(reads, thing, catalog) -> None:
    for read, msg, english in reads:
        text = read(thing)
        if english is None:
            assert pattern(catalog[msg[0]]).fullmatch(text), (msg[0], text)
        else:
            assert text == shown(msg, catalog) and text != english, msg[0]
        assert CJK.search(text), text


@pytest.mark.parametrize("name", FIGURES)
def test_figures_speak_english_by_default(name):
    draw, reads = FIGURES[name]
    assert gptlab.get_language() == "en"
    _check_english(reads, draw())


@pytest.mark.parametrize("name", FIGURES)
def test_figures_speak_chinese_from_the_catalog(name, zh, catalog):
    draw, reads = FIGURES[name]
    fig = draw()
    _check_chinese(reads, fig, catalog)
    assert _glyph_warnings(fig) == []


def test_a_chinese_figure_draws_every_character_and_the_check_would_see_a_box(zh, catalog):
    title = catalog["attention with projections: every token makes a query, a key and a value"]
    fig = plotting.plot_history(_history())  # Chinese labels and legend
    fig.axes[0].set_title(title)
    assert CJK.search(fig.axes[0].get_ylabel()) and _glyph_warnings(fig) == []
    # the same title in DejaVu Sans alone, without the CJK fallback, is drawn with boxes and warns
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        bare, ax = plotting.new_figure()
        ax.set_title(title)
        assert any("Glyph" in m for m in _glyph_warnings(bare))


def test_the_scaling_fit_label_keeps_no_math_text_in_chinese(zh, catalog, caplog):
    """A text holding $...$ is drawn with matplotlib's math font alone, which has no Chinese
    characters: the Chinese fit label writes its formula in plain characters."""
    sys.path.insert(0, os.path.dirname(__file__))
    from test_scaling_laws import fake_runs

    fig = plotting.plot_scaling_curve(fake_runs(), fit=(10.0, 0.1))
    label = _legend(fig)[0]
    assert label == catalog["fit: loss $\\propto N^{{-{alpha:.3f}}}$"].format(alpha=0.1) and "$" not in label
    with caplog.at_level(logging.WARNING, logger="matplotlib"):
        assert _glyph_warnings(fig) == []
    assert not [r for r in caplog.records if "does not have a glyph" in r.getMessage()]


# --- explorers ---------------------------------------------------------------------------------

def _scaling():
    from gptlab.widgets import ScalingExplorer

    return ScalingExplorer(d=64, scaled=True, T=8, n_samples=8)


def _position():
    from gptlab.widgets import PositionExplorer

    return PositionExplorer(kind="sinusoidal", d=16, position=10, max_len=32, max_d=32)


def _ngram():
    from gptlab.widgets import NGramExplorer

    words = "the king my lord i am to be or not".split()
    rng = np.random.default_rng(0)
    sentences = [[words[i] for i in rng.integers(len(words), size=6)] for _ in range(50)]
    return NGramExplorer(sentences, n=2, k=0.1, context="the king", max_n=3)


def _sampling():
    from gptlab.widgets import SamplingExplorer

    logits = torch.randn(30, generator=torch.Generator().manual_seed(0))
    return SamplingExplorer(logits, [f"t{i}" for i in range(30)], n_samples=0)


def _line(i):
    return lambda ex: ex.summary.splitlines()[i]


# name -> (make, [(what is read, the message, the English it is; None: only its template is known)])
EXPLORERS = {
    "ScalingExplorer": (_scaling, [
        (lambda ex: ex.controls["scaled"].description, message("divide by √d"), "divide by √d"),
        (lambda ex: ex.controls["T"].description, message("T (keys)"), "T (keys)"),
        (_line(0), message("d = {d}, T = {T} keys, scores = {mode}", d=64, T=8, mode=message("q·k / √d (scaled)")),
         "d = 64, T = 8 keys, scores = q·k / √d (scaled)"),
        (_line(2), message("entropy {h:.3f} nats of a possible log {T} = {h_max:.3f} ({share:.0f}%)"), None),
        (lambda ex: ex.figure.axes[1].get_title(), message("entropy (median of many draws)"),
         "entropy (median of many draws)")]),
    "PositionExplorer": (_position, [
        (lambda ex: ex.controls["kind"].description, message("kind"), "kind"),
        (lambda ex: ex.controls["position"].description, message("position p"), "position p"),
        (_line(0), message("{kind}, d = {d}: {measure} of position {p} with the others",
                           kind=message("sinusoidal (fixed)"), d=16, measure=message("cosine similarity"), p=10),
         "sinusoidal (fixed), d = 16: cosine similarity of position 10 with the others"),
        (lambda ex: ex.figure.axes[0].get_title(),
         message("{kind} codes ({T} positions × {d} dims)", kind=message("sinusoidal"), T=32, d=16),
         "sinusoidal codes (32 positions × 16 dims)")]),
    "NGramExplorer": (_ngram, [
        (lambda ex: ex.controls["context"].description, message("context"), "context"),
        (lambda ex: ex.controls["context"].placeholder, message("type a few words"), "type a few words"),
        (lambda ex: ex.controls["smoothing"].description, message("smoothing"), "smoothing"),
        (lambda ex: ex.figure.axes[0].get_title().splitlines()[0],
         message("P(next | {context})   n = {n}, {rule}", context="king", n=2,
                 rule=message("add-k with k = {k:.3g}", k=0.1)),
         "P(next | king)   n = 2, add-k with k = 0.1"),
        (_line(-1), message("entropy {h:.2f} nats: as uncertain as a fair choice among e^H = {choices:.0f} of the "
                            "{V} tokens"), None)]),
    "SamplingExplorer": (_sampling, [
        (lambda ex: ex.controls["temperature"].description, message("temperature"), "temperature"),
        (lambda ex: ex.controls["repetition_penalty"].description, message("rep. penalty"), "rep. penalty"),
        (_line(0), message("T = {t}, top-k {k}, top-p {p}, repetition penalty {penalty:g}", t="1",
                           k=message("off"), p=message("{p:g} (off)", p=1.0), penalty=1.0),
         "T = 1, top-k off, top-p 1 (off), repetition penalty 1"),
        (_line(2), message("kept {kept} of {V} tokens, holding {mass:.1%} of the model's probability"), None),
        (lambda ex: ex.figure.axes[0].get_xlabel(), message("probability"), "probability")]),
}


@pytest.mark.parametrize("name", EXPLORERS)
def test_explorers_speak_english_by_default(name):
    make, reads = EXPLORERS[name]
    ex = make()
    assert ex.error is None, ex.error
    _check_english(reads, ex)


@pytest.mark.parametrize("name", EXPLORERS)
def test_explorers_speak_chinese_from_the_catalog(name, zh, catalog):
    make, reads = EXPLORERS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = make()  # its first picture is drawn here
    assert ex.error is None, ex.error
    assert not [w for w in caught if "Glyph" in str(w.message)]
    _check_chinese(reads, ex, catalog)
    assert CJK.search(ex.text.value)  # the summary under the picture, as the widget shows it


def test_an_explorer_made_after_set_language_speaks_it(reset_language, catalog):
    """The lookup happens when a picture or an explorer is made, not when its module is imported."""
    from gptlab.widgets import ScalingExplorer  # imported in English

    english = _scaling()
    gptlab.set_language("zh_CN")
    chinese = ScalingExplorer(d=64, scaled=True, T=8, n_samples=8)
    assert english.controls["scaled"].description == "divide by √d"
    assert chinese.controls["scaled"].description == catalog["divide by √d"]
    gptlab.set_language("en")
    assert _scaling().summary == english.summary


def test_an_explorer_s_message_about_bad_input_speaks_the_language(reset_language, catalog):
    """What the learner typed wrong is said in the red line under the picture, in their language."""
    from gptlab import alignment as A
    from gptlab.model import GPT, GPTConfig
    from gptlab.tokenizers import CharTokenizer
    from gptlab.widgets import AlignmentExplorer

    tok = CharTokenizer().fit(A.web_text(200) + "ABCDEF0123456789")

    def gpt(seed):
        torch.manual_seed(seed)
        return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()

    models, ppo, rm = {"base": gpt(0)}, {0.0: gpt(1)}, A.RewardModel(gpt(2)).eval()
    too_long = "upper: abcdefabcdefab => "  # 25 characters + 6 for the answer > block_size=24
    english = "instruction is 25 characters; with 6 for the answer it exceeds block_size=24; use a shorter word"
    try:
        ex = AlignmentExplorer(models, ppo, rm, tok).set(instruction=too_long)
        assert ex.error == english and english in ex.text.value
        gptlab.set_language("zh_CN")
        ex = AlignmentExplorer(models, ppo, rm, tok)
        figure = ex.figure
        ex.set(instruction=too_long)
        template = "instruction is {n} characters; with {answer} for the answer it exceeds block_size={block_size}; " \
                   "use a shorter word"
        assert ex.error == catalog[template].format(n=25, answer=6, block_size=24) != english
        assert CJK.search(ex.error) and "block_size=24" in ex.error and ex.error in ex.text.value
        assert ex.figure is figure  # the last picture stays
        gptlab.set_language("en")
        assert AlignmentExplorer(models, ppo, rm, tok).set(instruction=too_long).error == english
    finally:
        gptlab.set_language("en")


# --- exercises ---------------------------------------------------------------------------------

@pytest.fixture
def _fresh_hints():
    saved = dict(exercises._REVEALED)
    yield
    exercises._REVEALED.clear()
    exercises._REVEALED.update(saved)


def _printed(call) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call()
    return out.getvalue()


def test_exercise_verdicts_and_hints_in_chinese(zh, catalog, _fresh_hints):
    from gptlab.hints.lesson00 import HINTS

    assert _printed(lambda: exercises.check_answer("0.1 count", 8, 8)) == \
        catalog["✅ {name}: correct!"].format(name="0.1 count") + "\n"
    wrong = _printed(lambda: exercises.check_answer("0.1 count", 7, 8))
    assert wrong == (catalog["❌ {name}: not quite; you gave {answer}."].format(name="0.1 count", answer="7")
                     + "\n   " + catalog["Stuck? Run hint({id!r})."].format(id="0.1") + "\n")
    todo = _printed(lambda: exercises.check_answer("0.1 count", ..., 8))
    assert todo.startswith(catalog["✏️  {name}: not attempted yet: replace the `...` with your answer and run the cell "
                                   "again."].format(name="0.1 count"))
    shown = _printed(lambda: exercises.hint("0.1", level=1))
    assert exercises.hint("0.1", level=1) == catalog[HINTS["0.1"][0]] and CJK.search(catalog[HINTS["0.1"][0]])
    assert shown == (f"💡 0.1: {catalog[HINTS['0.1'][0]]}  "
                     + catalog["(hint {level} of {total}; run hint({key!r}) again for the next)"].format(
                         level=1, total=2, key="0.1") + "\n")


def test_exercise_verdicts_and_hints_in_english_are_as_before(_fresh_hints):
    from gptlab.hints.lesson00 import HINTS

    assert gptlab.get_language() == "en"
    assert _printed(lambda: exercises.check_answer("0.1 count", 8, 8)) == "✅ 0.1 count: correct!\n"
    assert _printed(lambda: exercises.check_answer("0.1 count", 7, 8)) == \
        "❌ 0.1 count: not quite; you gave 7.\n   Stuck? Run hint('0.1').\n"
    assert _printed(lambda: exercises.hint("0.1", level=2)) == f"💡 0.1: {HINTS['0.1'][1]}  (hint 2 of 2)\n"


# --- the catalog -------------------------------------------------------------------------------

def test_the_package_catalog_is_complete(catalog):
    assert package.check("zh_CN") == []
    strings = package.package_strings()
    hints = [s for s, where in strings.items() if where.startswith("gptlab/hints/")]
    assert len(strings) > 400 and len(hints) > 100
    assert all(CJK.search(catalog[h]) for h in hints)  # every hint is a sentence in Chinese


def test_check_reports_a_translation_that_changes_a_template_s_fields(tmp_path, monkeypatch):
    po = polib.pofile(str(package.catalog_path("zh_CN")), wrapwidth=0)
    target = next(e for e in po if e.msgid == "{n} tokens for {chars} characters")
    target.msgstr = "{count} 个词元，{chars} 个字符"  # {n} renamed: .format(n=..., chars=...) would fail
    fuzzy = next(e for e in po if e.msgid == "attention weight")
    fuzzy.flags.append("fuzzy")
    po.remove(next(e for e in po if e.msgid == "no steps yet"))
    path = tmp_path / "gptlab.po"
    po.save(str(path))
    monkeypatch.setattr(package, "catalog_path", lambda lang: path)
    problems = package.check("zh_CN")
    assert len(problems) == 3, problems
    fields, untranslated, absent = sorted(problems, key=lambda p: ("keep the fields" not in p, "fuzzy" not in p))
    assert "'{n} tokens for {chars} characters'" in fields and "['{chars}', '{n}']" in fields
    assert "'attention weight': not translated (fuzzy)" in untranslated
    assert "'no steps yet': not in the catalog" in absent
    target.msgstr = "{chars} 个字符，{n} 个词元"  # the fields in another order are fine
    fuzzy.flags.remove("fuzzy")
    po.save(str(path))
    assert [p for p in package.check("zh_CN") if "no steps yet" not in p] == []
