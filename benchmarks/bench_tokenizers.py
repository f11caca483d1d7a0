"""Training byte-level BPE: incremental pair counts against the loop that recounts every pair.

Both train gptlab's BPETokenizer on the same text with the same pre-split pattern and must learn the
same merges (tests/test_bpe.py checks that too). The recounting loop counts every adjacent pair of every
chunk after every merge; the incremental one counts once and, after a merge, uncounts and recounts only
the chunks that held the merged pair, taking the top pair from a heap. Target: at least 3x faster on
1 MB of Shakespeare to a 1,000-token vocabulary. Encoding speed is printed too, against Hugging Face's
`tokenizers` (Rust) loaded with the same merges, for scale.

Run:  python benchmarks/bench_tokenizers.py            (1 MB, 1,000 tokens: a few minutes, mostly the
      python benchmarks/bench_tokenizers.py --mb 0.2    recounting loop, on a 2-core CPU)
"""
from __future__ import annotations

import argparse
import time

from gptlab import data
from gptlab.bpe import BPETokenizer, bytes_to_unicode


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="megabytes of Shakespeare to train on")
    parser.add_argument("--vocab", type=int, default=1000, help="vocabulary size")
    parser.add_argument("--pattern", default="gpt2", help="pre-split pattern: gpt2, cjk or none")
    args = parser.parse_args()
    pattern = None if args.pattern == "none" else args.pattern
    text = data.load_text("shakespeare")[:int(args.mb * 1_000_000)]
    print(f"training on {len(text):,} characters to {args.vocab:,} tokens, pattern={pattern!r}")

    fast, t_fast = timed(lambda: BPETokenizer(args.vocab, pattern).train(text))
    print(f"incremental counts: {t_fast:7.2f} s")
    slow, t_slow = timed(lambda: BPETokenizer(args.vocab, pattern).train(text, incremental=False))
    print(f"recounting loop:    {t_slow:7.2f} s")
    same = list(fast.merges.items()) == list(slow.merges.items())
    ratio = t_slow / t_fast
    print(f"same merges: {same};  speed-up {ratio:.1f}x  (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})")

    sample = data.load_text("shakespeare")[-200_000:]
    fast._cache.clear()
    ids, t_enc = timed(lambda: fast.encode(sample))
    print(f"encode 200 KB held out: {t_enc:.2f} s, {len(ids):,} tokens, "
          f"{len(ids) / len(sample):.3f} tokens per character")
    try:
        import tokenizers
    except ImportError:
        return
    b2u = bytes_to_unicode()
    def show(i):
        return "".join(b2u[b] for b in fast.vocab[i])
    hf = tokenizers.Tokenizer(tokenizers.models.BPE(vocab={show(i): i for i in fast.vocab},
                                                    merges=[(show(a), show(b)) for a, b in fast.merges]))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pattern == "gpt2")
    hf_ids, t_hf = timed(lambda: hf.encode(sample).ids)
    print(f"HF tokenizers (Rust), same merges: {t_hf:.3f} s, same ids: {hf_ids == ids}, "
          f"gptlab's Python encoder takes {t_enc / t_hf:.1f}x HF's time")


if __name__ == "__main__":
    main()
