"""Self-checking exercises: each checker prints a friendly verdict and never raises.

A notebook's exercise cell starts with ``answer = ...``; until the learner replaces the ``...``
the checker says "not attempted yet" and gives the hint, so "Run all" always works.

    check_answer("1.1 bigram count", answer, expected=42, hint="count pairs, not words")
    check_function("1.2 softmax", my_softmax, [((x,), torch.softmax(x, -1))], hint="...")

Each returns True (right), False (wrong) or None (not attempted), so tests can use them too.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import torch


def _close(answer, expected, rtol: float, atol: float) -> bool:
    if isinstance(expected, torch.Tensor) or isinstance(answer, torch.Tensor):
        a = torch.as_tensor(answer, dtype=torch.float64).cpu()
        e = torch.as_tensor(expected, dtype=torch.float64).cpu()
        return a.shape == e.shape and bool(torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(expected, np.ndarray) or isinstance(answer, np.ndarray):
        a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
        return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(expected, float) or isinstance(answer, float):
        try:
            return math.isclose(float(answer), float(expected), rel_tol=rtol, abs_tol=atol)
        except (TypeError, ValueError):
            return False
    return answer == expected


def _say(message: str) -> None:
    print(message)  # noqa: T201 - the verdict is the point of an exercise cell


def check_answer(name: str, answer, expected, *, hint: str = "", rtol: float = 1e-4, atol: float = 1e-6,
                 explain: str = "") -> bool | None:
    """Compare ``answer`` with ``expected`` (numbers and tensors approximately, the rest exactly)."""
    if answer is ...:
        _say(f"✏️  {name}: not attempted yet: replace the `...` with your answer."
             + (f"\n   Hint: {hint}" if hint else ""))
        return None
    try:
        ok = _close(answer, expected, rtol, atol)
    except Exception as err:  # a learner's odd answer must not crash the cell
        ok = False
        hint = f"{hint} (your answer could not be compared: {type(err).__name__}: {err})".strip()
    if ok:
        _say(f"✅ {name}: correct!" + (f" {explain}" if explain else ""))
        return True
    _say(f"❌ {name}: not quite; you gave {_short(answer)}." + (f"\n   Hint: {hint}" if hint else ""))
    return False


def check_function(name: str, fn: Callable | type(...), cases: Iterable[tuple[tuple, object]], *,
                   hint: str = "", rtol: float = 1e-4, atol: float = 1e-6) -> bool | None:
    """Call the learner's ``fn`` on each ``(args, expected)`` case and compare."""
    if fn is ... or fn is None:
        _say(f"✏️  {name}: not attempted yet: write the function and run the cell again."
             + (f"\n   Hint: {hint}" if hint else ""))
        return None
    for args, expected in cases:
        try:
            got = fn(*args)
        except NotImplementedError:
            _say(f"✏️  {name}: not attempted yet: the function still raises NotImplementedError."
                 + (f"\n   Hint: {hint}" if hint else ""))
            return None
        except Exception as err:
            _say(f"❌ {name}: your function raised {type(err).__name__}: {err}"
                 + (f"\n   Hint: {hint}" if hint else ""))
            return False
        if not _close(got, expected, rtol, atol):
            _say(f"❌ {name}: for input {_short(args)} it returned {_short(got)}, expected {_short(expected)}."
                 + (f"\n   Hint: {hint}" if hint else ""))
            return False
    _say(f"✅ {name}: correct on every test case!")
    return True


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
