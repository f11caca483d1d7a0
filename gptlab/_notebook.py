"""When a lesson's cell runs before the cell it depends on, say which cell to run first.

A learner who opens a lesson and runs an exercise straight away gets ``NameError: name 'words' is
not defined``. Inside Jupyter, ``import gptlab`` installs a handler for that error: it reads the
lesson's notebook from disk, finds the first code cell that defines the missing name, and says so,
with the heading of the section that cell sits in::

    `words` is not defined yet: it is made in an earlier cell, under "2 · Your first widget",
    in the cell with the line `words = ["mat", "sofa", ...`. Run the cells above this one first
    (Run → Run All Above Selected Cell), then this one again.

A name that no cell of the lesson defines (a typo) gets Python's own NameError, unchanged.
Nothing here runs outside IPython, and nothing is imported that ``import gptlab`` would not load.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys

_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)


def _bound_names(source: str) -> dict[str, int]:
    """Names a cell binds (assignments, defs, classes, imports, for/with targets) -> first line number."""
    try:
        tree = ast.parse(_MAGIC.sub("", source))
    except SyntaxError:
        return {}
    names: dict[str, int] = {}

    def add(name: str, node) -> None:
        line = getattr(node, "lineno", 1)
        names[name] = min(names.get(name, line), line)

    def targets(node):
        if isinstance(node, ast.Name):
            add(node.id, node)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                add((alias.asname or alias.name).split(".")[0], node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                targets(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            targets(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets(node.target)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
    return names


def _heading(markdown: str) -> str | None:
    """The last heading of a markdown cell (the one the cells below it sit under)."""
    found = None
    for line in markdown.splitlines():
        if line.lstrip().startswith("#"):
            found = line.strip().lstrip("#").strip() or found
    return found


def where_defined(notebook_path: str, name: str) -> dict | None:
    """The first code cell of the notebook that binds ``name``: its index, the binding line, its section."""
    try:
        with open(notebook_path, encoding="utf-8") as f:
            cells = json.load(f)["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    section = None
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            section = _heading(source) or section
        elif cell.get("cell_type") == "code":
            line_no = _bound_names(source).get(name)
            if line_no is None:
                continue
            lines = _MAGIC.sub("", source).splitlines()
            line = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
            return {"cell": index, "line": line if len(line) <= 60 else line[:57] + "...", "section": section}
    return None


def missing_name_message(name: str, notebook_path: str | None) -> str | None:
    """The friendly sentence for a missing ``name``, or None when the lesson never defines it."""
    if not notebook_path:
        return None
    found = where_defined(notebook_path, name)
    if found is None:
        return None
    where = f', under "{found["section"]}"' if found["section"] else ""
    line = f", in the cell with the line `{found['line']}`" if found["line"] else ""
    return (f"`{name}` is not defined yet: it is made in an earlier cell{where}{line}.\n"
            "Run the cells above this one first (Run → Run All Above Selected Cell), then this one again.")


def _notebook_path(user_ns: dict) -> str | None:
    for key in ("__session__", "__vsc_ipynb_file__"):
        path = user_ns.get(key)
        if isinstance(path, str) and path.endswith(".ipynb"):
            for candidate in (path, os.path.basename(path)):
                if os.path.isfile(candidate):
                    return candidate
    return None


def _handler(shell, etype, value, tb, tb_offset=None):
    match = re.search(r"name '([^']+)' is not defined", str(value))
    message = missing_name_message(match.group(1), _notebook_path(shell.user_ns)) if match else None
    if message is None:  # not one of the lesson's names (a typo?): Python's own traceback
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    shell._showtraceback(etype, value, [message])  # in Jupyter: an error output that holds the message
    return [message]


def install() -> bool:
    """Install the NameError handler in the running IPython, if any. True when installed."""
    ipython_mod = sys.modules.get("IPython")
    if ipython_mod is None:
        return False
    try:
        shell = ipython_mod.get_ipython()
    except Exception:
        return False
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    if NameError in getattr(shell, "custom_exceptions", ()):
        return True
    shell.set_custom_exc((NameError,), _handler)
    return True
