"""pytest settings for the whole repository (package tests and notebooks alike).

One compute thread per process: the course's models are tiny, and on a shared 2-core machine
PyTorch's threads then mostly wait for each other (a training step measured 15x slower with two
threads under load than with one). Set before any kernel starts, so nbval's notebook kernels
inherit it. A learner's own Jupyter session keeps PyTorch's default.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_collection_modifyitems(items):
    """nbval waits only 5 s for each message after a cell's reply; lesson 10's live loss plot sends
    a burst of picture updates, and on a busy machine the gap once exceeded that (a red CI on a cell
    that had finished). Give it 60 s: a hung cell is still stopped by --nbval-cell-timeout."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
