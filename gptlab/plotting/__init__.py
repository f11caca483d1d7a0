"""Pictures for the lessons: plain matplotlib, every function returns a ``Figure``.

One submodule per idea (``lm``, ``attention``, ``dot_product_scaling``, ``position``, ``blocks``, ``training``,
``gpt``, ``moe``). Every public function is also reachable here, so a notebook writes
``from gptlab import plotting`` and then ``plotting.plot_history(...)``; submodules load on
first use.
"""
from importlib import import_module
from importlib.util import find_spec

from ._base import figure_to_png, new_figure, shown_png
from .theme import get_theme, set_theme

_SUBMODULES = ("lm", "attention", "dot_product_scaling", "position", "blocks", "training", "gpt", "moe",
               "quantization", "alignment", "tokens", "recipe")

__all__ = ["figure_to_png", "get_theme", "new_figure", "set_theme", "shown_png"]


def __getattr__(name: str):
    if not name.startswith("_"):
        for sub in _SUBMODULES:
            if find_spec(f"{__name__}.{sub}") is None:
                continue
            module = import_module(f".{sub}", __name__)
            if name in getattr(module, "__all__", ()) or (hasattr(module, name) and name.startswith("plot_")):
                return getattr(module, name)
    raise AttributeError(f"module 'gptlab.plotting' has no function {name!r}")


def __dir__():
    names = set(__all__)
    for sub in _SUBMODULES:
        if find_spec(f"{__name__}.{sub}") is not None:
            names.update(n for n in dir(import_module(f".{sub}", __name__)) if n.startswith("plot_"))
    return sorted(names)
