"""What lesson 12's recipes share: the base model's pre-training text and settings, and the lesson's
pipeline (SFT on a few demonstrations, a reward model on the SFT model's own answers, PPO at a given β),
with the settings of notebooks/12_from_gpt_to_chatgpt.ipynb."""
from __future__ import annotations

import copy
import time

import torch

from gptlab import alignment as A
from gptlab import data, pretrained
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer
from gptlab.train import History, TrainConfig, Trainer

LESSON = 12
BASE = "lesson12_base"
PRETRAIN = {"shakespeare_chars": 200_000, "web_lines": 24_000, "p_correct": 0.3, "seed": 1}
BASE_STEPS = 1500
# the lesson's pipeline (the notebook uses the same numbers)
N_DEMOS, SFT_STEPS = 48, 120
N_PAIR_PROMPTS, SAMPLES_PER_PROMPT, RM_STEPS = 192, 8, 150
PPO = dict(steps=30, batch_size=64, max_new_tokens=6, epochs=2, minibatch_size=32, lr=3e-4)


def pretrain_text() -> str:
    """Shakespeare with blocks of instruction-shaped web text between its pages (answers mostly wrong)."""
    shakespeare = data.load_text("shakespeare")[:PRETRAIN["shakespeare_chars"]]
    web = A.web_text(PRETRAIN["web_lines"], seed=PRETRAIN["seed"], p_correct=PRETRAIN["p_correct"])
    lines = web.splitlines(keepends=True)
    pages = range(0, len(shakespeare), 1000)
    per_page = len(lines) // len(pages) + 1
    parts = []
    for k, i in enumerate(pages):
        parts.append(shakespeare[i:i + 1000].rstrip("\n") + "\n")
        parts.append("".join(lines[k * per_page:(k + 1) * per_page]))
    return "".join(parts)


def make_base(device: str = "cpu") -> dict:
    torch.set_num_threads(1)
    text = pretrain_text()
    tok = CharTokenizer().fit(text)
    ids = torch.tensor(tok.encode(text))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=96))
    cfg = TrainConfig(max_steps=BASE_STEPS, batch_size=64, block_size=32, learning_rate=3e-3, warmup_steps=50,
                      eval_interval=BASE_STEPS, eval_steps=4, progress=False, seed=0, device=device)
    start = time.perf_counter()
    trainer = Trainer(model, cfg, ids)
    history = trainer.fit()
    model.eval()
    prompts = A.make_prompts(256, seed=99)
    metrics = {"train_loss": history.train_loss[-1], "steps": trainer.step,
               "task_accuracy": A.evaluate_policy(model, tok, prompts)["accuracy"],
               "train_seconds": round(time.perf_counter() - start, 1), "device": str(device)}
    pretrained.save(BASE, model, tok, history, metrics=metrics, lesson=LESSON, meta={"pretrain": PRETRAIN},
                    description="Lesson 12's base model: a 2-block, 4-head, width-96 character GPT (context 32) "
                                f"pre-trained {BASE_STEPS} steps on 200 kB of Shakespeare with instruction-shaped "
                                "web text in between (answers right 30% of the time)")
    return metrics


def test_prompts() -> list[str]:
    """The lesson's test set: 256 different instructions, none of those any step trains on."""
    trained_on = set(A.make_prompts(N_DEMOS, seed=1)) | set(A.make_prompts(N_PAIR_PROMPTS, seed=2)) | \
        set(A.make_prompts(512, seed=3))
    return A.make_prompts(256, seed=99, distinct=True, exclude=trained_on)


def lesson_pipeline(beta: float, device: str = "cpu", progress: bool = False):
    """The lesson's steps 1-3 from the base checkpoint -> (tok, sft, reward_model, policy, ppo_history)."""
    base = pretrained.load(BASE, device=device)
    tok = base.tokenizer
    torch.manual_seed(0)
    sft = copy.deepcopy(base.model)
    demos = A.make_prompts(N_DEMOS, seed=1)
    A.train_sft(sft, tok, demos, [A.solve(p) + A.STOP for p in demos], steps=SFT_STEPS, progress=progress)
    pairs = A.make_preference_pairs(sft, tok, A.make_prompts(N_PAIR_PROMPTS, seed=2),
                                    samples_per_prompt=SAMPLES_PER_PROMPT, max_new_tokens=PPO["max_new_tokens"])
    torch.manual_seed(0)  # seeded where the notebook seeds, so the β = 0.5 run is the lesson's own
    rm = A.RewardModel(sft)
    A.train_reward_model(rm, tok, pairs, steps=RM_STEPS, progress=progress)
    torch.manual_seed(0)
    policy = copy.deepcopy(sft)
    cfg = A.PPOConfig(beta=beta, progress=progress, **PPO)
    trainer = A.PPOTrainer(policy, copy.deepcopy(sft), rm, tok, A.make_prompts(512, seed=3), cfg)
    history = trainer.fit()
    return tok, sft, rm, policy, history


def make_ppo(name: str, beta: float, device: str = "cpu") -> dict:
    torch.set_num_threads(1)
    start = time.perf_counter()
    tok, sft, rm, policy, h = lesson_pipeline(beta, device)
    test = test_prompts()
    ev = A.evaluate_policy(policy, tok, test, reference=sft, reward_model=rm, max_new_tokens=PPO["max_new_tokens"])
    metrics = {"beta": beta, "accuracy": ev["accuracy"], "reward": ev["reward"], "kl": ev["kl"],
               "length": ev["length"], "train_seconds": round(time.perf_counter() - start, 1)}
    pretrained.save(name, policy, tok, History(), metrics=metrics, lesson=LESSON,
                    meta={"ppo_history": h.to_dict(), "ppo": {**PPO, "beta": beta}},
                    description=f"Lesson 12's RLHF policy: the lesson's SFT model tuned {PPO['steps']} PPO "
                                f"rollouts against its reward model with KL penalty beta={beta}")
    return metrics
