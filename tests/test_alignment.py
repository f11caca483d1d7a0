"""gptlab.alignment: each loss against its formula in plain Python floats, GAE against a backwards
loop, and small seeded training runs for the claims the lesson makes (SFT, reward model, PPO, DPO)."""
import copy
import math
import random

import pytest
import torch

from gptlab import alignment as A
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other tests for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _floats(n, seed, scale=2.0):
    rng = random.Random(seed)
    return [rng.uniform(-scale, scale) for _ in range(n)]


def _log_sigmoid(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


# ----------------------------------------------------------------------------------------------
# the task language and the labeller


def test_tasks_are_solved_as_the_lesson_says():
    assert A.solve("reverse: abc => ") == "cba"
    assert A.solve("upper: ab => ") == "AB"
    assert A.solve("sort: dca => ") == "acd"
    assert A.solve("count a: abaca => ") == "3"
    assert A.is_correct("reverse: abc => ", "cba\n") and not A.is_correct("reverse: abc => ", "abc\n")
    assert A.make_prompt("count", "bad", "a") == "count a: bad => "


def test_labeller_prefers_correct_then_shorter():
    p = "upper: ab => "
    assert A.prefers(p, "AB\n", "ab\n") == 1
    assert A.prefers(p, "abcdef\n", "AB\n") == -1
    assert A.prefers(p, "x\n", "xyz\n") == 1  # both wrong: the shorter wins
    assert A.prefers(p, "ab\n", "ba\n") == 0


# ----------------------------------------------------------------------------------------------
# losses against plain-Python formulas


def test_sft_loss_matches_masked_cross_entropy_by_hand():
    torch.manual_seed(0)
    B, T, V = 2, 5, 4
    logits = torch.randn(B, T, V)
    targets = torch.randint(V, (B, T))
    mask = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    terms = []
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                row = logits[b, t].tolist()
                log_z = math.log(sum(math.exp(v) for v in row))
                terms.append(log_z - row[int(targets[b, t])])
    expected = sum(terms) / len(terms)
    assert float(A.sft_loss(logits, targets, mask)) == pytest.approx(expected, rel=1e-5)


def test_bradley_terry_loss_matches_formula():
    rc, rr = _floats(7, 1), _floats(7, 2)
    expected = sum(-_log_sigmoid(c - r) for c, r in zip(rc, rr)) / 7
    got = A.bradley_terry_loss(torch.tensor(rc, dtype=torch.float64), torch.tensor(rr, dtype=torch.float64))
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_ppo_policy_loss_matches_formula():
    new, old, adv = _floats(9, 3, 0.5), _floats(9, 4, 0.5), _floats(9, 5)
    eps = 0.2
    terms = []
    for n, o, a in zip(new, old, adv):
        r = math.exp(n - o)
        terms.append(-min(r * a, min(max(r, 1 - eps), 1 + eps) * a))
    got = A.ppo_policy_loss(*(torch.tensor(x, dtype=torch.float64) for x in (new, old, adv)), clip=eps)
    assert float(got) == pytest.approx(sum(terms) / 9, rel=1e-10)


def test_ppo_gradient_is_zero_outside_the_clip_range():
    # ratio 1.5 > 1 + 0.2 with a positive advantage, ratio 0.5 < 1 - 0.2 with a negative one: clipped
    logp_old = torch.zeros(4, dtype=torch.float64)
    logp_new = torch.tensor([math.log(1.5), math.log(0.5), math.log(1.1), math.log(1.5)],
                            dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    A.ppo_policy_loss(logp_new, logp_old, adv, clip=0.2).backward()
    grad = logp_new.grad.tolist()
    assert grad[0] == 0.0 and grad[1] == 0.0
    # inside the range, or outside but on the side the objective penalises: -r A / n
    assert grad[2] == pytest.approx(-1.1 / 4) and grad[3] == pytest.approx(1.5 / 4)


def test_gae_matches_a_backwards_loop():
    B, T, gamma, lam = 3, 6, 0.9, 0.8
    rewards = [_floats(T, 10 + b) for b in range(B)]
    values = [_floats(T, 20 + b) for b in range(B)]
    expected_adv = []
    for r, v in zip(rewards, values):
        adv, running = [0.0] * T, 0.0
        for t in range(T - 1, -1, -1):
            next_v = v[t + 1] if t + 1 < T else 0.0
            running = r[t] + gamma * next_v - v[t] + gamma * lam * running
            adv[t] = running
        expected_adv.append(adv)
    adv, ret = A.gae(torch.tensor(rewards, dtype=torch.float64), torch.tensor(values, dtype=torch.float64),
                     gamma, lam)
    assert torch.allclose(adv, torch.tensor(expected_adv, dtype=torch.float64))
    assert torch.allclose(ret, adv + torch.tensor(values, dtype=torch.float64))


def test_gae_with_lambda_one_and_gamma_one_is_reward_to_go_minus_value():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.2, 0.5, 0.7]])
    adv, ret = A.gae(rewards, values, 1.0, 1.0)
    assert torch.allclose(ret, torch.tensor([[1.0, 1.0, 1.0]]))


def test_kl_penalised_rewards_matches_formula():
    beta = 0.3
    lp, lr = [_floats(4, 30), _floats(4, 31)], [_floats(4, 32), _floats(4, 33)]
    score = [1.5, -0.5]
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    got = A.kl_penalised_rewards(torch.tensor(score, dtype=torch.float64), torch.tensor(lp, dtype=torch.float64),
                                 torch.tensor(lr, dtype=torch.float64), beta, mask=mask)
    for b, last in ((0, 2), (1, 3)):
        for t in range(4):
            want = -beta * (lp[b][t] - lr[b][t]) if mask[b, t] else 0.0
            if t == last:
                want += score[b]
            assert float(got[b, t]) == pytest.approx(want, rel=1e-10, abs=1e-12)
    no_mask = A.kl_penalised_rewards(torch.tensor(score), torch.tensor(lp), torch.tensor(lr), beta)
    assert float(no_mask[0, 3]) == pytest.approx(-beta * (lp[0][3] - lr[0][3]) + score[0], rel=1e-5)


def test_dpo_loss_matches_formula():
    pc, pr, rc, rr = (_floats(5, s, 3.0) for s in (40, 41, 42, 43))
    beta = 0.1
    terms, chosen = [], []
    for a, b, c, d in zip(pc, pr, rc, rr):
        terms.append(-_log_sigmoid(beta * ((a - c) - (b - d))))
        chosen.append(beta * (a - c))
    loss, cr, rj = A.dpo_loss(*(torch.tensor(x, dtype=torch.float64) for x in (pc, pr, rc, rr)), beta=beta)
    assert float(loss) == pytest.approx(sum(terms) / 5, rel=1e-10)
    assert cr.tolist() == pytest.approx(chosen)
    assert rj.tolist() == pytest.approx([beta * (b - d) for b, d in zip(pr, rr)])


def test_dpo_with_policy_equal_to_reference_gives_log_2():
    x, y = torch.tensor(_floats(6, 50)), torch.tensor(_floats(6, 51))
    loss, _, _ = A.dpo_loss(x, y, x.clone(), y.clone(), beta=0.5)
    assert float(loss) == pytest.approx(math.log(2), rel=1e-6)


# ----------------------------------------------------------------------------------------------
# bad inputs: a clear error that names the parameter


def _tiny(vocab=10, block=16, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16))


_v = torch.zeros(3)
_m = torch.ones(2, 4, dtype=torch.bool)

BAD = [
    ("chosen/rejected shapes", lambda: A.bradley_terry_loss(torch.zeros(3), torch.zeros(4)), ValueError,
     "reward_rejected"),
    ("dpo shapes", lambda: A.dpo_loss(_v, torch.zeros(2), _v, _v), ValueError, "policy_rejected_logps"),
    ("negative beta (dpo)", lambda: A.dpo_loss(_v, _v, _v, _v, beta=-0.1), ValueError, "beta"),
    ("negative beta (kl)", lambda: A.kl_penalised_rewards(torch.zeros(2), torch.zeros(2, 4), torch.zeros(2, 4),
                                                          -1.0), ValueError, "beta"),
    ("negative beta (config)", lambda: A.PPOConfig(beta=-0.5), ValueError, "beta"),
    ("clip zero", lambda: A.ppo_policy_loss(_v, _v, _v, clip=0.0), ValueError, "clip"),
    ("clip negative (config)", lambda: A.PPOConfig(clip=-1), ValueError, "clip"),
    ("gamma above 1", lambda: A.gae(torch.zeros(2, 3), torch.zeros(2, 3), 1.5, 0.9), ValueError, "gamma"),
    ("gamma below 0", lambda: A.gae(torch.zeros(2, 3), torch.zeros(2, 3), -0.1, 0.9), ValueError, "gamma"),
    ("lam above 1", lambda: A.gae(torch.zeros(2, 3), torch.zeros(2, 3), 1.0, 1.01), ValueError, "lam"),
    ("empty loss mask (sft)", lambda: A.sft_loss(torch.zeros(2, 4, 5), torch.zeros(2, 4, dtype=torch.long),
                                                 torch.zeros(2, 4, dtype=torch.bool)), ValueError, "loss_mask"),
    ("empty loss mask (logprobs)", lambda: A.sequence_logprobs(_tiny(), torch.zeros(2, 4, dtype=torch.long),
                                                               torch.zeros(2, 4, dtype=torch.bool)),
     ValueError, "loss_mask"),
    ("empty preference set (bt)", lambda: A.bradley_terry_loss(torch.zeros(0), torch.zeros(0)), ValueError,
     "preference set"),
    ("empty preference set (dpo)", lambda: A.dpo_loss(*(torch.zeros(0),) * 4), ValueError, "preference set"),
    ("empty preference set (train)", lambda: A.train_reward_model(A.RewardModel(_tiny()), None, []), ValueError,
     "pairs"),
    ("prompt longer than block_size", lambda: A.pack(CharTokenizer().fit("abc"), ["abcabcabc"], ["a"], 4),
     ValueError, "block_size"),
    ("prompt longer than block_size (generate)",
     lambda: A.generate_responses(_tiny(vocab=3, block=6), CharTokenizer().fit("ab\n"), ["abab"], 4),
     ValueError, "block_size"),
    ("wrong type", lambda: A.bradley_terry_loss([1.0], torch.zeros(1)), TypeError, "reward_chosen"),
    ("beta not a number", lambda: A.dpo_loss(_v, _v, _v, _v, beta="big"), TypeError, "beta"),
    ("reward model of a non-GPT", lambda: A.RewardModel(torch.nn.Linear(2, 2)), TypeError, "gpt"),
]


@pytest.mark.parametrize("what, call, error, name", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_a_clear_error_naming_the_parameter(what, call, error, name):
    with pytest.raises(error, match=name):
        call()


# ----------------------------------------------------------------------------------------------
# small seeded training runs


def test_sequence_logprobs_sums_the_masked_token_logprobs():
    model = _tiny().eval()
    idx = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]])
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        logits, _ = model(idx)
        logp = torch.log_softmax(logits, -1)
        expected = [sum(float(logp[b, t - 1, idx[b, t]]) for t in range(4) if mask[b, t]) for b in range(2)]
        got = A.sequence_logprobs(model, idx, mask)
    assert got.tolist() == pytest.approx(expected, rel=1e-5)


def test_reward_model_learns_a_known_preference_on_held_out_pairs():
    # the known preference: an upper-case answer beats a lower-case one
    tok = CharTokenizer().fit("abcdefABCDEF:=> upper\n")
    rng = random.Random(0)

    def pair():
        word = "".join(rng.choice("abcdef") for _ in range(rng.randint(2, 4)))
        other = "".join(rng.choice("abcdef") for _ in range(len(word)))
        return (f"upper: {word} => ", word.upper() + "\n", other + "\n")

    train, held_out = [pair() for _ in range(200)], [pair() for _ in range(100)]
    torch.manual_seed(0)
    rm = A.RewardModel(GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=20, n_layer=1, n_head=2, n_embd=16)))
    A.train_reward_model(rm, tok, train, steps=40, batch_size=32, lr=1e-2, progress=False)
    assert A.reward_accuracy(rm, tok, held_out) > 0.95


UPPER = ("upper",)


@pytest.fixture(scope="module")
def tiny_task():
    """A tokenizer for the upper-case task, and a fresh 1-block GPT (the "base": it knows nothing yet)."""
    torch.manual_seed(0)
    tok = CharTokenizer().fit(A.web_text(200) + "ABCDEF0123456789")
    base = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=20, n_layer=1, n_head=2, n_embd=32)).eval()
    return tok, base


def test_sft_raises_task_accuracy_above_the_base_model(tiny_task):
    tok, base = tiny_task
    torch.manual_seed(0)
    sft = copy.deepcopy(base)
    demos = A.make_prompts(64, seed=6, tasks=UPPER, min_len=1, max_len=1)
    h = A.train_sft(sft, tok, demos, [A.solve(p) + A.STOP for p in demos], steps=100, lr=1e-2, progress=False)
    prompts = A.make_prompts(64, seed=5, tasks=UPPER, min_len=1, max_len=1)
    acc_base = A.evaluate_policy(base, tok, prompts, max_new_tokens=4)["accuracy"]
    acc_sft = A.evaluate_policy(sft, tok, prompts, max_new_tokens=4)["accuracy"]
    assert h.train_loss[-1] < h.train_loss[0]
    assert acc_sft > acc_base + 0.2


class _FirstTokenReward:
    """A known reward: +1 when the response starts with a capital letter, else 0."""

    def __init__(self, tok, prompt_len):
        self.prompt_len = prompt_len
        self.wanted = torch.tensor(tok.encode("ABCDEF"))

    def __call__(self, idx, lengths):
        return torch.isin(idx[:, self.prompt_len], self.wanted).float()


def _ppo(tok, sft, beta, steps=10, seed=0):
    prompts = A.make_prompts(32, seed=7, tasks=UPPER, min_len=2, max_len=2)  # all the same length
    reward = _FirstTokenReward(tok, len(tok.encode(prompts[0])))
    cfg = A.PPOConfig(steps=steps, batch_size=32, max_new_tokens=3, beta=beta, lr=1e-2, epochs=2,
                      minibatch_size=16, progress=False, seed=seed)
    trainer = A.PPOTrainer(copy.deepcopy(sft), copy.deepcopy(sft), reward, tok, prompts, cfg)
    return trainer, trainer.fit()


def test_ppo_raises_reward_with_bounded_kl_and_beta_zero_drifts_farther(tiny_task):
    tok, sft = tiny_task
    _, h = _ppo(tok, sft, beta=0.1, steps=12)
    assert sum(h.reward[-3:]) / 3 > sum(h.reward[:3]) / 3 + 0.3  # mean reward rises
    assert max(h.kl) < 5.0  # the KL to the SFT model stays bounded
    _, h0 = _ppo(tok, sft, beta=0.0, steps=12)
    assert sum(h0.kl[-3:]) > sum(h.kl[-3:])  # without the penalty the policy drifts farther


def test_dpo_moves_toward_the_chosen_answers(tiny_task):
    tok, sft = tiny_task
    prompts = A.make_prompts(48, seed=8, tasks=UPPER)
    pairs = [(p, A.solve(p) + A.STOP, A.solve(p).lower() + A.STOP) for p in prompts]
    assert all(A.prefers(p, c, r) == 1 for p, c, r in pairs)
    policy = copy.deepcopy(sft)
    h = A.train_dpo(policy, sft, tok, pairs, steps=30, beta=0.5, lr=3e-3, progress=False)
    assert h.train_loss[0] == pytest.approx(math.log(2), abs=1e-4)  # the first step starts at policy = reference
    assert sum(h.train_loss[-5:]) / 5 < math.log(2) - 0.1
    assert h.extra["margin"][-1] > 0


def test_make_preference_pairs_are_ordered_by_the_labeller(tiny_task):
    tok, base = tiny_task
    pairs = A.make_preference_pairs(base, tok, A.make_prompts(8, seed=9), samples_per_prompt=3, max_new_tokens=4)
    assert pairs and all(A.prefers(p, c, r) == 1 for p, c, r in pairs)


def test_ctrl_c_keeps_the_policy_and_marks_the_history(tiny_task, monkeypatch):
    tok, sft = tiny_task
    trainer, _ = _ppo(tok, sft, beta=0.1, steps=1)
    calls = {"n": 0}
    original = trainer.train_on

    def interrupt_second(batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(batch)

    monkeypatch.setattr(trainer, "train_on", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(3)
    assert trainer.history.interrupted and trainer.history.steps == [1, 2]
    assert any(not torch.equal(a, b) for a, b in zip(trainer.policy.state_dict().values(),
                                                     sft.state_dict().values()))


def test_sft_ctrl_c_marks_the_history(tiny_task, monkeypatch):
    tok, base = tiny_task
    model = copy.deepcopy(base)
    monkeypatch.setattr(A, "sft_loss", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        A.train_sft(model, tok, ["upper: ab => "], ["AB\n"], steps=3, progress=False)


def test_dpo_refuses_beta_zero():
    """At beta = 0 the DPO loss is log 2 for every policy: a silent no-op, so it is refused."""
    import torch

    from gptlab.alignment import dpo_loss

    x = torch.zeros(3)
    with pytest.raises(ValueError, match="beta=0 must be greater than 0"):
        dpo_loss(x, x, x, x, beta=0.0)


def test_labeller_reward_scores_exactly_the_correct_answers(tiny_task):
    tok, _ = tiny_task
    prompts = ["upper: ab => ", "upper: ab => ", "reverse: abc => ", "sort: ca => "]
    answers = ["AB\n", "ab\n", "cba\n", "ca"]
    idx, _, lengths = A.pack(tok, prompts, answers, 20)
    got = A.LabellerReward(tok)(idx, lengths).tolist()
    assert got == [float(A.is_correct(p, a)) for p, a in zip(prompts, answers)] == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(TypeError, match="tokenizer"):
        A.LabellerReward("chars")


def test_best_of_n_keeps_a_correct_sample_whenever_there_is_one(tiny_task):
    tok, base = tiny_task
    prompts = A.make_prompts(24, seed=3, tasks=UPPER, min_len=1, max_len=1)
    n = 6
    chosen = A.best_of_n(base, tok, prompts, A.LabellerReward(tok), n=n, max_new_tokens=3, seed=4)
    # the same samples, drawn by hand: best_of_n must pick a correct one exactly where one exists
    samples = A.generate_responses(base, tok, [p for p in prompts for _ in range(n)], max_new_tokens=3, seed=4)
    for j, (p, c) in enumerate(zip(prompts, chosen)):
        mine = samples[j * n:(j + 1) * n]
        assert c in mine
        assert A.is_correct(p, c) == any(A.is_correct(p, s) for s in mine)
    assert A.best_of_n(base, tok, prompts, A.LabellerReward(tok), n=1, max_new_tokens=3, seed=4) == \
        A.generate_responses(base, tok, prompts, max_new_tokens=3, seed=4)
    with pytest.raises(ValueError, match="n"):
        A.best_of_n(base, tok, prompts, A.LabellerReward(tok), n=0)


def test_ppo_against_the_labeller_raises_true_accuracy(tiny_task):
    tok, base = tiny_task
    torch.manual_seed(0)
    sft = copy.deepcopy(base)
    demos = A.make_prompts(16, seed=6, tasks=UPPER, min_len=1, max_len=1)
    A.train_sft(sft, tok, demos, [A.solve(p) + A.STOP for p in demos], steps=30, lr=1e-2, progress=False)
    prompts = A.make_prompts(48, seed=8, tasks=UPPER, min_len=1, max_len=1)
    cfg = A.PPOConfig(steps=25, batch_size=48, max_new_tokens=3, beta=0.05, lr=1e-2, epochs=2, minibatch_size=24,
                      progress=False, seed=0)
    policy = copy.deepcopy(sft)
    A.PPOTrainer(policy, copy.deepcopy(sft), A.LabellerReward(tok), tok, prompts, cfg).fit()
    test = A.make_prompts(64, seed=5, tasks=UPPER, min_len=1, max_len=1)
    before = A.evaluate_policy(sft, tok, test, max_new_tokens=3)["accuracy"]
    after = A.evaluate_policy(policy, tok, test, max_new_tokens=3)["accuracy"]
    assert after > before + 0.1, (before, after)


def test_make_prompts_distinct_and_exclude_give_a_held_out_set():
    train = set(A.make_prompts(300, seed=3))
    test = A.make_prompts(200, seed=99, distinct=True, exclude=train)
    assert len(test) == len(set(test)) == 200 and not (set(test) & train)
    assert A.make_prompts(50, seed=7) == A.make_prompts(50, seed=7, exclude=())  # the old draw is unchanged
    with pytest.raises(ValueError, match="too few"):
        A.make_prompts(10, seed=0, min_len=1, max_len=1, tasks=("upper",), distinct=True)  # only 6 words
    with pytest.raises(TypeError, match="exclude"):
        A.make_prompts(3, exclude="upper: ab => ")
