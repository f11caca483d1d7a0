"""Draw every picture the README shows, from the package itself (seeded, Agg backend).

    python scripts/make_figures.py            # all figures into figures/
    python scripts/make_figures.py 05 08      # only some lessons

Each function computes something small with ``gptlab`` and saves one PNG per lesson. The whole
run takes about a minute on a 2-core CPU.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from gptlab import data, plotting  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "figures"


def lesson_00():
    from gptlab.sampling import next_token_probs

    words = ["mat", "sofa", "floor", "roof", "table", "dog", "moon", "keyboard"]
    logits = torch.tensor([3.0, 2.2, 2.0, 1.2, 1.0, 0.2, -0.5, -1.0])
    return plotting.plot_sampling_before_after(words, next_token_probs(logits), next_token_probs(logits, 0.5),
                                               title="the cat sat on the ... (temperature 0.5)")


def lesson_01():
    from gptlab.ngram import NGramLM

    sentences = data.word_sentences("shakespeare")[:20000]
    train, val = data.train_val_split(sentences, 0.1)
    ns, train_ppl, val_ppl = [1, 2, 3, 4, 5], [], []
    for n in ns:
        lm = NGramLM(n, "add-k", k=0.01).fit(train)
        train_ppl.append(lm.perplexity(train))
        val_ppl.append(lm.perplexity(val))
    return plotting.plot_perplexity_vs_n(ns, train_ppl, val_ppl, title="the sparsity wall (add-0.01, Shakespeare)")


def lesson_02():
    from gptlab.sampling import next_token_probs

    torch.manual_seed(0)
    logits = torch.randn(30) * 2
    tokens = [f"t{i}" for i in range(30)]
    return plotting.plot_sampling_before_after(tokens, next_token_probs(logits), next_token_probs(logits, top_p=0.8),
                                               top=15, title="top-p = 0.8 keeps the smallest set with 80% of the mass")


def _toy_sentence():
    tokens = ["the", "cat", "sat", "on", "the", "mat"]
    vecs = {"the": [1.0, 0.0, 0.0, 0.2], "cat": [0.0, 1.0, 0.3, 0.0], "sat": [0.0, 0.2, 1.0, 0.0],
            "on": [0.6, 0.0, 0.0, 0.6], "mat": [0.0, 0.8, 0.0, 0.5]}
    return tokens, torch.tensor([vecs[t] for t in tokens]) * 2


def lesson_03():
    from gptlab.attention import dot_product_attention

    tokens, x = _toy_sentence()
    _, weights = dot_product_attention(x)
    return plotting.plot_attention(weights, tokens, title="softmax(x_i · x_j): each row sums to 1")


def lesson_04():
    from gptlab.dot_product_scaling import KeyValueLookup, lookup_batch

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = KeyValueLookup(n_keys=16, n_values=8, d_model=32, d_head=32)
    probe_x, _ = lookup_batch(8, n_pairs=8, n_keys=16, n_values=8, generator=torch.Generator().manual_seed(1))
    model(probe_x)
    before = model.attn.last_weights[:, 0].clone()  # (8 examples, 8 key slots)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        x, y = lookup_batch(64, n_pairs=8, n_keys=16, n_values=8, generator=gen)
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model(probe_x)
    after = model.attn.last_weights[:, 0]
    match = (probe_x[:, :8] == probe_x[:, -1:]).int().argmax(1).tolist()
    rows = [f"q{i}: key in {m}" for i, m in enumerate(match)]
    return plotting.plot_attention_before_after(before, after, rows, [f"slot {j}" for j in range(8)])


def lesson_05():
    from gptlab.dot_product_scaling import saturation_curve

    dims = [2, 8, 32, 128, 512, 1024]
    return plotting.plot_saturation(saturation_curve(dims, scaled=False), saturation_curve(dims, scaled=True), T=8)


def lesson_06():
    from gptlab.attention import MultiHeadAttention, record_attention

    torch.manual_seed(1)
    tokens = ["the", "cat", "sat", "on", "the", "mat"]
    mha = MultiHeadAttention(32, 4, causal=True)
    with record_attention(mha) as rec:
        mha(torch.randn(1, len(tokens), 32) * 2)
    return plotting.plot_attention_heads(rec.weights[0][0], tokens, suptitle="4 heads, 4 different patterns")


def lesson_07():
    # the lesson's picture of the two wirings (its gradients-at-init detour was dropped)
    return plotting.plot_block_wiring(("post", "pre"))


def lesson_08():
    from gptlab.positional import sinusoidal_encoding

    return plotting.plot_position_codes(sinusoidal_encoding(64, 64), title="sinusoidal position codes (64 x 64)")


def lesson_09():
    from gptlab.attention import causal_mask, dot_product_attention

    tokens, x = _toy_sentence()
    _, weights = dot_product_attention(x, causal=True)
    return plotting.plot_attention(weights, tokens, mask=causal_mask(len(tokens)),
                                   title="causal mask: no token sees the future")


def lesson_10():
    # the lesson's default run (notebooks/10_tiny_gpt.ipynb, section 3), seeded: about 80 s on one thread
    from gptlab.model import GPT, GPTConfig
    from gptlab.tokenizers import CharTokenizer
    from gptlab.train import TrainConfig, Trainer, encode_splits

    text = data.load_text("shakespeare")[:1_000_000]
    tok = CharTokenizer().fit(text)
    train_ids, val_ids = encode_splits(text, tok, val_fraction=0.1)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=128))
    cfg = TrainConfig(max_steps=1500, batch_size=16, block_size=64, learning_rate=0.005, warmup_steps=30,
                      betas=(0.9, 0.99), eval_interval=200, eval_steps=10, progress=False, device="cpu")
    history = Trainer(model, cfg, train_ids, val_ids).fit()
    fig = plotting.plot_history(history)
    fig.axes[0].set_title(f"lesson 10's GPT, {cfg.max_steps} steps: validation "
                          f"{history.val_loss[0]:.2f} -> {history.val_loss[-1]:.2f}")
    return fig


def lesson_11():
    from gptlab.moe import MoE

    torch.manual_seed(0)
    moe = MoE(32, n_experts=4, top_k=2)
    with torch.no_grad():
        moe.router.weight[0] += 0.3  # a router leaning towards expert 0, as an untrained one may
    moe(torch.randn(256, 32))
    return plotting.plot_expert_utilisation(moe.last_routing.tokens_per_expert,
                                            title="tokens per expert (top-2 of 4)")


def lesson_12():
    import json

    from gptlab.pretrained import CHECKPOINT_DIR

    table = {}
    for beta in ("0", "01", "05"):
        meta = json.loads((CHECKPOINT_DIR / f"lesson12_ppo_beta{beta}.json").read_text())
        table[f"PPO, beta={meta['metrics']['beta']:g}"] = meta["metrics"]
    return plotting.plot_model_comparison(table)


def lesson_13():
    return plotting.plot_memory_fit(title="weights of 1B, 7B and 70B models against a laptop's memory")


def lesson_14():
    from gptlab.bpe import BPETokenizer

    en, zh = data.load_text("shakespeare"), data.load_text("chinese")
    en_tok = BPETokenizer(1000, "gpt2").train(en[:200_000])
    zh_tok = BPETokenizer(1000, "cjk").train(zh[:60_000])
    sizes = [256, 300, 400, 512, 700, 1000]
    en_val, zh_val = en[-20_000:], zh[-10_000:]
    def per_char(tok, text):
        return [len(tok.truncate(n).encode(text)) / len(text) for n in sizes]
    return plotting.plot_tokens_per_char({"English text, English BPE": (sizes, per_char(en_tok, en_val)),
                                          "Chinese text, Chinese BPE": (sizes, per_char(zh_tok, zh_val)),
                                          "Chinese text, English BPE": (sizes, per_char(en_tok, zh_val))},
                                         title="tokens per character as the vocabulary grows")


def lesson_15():
    from gptlab.widgets.recipe import load_recipe_runs

    runs, _ = load_recipe_runs()
    return plotting.plot_recipe_runs([r["name"] for r in runs], [r["val_loss"] for r in runs],
                                     title="GPT-2 to Llama, one change at a time (3 seeds)")


LESSONS = {name.split("_")[1]: fn for name, fn in globals().items() if name.startswith("lesson_")}


def main(which: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    torch.set_num_threads(1)
    for key in which or sorted(LESSONS):
        start = time.perf_counter()
        fig = LESSONS[key]()
        path = OUT / f"lesson{key}.png"
        fig.savefig(path, dpi=90)
        sys.stderr.write(f"{path.name}: {time.perf_counter() - start:.1f} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
