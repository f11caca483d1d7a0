"""Give every lesson slideshow metadata, so it presents as slides with RISE (``jupyterlab-rise``).

Each cell gets ``metadata.slideshow.slide_type``, decided from its content alone (so running the
script twice changes nothing, and it works on any lesson):

- the title cell, and a markdown cell with a section heading (``## ``): ``slide``;
- a subsection heading (``### ``): ``subslide``, while the lesson stays within 25 slides;
- a cell that builds an explorer (``...Explorer(`` or ``...Explorer.from_...(``): ``slide``, and
  the cell after it starts a ``subslide``, so the widget has a slide of its own;
- the setup cell (the first code cell, which imports and prints the device): ``skip``;
- long prose (more than ``NOTES_WORDS`` words, no heading) and solutions (``<details>``):
  ``notes``, shown in the speaker view, not on the screen;
- the exercises, after ``## Exercises``: the heading is a slide, the prompts notes, their code
  cells ``skip`` (homework, not class time);
- everything else: ``-`` (continues the slide above).

A lesson then has ``MIN_SLIDES``..``MAX_SLIDES`` slides (slide + subslide): too many, and
subsections stop starting subslides (then the last sections merge); too few, and the cells that
draw a figure after some prose start subslides (then prose that follows a result).
``OVERRIDES`` below can pin a cell (by its id) for a lesson whose content the rules read wrongly.

    python scripts/slides.py notebooks/*.ipynb            # write the metadata
    python scripts/slides.py --check notebooks/*.ipynb    # exit 1 if a lesson lacks it or breaks a rule

The notebook also gets RISE's own settings (``metadata.rise``, ``RISE_SETTINGS``): ``scroll``, so
that a slide taller than the screen (a widget's controls, picture and summary on a 1280x800
projector) scrolls instead of losing its bottom lines.

To present: open the lesson in JupyterLab, run all cells, then press Alt-R (or the RISE button in
the notebook toolbar). Only metadata is written; sources and outputs are kept byte for byte.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
MIN_SLIDES, MAX_SLIDES = 10, 25
NOTES_WORDS = 90  # prose longer than this is read from the speaker notes, not from the screen

RISE_SETTINGS = {"scroll": True}  # notebook metadata "rise": passed to reveal.js by jupyterlab-rise

# lesson file name prefix -> {cell id: slide_type}, for a cell the rules read wrongly
OVERRIDES: dict[str, dict[str, str]] = {}

_WIDGET = re.compile(r"\b[A-Z]\w*Explorer\b(\.from_\w+)?\(")
_FIGURE = re.compile(r"\bplotting\.plot_\w+\(|\bplot_\w+\(")


def _words(text: str) -> int:
    return len(re.sub(r"\$[^$]*\$", " x ", text).split())


def _heading(cell: dict, level: int) -> bool:
    return cell["cell_type"] == "markdown" and re.search(rf"^{'#' * level} \S", _source(cell), re.M) is not None


def _source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def is_widget(cell: dict) -> bool:
    return cell["cell_type"] == "code" and _WIDGET.search(_source(cell)) is not None


def slide_types(cells: list[dict], lesson: str = "") -> list[str]:
    """The slide type of each cell, from the cells' content (and ``OVERRIDES[lesson]``)."""
    types = ["-"] * len(cells)
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)
    exercises = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                      and re.search(r"^## +Exercises", _source(c), re.M)), len(cells))
    optional = []  # subslides that may go if the lesson runs long
    for i, cell in enumerate(cells):
        text = _source(cell)
        if i == 0 or _heading(cell, 2) or _heading(cell, 1):
            types[i] = "slide"
        elif i > exercises:
            types[i] = "skip" if cell["cell_type"] == "code" else "notes"
        elif _heading(cell, 3):
            types[i] = "subslide"
            optional.append(i)
        elif i == first_code and "import" in text:
            types[i] = "skip"
        elif cell["cell_type"] == "markdown" and ("<details>" in text or _words(text) > NOTES_WORDS):
            types[i] = "notes"
    for i, cell in enumerate(cells):  # a widget has a slide of its own
        if is_widget(cell) and i < exercises:
            types[i] = "slide"
            nxt = next((j for j in range(i + 1, len(cells)) if types[j] not in ("skip", "notes")), None)
            if nxt is not None and types[nxt] in ("-", "fragment"):
                types[nxt] = "subslide"
    # within the budget: drop optional subslides from the end, then merge the last sections
    while count_slides(types) > MAX_SLIDES and optional:
        types[optional.pop()] = "-"
    mergeable = [i for i in range(len(cells)) if types[i] == "slide" and i > 0 and not is_widget(cells[i])]
    while count_slides(types) > MAX_SLIDES and mergeable:
        types[mergeable.pop()] = "-"
    if count_slides(types) < MIN_SLIDES:  # too few: a figure after prose starts a subslide
        for i, cell in enumerate(cells[:exercises]):
            if count_slides(types) >= MIN_SLIDES:
                break
            if types[i] == "-" and cell["cell_type"] == "code" and _FIGURE.search(_source(cell)) \
                    and i > 0 and types[i - 1] not in ("slide", "subslide"):
                types[i] = "subslide"
    for i, cell in enumerate(cells[:exercises]):  # still too few: prose after a result starts a subslide
        if count_slides(types) >= MIN_SLIDES:
            break
        if types[i] == "-" and cell["cell_type"] == "markdown" and i > 0 and cells[i - 1]["cell_type"] == "code":
            types[i] = "subslide"
    for cell_id, kind in OVERRIDES.get(lesson, {}).items():
        for i, cell in enumerate(cells):
            if cell.get("id") == cell_id:
                types[i] = kind
    return types


def count_slides(types: list[str]) -> int:
    return sum(t in ("slide", "subslide") for t in types)


def problems(cells: list[dict], lesson: str = "", rise: dict | None = None) -> list[str]:
    """What is wrong with a lesson's slideshow metadata as it stands ([] when nothing); ``rise``:
    the notebook's ``metadata.rise``, checked when given."""
    found = []
    if rise is not None and {k: rise.get(k) for k in RISE_SETTINGS} != RISE_SETTINGS:
        found.append(f"metadata.rise is {rise}, without {RISE_SETTINGS}; run python scripts/slides.py on it")
    have = [c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in cells]
    missing = [i for i, t in enumerate(have) if t is None]
    if missing:
        found.append(f"{len(missing)} cells without slideshow metadata (first: cell {missing[0]}); "
                     f"run python scripts/slides.py on it")
        return found
    bad = sorted({t for t in have if t not in TYPES})
    if bad:
        found.append(f"unknown slide types {bad}; use one of {TYPES}")
    n = count_slides(have)
    if not MIN_SLIDES <= n <= MAX_SLIDES:
        found.append(f"{n} slides; a lesson has {MIN_SLIDES}..{MAX_SLIDES}")
    if have and have[0] != "slide":
        found.append("the title cell does not start a slide")
    for i, cell in enumerate(cells):
        if is_widget(cell) and have[i] != "skip":
            nxt = next((j for j in range(i + 1, len(cells)) if have[j] not in ("skip", "notes")), None)
            if have[i] != "slide" or (nxt is not None and have[nxt] not in ("slide", "subslide")):
                found.append(f"cell {i} builds a widget but has no slide of its own")
    expected = slide_types(cells, lesson)
    differ = [i for i, (a, b) in enumerate(zip(have, expected)) if a != b]
    if differ:
        found.append(f"{len(differ)} cells differ from the rules (first: cell {differ[0]} is {have[differ[0]]!r}, "
                     f"the rules say {expected[differ[0]]!r}); run python scripts/slides.py on it")
    return found


def apply(path: Path) -> tuple[bool, int]:
    """Write the metadata into ``path``; returns (changed, number of slides)."""
    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    types = slide_types(nb["cells"], path.name[:2])
    for cell, kind in zip(nb["cells"], types):
        cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = kind
    nb["metadata"].setdefault("rise", {}).update(RISE_SETTINGS)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"  # nbformat's own layout
    if text != raw:
        path.write_text(text, encoding="utf-8")
    return text != raw, count_slides(types)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on any problem")
    args = parser.parse_args(argv)
    failed = False
    for path in args.notebooks:
        if args.check:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = nb["cells"]
            found = problems(cells, path.name[:2], rise=nb["metadata"].get("rise", {}))
            n = count_slides([c.get("metadata", {}).get("slideshow", {}).get("slide_type") for c in cells])
            print(f"{path.name}: {n} slides" + ("" if not found else "; " + "; ".join(found)))
            failed |= bool(found)
        else:
            changed, n = apply(path)
            print(f"{path.name}: {n} slides{' (written)' if changed else ' (unchanged)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
