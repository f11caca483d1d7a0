"""Check a value against the control it is meant for, before the control ever sees it.

ipywidgets sliders clamp what they are given to their range, and a dropdown answers an unknown
choice with a bare ``TraitError``. An explorer checks first instead, with the same words for a
constructor's starting value and for ``Explorer.set``:

    problem("temperature", slider, -1)  ->  "temperature=-1 is outside the slider's range 0 to 2"

``problem`` returns that message (or None when the value is fine); ``initial`` raises it, as
``ValueError`` (``ArgumentTypeError``, also a ``TypeError``, for a wrong type), when a constructor
is given an impossible starting value, then puts the values into their controls.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import ipywidgets as widgets
import numpy as np

from .._checks import ArgumentTypeError
from ..i18n import gettext


class _Problem(str):
    """A message about a value; ``is_type`` says whether it was the wrong kind of value altogether."""

    is_type = False


def _type_problem(message: str) -> _Problem:
    found = _Problem(message)
    found.is_type = True
    return found


def _shown(value) -> str:
    """The value as the learner typed it: 0.5, -3, nan, 'add-k' (long values cut short)."""
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _english(message: str) -> str:
    return message


def _bounds(low, high, _=_english) -> str:
    return _("{low:g} to {high:g}").format(low=low, high=high)


def _choices(control) -> tuple:
    return tuple(control._options_values)  # the values behind the labels, as ipywidgets keeps them


def problem(name: str, control: widgets.ValueWidget, value, *, translate: bool = True) -> _Problem | None:
    """What is wrong with giving ``value`` to ``control`` (named ``name``), or None when it is fine.

    The message is in the course's language (it is shown under the picture), or in English with
    ``translate=False`` (a constructor's starting value: a mistake in the code).
    """
    _ = gettext if translate else _english
    given = f"{name}={_shown(value)}"
    kind = _("slider") if "Slider" in type(control).__name__ else _("box")
    got = type(value).__name__
    if isinstance(control, (widgets.IntSlider, widgets.BoundedIntText)):
        bounds = _bounds(control.min, control.max, _)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
            return _type_problem(_("{given} must be a whole number (the {kind} takes {bounds}), got {type}").format(
                given=given, kind=kind, bounds=bounds, type=got))
        value = int(value)
        if not control.min <= value <= control.max:
            return _Problem(_("{given} is outside the {kind}'s range {bounds}").format(given=given, kind=kind,
                                                                                    bounds=bounds))
        return None  # a slider's step is not enforced here: an explorer whose render needs it says why
    if isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider, widgets.BoundedFloatText)):
        if isinstance(control, widgets.FloatLogSlider):
            low, high = control.base ** control.min, control.base ** control.max
        else:
            low, high = control.min, control.max
        bounds = _bounds(low, high, _)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            return _type_problem(_("{given} must be a number (the {kind} takes {bounds}), got {type}").format(
                given=given, kind=kind, bounds=bounds, type=got))
        if not math.isfinite(float(value)):
            return _Problem(_("{given} is not a finite number; the {kind} takes {bounds}").format(
                given=given, kind=kind, bounds=bounds))
        # a log slider's ends are powers, so allow for rounding in 10 ** -3 and the like
        slack = 1e-9 * max(abs(low), abs(high))
        if not low - slack <= float(value) <= high + slack:
            return _Problem(_("{given} is outside the {kind}'s range {bounds}").format(given=given, kind=kind,
                                                                                    bounds=bounds))
        return None
    if isinstance(control, (widgets.Dropdown, widgets.SelectionSlider, widgets.ToggleButtons,
                            widgets.RadioButtons, widgets.Select)):
        choices = _choices(control)
        # True == 1 in Python: a checkbox-like value is not a numbered choice
        if isinstance(value, (bool, np.bool_)) != any(isinstance(c, (bool, np.bool_)) for c in choices) \
                or not any(value == c for c in choices):
            kind = _("slider") if isinstance(control, widgets.SelectionSlider) else _("dropdown")
            shown = ", ".join(_shown(c) for c in choices[:12]) + (", ..." if len(choices) > 12 else "")
            return _Problem(_("{given} is not one of the {kind}'s choices: {choices}").format(given=given, kind=kind,
                                                                                           choices=shown))
        return None
    if isinstance(control, widgets.IntText):  # unbounded: the explorer's render checks the range
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
            return _type_problem(_("{given} must be a whole number (the box takes whole numbers), got {type}")
                                 .format(given=given, type=got))
        return None
    if isinstance(control, widgets.FloatText):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            return _type_problem(_("{given} must be a number, got {type}").format(given=given, type=got))
        if not math.isfinite(float(value)):
            return _Problem(_("{given} is not a finite number").format(given=given))
        return None
    if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        if not isinstance(value, (bool, np.bool_)):
            return _type_problem(_("{given} must be True or False (a checkbox), got {type}").format(given=given,
                                                                                                  type=got))
        return None
    if isinstance(control, (widgets.Text, widgets.Textarea)):
        if not isinstance(value, str):
            return _type_problem(_("{given} must be a string (what is typed in the box), got {type}").format(
                given=given, type=got))
        return None
    return None  # a control this module does not know: the control's own validation applies


def check_values(controls: dict, values: dict, *, translate: bool = True) -> list[_Problem]:
    """Every problem with ``values`` ({control name: value}), in the order given (see ``problem``)."""
    return [found for name, value in values.items()
            if (found := problem(name, controls[name], value, translate=translate)) is not None]


def initial(controls: dict, **values) -> None:
    """A constructor's starting values: raise on the first impossible one, else put them in the controls.

    Raises ``ValueError`` naming the parameter, the value and the allowed range or choices
    (``ArgumentTypeError``, a TypeError and ValueError, for the wrong type of value).
    """
    for found in check_values(controls, values, translate=False):  # a mistake in the code: in English
        raise (ArgumentTypeError if found.is_type else ValueError)(str(found))
    for name, value in values.items():
        control = controls[name]
        if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
            value = bool(value)
        elif isinstance(control, (widgets.IntSlider, widgets.BoundedIntText, widgets.IntText)):
            value = int(value)
        elif isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider, widgets.BoundedFloatText,
                                  widgets.FloatText)):
            value = float(value)
        control.value = value
