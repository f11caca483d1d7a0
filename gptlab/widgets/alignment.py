"""AlignmentExplorer: type an instruction, see each model's answer, reward and log-probability (lesson 12)."""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from .. import alignment as A
from ..i18n import _
from ..model import GPT
from ..plotting.alignment import plot_answers
from ._base import Explorer


class AlignmentExplorer(Explorer):
    """Each model's greedy answer to an instruction, scored by the reward model.

    ``models``: ``{name: GPT}`` shown at every β (e.g. base, SFT, DPO); ``ppo_by_beta``: ``{β: GPT}``,
    PPO policies trained at each KL penalty β, one of which the slider picks. ``reward_model``: the
    ``RewardModel`` that scores the answers. Controls: ``instruction`` (text of the form
    ``task: word => ``; the tasks are reverse, upper, sort and ``count x``) and ``beta``. Answers are
    cached per (instruction, model), so moving the slider back only redraws. After each redraw,
    ``rows`` holds one dict per model: name, answer, reward, logprob (of the answer under that model)
    and correct.
    """

    max_cached = 512

    def __init__(self, models: dict, ppo_by_beta: dict, reward_model, tokenizer, *,
                 instruction: str = "reverse: abc => ", beta: float | None = None, max_new_tokens: int = 6):
        if not isinstance(models, dict) or not all(isinstance(m, GPT) for m in models.values()):
            raise ValueError("models must be a dict {name: GPT}, e.g. {'base': base, 'SFT': sft}")
        if not isinstance(ppo_by_beta, dict) or not ppo_by_beta:
            raise ValueError("ppo_by_beta must be a non-empty dict {beta: GPT} of PPO policies")
        self.models, self.ppo_by_beta = dict(models), {float(b): m for b, m in ppo_by_beta.items()}
        self.reward_model, self.tokenizer, self.max_new_tokens = reward_model, tokenizer, max_new_tokens
        betas = sorted(self.ppo_by_beta)
        beta = betas[len(betas) // 2] if beta is None else float(beta)
        if beta not in self.ppo_by_beta:
            raise ValueError(f"beta={beta} has no PPO run; choose one of {betas}")
        self._cache: dict[tuple[str, int], dict] = {}
        self.rows: list[dict] = []
        self._fig: Figure | None = None
        controls = {
            "instruction": widgets.Text(value=instruction, description=_("instruction"), continuous_update=False),
            "beta": widgets.SelectionSlider(options=betas, value=beta, description=_("PPO β")),
        }
        super().__init__(controls, columns=2)

    def _check(self, instruction: str) -> str:
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(_("instruction is empty; type one such as 'reverse: abc => '"))
        if not instruction.endswith(" => "):
            instruction = instruction.rstrip() + " => " if not instruction.rstrip().endswith("=>") else \
                instruction.rstrip() + " "
        try:
            A.solve(instruction)
        except ValueError:
            raise ValueError(_("instruction={instruction!r} is not of the form 'task: word => ' with task one of "
                               "reverse, upper, sort or 'count x', and a word of the letters {letters!r}").format(
                instruction=instruction, letters=A.LETTERS)) from None
        unknown = sorted(set(instruction) - set(self.tokenizer.vocab))
        if unknown:
            raise ValueError(_("instruction uses {unknown}, which the models never saw; use the letters {letters!r}")
                             .format(unknown=unknown, letters=A.LETTERS))
        n = len(self.tokenizer.encode(instruction))
        block = next(iter(self.models.values())).config.block_size
        if n + self.max_new_tokens > block:
            raise ValueError(_("instruction is {n} characters; with {answer} for the answer it exceeds "
                               "block_size={block_size}; use a shorter word").format(
                n=n, answer=self.max_new_tokens, block_size=block))
        return instruction

    @torch.no_grad()
    def _answer(self, name: str, model: GPT, instruction: str) -> dict:
        key = (instruction, id(model))
        if key not in self._cache:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            device = next(model.parameters()).device
            idx = torch.tensor([self.tokenizer.encode(instruction)], device=device)
            out = model.generate(idx, self.max_new_tokens, temperature=0)
            text = self.tokenizer.decode(out[0, idx.size(1):].tolist())
            answer = text[:text.index(A.STOP) + 1] if A.STOP in text else text
            seq, mask, lengths = A.pack(self.tokenizer, [instruction], [answer], model.config.block_size, device)
            rm_device = next(self.reward_model.parameters()).device
            self._cache[key] = {"answer": answer.removesuffix(A.STOP),
                                "reward": float(self.reward_model(seq.to(rm_device), lengths.to(rm_device))),
                                "logprob": float(A.sequence_logprobs(model, seq, mask)) if answer else 0.0,
                                "correct": A.is_correct(instruction, answer)}
        return {"name": name, **self._cache[key]}

    def render(self, instruction: str, beta: float):
        instruction = self._check(instruction)
        named = {**self.models, f"PPO β={beta:g}": self.ppo_by_beta[float(beta)]}
        self.rows = [self._answer(name, model, instruction) for name, model in named.items()]
        title = _("{instruction!r}  (right answer: {answer!r})").format(instruction=instruction,
                                                                         answer=A.solve(instruction))
        self._fig = plot_answers(self.rows, fig=self._fig, title=title)
        line = _("{name:>12}: {answer!r:10} reward {reward:+.2f}  log p {logprob:.2f}  {verdict}")
        lines = [line.format(name=r["name"], answer=r["answer"], reward=r["reward"], logprob=r["logprob"],
                             verdict=_("correct") if r["correct"] else _("wrong")) for r in self.rows]
        return self._fig, "\n".join(lines)
