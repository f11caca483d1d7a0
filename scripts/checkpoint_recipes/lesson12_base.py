"""Lesson 12's base model: Shakespeare plus instruction-shaped web text whose answers are mostly wrong."""
from __future__ import annotations

from _lesson12 import BASE, LESSON, make_base

__all__ = ["DESCRIPTION", "LESSON", "NAME", "make"]

NAME = BASE
DESCRIPTION = ("Lesson 12's base model: a 2-block character GPT pre-trained on Shakespeare and instruction-shaped "
               "web text (answers right 30% of the time)")


def make(device: str = "cpu") -> dict:
    return make_base(device)
