"""AlignmentExplorer: answers, rewards and log-probs per model; bad input keeps the last picture."""
import pytest
import torch
from matplotlib.figure import Figure

from gptlab import alignment as A
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer
from gptlab.widgets import AlignmentExplorer


@pytest.fixture(scope="module")
def setup():
    tok = CharTokenizer().fit(A.web_text(200) + "ABCDEF0123456789")

    def gpt(seed):
        torch.manual_seed(seed)
        return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()

    rm = A.RewardModel(gpt(9)).eval()
    return tok, {"base": gpt(0), "SFT": gpt(1)}, {0.0: gpt(2), 0.5: gpt(3)}, rm


def test_explorer_shows_each_models_greedy_answer_with_reward_and_logprob(setup):
    tok, models, ppo, rm = setup
    ex = AlignmentExplorer(models, ppo, rm, tok, instruction="reverse: abc => ", beta=0.5)
    assert ex.error is None and isinstance(ex.figure, Figure)
    assert [r["name"] for r in ex.rows] == ["base", "SFT", "PPO β=0.5"]
    # the answer is the greedy continuation, and its log-prob is the model's own
    sft_row = ex.rows[1]
    idx = torch.tensor([tok.encode("reverse: abc => ")])
    out = models["SFT"].generate(idx, 6, temperature=0)
    text = tok.decode(out[0, idx.size(1):].tolist())
    assert sft_row["answer"] == text.split("\n")[0]
    seq, mask, lengths = A.pack(tok, ["reverse: abc => "], [sft_row["answer"] + ("\n" if "\n" in text else "")], 24)
    with torch.no_grad():
        logprob = float(A.sequence_logprobs(models["SFT"], seq, mask))
        reward = float(rm(seq, lengths))
    assert sft_row["logprob"] == pytest.approx(logprob, rel=1e-5)
    assert sft_row["reward"] == pytest.approx(reward, rel=1e-5)
    ex.set(beta=0.0)
    assert ex.rows[-1]["name"] == "PPO β=0"
    assert "reward" in ex.summary


@pytest.mark.parametrize("bad, word", [("", "empty"), ("shout: abc => ", "form"), ("reverse: xyz => ", "letters"),
                                       ("upper: abcdefabcdefab => ", "block_size")])
def test_bad_instruction_shows_a_message_and_keeps_the_picture(setup, bad, word):
    tok, models, ppo, rm = setup
    ex = AlignmentExplorer(models, ppo, rm, tok)
    figure, summary = ex.figure, ex.summary
    ex.set(instruction=bad)
    assert ex.error is not None and word in ex.error
    assert ex.figure is figure and ex.summary == summary


def test_unknown_beta_is_refused(setup):
    tok, models, ppo, rm = setup
    with pytest.raises(ValueError, match="beta"):
        AlignmentExplorer(models, ppo, rm, tok, beta=0.3)
