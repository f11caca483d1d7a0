"""Interactive explorers for the lessons (standard ipywidgets 8 controls, no math inside).

Each explorer is built on ``gptlab.widgets._base.Explorer``: ``.set(name=value)`` moves a
control, ``.summary`` / ``.figure`` / ``.error`` say what is shown.
"""
from ._base import Explorer

__all__ = ["Explorer"]
