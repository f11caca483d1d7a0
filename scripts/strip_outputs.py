"""Clear notebook outputs before committing, keeping the ones nbval checks.

Cells whose source contains ``# NBVAL_CHECK_OUTPUT`` keep their outputs (nbval compares them);
every other cell loses its outputs and execution count, so the repository stays small and diffs
stay readable.

    python scripts/strip_outputs.py notebooks/*.ipynb
"""
from __future__ import annotations

import sys

import nbformat


def strip(path: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "# NBVAL_CHECK_OUTPUT" in cell.source:
            # keep the text nbval compares, drop pictures and widget views
            cell.outputs = [o for o in cell.outputs if o.get("output_type") in ("stream", "execute_result", "error")
                            and "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]
            for o in cell.outputs:
                if "data" in o:
                    o["data"] = {k: v for k, v in o["data"].items() if k == "text/plain"}
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    # the kernel JupyterLab starts without asking (ipykernel's default name)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        strip(p)
