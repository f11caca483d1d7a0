"""Every lesson presents as slides (RISE): scripts/slides.py's metadata is there and keeps its rules."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

_spec = importlib.util.spec_from_file_location("slides", ROOT / "scripts" / "slides.py")
slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slides)


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_lesson_has_slideshow_metadata_that_keeps_the_rules(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert slides.problems(nb["cells"], path.name[:2], rise=nb["metadata"].get("rise", {})) == [], \
        f"run: python scripts/slides.py {path.relative_to(ROOT)}"
    assert nb["metadata"]["rise"]["scroll"] is True  # a tall widget slide scrolls on a 1280x800 projector


def test_applying_twice_changes_nothing_and_touches_only_the_metadata(tmp_path):
    source = ROOT / "notebooks" / "00_start_here.ipynb"
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    before = json.loads(copy.read_text(encoding="utf-8"))
    for cell in before["cells"]:  # start from a lesson without any slideshow metadata
        cell["metadata"].pop("slideshow", None)
    copy.write_text(json.dumps(before, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert slides.apply(copy)[0] is True
    written = copy.read_text(encoding="utf-8")
    assert slides.apply(copy)[0] is False and copy.read_text(encoding="utf-8") == written
    after = json.loads(written)
    for a, b in zip(before["cells"], after["cells"]):
        b_meta = dict(b["metadata"])
        assert b_meta.pop("slideshow")["slide_type"] in slides.TYPES
        assert {k: v for k, v in a.items() if k != "metadata"} == {k: v for k, v in b.items() if k != "metadata"}
        assert a["metadata"] == b_meta
    assert after["metadata"]["rise"] == {**before["metadata"].get("rise", {}), **slides.RISE_SETTINGS}


def test_the_rules_on_a_made_up_lesson():
    cells = [_cell("markdown", "# 99 · A lesson\n\nWhat you will learn."),
             _cell("code", "import torch\nfrom gptlab import pick_device\nprint(pick_device())"),
             _cell("markdown", "## 1 · An idea"),
             _cell("markdown", " ".join(["word"] * 200)),  # long prose
             _cell("code", "from gptlab.widgets import SamplingExplorer\n\nexplorer = SamplingExplorer(logits, words)\n"
                           "explorer"),
             _cell("markdown", "Drag the temperature to 0."),
             _cell("markdown", "## Exercises"),
             _cell("code", "from gptlab.exercises import check_answer\ncheck_answer('99.1', answer)"),
             _cell("markdown", "<details><summary>Solution</summary>\n\n42\n</details>")]
    types = slides.slide_types(cells)
    assert types == ["slide", "skip", "slide", "notes", "slide", "subslide", "slide", "skip", "notes"]


def test_a_long_lesson_is_cut_to_25_slides_and_keeps_its_widget_slide():
    cells = [_cell("markdown", "# 99 · Long")]
    for i in range(40):
        cells += [_cell("markdown", f"## {i} · Section"), _cell("markdown", f"### {i}.1 · Part"), _cell("code", "1")]
    cells.insert(30, _cell("code", "explorer = AttentionExplorer.from_text(model, tok, text)"))
    types = slides.slide_types(cells)
    assert slides.count_slides(types) == slides.MAX_SLIDES
    assert types[30] == "slide" and types[31] in ("slide", "subslide")


def test_check_reports_missing_metadata_and_a_widget_without_its_slide():
    cells = [_cell("markdown", "# 99"), _cell("code", "explorer = NGramExplorer(train)")]
    assert "without slideshow metadata" in slides.problems(cells)[0]
    for cell, kind in zip(cells, ["slide", "-"]):
        cell["metadata"]["slideshow"] = {"slide_type": kind}
    found = " ".join(slides.problems(cells))
    assert "no slide of its own" in found and "1 slides" in found
