"""Self-checking exercises: each checker prints a friendly verdict and never raises.

A notebook's exercise cell starts with ``answer = ...``; until the learner replaces the ``...``
the checker says "not attempted yet", so "Run all" always works.

    check_answer("1.1 bigram count", answer, expected=42)
    check_function("1.2 softmax", my_softmax, [((x,), torch.softmax(x, -1))])
    hint("1.1")        # on request only: prints the next hint for exercise 1.1

Hints are never printed by a checker. They live in ``gptlab/hints/lessonNN.py`` (a dict from an
exercise id such as ``"1.1"`` to one hint or a list of ever stronger ones), so they are out of sight
until a learner asks, and Run All shows none.

Answers are compared leniently, the way a person would: a tuple for a list, ``"CPU"`` for
``"cpu"``, ``0.714`` for ``0.7142857`` (a number rounded to the digits it quotes, with at least
two significant digits), ``42.0`` for ``42``.

Each checker returns True (right), False (wrong) or None (not attempted), so tests can use them too.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from importlib import import_module

import numpy as np
import torch

from .i18n import _

# --------------------------------------------------------------------------------------------
# Hints, on request only


_REVEALED: dict[str, int] = {}   # exercise id -> how many of its hints were shown
_EXTRA_HINTS: dict[str, list[str]] = {}  # hints registered from code (register_hints), e.g. in tests


def exercise_id(name: str) -> str:
    """``"1.3 perplexity"`` -> ``"1.3"``: the id is the first word of an exercise's name."""
    if not isinstance(name, str):
        from ._checks import ArgumentTypeError  # a TypeError that callers catching ValueError still catch

        raise ArgumentTypeError(f"an exercise id or name must be a string such as '1.3' or '1.3 perplexity'; "
                                f"got {name!r:.60} ({type(name).__name__})")
    if not name.strip():
        raise ValueError(f"an exercise name must be a non-empty string such as '1.3 perplexity'; got {name!r}")
    return name.strip().split()[0]


def _lesson_of(ex_id: str) -> str | None:
    head = ex_id.split(".")[0]
    return f"lesson{int(head):02d}" if head.isdigit() else None


def hints_for(ex_id: str) -> list[str]:
    """Every hint written for exercise ``ex_id`` (``"1.3"``), weakest first; [] if it has none."""
    ex_id = exercise_id(ex_id)
    if ex_id in _EXTRA_HINTS:
        return list(_EXTRA_HINTS[ex_id])
    lesson = _lesson_of(ex_id)
    if lesson is None:
        return []
    try:
        table = import_module(f"gptlab.hints.{lesson}").HINTS
    except ModuleNotFoundError:
        return []
    found = table.get(ex_id, [])
    return [found] if isinstance(found, str) else list(found)


def register_hints(table: Mapping[str, str | Sequence[str]]) -> None:
    """Add hints from code (for an exercise a learner or teacher writes): ``{"9.9": "look at ..."}``."""
    if not isinstance(table, Mapping):
        raise TypeError(f"table={_short(table)} must be a dict from exercise id to hint(s), "
                        f"e.g. {{'9.9': 'look at ...'}}; got {type(table).__name__}")
    for key, value in table.items():
        if not isinstance(value, str) and not (isinstance(value, (list, tuple))
                                               and all(isinstance(v, str) for v in value)):
            raise TypeError(f"table[{key!r}]={_short(value)} must be a hint (str) or a list of hints")
        _EXTRA_HINTS[exercise_id(key)] = [value] if isinstance(value, str) else list(value)
        _REVEALED.pop(exercise_id(key), None)


def hint(ex_id: str, level: int | None = None) -> str | None:
    """Print a hint for exercise ``ex_id`` (``hint("1.3")``).

    Each call shows the next, stronger hint, until the last one; ``level=1`` shows the first again.
    Returns the hint's text (None when the exercise has none).
    """
    try:
        key = exercise_id(str(ex_id))
    except ValueError as err:
        _say(f"hint: {err}")
        return None
    found = hints_for(key)
    if not found:
        _say(_("💡 {key}: there is no hint for this exercise. Exercise ids look like '1.3': the number in front of "
               "the exercise's name.").format(key=key))
        return None
    if level is None:
        level = min(_REVEALED.get(key, 0) + 1, len(found))
    elif not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= len(found):
        _say(f"hint: level must be an integer from 1 to {len(found)} for exercise {key}; got {level!r}")
        return None
    _REVEALED[key] = max(_REVEALED.get(key, 0), level)
    if level < len(found):
        more = "  " + _("(hint {level} of {total}; run hint({key!r}) again for the next)").format(
            level=level, total=len(found), key=key)
    else:
        more = "  " + _("(hint {level} of {total})").format(level=level, total=len(found)) if len(found) > 1 else ""
    text = _(found[level - 1])  # the hint in the current language (the catalog holds every lesson's hints)
    _say(f"💡 {key}: {text}{more}")
    return text


def _add_hint(ex_id: str, text: str | None) -> None:
    if text and text not in hints_for(ex_id):
        _EXTRA_HINTS[ex_id] = [*hints_for(ex_id), text]


def _ask_for_hint(ex_id: str) -> str:
    return "\n   " + _("Stuck? Run hint({id!r}).").format(id=ex_id) if hints_for(ex_id) else ""


# --------------------------------------------------------------------------------------------
# Lenient comparison


def _quoted_tolerance(answer) -> float | None:
    """Half a unit in the last digit the answer quotes, if it quotes at least two significant digits."""
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None
    try:
        dec = Decimal(repr(float(answer))) if isinstance(answer, float) else Decimal(int(answer))
    except (InvalidOperation, ValueError, OverflowError):
        return None
    if not dec.is_finite():
        return None
    sign, digits, exponent = dec.as_tuple()
    while len(digits) > 1 and digits[0] == 0:
        digits = digits[1:]
    if len(digits) < 2:
        return None
    return 0.5 * 10.0 ** exponent * (1 + 1e-9)


def _scalar(value):
    """A 0-d tensor or array, or a numpy scalar, as a Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _numbers_close(answer, e, rtol: float, atol: float) -> bool:
    a, e = float(answer), float(e)
    if math.isnan(a) or math.isnan(e):
        return math.isnan(a) and math.isnan(e)
    if math.isclose(a, e, rel_tol=rtol, abs_tol=atol):
        return True
    tol = _quoted_tolerance(answer)
    return tol is not None and abs(a - e) <= tol


def _norm_text(value) -> str:
    return " ".join(str(value).split()).casefold()


def _is_array(value) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def _close(answer, expected, rtol: float, atol: float) -> bool:
    answer, expected = _scalar(answer), _scalar(expected)
    if isinstance(expected, torch.device):
        expected = expected.type if expected.index is None else str(expected)
    if isinstance(answer, torch.device):
        answer = answer.type if answer.index is None else str(answer)
    if isinstance(expected, bool) or isinstance(answer, bool):
        return isinstance(answer, bool) and isinstance(expected, bool) and answer == expected
    if _is_array(expected) or _is_array(answer):
        a = torch.as_tensor(np.asarray(answer.detach().cpu() if isinstance(answer, torch.Tensor) else answer,
                                       dtype=np.float64))
        e = torch.as_tensor(np.asarray(expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected,
                                       dtype=np.float64))
        return a.shape == e.shape and bool(torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(expected, numbers.Real) and isinstance(answer, numbers.Real):
        return _numbers_close(answer, expected, rtol, atol)
    if isinstance(expected, str) and isinstance(answer, str):
        return _norm_text(answer) == _norm_text(expected)
    if isinstance(expected, (set, frozenset)):
        if not isinstance(answer, (set, frozenset, list, tuple)):
            return False
        return {_norm_text(x) if isinstance(x, str) else x for x in answer} == \
               {_norm_text(x) if isinstance(x, str) else x for x in expected}
    if isinstance(expected, Mapping):
        return (isinstance(answer, Mapping) and set(answer) == set(expected)
                and all(_close(answer[k], expected[k], rtol, atol) for k in expected))
    if isinstance(expected, (list, tuple)):
        return (isinstance(answer, (list, tuple)) and len(answer) == len(expected)
                and all(_close(a, e, rtol, atol) for a, e in zip(answer, expected)))
    return answer == expected


def answers_match(answer, expected, *, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True when ``answer`` counts as ``expected`` under the lenient rules above (never raises)."""
    try:
        return bool(_close(answer, expected, rtol, atol))
    except Exception:  # a learner's odd answer must not crash the cell
        return False


# --------------------------------------------------------------------------------------------
# Checkers


def _say(message: str) -> None:
    print(message)  # noqa: T201 - the verdict is the point of an exercise cell


def _setup_problem(name, rtol, atol) -> str | None:
    """What is wrong with a checker's own settings (a teacher's mistake, said, never raised)."""
    if not isinstance(name, str) or not name.strip():
        return (f"the exercise name must be a non-empty string such as '1.3 perplexity'; got {_short(name)}, "
                f"so this answer cannot be checked")
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not math.isfinite(tol) or tol < 0:
            return f"{label}={_short(tol)} must be a finite number of at least 0, so this answer cannot be checked"
    return None


def check_answer(name: str, answer, expected=None, *, accept: Callable | None = None, hint: str | None = None,
                 rtol: float = 1e-4, atol: float = 1e-6, explain: str = "", wrong: str = "") -> bool | None:
    """Compare ``answer`` with ``expected`` (leniently: see the module's docstring).

    ``accept``: instead of one expected value, a function that says whether an answer is right
    (for questions with many right answers). ``explain``: said when the answer is right.
    ``wrong``: said when it is wrong (say what to look at, never the answer).
    ``hint``: an extra hint, shown only when the learner runs ``hint(id)``, never here.
    """
    problem = _setup_problem(name, rtol, atol)
    if problem is None and accept is not None and not callable(accept):
        problem = f"accept={_short(accept)} must be a function answer -> True/False, so this answer cannot be checked"
    if problem:
        _say(f"⚠️  {name if isinstance(name, str) and name.strip() else 'exercise'}: {problem}.")
        return None
    ex_id = exercise_id(name)
    _add_hint(ex_id, hint)
    if answer is ...:
        _say(_("✏️  {name}: not attempted yet: replace the `...` with your answer and run the cell again.").format(
            name=name) + _ask_for_hint(ex_id))
        return None
    note = ""
    if accept is not None:
        try:
            ok = bool(accept(answer))
        except Exception as err:
            ok, note = False, f" (checking it raised {type(err).__name__}: {err})"
    else:
        ok = answers_match(answer, expected, rtol=rtol, atol=atol)
    if ok:
        _say(_("✅ {name}: correct!").format(name=name) + (f" {explain}" if explain else ""))
        return True
    _say(_("❌ {name}: not quite; you gave {answer}.").format(name=name, answer=_short(answer)) + note
         + (f" {wrong}" if wrong else "") + _ask_for_hint(ex_id))
    return False


def check_function(name: str, fn: Callable | type(...), cases: Iterable[tuple[tuple, object]] | None = None, *,
                   hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-6) -> bool | None:
    """Call the learner's ``fn`` on each ``(args, expected)`` case and compare (never raises).

    A problem with the exercise itself (no cases, a malformed case, a bad name or tolerance) is
    said with a ⚠️ and returns None.
    """
    problem = _setup_problem(name, rtol, atol)
    if problem:
        _say(f"⚠️  {name if isinstance(name, str) and name.strip() else 'exercise'}: {problem}.")
        return None
    ex_id = exercise_id(name)
    _add_hint(ex_id, hint)
    if fn is ... or fn is None:
        _say(_("✏️  {name}: not attempted yet: write the function and run the cell again.").format(name=name)
             + _ask_for_hint(ex_id))
        return None
    if not callable(fn):
        _say(_("❌ {name}: expected a function, got {got}.").format(name=name, got=_short(fn)) + _ask_for_hint(ex_id))
        return False
    if cases is not None and (isinstance(cases, (str, bytes)) or not isinstance(cases, Iterable)):
        _say(f"⚠️  {name}: cases must be a list of (args, expected) pairs; got {_short(cases)}.")
        return None
    try:
        cases = list(cases or [])
    except Exception:  # an iterable that fails while being read
        cases = []
    if not cases:
        _say(f"⚠️  {name}: this exercise has no test cases to check your function against.")
        return None
    for case in cases:
        try:
            args, expected = case
            args = tuple(args) if isinstance(args, (list, tuple)) else (args,)
        except (TypeError, ValueError):
            _say(f"⚠️  {name}: a test case must be (args, expected); got {_short(case)}.")
            return None
        try:
            got = fn(*args)
        except NotImplementedError:
            _say(_("✏️  {name}: not attempted yet: the function still raises NotImplementedError.").format(name=name)
                 + _ask_for_hint(ex_id))
            return None
        except Exception as err:
            _say(_("❌ {name}: your function raised {error}: {message}").format(
                name=name, error=type(err).__name__, message=err) + _ask_for_hint(ex_id))
            return False
        if not answers_match(got, expected, rtol=rtol, atol=atol):
            _say(_("❌ {name}: for input {args} it returned {got}, expected {expected}.").format(
                name=name, args=_short(args), got=_short(got), expected=_short(expected)) + _ask_for_hint(ex_id))
            return False
    _say(_("✅ {name}: correct on every test case!").format(name=name))
    return True


def _short(value, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
