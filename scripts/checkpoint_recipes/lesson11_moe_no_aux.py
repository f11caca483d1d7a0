"""Lesson 11's MoE GPT without the balancing loss, trained 300 steps with the lesson's own settings."""
from __future__ import annotations

from _lesson11 import LESSON, make_model

__all__ = ["DESCRIPTION", "LESSON", "NAME", "make"]

NAME = "lesson11_moe_no_aux"
DESCRIPTION = ("Lesson 11's MoE GPT, 4 experts 2C wide, top-2, no balancing loss (weight 0), one character "
               "per token, "
               "trained 300 steps on the first 1 MB of Shakespeare (16 windows of 32 characters per step)")


def make(device: str = "cpu") -> dict:
    return make_model(NAME, DESCRIPTION, aux_loss_weight=0.0, device=device)
