"""Tidy a notebook's outputs before committing: keep what a reader on GitHub should see.

Lessons are committed with their outputs (figures and text), so the repository shows every
picture without running anything. What goes:

- widget state (``metadata.widgets``) and widget views: an explorer keeps the PNG of its
  picture and its summary text, a progress bar (a widget with nothing else to show) goes;
- text written to stderr (warnings, text-mode progress bars), which is noise on a page;
- in cells nbval checks (``# NBVAL_CHECK_OUTPUT``), everything but the text nbval compares, exactly
  as before, so the checked outputs stay what they were.

    python scripts/strip_outputs.py notebooks/*.ipynb            # keep outputs (the default)
    python scripts/strip_outputs.py --clear notebooks/*.ipynb    # clear all but the checked ones
"""
from __future__ import annotations

import sys

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SHOWN = ("image/png", "text/plain", "text/html", "text/markdown", "text/latex")


def _checked_outputs(outputs: list) -> list:
    """The text nbval compares: stdout, results and errors, each reduced to its text/plain."""
    kept = [o for o in outputs if o.get("output_type") in ("stream", "execute_result", "error")
            and WIDGET_VIEW not in o.get("data", {})]
    for o in kept:
        if "data" in o:
            o["data"] = {k: v for k, v in o["data"].items() if k == "text/plain"}
    return kept


def _shown_outputs(outputs: list) -> list:
    """What a reader sees: stdout, pictures, tables; no widget views, no stderr."""
    kept = []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            if o.get("name") == "stdout":
                kept.append(o)
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            if WIDGET_VIEW in data and "image/png" not in data:
                continue  # a progress bar or a control with no picture: nothing to show offline
            o["data"] = {k: v for k, v in data.items() if k in SHOWN}
            if o["data"]:
                kept.append(o)
        elif kind == "error":
            kept.append(o)
    return kept


def strip(path: str, keep_outputs: bool = True) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient's timestamps: noise in every diff
        if cell.cell_type != "code":
            continue
        if "# NBVAL_CHECK_OUTPUT" in cell.source:
            cell.outputs = _checked_outputs(cell.outputs)
        elif keep_outputs:
            cell.outputs = _shown_outputs(cell.outputs)
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    # the kernel JupyterLab starts without asking (ipykernel's default name)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


if __name__ == "__main__":
    args = sys.argv[1:]
    keep = "--clear" not in args
    for p in (a for a in args if a != "--clear"):
        strip(p, keep_outputs=keep)
