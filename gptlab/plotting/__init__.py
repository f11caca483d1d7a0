"""Pictures for the lessons: plain matplotlib, every function returns a ``Figure``.

One submodule per idea; everything public is re-exported here, so a notebook writes
``from gptlab import plotting`` and ``plotting.plot_next_token_probs(...)``.
"""
from ._base import figure_to_png, new_figure

__all__ = ["figure_to_png", "new_figure"]
