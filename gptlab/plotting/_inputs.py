"""Cheap input checks for the plotting functions: a bad input is named before matplotlib sees it.

Each check raises ``ValueError`` naming the parameter, what was given and what is allowed
(``ArgumentTypeError``, a TypeError that is also a ValueError, for the wrong kind of value), so a
learner never reads a traceback from inside matplotlib. They cost microseconds: an explorer's
redraw calls them every time.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._checks import ArgumentTypeError, check_float, check_int

__all__ = ["array", "axes", "figure", "labels", "mapping", "number", "probabilities", "same_length", "whole"]


def array(name: str, values, *, ndim: int | tuple[int, ...] | None = None, min_size: int = 1,
          allow_nan: bool = False, allow_inf: bool = False, min_value: float | None = None,
          max_value: float | None = None, positive: bool = False) -> np.ndarray:
    """``values`` (a tensor on any device, an array, a list) as a float64 array, checked.

    ``ndim``: the allowed number of dimensions; ``min_size``: at least this many numbers;
    NaN and ±inf are refused unless allowed; ``min_value``/``max_value`` bound the finite values,
    ``positive`` asks for values above 0 (a log axis).
    """
    if values is None or isinstance(values, (str, bytes, Mapping)):
        raise ArgumentTypeError(f"{name} must be numbers (a tensor, an array or a list), got {type(values).__name__}")
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").double().numpy()
    elif not hasattr(values, "__array__") and not isinstance(values, (list, tuple)) and hasattr(values, "__iter__"):
        values = list(values)  # dict.values(), a range, a generator: numbers one after another
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be numbers (a tensor, an array or a list of equal-length rows), "
                                f"got {_short(values)}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if out.ndim not in allowed:
            words = {0: "a single number", 1: "a 1-D list of numbers", 2: "a 2-D matrix", 3: "a 3-D array"}
            wanted = " or ".join(words.get(n, f"{n}-D") for n in allowed)
            raise ValueError(f"{name} must be {wanted}, got shape {out.shape}")
    if out.size < min_size:
        raise ValueError(f"{name} is empty (shape {out.shape}); give at least {min_size} number"
                         f"{'s' if min_size > 1 else ''}")
    if not allow_nan and np.isnan(out).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(out))[0])
        raise ValueError(f"{name} holds NaN (first at index {where[0] if len(where) == 1 else where}); "
                         f"give real numbers (a NaN usually means a run diverged or a 0/0 upstream)")
    if not allow_inf and np.isinf(out).any():
        where = tuple(int(i) for i in np.argwhere(np.isinf(out))[0])
        raise ValueError(f"{name} holds inf (first at index {where[0] if len(where) == 1 else where}); "
                         f"give finite numbers")
    finite = out[np.isfinite(out)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        if positive and low <= 0:
            raise ValueError(f"{name} must be above 0 (it is drawn on a log axis), got {low:g}")
        if min_value is not None and low < min_value:
            raise ValueError(f"{name} must be at least {min_value:g}, got {low:g}")
        if max_value is not None and high > max_value:
            raise ValueError(f"{name} must be at most {max_value:g}, got {high:g}")
    return out


def probabilities(name: str, values, *, ndim: int | tuple[int, ...] | None = 1) -> np.ndarray:
    """Numbers from 0 to 1 (finite, none negative): what a softmax gives."""
    p = array(name, values, ndim=ndim)
    if (p < 0).any():
        raise ValueError(f"{name} holds a negative probability ({float(p.min()):g}); probabilities lie between 0 and 1")
    if (p > 1 + 1e-6).any():
        raise ValueError(f"{name} holds {float(p.max()):g}, above 1; probabilities lie between 0 and 1 (for logits, "
                         f"apply a softmax first)")
    return p


def same_length(*named) -> int:
    """``named``: (name, length) pairs that must agree; returns the length."""
    lengths = {length for _, length in named}
    if len(lengths) > 1:
        told = ", ".join(f"{name} has {length}" for name, length in named)
        raise ValueError(f"{told}; they must have the same length (one entry each)")
    return named[0][1]


def mapping(name: str, value, *, what: str, nonempty: bool = True) -> Mapping:
    """A dict (any Mapping); ``what`` shows what it maps, e.g. "{label: losses}"."""
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a dict {what}, got {type(value).__name__}")
    if nonempty and not value:
        raise ValueError(f"{name} is empty; give a dict {what} with at least one entry")
    return value


def labels(name: str, values, n: int | None = None, *, what: str = "entry") -> list:
    """A list of labels (tokens, names); with ``n``, exactly ``n`` of them."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a list (one label per {what}), got {type(values).__name__}")
    values = list(values)
    if n is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} labels but there are {n} {what}s; give one per {what}")
    return values


def axes(name: str, ax, *, allow_pair: bool = False):
    """None (a new figure) or a matplotlib Axes (``allow_pair``: a pair of them)."""
    if ax is None or isinstance(ax, Axes):
        return ax
    if allow_pair and isinstance(ax, (list, tuple, np.ndarray)) and len(ax) == 2 \
            and all(isinstance(a, Axes) for a in ax):
        return ax
    what = "None or a matplotlib Axes" + (" (or a pair of them)" if allow_pair else "")
    raise ArgumentTypeError(f"{name} must be {what}, e.g. from plotting.new_figure(); got {type(ax).__name__}")


def figure(name: str, fig):
    """None or a matplotlib Figure (one this function drew before)."""
    if fig is not None and not isinstance(fig, Figure):
        raise ArgumentTypeError(f"{name} must be None or a matplotlib Figure, got {type(fig).__name__}")
    return fig


def whole(name: str, value, *, min_value: int | None = None, max_value: int | None = None,
          optional: bool = False) -> int | None:
    """A whole number within bounds (``optional``: None allowed too)."""
    if optional and value is None:
        return None
    return check_int(name, value, min_value=min_value, max_value=max_value)


def number(name: str, value, *, min_value: float | None = None, max_value: float | None = None,
           optional: bool = False, min_inclusive: bool = True, max_inclusive: bool = True) -> float | None:
    """A finite real number within bounds (``optional``: None allowed too)."""
    if optional and value is None:
        return None
    return check_float(name, value, min_value=min_value, max_value=max_value, min_inclusive=min_inclusive,
                       max_inclusive=max_inclusive)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
