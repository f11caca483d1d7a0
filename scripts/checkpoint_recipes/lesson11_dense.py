"""Lesson 11's dense GPT of sections 5-6, trained 300 steps with the lesson's own settings."""
from __future__ import annotations

from _lesson11 import LESSON, make_model

__all__ = ["DESCRIPTION", "LESSON", "NAME", "make"]

NAME = "lesson11_dense"
DESCRIPTION = ("Lesson 11's dense GPT: 2 blocks, 4 heads, width 64, context 32, one character per token, "
               "trained 300 steps on the first 1 MB of Shakespeare (16 windows of 32 characters per step)")


def make(device: str = "cpu") -> dict:
    return make_model(NAME, DESCRIPTION, aux_loss_weight=None, device=device)
