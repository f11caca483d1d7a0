"""Execute a notebook in place in a fresh kernel, then tidy its outputs (scripts/strip_outputs.py).

    python scripts/run_notebook.py notebooks/01_counting_language_models.ipynb
"""
from __future__ import annotations

import sys
import time

import nbformat
from nbclient import NotebookClient
from strip_outputs import strip

if __name__ == "__main__":
    for path in sys.argv[1:]:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": "notebooks"}}).execute()
        nbformat.write(nb, path)
        strip(path)
        sys.stderr.write(f"{path}: ran in {time.perf_counter() - start:.1f} s\n")
