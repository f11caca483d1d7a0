"""Argument checks that speak to a learner: each names the parameter and what is allowed."""
from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real


class ArgumentTypeError(TypeError, ValueError):
    """A parameter of the wrong type.

    It is a ``TypeError`` (the contract: a wrong type raises TypeError) and also a ``ValueError``, so
    code that catches bad input as ``ValueError`` (an explorer's redraw, a checker) still catches it.
    """


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """``value`` must be a whole number within [min_value, max_value]; returns it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ArgumentTypeError(f"{name}={value!r} must be a whole number (int), got {type(value).__name__}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name}={value} must be at least {min_value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name}={value} must be at most {max_value}")
    return value


def check_float(name: str, value, *, min_value: float | None = None, max_value: float | None = None,
                min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """``value`` must be a finite real number within the given bounds; returns it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(f"{name}={value!r} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be a finite number")
    if min_value is not None and (value < min_value or (not min_inclusive and value == min_value)):
        bound = "at least" if min_inclusive else "greater than"
        raise ValueError(f"{name}={value:g} must be {bound} {min_value:g}")
    if max_value is not None and (value > max_value or (not max_inclusive and value == max_value)):
        bound = "at most" if max_inclusive else "less than"
        raise ValueError(f"{name}={value:g} must be {bound} {max_value:g}")
    return value


def check_choice(name: str, value, allowed: Iterable):
    """``value`` must be one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(repr(a) for a in allowed)}")
    return value


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, for messages such as 'choose n_head among 1, 2, 4, 8'.

    Trial division up to sqrt(n), so a huge n (say 1,000,000,001) answers in milliseconds.
    """
    n = int(n)
    if n < 1:
        return []
    small, large = [], []
    d = 1
    while d * d <= n:
        if n % d == 0:
            small.append(d)
            if d != n // d:
                large.append(n // d)
        d += 1
    return small + large[::-1]


def check_type(name: str, value, types, what: str):
    """``value`` must be an instance of ``types``; ``what`` says in words what is allowed."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"{name}={value!r:.80} must be {what}, got {type(value).__name__}")
    return value
