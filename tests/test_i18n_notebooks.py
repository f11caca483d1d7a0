"""The Chinese edition's machinery (gptlab.i18n.notebooks): what is cut into catalog entries, how
an edited English cell marks its translation stale, what ``build`` writes and what ``check``
catches. Each test works on a small notebook in a temporary folder; the last ones hold the
committed catalogs and notebooks/zh_CN to the same rules."""
from __future__ import annotations

import ast
import json

import polib
import pytest

from gptlab.i18n import notebooks as N


def _notebook(cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"id": cid, "cell_type": kind, "metadata": {}, "source": src,
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for cid, kind, src in cells]}


CELLS = [
    ("m0", "markdown", "# 1 · Attention\n\nThe `softmax` turns scores into weights."),
    ("c1", "code", "import torch\nfrom gptlab.attention import (dot_product_attention,\n    causal_mask)\n"
                   "x = 1  # the attention weights of each query\n"),
    ("c2", "code", "# NBVAL_CHECK_OUTPUT\nn = 3\nprint(f\"{n} tokens in the corpus\", tok.encode(\"the cat sat\"))\n"),
]


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A one-lesson course in tmp_path, with a two-term glossary."""
    monkeypatch.setattr(N, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(N, "LOCALE", tmp_path / "locale")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "locale" / "zh_CN").mkdir(parents=True)
    (tmp_path / "locale" / "zh_CN" / "glossary.tsv").write_text("attention\t注意力\ntoken\t词元\n", encoding="utf-8")
    path = tmp_path / "notebooks" / "01_demo.ipynb"
    path.write_text(json.dumps(_notebook(CELLS)), encoding="utf-8")
    return path


def _entries(lesson="01_demo"):
    return {e.msgctxt: e for e in polib.pofile(str(N.catalog_path("zh_CN", lesson)))}


def _translate(translations, lesson="01_demo"):
    po = polib.pofile(str(N.catalog_path("zh_CN", lesson)), wrapwidth=0)
    for e in po:
        if e.msgctxt in translations:
            e.msgstr = translations[e.msgctxt]
            if e.fuzzy:
                e.flags.remove("fuzzy")
                e.previous_msgid = None
    po.save()


GOOD = {"m0": "# 1 · 注意力\n\n`softmax` 把分数变成权重。", "c1:comment:0": "每个查询的注意力权重",
        "c2:string:0": "语料中有 {n} 个词元"}


def test_units_are_prose_not_data():
    units = N.code_units(CELLS[2][2], "c2", 2)
    assert [(u.kind, u.text) for u in units] == [("string", "{n} tokens in the corpus")]  # not the NBVAL marker,
    assert units[0].prefix == 'f"' and units[0].suffix == '"'                            # not encode()'s data
    labels = N.code_units('print("device:", d)\nplot_attention(w, ["the", "cat"], title="dog bites man")\n', "c", 0)
    assert [u.text for u in labels] == ["device:", "dog bites man"]
    joined = N.code_units('print("  ".join(f"head {h}" for h in hs), (f"{s}x faster" if s else "slower"))'
                          '  # lesson 08\nax.set_title(f"saved run: step {n}")\n', "c", 0)
    assert [u.text for u in joined] == ["head {h}", "{s}x faster", "slower", "lesson 08", "saved run: step {n}"]
    keys = N.code_units('print("best of 16:", best["reward model"], [x["a b"] for x in xs], ["two words"])\n', "c", 0)
    assert [u.text for u in keys] == ["best of 16:", "two words"]  # subscripts are keys, not prose


def test_extract_marks_only_the_changed_english_stale(course):
    N.extract("zh_CN", [course])
    assert set(_entries()) == {"m0", "c1:comment:0", "c2:string:0"}
    assert all(e.msgstr == "" for e in _entries().values())
    _translate(GOOD)
    nb = json.loads(course.read_text())
    nb["cells"][0]["source"] = "# 1 · Attention\n\nThe `softmax` turns any scores into weights."
    # a new printed line before the old one shifts its index: it must keep its translation
    nb["cells"][2]["source"] = "n = 3\nprint(\"first line\")\nprint(f\"{n} tokens in the corpus\")\n"
    course.write_text(json.dumps(nb))
    counts = N.extract("zh_CN", [course])["01_demo"]
    e = _entries()
    assert e["m0"].fuzzy and e["m0"].previous_msgid == CELLS[0][2] and e["m0"].msgstr == GOOD["m0"]
    assert not e["c2:string:1"].fuzzy and e["c2:string:1"].msgstr == GOOD["c2:string:0"]
    # the English at c2's first place changed: its old translation stays as a suggestion, fuzzy
    assert e["c2:string:0"].msgid == "first line" and e["c2:string:0"].fuzzy
    assert not e["c1:comment:0"].fuzzy
    assert counts["stale"] == 2
    assert any("stale (fuzzy)" in p for p in N.check_lesson("zh_CN", course))


def test_build_writes_a_translated_notebook_that_check_accepts(course):
    N.extract("zh_CN", [course])
    assert any("not translated" in p for p in N.check_lesson("zh_CN", course))
    _translate(GOOD)
    assert N.build("zh_CN", [course], run=False) == {"01_demo": "written"}
    built = json.loads(N.built_path("zh_CN", "01_demo").read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in built["cells"]]
    assert sources[0] == GOOD["m0"]
    ast.parse(sources[1])  # the language line went after the whole parenthesised import
    assert "    causal_mask)\nimport gptlab\ngptlab.set_language('zh_CN')" in sources[1]
    assert "# 每个查询的注意力权重" in sources[1]
    assert 'print(f"语料中有 {n} 个词元", tok.encode("the cat sat"))' in sources[2]
    assert N.check_lesson("zh_CN", course) == []
    assert N.build("zh_CN", [course], run=False) == {"01_demo": "up to date"}
    _translate({"c1:comment:0": "每个查询的注意力权重（按行）"})
    assert any("is older than its catalog" in p for p in N.check_lesson("zh_CN", course))


@pytest.mark.parametrize("context, bad, complaint", [
    ("c2:string:0", "语料中有 {m} 个词元", "f-string fields"),
    ("m0", "# 1 · 注意力\n\nsoftmax 把分数变成权重。", "code and API names stay"),
    ("c1:comment:0", "每个查询的权重", "glossary renders 'attention'"),
    ("c2:string:0", '语料中有 {n} 个"词元"', "no longer parses"),
])
def test_check_catches_a_bad_translation(course, context, bad, complaint):
    N.extract("zh_CN", [course])
    _translate({**GOOD, context: bad})
    problems = N.check_lesson("zh_CN", course, N.load_glossary("zh_CN"))
    assert any(complaint in p for p in problems), problems


def test_glossary_checks_prose_not_code():
    terms = N._compiled([("embedding", "嵌入"), ("position embedding", "位置编码"), ("token", "词元")])
    assert N.glossary_misses("the position embedding", "位置编码", terms) == []
    assert N.glossary_misses("a token embedding", "词元的向量", terms) == [("embedding", "嵌入")]
    assert N.glossary_misses("calls `token_ids` and {n_tokens} and tok.token_count()", "", terms) == []


def test_glossary_has_one_rendering_per_term(tmp_path, monkeypatch):
    monkeypatch.setattr(N, "LOCALE", tmp_path)
    (tmp_path / "zh_CN").mkdir()
    (tmp_path / "zh_CN" / "glossary.tsv").write_text("token\t词元\nToken\t标记\n", encoding="utf-8")
    with pytest.raises(ValueError, match="appear twice"):
        N.load_glossary("zh_CN")


def test_committed_glossary_loads():
    rows = N.load_glossary("zh_CN")
    assert len(rows) > 50 and dict(rows)["attention"] == "注意力"


def test_built_chinese_notebooks_match_their_catalogs():
    """What CI's `python -m gptlab.i18n check --started` asserts, as a test: every lesson built
    into notebooks/zh_CN is complete, current and consistent with the glossary."""
    built = [p for p in N.lesson_notebooks() if N.built_path("zh_CN", p.stem).exists()]
    assert N.check("zh_CN", built) == []
