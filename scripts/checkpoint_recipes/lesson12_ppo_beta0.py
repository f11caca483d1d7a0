"""Lesson 12's PPO policy trained at KL penalty beta=0 (for the lesson's beta slider)."""
from __future__ import annotations

from _lesson12 import LESSON, make_ppo

__all__ = ["DESCRIPTION", "LESSON", "NAME", "make"]

NAME = "lesson12_ppo_beta0"
BETA = 0
DESCRIPTION = f"Lesson 12's RLHF policy: the SFT model after PPO against the reward model, KL penalty beta={BETA}"


def make(device: str = "cpu") -> dict:
    return make_ppo(NAME, BETA, device)
