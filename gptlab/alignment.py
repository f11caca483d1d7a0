"""From a GPT to an assistant in miniature: SFT, a reward model, RLHF with PPO, and DPO (notes §4.1).

InstructGPT (Ouyang et al. 2022) turns a language model into one that follows instructions in
three steps, and DPO (Rafailov et al. 2023) replaces the last two with one loss:

1. supervised fine-tuning (SFT): cross-entropy on good demonstrations, on the response only
   (``sft_loss``, ``train_sft``);
2. a reward model: a GPT body with a scalar head, trained on pairs of the model's own answers
   that a labeller ranked (``RewardModel``, ``bradley_terry_loss``, ``train_reward_model``);
3. PPO against that reward, with a KL penalty that keeps the policy near the SFT model
   (``kl_penalised_rewards``, ``gae``, ``ppo_policy_loss``, ``PPOTrainer``);
4. or DPO straight on the preference pairs (``dpo_loss``, ``train_dpo``).

The lesson's tasks are a tiny instruction language whose answers code can check
(``reverse: abc => cba``, ``upper: ab => AB``, ``sort: dca => acd``, ``count a: banana => 3``), and
the "human labeller" is a function: a correct answer beats a wrong one, then shorter beats longer.

Conventions. A *sequence* is prompt + response, right-padded; a ``loss_mask`` (B, T) is True on the
response tokens. Per-token tensors of a sequence of length T have T - 1 columns: column t holds the
log-probability of token t + 1 given tokens 0..t (the "action" taken after reading t + 1 tokens).
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._checks import ArgumentTypeError, check_float, check_int, check_type
from .model import GPT
from .train import History

__all__ = [
    "TASKS", "LETTERS", "STOP", "make_prompt", "make_prompts", "solve", "is_correct", "label_score", "prefers",
    "web_text", "sft_loss", "token_logprobs", "sequence_logprobs", "hidden_states", "RewardModel",
    "bradley_terry_loss", "ppo_policy_loss", "gae", "kl_penalised_rewards", "dpo_loss", "pack",
    "generate_responses", "make_preference_pairs", "train_sft", "train_reward_model", "train_dpo",
    "pair_rewards", "reward_accuracy", "PPOConfig", "PPOHistory", "PPOTrainer", "evaluate_policy",
    "LabellerReward", "best_of_n",
]

# ----------------------------------------------------------------------------------------------
# the instruction language and its labeller

TASKS = ("reverse", "upper", "sort", "count")
LETTERS = "abcdef"  # the words the tasks act on use only these letters
STOP = "\n"  # a response ends with a newline


def _check_letters(name: str, word: str) -> None:
    if not word or any(ch not in LETTERS for ch in word):
        raise ValueError(f"{name}={word!r} must be a non-empty word of the letters {LETTERS!r}")


def make_prompt(task: str, word: str, letter: str = "a") -> str:
    """The instruction for ``task`` on ``word``: ``make_prompt("reverse", "abc") == "reverse: abc => "``."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not supported; choose one of {', '.join(map(repr, TASKS))}")
    _check_letters("word", word)
    if task == "count":
        _check_letters("letter", letter)
        return f"count {letter}: {word} => "
    return f"{task}: {word} => "


def make_prompts(n: int, seed: int = 0, min_len: int = 2, max_len: int = 3,
                 tasks: Sequence[str] = TASKS, distinct: bool = False, exclude: Iterable[str] = ()) -> list[str]:
    """``n`` random instructions (tasks drawn evenly, words of ``min_len``..``max_len`` letters).

    ``distinct=True`` draws no instruction twice; ``exclude`` lists instructions never to draw (the
    ones a model was trained on, for a held-out test set). Without either, the draw is as it always
    was: the same seed gives the same list.
    """
    n = check_int("n", n, min_value=0)
    min_len = check_int("min_len", min_len, min_value=1)
    max_len = check_int("max_len", max_len, min_value=min_len)
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"tasks contains {task!r}; choose among {', '.join(map(repr, TASKS))}")
    if isinstance(exclude, str):
        raise ArgumentTypeError("exclude must be a collection of instructions, not one string")
    skip = set(exclude)
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    tries, limit = 0, 1000 * max(n, 1)
    while len(out) < n:
        tries += 1
        if tries > limit:
            raise ValueError(f"could not draw n={n} instructions with distinct={distinct} outside the {len(skip)} "
                             f"excluded ones; there are too few words of {min_len}-{max_len} letters: lower n")
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(min_len, max_len)))
        prompt = make_prompt(rng.choice(list(tasks)), word, rng.choice(word))
        if prompt in skip or (distinct and prompt in seen):
            continue
        seen.add(prompt)
        out.append(prompt)
    return out


def _parse(prompt: str) -> tuple[str, str, str]:
    if not isinstance(prompt, str) or not prompt.endswith(" => ") or ": " not in prompt:
        raise ValueError(f"prompt={prompt!r:.60} is not an instruction of the form 'task: word => '")
    head, word = prompt[:-4].split(": ", 1)
    letter = ""
    if head.startswith("count "):
        head, letter = "count", head[6:]
    if head not in TASKS:
        raise ValueError(f"prompt={prompt!r:.60} names task {head!r}; the tasks are {', '.join(TASKS)}")
    return head, word, letter


def solve(prompt: str) -> str:
    """The correct answer to an instruction (without the final newline)."""
    task, word, letter = _parse(prompt)
    if task == "reverse":
        return word[::-1]
    if task == "upper":
        return word.upper()
    if task == "sort":
        return "".join(sorted(word))
    return str(word.count(letter))


def is_correct(prompt: str, response: str) -> bool:
    """Does ``response`` (a trailing newline allowed) answer ``prompt`` exactly?"""
    return response.removesuffix(STOP) == solve(prompt) and (response.endswith(STOP) or STOP not in response)


def label_score(prompt: str, response: str) -> tuple[int, int]:
    """What the labeller ranks by: (correct, -length); a larger tuple is better."""
    return int(is_correct(prompt, response)), -len(response.removesuffix(STOP))


def prefers(prompt: str, response_a: str, response_b: str) -> int:
    """The "human labeller": +1 if it prefers ``response_a``, -1 for ``response_b``, 0 for a tie.

    A correct answer beats a wrong one; between two answers equally right or wrong, the shorter wins.
    """
    a, b = label_score(prompt, response_a), label_score(prompt, response_b)
    return (a > b) - (a < b)


class LabellerReward:
    """The labeller itself as a reward: 1.0 for a correct answer, 0.0 otherwise.

    A *perfect* reward model, which no real RLHF run has: PPO against it shows what the method does
    when the reward is right, so the gap to PPO against a learned reward model is that model's
    error. Called like a ``RewardModel``: ``reward(idx, lengths)`` -> (B,) rewards, where each row of
    ``idx`` is an instruction followed by its answer (``pack``'s layout).
    """

    def __init__(self, tokenizer):
        if not (hasattr(tokenizer, "decode") and hasattr(tokenizer, "encode")):
            raise ArgumentTypeError(f"tokenizer must have encode and decode (e.g. a CharTokenizer), got "
                                    f"{type(tokenizer).__name__}")
        self.tokenizer = tokenizer

    def __call__(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        scores = []
        for row, n in zip(idx.tolist(), lengths.tolist()):
            prompt, sep, response = self.tokenizer.decode(row[:n]).partition(" => ")
            scores.append(float(bool(sep)) * float(_safe_correct(prompt + sep, response)))
        return torch.tensor(scores, device=idx.device)


def _safe_correct(prompt: str, response: str) -> bool:
    try:
        return is_correct(prompt, response)
    except ValueError:  # not an instruction of the task language
        return False


def web_text(n: int, seed: int = 0, p_correct: float = 0.3, min_len: int = 2, max_len: int = 3,
             tasks: Sequence[str] = TASKS) -> str:
    """``n`` lines of instruction-shaped text as a web page might hold them: the right answer with
    probability ``p_correct``, else a typical wrong one (the word echoed, the word with letters added,
    or a random word). A base model pre-trained on this knows the format but not which answer to give."""
    p_correct = check_float("p_correct", p_correct, min_value=0, max_value=1)
    rng = random.Random(seed)
    lines = []
    for prompt in make_prompts(n, seed=seed, min_len=min_len, max_len=max_len, tasks=tasks):
        answer = solve(prompt)
        if rng.random() >= p_correct:
            word = _parse(prompt)[1]
            kind = rng.randrange(3)
            if kind == 0:
                answer = word
            elif kind == 1:
                answer = word + "".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 4)))
            elif prompt.startswith("count"):
                answer = str(rng.randrange(6))
            else:
                answer = "".join(rng.choice(LETTERS) for _ in range(len(word)))
        lines.append(prompt + answer + STOP)
    return "".join(lines)


# ----------------------------------------------------------------------------------------------
# checks shared by the losses


def _tensor(name: str, value) -> torch.Tensor:
    return check_type(name, value, torch.Tensor, "a torch.Tensor")


def _same_shape(**tensors: torch.Tensor) -> None:
    names = list(tensors)
    first = tensors[names[0]]
    for name in names[1:]:
        if tensors[name].shape != first.shape:
            raise ValueError(f"{name} has shape {tuple(tensors[name].shape)} but {names[0]} has "
                             f"{tuple(first.shape)}; they must match (one entry per sequence or token)")


def _check_mask(name: str, mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    _tensor(name, mask)
    if mask.shape != shape:
        raise ValueError(f"{name} has shape {tuple(mask.shape)}, expected {tuple(shape)} (one flag per token)")
    mask = mask.bool()
    if not bool(mask.any()):
        raise ValueError(f"{name} has no True position: nothing to score; mark the response tokens with True")
    return mask


def _check_beta(beta) -> float:
    return check_float("beta", beta, min_value=0)


def _nonempty(name: str, t: torch.Tensor) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: the preference set needs at least one (chosen, rejected) pair")


# ----------------------------------------------------------------------------------------------
# step 1: supervised fine-tuning


def sft_loss(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``loss_mask`` is True (the response, not the prompt).

    logits (B, T, V), targets (B, T) token ids, loss_mask (B, T) bool.
    """
    _tensor("logits", logits)
    _tensor("targets", targets)
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and targets (B, T); got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    mask = _check_mask("loss_mask", loss_mask, targets.shape)
    per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten().long(), reduction="none")  # (B*T,)
    mask = mask.flatten()
    return (per_token * mask).sum() / mask.sum()


def hidden_states(gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
    """The final hidden state of every position, (B, T, n_embd): GPT.forward without the lm_head."""
    check_type("gpt", gpt, GPT, "a gptlab GPT")
    gpt._check_ids(idx)
    T = idx.size(1)
    if T > gpt.config.block_size:
        raise ValueError(f"idx has T={T} tokens, more than block_size={gpt.config.block_size}; shorten the "
                         f"prompt or the response")
    x = gpt.wte(idx)  # (B, T, C)
    if gpt.pos is not None:
        x = gpt.pos(x, offset=0)
    x = gpt.drop(x)
    for block in gpt.blocks:
        x = block(x)
    return gpt.ln_f(x)  # (B, T, C)


def token_logprobs(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """log p(idx[:, t + 1] | idx[:, :t + 1]) for every t: (B, T - 1)."""
    logits, _ = model(idx[:, :-1])  # (B, T-1, V): the prediction after each prefix
    logp = F.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)


def sequence_logprobs(model: GPT, idx: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Summed log-probabilities of the masked tokens of each sequence -> (B,).

    ``loss_mask`` (B, T) is aligned with ``idx``: True where the token is part of the response.
    Token 0 has no context to be predicted from, so its flag must be False.
    """
    _tensor("idx", idx)
    if idx.dim() != 2 or idx.size(1) < 2:
        raise ValueError(f"idx must be (B, T) token ids with T >= 2 (a prompt and a response), got "
                         f"{tuple(idx.shape)}")
    mask = _check_mask("loss_mask", loss_mask, idx.shape)
    if bool(mask[:, 0].any()):
        raise ValueError("loss_mask is True at position 0; the first token has no context, so it cannot be "
                         "scored; mark only response tokens, which come after the prompt")
    return (token_logprobs(model, idx) * mask[:, 1:]).sum(-1)


# ----------------------------------------------------------------------------------------------
# step 2: the reward model


class RewardModel(nn.Module):
    """A GPT body with a scalar head that reads the hidden state of the last token.

    ``RewardModel(gpt)`` takes the body of ``gpt`` (its weights are copied, the original is left alone;
    InstructGPT starts the reward model from the SFT model). ``forward(idx, lengths=None)`` -> (B,)
    rewards; with right padding, ``lengths`` (B,) says where each sequence ends.
    """

    def __init__(self, gpt: GPT):
        super().__init__()
        check_type("gpt", gpt, GPT, "a gptlab GPT (the body the reward model starts from)")
        self.body = copy.deepcopy(gpt)
        self.config = gpt.config
        self.head = nn.Linear(gpt.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)  # every answer starts at reward 0
        nn.init.zeros_(self.head.bias)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = hidden_states(self.body, idx)  # (B, T, C)
        B, T, _ = h.size()
        if lengths is None:
            last = torch.full((B,), T - 1, device=idx.device)
        else:
            _tensor("lengths", lengths)
            if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
                raise ValueError(f"lengths must be (B,)=({B},) whole numbers in 1..{T}, got {lengths.tolist()}")
            last = lengths.to(idx.device).long() - 1
        return self.head(h[torch.arange(B, device=idx.device), last]).squeeze(-1)  # (B,)


def bradley_terry_loss(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> torch.Tensor:
    """Mean -log σ(r_chosen - r_rejected): the Bradley-Terry likelihood of the labeller's choices."""
    _tensor("reward_chosen", reward_chosen)
    _tensor("reward_rejected", reward_rejected)
    _same_shape(reward_chosen=reward_chosen, reward_rejected=reward_rejected)
    _nonempty("reward_chosen", reward_chosen)
    return -F.logsigmoid(reward_chosen - reward_rejected).mean()


# ----------------------------------------------------------------------------------------------
# step 3: PPO with a KL penalty


def _masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean()
    return (x * mask).sum() / mask.sum().clamp(min=1)


def ppo_policy_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                    clip: float = 0.2, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PPO's clipped surrogate: mean of -min(r A, clip(r, 1 - ε, 1 + ε) A), r = exp(logp_new - logp_old).

    All three tensors have one entry per action (token); ``mask`` (optional) keeps only real tokens.
    Where r has left [1 - ε, 1 + ε] in the direction the advantage pushes, the gradient is zero.
    """
    for name, t in (("logp_new", logp_new), ("logp_old", logp_old), ("advantages", advantages)):
        _tensor(name, t)
    _same_shape(logp_new=logp_new, logp_old=logp_old, advantages=advantages)
    clip = check_float("clip", clip, min_value=0, min_inclusive=False)
    if mask is not None:
        mask = _check_mask("mask", mask, logp_new.shape).float()
    ratio = torch.exp(logp_new - logp_old.detach())
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    return _masked_mean(-torch.min(unclipped, clipped), mask)


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) -> (advantages, returns), each (B, T).

    δ_t = r_t + γ V_{t+1} - V_t and A_t = δ_t + γλ A_{t+1}. An episode ends after its last step, so
    the value after the last step is 0. ``returns = advantages + values`` (the value head's target).
    For sequences of different lengths, pad rewards and values with zeros after each end.
    """
    _tensor("rewards", rewards)
    _tensor("values", values)
    _same_shape(rewards=rewards, values=values)
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (B, T), got {tuple(rewards.shape)}")
    gamma = check_float("gamma", gamma, min_value=0, max_value=1)
    lam = check_float("lam", lam, min_value=0, max_value=1)
    values = values.detach()
    T = rewards.size(1)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    return advantages, advantages + values


def kl_penalised_rewards(rewards: torch.Tensor, logp_policy: torch.Tensor, logp_ref: torch.Tensor, beta: float,
                         mask: torch.Tensor | None = None) -> torch.Tensor:
    """InstructGPT's per-token reward, (B, T): -β (log π - log π_ref) on every token, plus the
    sequence's reward (B,) on its last token (the last True of ``mask``, else the last column)."""
    for name, t in (("rewards", rewards), ("logp_policy", logp_policy), ("logp_ref", logp_ref)):
        _tensor(name, t)
    _same_shape(logp_policy=logp_policy, logp_ref=logp_ref)
    if logp_policy.dim() != 2 or rewards.shape != logp_policy.shape[:1]:
        raise ValueError(f"rewards must be (B,) and logp_policy (B, T); got {tuple(rewards.shape)} and "
                         f"{tuple(logp_policy.shape)}")
    beta = _check_beta(beta)
    B, T = logp_policy.shape
    per_token = -beta * (logp_policy - logp_ref).detach()
    if mask is None:
        last = torch.full((B,), T - 1, device=per_token.device)
    else:
        mask = _check_mask("mask", mask, logp_policy.shape)
        if not bool(mask.any(-1).all()):
            raise ValueError("mask has a row with no True position: every sequence needs at least one token")
        per_token = per_token * mask
        last = T - 1 - mask.flip(-1).float().argmax(-1)  # index of the last True in each row
    per_token[torch.arange(B, device=per_token.device), last] += rewards.detach().to(per_token.dtype)
    return per_token


# ----------------------------------------------------------------------------------------------
# step 4 (or 2 + 3): DPO


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Direct preference optimisation (Rafailov et al. 2023) -> (loss, chosen_rewards, rejected_rewards).

    loss = mean -log σ(β[(π_c - ref_c) - (π_r - ref_r)]), with sequence log-probabilities (B,);
    the implicit rewards are β(π_c - ref_c) and β(π_r - ref_r).
    """
    named = (("policy_chosen_logps", policy_chosen_logps), ("policy_rejected_logps", policy_rejected_logps),
             ("ref_chosen_logps", ref_chosen_logps), ("ref_rejected_logps", ref_rejected_logps))
    for name, t in named:
        _tensor(name, t)
    _same_shape(**dict(named))
    _nonempty("policy_chosen_logps", policy_chosen_logps)
    beta = _check_beta(beta)
    if beta == 0:  # the loss would be log 2 whatever the policy does: nothing to learn
        raise ValueError("beta=0 must be greater than 0 for DPO: it scales the log-ratios, and at 0 the loss "
                         "is log 2 for every policy; try 0.1")
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps.detach())
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps.detach())
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


# ----------------------------------------------------------------------------------------------
# sequences: packing, sampling, preference pairs


def pack(tokenizer, prompts: Sequence[str], responses: Sequence[str], block_size: int,
         device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encode prompt + response pairs -> (idx (B, T), loss_mask (B, T), lengths (B,)), right-padded
    with the stop token; ``loss_mask`` is True on the response tokens."""
    if len(prompts) != len(responses):
        raise ValueError(f"prompts ({len(prompts)}) and responses ({len(responses)}) must pair up one to one")
    if len(prompts) == 0:
        raise ValueError("prompts is empty: give at least one prompt")
    block_size = check_int("block_size", block_size, min_value=2)
    rows, masks = [], []
    for prompt, response in zip(prompts, responses):
        p, r = tokenizer.encode(prompt), tokenizer.encode(response)
        if len(p) >= block_size:
            raise ValueError(f"prompt {prompt!r} is {len(p)} tokens, too long for block_size={block_size} "
                             f"(it must leave room for an answer); shorten the word")
        ids = (p + r)[:block_size]
        rows.append(ids)
        masks.append([False] * len(p) + [True] * (len(ids) - len(p)))
    T = max(len(r) for r in rows)
    pad = tokenizer.encode(STOP)[0]
    idx = torch.tensor([r + [pad] * (T - len(r)) for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([m + [False] * (T - len(m)) for m in masks], dtype=torch.bool, device=device)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long, device=device)
    return idx, mask, lengths


@torch.no_grad()
def generate_responses(model: GPT, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8,
                       temperature: float = 1.0, seed: int = 0) -> list[str]:
    """Sample one response per prompt, cut after the first stop token (a newline).

    Prompts of the same length are generated as one batch (the model has no padding mask).
    """
    if len(prompts) == 0:
        raise ValueError("prompts is empty: give at least one prompt")
    check_int("max_new_tokens", max_new_tokens, min_value=1)
    block_size = model.config.block_size
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    groups: dict[int, list[int]] = {}
    encoded = []
    for i, prompt in enumerate(prompts):
        ids = tokenizer.encode(prompt)
        if len(ids) + max_new_tokens > block_size:
            raise ValueError(f"prompt {prompt!r} is {len(ids)} tokens; with max_new_tokens={max_new_tokens} "
                             f"it exceeds block_size={block_size}; use a shorter prompt")
        encoded.append(ids)
        groups.setdefault(len(ids), []).append(i)
    out = [""] * len(prompts)
    for length, members in sorted(groups.items()):
        idx = torch.tensor([encoded[i] for i in members], dtype=torch.long, device=device)
        full = model.generate(idx, max_new_tokens, temperature=temperature, generator=generator)
        for i, row in zip(members, full[:, length:].tolist()):
            text = tokenizer.decode(row)
            cut = text.find(STOP)
            out[i] = text if cut < 0 else text[:cut + 1]
    return out


def make_preference_pairs(model: GPT, tokenizer, prompts: Sequence[str], samples_per_prompt: int = 4,
                          max_new_tokens: int = 8, seed: int = 0) -> list[tuple[str, str, str]]:
    """Sample answers from ``model`` and let the labeller compare them -> (prompt, chosen, rejected) triples.

    Each prompt gets ``samples_per_prompt`` answers; every two distinct answers the labeller does not
    call a tie become a pair (InstructGPT ranked 4-9 answers per prompt the same way).
    """
    k = check_int("samples_per_prompt", samples_per_prompt, min_value=2)
    many = [p for p in prompts for _ in range(k)]
    answers = generate_responses(model, tokenizer, many, max_new_tokens=max_new_tokens, seed=seed)
    pairs = []
    for j, prompt in enumerate(prompts):
        mine = sorted(set(answers[j * k:(j + 1) * k]))
        for a in range(len(mine)):
            for b in range(a + 1, len(mine)):
                verdict = prefers(prompt, mine[a], mine[b])
                if verdict > 0:
                    pairs.append((prompt, mine[a], mine[b]))
                elif verdict < 0:
                    pairs.append((prompt, mine[b], mine[a]))
    return pairs


def _check_pairs(pairs) -> list[tuple[str, str, str]]:
    if not isinstance(pairs, Sequence) or isinstance(pairs, str):
        raise ArgumentTypeError(f"pairs must be a list of (prompt, chosen, rejected) triples, got "
                                f"{type(pairs).__name__}")
    if len(pairs) == 0:
        raise ValueError("pairs is empty: the preference set needs at least one (prompt, chosen, rejected) "
                         "triple; sample more answers per prompt or use more prompts")
    for i, p in enumerate(pairs[:3]):
        if not (isinstance(p, (tuple, list)) and len(p) == 3 and all(isinstance(s, str) for s in p)):
            raise ValueError(f"pairs[{i}]={p!r:.80} must be a (prompt, chosen, rejected) triple of strings")
    return list(pairs)


# ----------------------------------------------------------------------------------------------
# training loops (small on purpose: each is the loss above inside an AdamW loop)


def _interruptible(history: History, loop: Callable[[], None]) -> None:
    """Run ``loop``; on Ctrl-C keep what is done, mark the history interrupted, and re-raise."""
    history.interrupted = False
    try:
        loop()
    except KeyboardInterrupt:
        history.interrupted = True
        raise


def _optimizer(module: nn.Module, lr: float) -> torch.optim.AdamW:
    return torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)


def _step(module: nn.Module, optimizer, loss: torch.Tensor) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()
    return float(norm)


def _record(history: History, step: int, loss: float, lr: float, norm: float, tokens: int, start: float,
            **extra: float) -> None:
    import time

    history.steps.append(step)
    history.train_loss.append(loss)
    history.lr.append(lr)
    history.grad_norm.append(norm)
    history.tokens_seen.append((history.tokens_seen[-1] if history.tokens_seen else 0) + tokens)
    history.elapsed.append(time.perf_counter() - start)
    for k, v in extra.items():
        history.extra.setdefault(k, []).append(float(v))


def train_sft(model: GPT, tokenizer, prompts: Sequence[str], responses: Sequence[str], steps: int = 150,
              batch_size: int = 32, lr: float = 1e-3, seed: int = 0, progress: bool = True) -> History:
    """Supervised fine-tuning on demonstrations (``responses`` end with the stop token): ``sft_loss`` on
    the response tokens, AdamW. Trains ``model`` in place; returns its History (Ctrl-C keeps it)."""
    import time

    steps = check_int("steps", steps, min_value=1)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    lr = check_float("lr", lr, min_value=0, min_inclusive=False)
    device = next(model.parameters()).device
    idx_all, mask_all, _ = pack(tokenizer, prompts, responses, model.config.block_size, device)
    optimizer = _optimizer(model, lr)
    g = torch.Generator().manual_seed(seed)
    history, start = History(), time.perf_counter()

    def loop():
        model.train()
        for step in tqdm(range(1, steps + 1), desc="SFT", disable=not progress):
            rows = torch.randint(len(idx_all), (batch_size,), generator=g).to(device)
            idx, mask = idx_all[rows], mask_all[rows]
            logits, _ = model(idx[:, :-1])
            loss = sft_loss(logits, idx[:, 1:], mask[:, 1:])  # predict each response token from its prefix
            norm = _step(model, optimizer, loss)
            _record(history, step, loss.item(), lr, norm, int(mask.sum()), start)
        model.eval()

    _interruptible(history, loop)
    return history


def _pair_tensors(tokenizer, pairs, block_size, device):
    prompts = [p for p, _, _ in pairs]
    chosen = pack(tokenizer, prompts, [c for _, c, _ in pairs], block_size, device)
    rejected = pack(tokenizer, prompts, [r for _, _, r in pairs], block_size, device)
    return chosen, rejected


@torch.no_grad()
def pair_rewards(reward_model: RewardModel, tokenizer, pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """The reward model's scores of each pair's chosen and rejected answers -> two (N,) tensors."""
    pairs = _check_pairs(pairs)
    device = next(reward_model.parameters()).device
    (ci, _, cl), (ri, _, rl) = _pair_tensors(tokenizer, pairs, reward_model.config.block_size, device)
    reward_model.eval()
    return reward_model(ci, cl), reward_model(ri, rl)


def reward_accuracy(reward_model: RewardModel, tokenizer, pairs) -> float:
    """Share of pairs whose chosen answer the reward model scores above the rejected one."""
    chosen, rejected = pair_rewards(reward_model, tokenizer, pairs)
    return float((chosen > rejected).float().mean())


def train_reward_model(reward_model: RewardModel, tokenizer, pairs, steps: int = 200, batch_size: int = 32,
                       lr: float = 1e-3, seed: int = 0, progress: bool = True) -> History:
    """Fit ``reward_model`` to (prompt, chosen, rejected) triples with ``bradley_terry_loss``."""
    import time

    check_type("reward_model", reward_model, RewardModel, "a RewardModel")
    pairs = _check_pairs(pairs)
    steps = check_int("steps", steps, min_value=1)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    lr = check_float("lr", lr, min_value=0, min_inclusive=False)
    device = next(reward_model.parameters()).device
    (ci, _, cl), (ri, _, rl) = _pair_tensors(tokenizer, pairs, reward_model.config.block_size, device)
    optimizer = _optimizer(reward_model, lr)
    g = torch.Generator().manual_seed(seed)
    history, start = History(), time.perf_counter()

    def loop():
        reward_model.train()
        for step in tqdm(range(1, steps + 1), desc="reward model", disable=not progress):
            rows = torch.randint(len(pairs), (batch_size,), generator=g).to(device)
            r_c, r_r = reward_model(ci[rows], cl[rows]), reward_model(ri[rows], rl[rows])
            loss = bradley_terry_loss(r_c, r_r)
            norm = _step(reward_model, optimizer, loss)
            _record(history, step, loss.item(), lr, norm, int(cl[rows].sum() + rl[rows].sum()), start,
                    accuracy=float((r_c > r_r).float().mean()))
        reward_model.eval()

    _interruptible(history, loop)
    return history


def train_dpo(policy: GPT, reference: GPT, tokenizer, pairs, steps: int = 150, batch_size: int = 32,
              beta: float = 0.1, lr: float = 3e-4, seed: int = 0, progress: bool = True) -> History:
    """DPO on (prompt, chosen, rejected) triples: ``dpo_loss`` with ``sequence_logprobs`` of the
    policy (trained in place) and of the frozen ``reference`` (usually the SFT model)."""
    import time

    pairs = _check_pairs(pairs)
    beta = _check_beta(beta)
    steps = check_int("steps", steps, min_value=1)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    lr = check_float("lr", lr, min_value=0, min_inclusive=False)
    device = next(policy.parameters()).device
    (ci, cm, _), (ri, rm, _) = _pair_tensors(tokenizer, pairs, policy.config.block_size, device)
    reference.eval()
    with torch.no_grad():
        ref_c, ref_r = sequence_logprobs(reference, ci, cm), sequence_logprobs(reference, ri, rm)
    optimizer = _optimizer(policy, lr)
    g = torch.Generator().manual_seed(seed)
    history, start = History(), time.perf_counter()

    def loop():
        policy.train()
        for step in tqdm(range(1, steps + 1), desc="DPO", disable=not progress):
            rows = torch.randint(len(pairs), (batch_size,), generator=g).to(device)
            pi_c = sequence_logprobs(policy, ci[rows], cm[rows])
            pi_r = sequence_logprobs(policy, ri[rows], rm[rows])
            loss, r_c, r_r = dpo_loss(pi_c, pi_r, ref_c[rows], ref_r[rows], beta=beta)
            norm = _step(policy, optimizer, loss)
            _record(history, step, loss.item(), lr, norm, int(cm[rows].sum() + rm[rows].sum()), start,
                    margin=float((r_c - r_r).mean()), accuracy=float((r_c > r_r).float().mean()))
        policy.eval()

    _interruptible(history, loop)
    return history


# ----------------------------------------------------------------------------------------------
# the PPO trainer


@dataclass
class PPOConfig:
    """The knobs of one RLHF run, with InstructGPT-like defaults scaled down to a tiny model."""

    steps: int = 40  # rollouts (each: sample, score, then several optimisation epochs on the samples)
    batch_size: int = 64  # prompts per rollout
    max_new_tokens: int = 8  # longest response sampled
    beta: float = 0.05  # KL penalty per token; 0 lets the policy drift anywhere the reward model allows
    clip: float = 0.2  # PPO's ε: how far one rollout may move a token's probability ratio
    gamma: float = 1.0  # discount; 1 = every token shares the final reward fully
    lam: float = 0.95  # GAE's λ: 0 = one-step TD, 1 = Monte Carlo return
    epochs: int = 4  # passes over each rollout
    minibatch_size: int = 32  # sequences per gradient step
    lr: float = 3e-4  # AdamW learning rate (policy and value head together)
    vf_coef: float = 0.5  # weight of the value loss
    temperature: float = 1.0  # sampling temperature of the rollouts
    whiten_scores: bool = True  # scores to mean 0, std 1 per rollout: beta then means the same for any reward model
    seed: int = 0
    progress: bool = True  # tqdm bar with the live reward and KL

    def __post_init__(self):
        for name in ("steps", "batch_size", "max_new_tokens", "epochs", "minibatch_size"):
            setattr(self, name, check_int(name, getattr(self, name), min_value=1))
        self.beta = _check_beta(self.beta)
        self.clip = check_float("clip", self.clip, min_value=0, min_inclusive=False)
        self.gamma = check_float("gamma", self.gamma, min_value=0, max_value=1)
        self.lam = check_float("lam", self.lam, min_value=0, max_value=1)
        self.lr = check_float("lr", self.lr, min_value=0, min_inclusive=False)
        self.vf_coef = check_float("vf_coef", self.vf_coef, min_value=0)
        self.temperature = check_float("temperature", self.temperature, min_value=0, min_inclusive=False)
        self.seed = check_int("seed", self.seed)


@dataclass
class PPOHistory:
    """Per rollout: mean reward-model score, mean KL to the reference (summed over a response's
    tokens), true task accuracy of the samples, mean response length, and the losses."""

    steps: list[int] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    length: list[float] = field(default_factory=list)
    policy_loss: list[float] = field(default_factory=list)
    value_loss: list[float] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> PPOHistory:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class PPOTrainer:
    """RLHF: PPO on a GPT policy against a reward model, with a KL penalty to a frozen reference.

    Each rollout samples responses with ``generate``, scores them with ``reward_model(idx, lengths)``,
    turns score and KL into per-token rewards (``kl_penalised_rewards``), estimates advantages with
    ``gae`` from a value head on the policy's hidden states, then runs ``epochs`` passes of
    ``ppo_policy_loss`` + value loss over minibatches. ``fit()`` shows a tqdm bar; Ctrl-C keeps the
    policy trained so far, marks ``history.interrupted`` and re-raises.
    """

    def __init__(self, policy: GPT, reference: GPT, reward_model: Callable, tokenizer, prompts: Sequence[str],
                 config: PPOConfig | None = None):
        check_type("policy", policy, GPT, "a gptlab GPT (the model being tuned)")
        check_type("reference", reference, GPT, "a gptlab GPT (usually the SFT model, frozen)")
        if not callable(reward_model):
            raise ArgumentTypeError("reward_model must be callable as reward_model(idx, lengths) -> (B,) rewards")
        self.config = config = PPOConfig() if config is None else check_type("config", config, PPOConfig,
                                                                             "a PPOConfig")
        if len(prompts) == 0:
            raise ValueError("prompts is empty: give the instructions to practise on")
        block_size = policy.config.block_size
        for p in prompts:
            if len(tokenizer.encode(p)) + config.max_new_tokens > block_size:
                raise ValueError(f"prompt {p!r} plus max_new_tokens={config.max_new_tokens} exceeds "
                                 f"block_size={block_size}; use shorter prompts or fewer new tokens")
        self.policy, self.reference, self.reward_model, self.tokenizer = policy, reference, reward_model, tokenizer
        self.prompts = list(prompts)
        self.device = next(policy.parameters()).device
        self.value_head = nn.Linear(policy.config.n_embd, 1).to(self.device)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        for p in reference.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(list(policy.parameters()) + list(self.value_head.parameters()),
                                           lr=config.lr, weight_decay=0.0)
        self.rng = random.Random(config.seed)
        self.step = 0
        self.history = PPOHistory()
        self.tokens_processed = 0
        self.seconds = 0.0

    def _policy_outputs(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per action (B, T - 1): log-prob of the token taken, and the value of the state before it."""
        h = hidden_states(self.policy, idx[:, :-1])  # (B, T-1, C)
        logp = F.log_softmax(self.policy.lm_head(h).float(), dim=-1)
        logp = logp.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        # the value head reads the policy's features but does not train them: on a model this small the
        # value loss would otherwise reshape the body and wreck the language model
        values = self.value_head(h.detach()).squeeze(-1).float()  # (B, T-1)
        return logp, values

    @torch.no_grad()
    def rollout(self) -> dict:
        """Sample one batch of responses and everything PPO needs from them."""
        cfg = self.config
        prompts = [self.rng.choice(self.prompts) for _ in range(cfg.batch_size)]
        responses = generate_responses(self.policy, self.tokenizer, prompts, cfg.max_new_tokens,
                                       temperature=cfg.temperature, seed=self.rng.getrandbits(31))
        idx, mask, lengths = pack(self.tokenizer, prompts, responses, self.policy.config.block_size, self.device)
        act_mask = mask[:, 1:]  # (B, T-1): the actions that produced response tokens
        self.policy.eval()
        logp_old, values = self._policy_outputs(idx)
        logp_ref = token_logprobs(self.reference, idx)
        scores = self.reward_model(idx, lengths).float()
        used = (scores - scores.mean()) / (scores.std() + 1e-8) if cfg.whiten_scores and len(scores) > 1 else scores
        rewards = kl_penalised_rewards(used, logp_old, logp_ref, cfg.beta, mask=act_mask)
        m = act_mask.float()
        advantages, returns = gae(rewards * m, values * m, cfg.gamma, cfg.lam)
        mean = _masked_mean(advantages, m)
        std = (_masked_mean((advantages - mean) ** 2, m)).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * m  # whitened over real tokens
        kl = ((logp_old - logp_ref) * m).sum(-1)  # (B,) KL estimate of each response
        return dict(idx=idx, act_mask=act_mask, logp_old=logp_old, advantages=advantages, returns=returns,
                    scores=scores, kl=kl, prompts=prompts, responses=responses)

    def train_on(self, batch: dict) -> tuple[float, float]:
        """``epochs`` passes of minibatch PPO updates on one rollout -> (mean policy loss, mean value loss)."""
        cfg = self.config
        B = batch["idx"].size(0)
        self.policy.train()
        p_losses, v_losses = [], []
        g = torch.Generator().manual_seed(self.rng.getrandbits(31))
        for _ in range(cfg.epochs):
            order = torch.randperm(B, generator=g)
            for start in range(0, B, cfg.minibatch_size):
                rows = order[start:start + cfg.minibatch_size].to(self.device)
                m = batch["act_mask"][rows]
                if not bool(m.any()):
                    continue
                logp, values = self._policy_outputs(batch["idx"][rows])
                p_loss = ppo_policy_loss(logp, batch["logp_old"][rows], batch["advantages"][rows], cfg.clip, mask=m)
                v_loss = _masked_mean((values - batch["returns"][rows]) ** 2, m.float())
                _step(self.policy, self.optimizer, p_loss + cfg.vf_coef * v_loss)
                p_losses.append(p_loss.item())
                v_losses.append(v_loss.item())
        self.policy.eval()
        return (sum(p_losses) / max(len(p_losses), 1), sum(v_losses) / max(len(v_losses), 1))

    def fit(self, steps: int | None = None) -> PPOHistory:
        """Run ``steps`` rollouts (default: ``config.steps``); returns ``self.history``."""
        import time

        steps = self.config.steps if steps is None else check_int("steps", steps, min_value=1)
        self.history.interrupted = False
        bar = tqdm(range(steps), desc="PPO", disable=not self.config.progress)
        try:
            for _ in bar:
                t0 = time.perf_counter()
                batch = self.rollout()
                p_loss, v_loss = self.train_on(batch)
                self.seconds += time.perf_counter() - t0
                self.tokens_processed += int(batch["idx"].numel()) * (1 + self.config.epochs)
                self.step += 1
                h = self.history
                h.steps.append(self.step)
                h.reward.append(float(batch["scores"].mean()))
                h.kl.append(float(batch["kl"].mean()))
                h.accuracy.append(sum(is_correct(p, r) for p, r in zip(batch["prompts"], batch["responses"]))
                                  / len(batch["prompts"]))
                h.length.append(sum(len(r.removesuffix(STOP)) for r in batch["responses"]) / len(batch["responses"]))
                h.policy_loss.append(p_loss)
                h.value_loss.append(v_loss)
                bar.set_postfix(reward=f"{h.reward[-1]:.2f}", kl=f"{h.kl[-1]:.2f}", refresh=False)
        except KeyboardInterrupt:
            self.history.interrupted = True
            raise
        finally:
            bar.close()
            self.policy.eval()
        return self.history

    @property
    def tokens_per_second(self) -> float:
        """Tokens through the policy (rollout forward + every epoch's forward and backward) per second."""
        return self.tokens_processed / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------------------------
# measuring a policy


@torch.no_grad()
def evaluate_policy(model: GPT, tokenizer, prompts: Sequence[str], reference: GPT | None = None,
                    reward_model: Callable | None = None, max_new_tokens: int = 8, seed: int = 0) -> dict:
    """Sample one answer per prompt (temperature 1) and measure it -> dict with ``accuracy`` (true task
    accuracy), ``reward`` (mean reward-model score, if given), ``kl`` (mean summed log π - log π_ref over
    the response, an estimate of KL(π || π_ref), if ``reference`` is given), ``length`` (mean characters
    before the stop), ``ended`` (share of answers that stopped) and ``responses``."""
    responses = generate_responses(model, tokenizer, prompts, max_new_tokens=max_new_tokens, seed=seed)
    out = {"accuracy": sum(is_correct(p, r) for p, r in zip(prompts, responses)) / len(prompts),
           "length": sum(len(r.removesuffix(STOP)) for r in responses) / len(responses),
           "ended": sum(r.endswith(STOP) for r in responses) / len(responses),
           "responses": responses}
    device = next(model.parameters()).device
    idx, mask, lengths = pack(tokenizer, prompts, responses, model.config.block_size, device)
    if reward_model is not None:
        out["reward"] = float(reward_model(idx, lengths).float().mean())
    if reference is not None:
        kl = ((token_logprobs(model, idx) - token_logprobs(reference, idx)) * mask[:, 1:]).sum(-1)
        out["kl"] = float(kl.mean())
    out["logprob"] = float(sequence_logprobs(model, idx, mask).mean()) if bool(mask[:, 1:].any()) else math.nan
    return out


@torch.no_grad()
def best_of_n(model: GPT, tokenizer, prompts: Sequence[str], reward: Callable, n: int,
              max_new_tokens: int = 8, seed: int = 0) -> list[str]:
    """Best-of-n sampling: ``n`` answers per prompt from ``model``, keep the one ``reward`` scores
    highest (the first of equal scores) -> one response per prompt.

    No training at all: it shows what a reward model knows about the model's own answers, without
    giving a policy the chance to exploit its mistakes.
    """
    n = check_int("n", n, min_value=1)
    if not callable(reward):
        raise ArgumentTypeError("reward must be callable as reward(idx, lengths) -> (B,) scores, e.g. a RewardModel")
    many = [p for p in prompts for _ in range(n)]
    answers = generate_responses(model, tokenizer, many, max_new_tokens=max_new_tokens, seed=seed)
    device = next(model.parameters()).device
    idx, _, lengths = pack(tokenizer, many, answers, model.config.block_size, device)
    scores = reward(idx, lengths).float().view(len(prompts), n)
    best = scores.argmax(dim=1).tolist()  # argmax takes the first of equal scores
    return [answers[j * n + k] for j, k in enumerate(best)]
