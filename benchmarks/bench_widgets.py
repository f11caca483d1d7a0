"""Redraw latency of every lesson explorer, measured in one run (target: median < 100 ms).

Each explorer is moved 30 times the way a learner would (``explorer.set``), and the time of each
redraw (``explorer.last_redraw_seconds``: the library call, the figure and its PNG) is recorded.
A SamplingExplorer with a continuation writes it under the picture once the picture is out
(``last_continuation_seconds``, one model call per token): the "+text" column is that time.
The same 30 moves are then made again: the first pass meets every setting for the first time
(nothing cached), the second finds what the explorers cache (forward passes, curves). A bare
matplotlib figure rendered the way the lessons' static figures are is timed too: on a busy
machine everything is slower, and the ratio to it says what the explorers themselves cost.

Both themes are measured (``gptlab.plotting.set_theme``): ``notebook`` (80-dpi pictures) and
``classroom`` (pictures at least 1100 px wide, text at least 16 px, for a projector), each with
its own explorers and its own bare-figure reference at that theme's size.

Run:  python benchmarks/bench_widgets.py    (about two minutes on a 2-core CPU)
      python benchmarks/bench_widgets.py --theme classroom   (one theme only)
      python benchmarks/bench_widgets.py --threads 1   (on a busy CPU: idle threads spin-waiting for
                                                         each other can slow PyTorch down many times)
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gptlab.model import GPT, GPTConfig
from gptlab.plotting import new_figure, set_theme, shown_png
from gptlab.plotting.theme import THEMES
from gptlab.tokenizers import CharTokenizer
from gptlab.widgets import (
    AttentionExplorer,
    NGramExplorer,
    PositionExplorer,
    RouterExplorer,
    SamplingExplorer,
    ScalingExplorer,
)

TARGET_MS = 100
MEDIANS: list[tuple[str, float]] = []  # (explorer, median ms of the 1st pass), filled by ``row``


def later_explorers() -> list[tuple[str, object, list[dict]]]:
    """The lesson 03-11 explorers on small untrained models (drawing costs the same as trained)."""
    torch.manual_seed(0)
    text = "to be, or not to be"
    tok = CharTokenizer().fit(text + " that is the question")
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32))
    moe = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=32, n_experts=4))
    attention = AttentionExplorer.from_text(gpt, tok, text)
    router = RouterExplorer(moe, tok, text)
    scaling, position = ScalingExplorer(), PositionExplorer()
    sampling_gpt = SamplingExplorer.from_model(gpt, tok.encode(text), tok.vocab, generate=40)
    n = len(text)
    return [
        ("SamplingExplorer.from_model (tiny GPT, +40 tokens)", sampling_gpt,
         [({"temperature": (i % 8) * 0.25}, {"top_k": (i * 7) % 15}, {"top_p": 0.05 + (i % 19) * 0.05},
           {"repetition_penalty": 1 + (i % 10) / 10})[i % 4] for i in range(30)]),
        ("AttentionExplorer (layer, head, query, mask)", attention,
         [({"layer": i % 2}, {"head": i % 4}, {"query": i % n}, {"causal": bool(i % 2)})[i % 4] for i in range(30)]),
        ("ScalingExplorer (d, scaled, T)", scaling,
         [({"d": (2, 8, 32, 128, 512)[i % 5]}, {"scaled": bool(i % 2)}, {"T": 4 + i % 4})[i % 3] for i in range(30)]),
        ("PositionExplorer (kind, d, position)", position,
         [({"kind": ("sinusoidal", "rope")[i % 2]}, {"d": (16, 32, 64)[i % 3]}, {"position": i % 40})[i % 3]
          for i in range(30)]),
        ("RouterExplorer (layer, top_k, text)", router,
         [({"layer": i % 2}, {"top_k": 1 + i % 2}, {"text": ("to be", "or not to be")[i % 2]})[i % 3]
          for i in range(30)]),
    ]


def corpus() -> tuple[list[list[str]], str]:
    try:
        from gptlab.data import word_sentences

        return word_sentences("shakespeare")[:12_000], "Shakespeare, 12k sentences"
    except Exception:
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(3000)]
        return [[words[i] for i in rng.zipf(1.3, size=12) % 3000] for _ in range(12_000)], "synthetic Zipf text"


def latencies(explorer, moves, text_after: list[float] | None = None) -> list[float]:
    times = []
    for move in moves:
        explorer.set(**move)
        assert explorer.error is None, explorer.error
        times.append(explorer.last_redraw_seconds)
        if text_after is not None and hasattr(explorer, "last_continuation_seconds"):
            text_after.append(explorer.last_continuation_seconds)
    return times


def bare_figure() -> float:
    start = time.perf_counter()
    fig, ax = new_figure()
    ax.plot([0, 1, 2], [0, 1, 0])
    shown_png(fig, explorer=True)  # at the theme's explorer size
    return time.perf_counter() - start


def row(name: str, explorer, moves: list[dict], baseline: float) -> str:
    text_after: list[float] = []
    first = [t * 1e3 for t in latencies(explorer, moves, text_after)]
    MEDIANS.append((name, statistics.median(first)))
    again = [t * 1e3 for t in latencies(explorer, moves)]
    median = statistics.median(first)
    p90 = float(np.percentile(first + again, 90))
    text = f"{statistics.median(text_after) * 1e3:>8.1f}" if any(text_after) else f"{'-':>8}"
    return (f"{name:<50}{len(first):>6}{median:>10.1f}{statistics.median(again):>10.1f}{p90:>10.1f}"
            f"{median / baseline:>10.2f}x{'met' if median < TARGET_MS else 'MISSED':>8}{text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--theme", choices=["both", *THEMES], default="both")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sentences, source = corpus()
    summary = []
    for theme in (THEMES if args.theme == "both" else [args.theme]):
        set_theme(theme)
        print(f"\n=== theme: {theme} ===")
        summary.append((theme, measure(sentences, source)))
    print("\nmedian redraw, 1st pass (ms):")
    print(f"{'explorer':<50}" + "".join(f"{theme:>12}" for theme, _ in summary))
    for i, name in enumerate(name for name, _ in summary[0][1]):
        print(f"{name:<50}" + "".join(f"{medians[i][1]:>12.1f}" for _, medians in summary))
    set_theme("notebook")


def measure(sentences, source) -> list[tuple[str, float]]:
    """Every explorer's row for the theme in use; returns (explorer, median ms of the 1st pass)."""
    start = time.perf_counter()
    ngram = NGramExplorer(sentences, n=3, k=0.1, context="i am", max_n=5)
    fit_seconds = time.perf_counter() - start
    contexts = ["i am", "the king", "my lord", "to be or not"]
    ngram_moves = [({"n": 1 + i % 5}, {"k": 10 ** (-3 + (i % 9) * 0.5)}, {"context": contexts[i % 4]})[i % 3]
                   for i in range(30)]
    sampling_moves = [({"temperature": (i % 8) * 0.25}, {"top_k": (i * 7) % 40}, {"top_p": 0.05 + (i % 19) * 0.05},
                       {"repetition_penalty": 1 + (i % 10) / 10})[i % 4] for i in range(30)]
    sampling_ngram = SamplingExplorer.from_ngram(ngram.model.with_order(3).with_smoothing("kneser-ney"), ["i", "am"])
    gpt_size = SamplingExplorer(torch.randn(50_257, generator=torch.Generator().manual_seed(0)) * 3,
                                [f"t{i}" for i in range(50_257)], previous=list(range(20)))

    baseline = statistics.median(bare_figure() for _ in range(10)) * 1e3
    results = [
        row("NGramExplorer (n, k, context)", ngram, ngram_moves, baseline),
        row(f"SamplingExplorer.from_ngram (V={len(sampling_ngram.tokens):,}, +{sampling_ngram.generate} words)",
            sampling_ngram, sampling_moves,
            baseline),
        row("SamplingExplorer, GPT-2-sized logits (V=50,257)", gpt_size, sampling_moves, baseline),
    ]
    for name, explorer, moves in later_explorers():
        results.append(row(name, explorer, moves, baseline))
    print(f"corpus: {source}; NGramExplorer built (one fit at n=5) in {fit_seconds:.2f}s; "
          f"torch threads: {torch.get_num_threads()}")
    print(f"\n{'explorer':<50}{'moves':>6}{'median':>10}{'median':>10}{'p90':>10}{'median /':>11}{'target':>8}"
          f"{'+text':>8}")
    print(f"{'':<50}{'':>6}{'1st pass':>10}{'2nd pass':>10}{'both':>10}{'bare fig.':>11}{'':>8}{'1st pass':>8}")
    print(f"{'':<50}{'':>6}{'ms':>10}{'ms':>10}{'ms':>10}{'':>11}{'':>8}{'ms':>8}")
    print("\n".join(results))
    print(f"{'bare matplotlib figure -> PNG (reference)':<50}{10:>6}{baseline:>10.1f}")
    print(f"\ntarget: median redraw < {TARGET_MS} ms on a 2-core CPU (1st pass: every setting new to the explorer)")
    medians = MEDIANS[:]
    MEDIANS.clear()
    return medians


if __name__ == "__main__":
    main()
