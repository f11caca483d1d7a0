"""Exercise hints, one module per lesson (``lesson01.py`` holds ``HINTS = {"1.1": ..., ...}``).

A hint is a string, or a list of strings from a nudge to a strong pointer. None of them is the
answer's code: the solutions are in each notebook's collapsed *Solution* cells. Learners see a
hint only when they ask: ``gptlab.exercises.hint("1.1")``.
"""
