"""The package's own strings: every ``_("...")`` in ``gptlab/`` and every exercise hint.

``extract`` writes ``gptlab/locale/<lang>/LC_MESSAGES/gptlab.po`` (new strings get empty entries,
strings no longer used are dropped, a changed string is a new entry); ``check`` fails on any
string the package uses that has no finished translation, or whose ``{}`` fields differ.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from . import PACKAGE_LOCALE

PACKAGE = Path(__file__).resolve().parents[1]
FIELD = re.compile(r"\{[^{}]*\}")


def catalog_path(lang: str) -> Path:
    return PACKAGE_LOCALE / lang / "LC_MESSAGES" / "gptlab.po"


def package_strings() -> dict[str, str]:
    """msgid -> where it is first used ("file:line"), for ``_("...")`` calls and hint texts."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "gettext")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{rel}:{node.lineno}")
        if path.parent.name == "hints" and path.stem.startswith("lesson"):
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "HINTS" for t in node.targets):
                    for value in ast.literal_eval(node.value).values():
                        for text in ([value] if isinstance(value, str) else value):
                            found.setdefault(text, f"{rel}:{node.lineno}")
    return found


def extract(lang: str) -> dict[str, int]:
    import polib

    path = catalog_path(lang)
    old = {e.msgid: e for e in polib.pofile(str(path))} if path.exists() else {}
    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Project-Id-Version": "gptlab", "Language": lang, "MIME-Version": "1.0",
                   "Content-Type": "text/plain; charset=UTF-8", "Content-Transfer-Encoding": "8bit"}
    counts = {"kept": 0, "new": 0, "dropped": 0}
    strings = package_strings()
    for msgid, where in strings.items():
        entry = polib.POEntry(msgid=msgid, msgstr="", occurrences=[tuple(where.rsplit(":", 1))])
        if msgid in old:
            entry.msgstr, entry.flags = old[msgid].msgstr, list(old[msgid].flags)
            counts["kept"] += 1
        else:
            counts["new"] += 1
        po.append(entry)
    counts["dropped"] = len(set(old) - set(strings))
    path.parent.mkdir(parents=True, exist_ok=True)
    po.save(str(path))
    return counts


def check(lang: str) -> list[str]:
    import polib

    path = catalog_path(lang)
    strings = package_strings()
    if not path.exists():
        return [f"gptlab: no package catalog {path}: run `python -m gptlab.i18n extract {lang}`"] if strings else []
    entries = {e.msgid: e for e in polib.pofile(str(path))}
    problems = []
    for msgid, where in strings.items():
        e = entries.get(msgid)
        if e is None:
            problems.append(f"gptlab [{where}] {msgid[:50]!r}: not in the catalog: run `python -m gptlab.i18n "
                            f"extract {lang}`")
        elif not e.msgstr or e.fuzzy:
            problems.append(f"gptlab [{where}] {msgid[:50]!r}: not translated" + (" (fuzzy)" if e.fuzzy else ""))
        elif sorted(FIELD.findall(e.msgstr)) != sorted(FIELD.findall(msgid)):
            problems.append(f"gptlab [{where}] {msgid[:50]!r}: the translation must keep the fields "
                            f"{sorted(FIELD.findall(msgid))}")
    return problems
