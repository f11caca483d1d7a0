"""The lessons are committed with their outputs, so that GitHub shows them: check what was committed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parent.parent.joinpath("notebooks").rglob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_pictures_and_without_widget_state(path):
    size = path.stat().st_size
    assert size < 2 * 1024 * 1024, f"{path.name} is {size / 2**20:.1f} MB; keep it under 2 MB (smaller figures)"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"], f"{path.name} carries widget state: run scripts/strip_outputs.py"
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not any(WIDGET_VIEW in o.get("data", {}) for o in outputs), f"{path.name} has widget views"
    assert not any(o.get("output_type") == "error" for o in outputs), f"{path.name} was committed with an error"
    assert not any(o.get("name") == "stderr" for o in outputs), f"{path.name} has stderr output (progress bars?)"
    pictures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert pictures >= 1, (f"{path.name} has no picture in its outputs: run "
                           f"`python scripts/run_notebook.py notebooks/{path.name}` and commit the result")
