"""The lessons in another language, from the English notebooks and one gettext catalog per lesson.

The English notebooks in ``notebooks/`` are the source. What a learner reads is cut into
**units**, each one catalog entry in ``locale/<lang>/LC_MESSAGES/<lesson>.po``:

- a markdown cell, whole (``msgctxt "<cell id>"``);
- a comment in a code cell (``msgctxt "<cell id>:comment:<k>"``, the text after ``#``);
- a string a code cell shows: a literal inside ``print(...)``, a checker's or a plotting call,
  or given as a ``title=``/``label=``/``explain=``... (``msgctxt "<cell id>:string:<k>"``, the text
  between the quotes; see ``code_units``).

Code, formulas and API names are never units, and outputs are never translated by hand: the
built notebook is run, so what it prints comes from the translated code.

``extract`` brings the catalogs up to date with the English: a new unit gets an empty entry, and a
unit whose English changed keeps its old translation but is marked **fuzzy** (stale), with the
previous English beside it (``#| msgid``), so a translator sees what changed. ``build`` writes
``notebooks/<lang>/<lesson>.ipynb``; ``check`` fails on any missing or stale entry, on a
translation that dropped an f-string field, on a glossary term rendered otherwise than the
glossary says, and on a built notebook that no longer matches its catalog.
"""
from __future__ import annotations

import copy
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
LOCALE = REPO / "locale"
SKIP_COMMENT = re.compile(r"^\s*(NBVAL_\w+|noqa\b|type:|pragma\b|fmt:|ruff:)")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")  # two letters or more: "x" or "k" is a symbol, not a word
FIELD = re.compile(r"\{[^{}]*\}")
LANGUAGE_LINE = "gptlab.set_language({lang!r})  # {comment}"
LANGUAGE_COMMENT = {"zh_CN": "图和交互控件也用中文"}


@dataclass(frozen=True)
class Unit:
    """One piece of a lesson to translate."""

    context: str  # msgctxt: where it lives
    text: str     # msgid: the English
    kind: str     # "markdown", "comment" or "string"
    cell: int     # index of its cell
    start: tuple[int, int] = (0, 0)  # (line, column) of the token in the cell's source (code units)
    end: tuple[int, int] = (0, 0)
    prefix: str = ""  # a string literal's prefix and opening quote, e.g. 'f"'
    suffix: str = ""  # its closing quote


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def lesson_notebooks() -> list[Path]:
    """The English lessons, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def catalog_path(lang: str, lesson: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{lesson}.po"


def built_path(lang: str, lesson: str) -> Path:
    return NOTEBOOKS / lang / f"{lesson}.ipynb"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _words_outside_fields(text: str) -> int:
    return len(WORD.findall(FIELD.sub(" ", text)))


def _string_parts(token: str) -> tuple[str, str, str] | None:
    """'f"abc"' -> ('f"', 'abc', '"'); None for a string we do not split (bytes, raw, triple quotes)."""
    m = re.match(r"^([A-Za-z]*)('''|\"\"\"|'|\")", token)
    if not m:
        return None
    prefix, quote = m.group(1), m.group(2)
    if "b" in prefix.lower() or len(quote) == 3 or not token.endswith(quote):
        return None
    return prefix + quote, token[len(prefix) + len(quote):-len(quote)], quote


PROSE_CALLS = re.compile(r"^(print|check_\w+|hint|plot_\w+|set_title|set_xlabel|set_ylabel|suptitle)$")
TRANSPARENT_CALLS = {"join", "format"}  # "  ".join(f"head {h}" ...) inside print(...) is still printed prose
SUBSCRIPT = "[]"  # marks a subscript bracket: table["reward model"] is a key, not prose
PROSE_KEYWORDS = {"title", "suptitle", "xlabel", "ylabel", "label", "labels", "explain", "wrong", "description",
                  "caption", "note"}


def _prose_words(calls: list[str], keywords: list[str | None]) -> int:
    """How many words a string needs to be read as prose here (0: it is not prose).

    Inside ``print(...)``, a checker's call or a ``title=``/``label=``... keyword, one word is
    enough (a table header, "device:"); inside a plotting function's call, where token lists are
    data, a legend's name needs two.
    """
    if calls and calls[-1] == SUBSCRIPT:  # table["reward model"]: a key the code looks up, not prose
        return 0
    named = [c for c in calls if c and c not in TRANSPARENT_CALLS and c != SUBSCRIPT]
    if any(k in PROSE_KEYWORDS for k in keywords[-2:] if k):
        return 1
    if named and PROSE_CALLS.match(named[-1]):
        return 2 if named[-1].startswith("plot_") else 1
    return 0


def code_units(source: str, cell_id: str, cell: int) -> list[Unit]:
    """The comments and prose strings of one code cell, in source order.

    A string literal is prose when the innermost call around it is ``print``, ``hint``, a
    ``check_*`` checker or a ``plot_*`` function (for these two, also inside a dict or list
    argument: a legend's names), or when it is the value of a ``title=``, ``label=``, ``explain=`` ... keyword,
    and it has at least two words outside its ``{}`` fields. Strings handed to a model or a
    tokenizer (``encode("the cat sat")``) are data and stay English.
    """
    units: list[Unit] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return units  # cell magics and the like: nothing to translate
    calls: list[str] = []  # for each open bracket: the name called with it ('' for none)
    keywords: list[str | None] = []  # for each open bracket: the keyword argument being written
    previous = before_previous = None
    n_comment = n_string = 0
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            subscript = tok.string == "[" and previous is not None and (
                previous.type in (tokenize.NAME, tokenize.STRING) or previous.string in (")", "]"))
            calls.append(SUBSCRIPT if subscript else previous.string if (
                tok.string == "(" and previous is not None and previous.type == tokenize.NAME) else "")
            keywords.append(None)
        elif tok.type == tokenize.OP and tok.string in ")]}":
            if calls:
                calls.pop()
                keywords.pop()
        elif tok.type == tokenize.OP and tok.string == "," and keywords:
            keywords[-1] = None
        elif (tok.type == tokenize.OP and tok.string == "=" and keywords and previous is not None
              and previous.type == tokenize.NAME and before_previous is not None
              and before_previous.string in ("(", ",")):
            keywords[-1] = previous.string
        elif tok.type == tokenize.COMMENT:
            text = tok.string[1:].strip()
            if not SKIP_COMMENT.match(text) and WORD.search(text):
                units.append(Unit(f"{cell_id}:comment:{n_comment}", text, "comment", cell, tok.start, tok.end,
                                  "# ", ""))
                n_comment += 1
        elif tok.type == tokenize.STRING and (need := _prose_words(calls, keywords)):
            parts = _string_parts(tok.string)
            if parts is not None and _words_outside_fields(parts[1]) >= need:
                units.append(Unit(f"{cell_id}:string:{n_string}", parts[1], "string", cell, tok.start, tok.end,
                                  parts[0], parts[2]))
                n_string += 1
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            previous, before_previous = tok, previous
    return units


def notebook_units(nb: dict) -> list[Unit]:
    """Every unit of a notebook, cell by cell."""
    units: list[Unit] = []
    for i, cell in enumerate(nb["cells"]):
        cell_id = cell.get("id")
        if not cell_id:
            raise ValueError(f"cell {i} has no id: save the notebook with nbformat 4.5 or later")
        src = _source(cell)
        if cell["cell_type"] == "markdown" and src.strip():
            units.append(Unit(cell_id, src, "markdown", i))
        elif cell["cell_type"] == "code":
            units.extend(code_units(src, cell_id, i))
    return units


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _cell_of(context: str) -> str:
    return context.split(":", 1)[0]


def _kind_of(context: str) -> str:
    return context.split(":")[1] if ":" in context else "markdown"


def extract(lang: str, lessons: list[Path] | None = None) -> dict[str, dict[str, int]]:
    """Bring each lesson's catalog up to date with its English notebook -> counts per lesson."""
    import polib

    report = {}
    for path in (lesson_notebooks() if lessons is None else lessons):
        lesson = path.stem
        po_path = catalog_path(lang, lesson)
        old = list(polib.pofile(str(po_path))) if po_path.exists() else []
        by_context = {e.msgctxt: e for e in old}
        # what each English text was translated as, in its cell (a fuzzy entry's translation is
        # that of its previous English): a unit that only moved within its cell, or to another
        # cell, keeps its translation
        in_cell, anywhere = {}, {}
        for e in old:
            english = e.previous_msgid if e.fuzzy and e.previous_msgid else e.msgid
            if e.msgstr and (not e.fuzzy or e.previous_msgid):
                key = (_cell_of(e.msgctxt), _kind_of(e.msgctxt), english)
                in_cell.setdefault(key, e.msgstr)
                anywhere.setdefault(english, e.msgstr)
        po = polib.POFile(wrapwidth=0)
        po.metadata = {"Project-Id-Version": f"gptlab {lesson}", "Language": lang,
                       "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                       "Content-Transfer-Encoding": "8bit"}
        counts = {"kept": 0, "new": 0, "stale": 0, "dropped": 0}
        for unit in notebook_units(_load(path)):
            note = f"{unit.kind}, cell {unit.cell}"
            if unit.kind == "string":
                note += f", between {unit.prefix}...{unit.suffix}: keep the {{}} fields and escapes"
            entry = polib.POEntry(msgctxt=unit.context, msgid=unit.text, msgstr="", comment=note)
            before = by_context.get(unit.context)
            same = in_cell.get((_cell_of(unit.context), unit.kind, unit.text)) or anywhere.get(unit.text)
            if before is not None and before.msgid == unit.text:
                entry.msgstr, entry.flags = before.msgstr, list(before.flags)
                entry.previous_msgid = before.previous_msgid
                if before.fuzzy and same:  # this very English was translated elsewhere in its cell
                    entry.msgstr, entry.flags, entry.previous_msgid = same, [], None
                counts["stale" if "fuzzy" in entry.flags else "kept"] += 1
            elif same is not None:  # the same English, moved
                entry.msgstr = same
                counts["kept"] += 1
            elif before is not None and before.msgstr:  # the English here changed: stale
                entry.msgstr, entry.flags = before.msgstr, ["fuzzy"]
                entry.previous_msgid = before.previous_msgid if before.fuzzy and before.previous_msgid \
                    else before.msgid
                counts["stale"] += 1
            else:
                counts["new"] += 1
            po.append(entry)
        counts["dropped"] = len(set(by_context) - {e.msgctxt for e in po})
        po_path.parent.mkdir(parents=True, exist_ok=True)
        po.save(str(po_path))
        report[lesson] = counts
    return report


def _translations(lang: str, lesson: str) -> dict[str, str]:
    """msgctxt -> msgstr of the finished entries of one lesson's catalog."""
    import polib

    path = catalog_path(lang, lesson)
    if not path.exists():
        return {}
    return {e.msgctxt: e.msgstr for e in polib.pofile(str(path)) if e.msgstr and not e.fuzzy}


def _replace_spans(source: str, edits: list[tuple[tuple[int, int], tuple[int, int], str]]) -> str:
    """Replace (start, end) -> text spans given as tokenize (line, col) positions."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(pos):
        return offsets[pos[0] - 1] + pos[1]

    for start, end, text in sorted(edits, key=lambda e: at(e[0]), reverse=True):
        source = source[:at(start)] + text + source[at(end):]
    return source


def translate_notebook(nb: dict, translations: dict[str, str], lang: str, lesson: str) -> dict:
    """A copy of ``nb`` with every translated unit replaced and the language set in its first code
    cell; its outputs are the English ones until ``build`` runs it."""
    out = copy.deepcopy(nb)
    units = notebook_units(nb)
    code_edits: dict[int, list] = {}
    for unit in units:
        text = translations.get(unit.context)
        if text is None:
            continue
        if unit.kind == "markdown":
            out["cells"][unit.cell]["source"] = text
        else:
            code_edits.setdefault(unit.cell, []).append((unit.start, unit.end, unit.prefix + text + unit.suffix))
    for i, edits in code_edits.items():
        out["cells"][i]["source"] = _replace_spans(_source(nb["cells"][i]), edits)
    first_code = next((c for c in out["cells"] if c["cell_type"] == "code"), None)
    if first_code is not None:
        first_code["source"] = _with_language_line(_source(first_code), lang)
    out.setdefault("metadata", {})["gptlab"] = {"language": lang, "source": f"notebooks/{lesson}.ipynb"}
    for cell in out["cells"]:
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    return out


def _without_magics(src: str) -> str:
    """IPython magics and shell lines (%matplotlib inline, !pip) are not Python: blank them, keeping
    the line numbers, so the rest can be parsed."""
    return re.sub(r"(?m)^[ \t]*[%!].*$", "", src)


def _with_language_line(src: str, lang: str) -> str:
    """The first code cell with ``gptlab.set_language(lang)`` after its last top-level import
    statement (a parenthesised import over several lines included)."""
    import ast

    line = LANGUAGE_LINE.format(lang=lang, comment=LANGUAGE_COMMENT.get(lang, "figures and explorers too"))
    try:
        tree = ast.parse(_without_magics(src))
    except SyntaxError:
        tree = None
    imports = [n for n in (tree.body if tree else []) if isinstance(n, (ast.Import, ast.ImportFrom))]
    at = imports[-1].end_lineno if imports else 0
    has_gptlab = any(isinstance(n, ast.Import) and any(a.name == "gptlab" and a.asname is None for a in n.names)
                     for n in imports)
    if not has_gptlab:
        line = "import gptlab\n" + line
    lines = src.splitlines(keepends=True)
    if at and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    lines.insert(at, line + "\n")
    return "".join(lines)


def _same_sources(a: dict, b: dict) -> bool:
    return [(c["cell_type"], _source(c)) for c in a["cells"]] == [(c["cell_type"], _source(c)) for c in b["cells"]]


def build(lang: str, lessons: list[Path] | None = None, run: bool = True, force: bool = False) -> dict[str, str]:
    """Write ``notebooks/<lang>/<lesson>.ipynb`` for each lesson that has a catalog -> what happened.

    A notebook whose translated sources are unchanged keeps its committed outputs; a changed one
    is run top to bottom (``run=True``) so its outputs come from the translated code. ``force``
    reruns every one (after the package's own strings or pictures changed).
    """
    report = {}
    for path in (lesson_notebooks() if lessons is None else lessons):
        lesson = path.stem
        if not catalog_path(lang, lesson).exists():
            report[lesson] = "no catalog"
            continue
        nb = _load(path)
        new = translate_notebook(nb, _translations(lang, lesson), lang, lesson)
        target = built_path(lang, lesson)
        if not force and target.exists() and _same_sources(new, _load(target)):
            report[lesson] = "up to date"
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # written beside the target and moved in only once it has run: a failed run leaves no
        # notebook that looks up to date
        draft = target.with_name(f".{target.stem}.draft.ipynb")
        draft.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if run:
            import subprocess
            import sys
            done = subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebook.py"), str(draft)], cwd=REPO)
            if done.returncode != 0:
                draft.unlink(missing_ok=True)
                raise RuntimeError(f"{lesson}: the translated notebook failed to run (see above); nothing was written")
        draft.replace(target)
        report[lesson] = "written and run" if run else "written"
    return report


CODE_SPAN = re.compile(r"`[^`\n]+`")


def load_glossary(lang: str) -> list[tuple[str, str]]:
    """(English term, its one rendering) rows of ``locale/<lang>/glossary.tsv`` (``#`` starts a comment)."""
    path = LOCALE / lang / "glossary.tsv"
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{n}: a row is 'English<TAB>translation', got {line!r}")
        rows.append((parts[0].strip(), parts[1].strip()))
    english = [e.lower() for e, _ in rows]
    twice = sorted({e for e in english if english.count(e) > 1})
    if twice:
        raise ValueError(f"{path}: each English term has one rendering, but these appear twice: {twice}")
    return rows


def _term_pattern(term: str) -> re.Pattern:
    """The term as a word (plurals too), not as part of a name in code: not after a letter, ``_``
    or ``.`` (``F.cross_entropy``, ``gptlab.attention``), not before a letter, ``_``, ``(`` or
    ``.name`` (``perplexity()``, ``attention.py``)."""
    return re.compile(r"(?<![A-Za-z_.])" + re.escape(term) + r"(?:s|es)?(?![A-Za-z_(]|\.[A-Za-z])", re.IGNORECASE)


def _compiled(glossary: list[tuple[str, str]]) -> list[tuple[str, str, re.Pattern]]:
    """Longest terms first, so that 'position embedding' is checked before 'embedding'."""
    return [(en, zh, _term_pattern(en)) for en, zh in sorted(glossary, key=lambda t: -len(t[0]))]


def glossary_misses(english: str, translation: str, terms) -> list[tuple[str, str]]:
    """The (term, rendering) pairs the English uses but the translation lacks. A term inside a
    longer one (the 'embedding' of 'position embedding') answers to the longer term only; code
    spans and ``{}`` fields are not prose and are skipped."""
    text = FIELD.sub(" ", CODE_SPAN.sub(" ", english))  # {fields} of an f-string are code too
    misses = []
    for en, zh, pattern in terms:
        if pattern.search(text):
            if zh not in translation:
                misses.append((en, zh))
            text = pattern.sub(" ", text)
    return misses


def check_lesson(lang: str, path: Path, glossary: list[tuple[str, str]] | None = None) -> list[str]:
    """Every problem with one lesson's translation (an empty list when it is complete and current)."""
    import ast

    import polib

    lesson = path.stem
    po_path = catalog_path(lang, lesson)
    if not po_path.exists():
        return [f"{lesson}: no catalog {_rel(po_path)}: run `python -m gptlab.i18n extract {lang}`"]
    problems = []
    nb = _load(path)
    entries = {e.msgctxt: e for e in polib.pofile(str(po_path))}
    units = notebook_units(nb)
    terms = _compiled(glossary or [])
    for unit in units:
        where = f"{lesson} [{unit.context}]"
        e = entries.get(unit.context)
        if e is None or e.msgid != unit.text:
            problems.append(f"{where}: the catalog lags the English notebook: run `python -m gptlab.i18n extract "
                            f"{lang}` and translate")
            continue
        if not e.msgstr:
            problems.append(f"{where}: not translated")
            continue
        if e.fuzzy:
            problems.append(f"{where}: stale (fuzzy): the English changed; update the translation, then drop the "
                            "fuzzy flag")
            continue
        if unit.kind == "string" and sorted(FIELD.findall(e.msgstr)) != sorted(FIELD.findall(e.msgid)):
            problems.append(f"{where}: the translation must keep the f-string fields "
                            f"{sorted(FIELD.findall(e.msgid))}, it has {sorted(FIELD.findall(e.msgstr))}")
        if unit.kind == "markdown":
            lost = [s for s in CODE_SPAN.findall(e.msgid) if s not in e.msgstr]
            if lost:
                problems.append(f"{where}: code and API names stay as they are; the translation lacks {lost[:4]}")
        problems.extend(f"{where}: the glossary renders {en!r} as {zh!r}, which the translation lacks"
                        for en, zh in glossary_misses(e.msgid, e.msgstr, terms))
    known = {u.context for u in units}
    extra = sorted(set(entries) - known)
    if extra:
        problems.append(f"{lesson}: {len(extra)} catalog entries belong to no unit of the English notebook "
                        f"(e.g. {extra[0]!r}): run `python -m gptlab.i18n extract {lang}`")
    if problems:
        return problems
    new = translate_notebook(nb, _translations(lang, lesson), lang, lesson)
    for i, cell in enumerate(new["cells"]):
        if cell["cell_type"] == "code":
            try:
                ast.parse(_without_magics(_source(cell)))
            except SyntaxError as err:
                problems.append(f"{lesson}: cell {i} no longer parses once translated ({err.msg}, line "
                                f"{err.lineno}): a translation broke a string's quotes")
    target = built_path(lang, lesson)
    if not target.exists():
        problems.append(f"{lesson}: {_rel(target)} is missing: run `python -m gptlab.i18n build {lang}`")
    elif not _same_sources(new, _load(target)):
        problems.append(f"{lesson}: {_rel(target)} is older than its catalog or the English: run "
                        f"`python -m gptlab.i18n build {lang}`")
    return problems


def check(lang: str, lessons: list[Path] | None = None, started_only: bool = False) -> list[str]:
    """Every problem of the translation into ``lang`` (with ``started_only``, only the lessons
    whose translated notebook has been built: while a translation is under way)."""
    glossary = load_glossary(lang)
    problems = []
    for path in (lesson_notebooks() if lessons is None else lessons):
        if started_only and not built_path(lang, path.stem).exists():
            continue
        problems.extend(check_lesson(lang, path, glossary))
    return problems
