"""Interactive explorers for the lessons (standard ipywidgets 8 controls, no math inside).

Each explorer is built on ``gptlab.widgets._base.Explorer``: ``.set(name=value)`` moves a
control, ``.summary`` / ``.figure`` / ``.error`` say what is shown. Each lives in the submodule
named after its idea (``gptlab/widgets/sampling.py`` holds ``SamplingExplorer``) and is imported
on first use, so ``from gptlab.widgets import SamplingExplorer`` loads only what a lesson needs.
"""
from importlib import import_module

from ._base import Explorer

_WHERE = {
    "NGramExplorer": "ngram",
    "SamplingExplorer": "sampling",
    "AttentionExplorer": "attention",
    "BlendExplorer": "blend",
    "LookupExplorer": "lookup",
    "ScalingExplorer": "dot_product_scaling",
    "PositionExplorer": "position",
    "RouterExplorer": "router",
    "AlignmentExplorer": "alignment",
    "ServingExplorer": "serving",
    "TokenizerExplorer": "tokens",
    "RecipeExplorer": "recipe",
}

__all__ = ["Explorer", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'gptlab.widgets' has no attribute {name!r}; explorers: {sorted(_WHERE)}")
