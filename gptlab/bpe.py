"""Byte-level byte-pair encoding (BPE), the tokenizer of GPT-2 and of most models since (lesson 14).

Training starts from the 256 byte values and repeats one step: count every adjacent pair of
tokens, and merge the most frequent pair into a new token (Sennrich et al., 2016, on bytes as in
GPT-2, Radford et al., 2019). Text is first cut into chunks by a pre-split pattern, so that no merge
crosses a chunk boundary (a space and the word after it stay together, but two words never merge),
and identical chunks are counted once, with their frequency.

Two details make the teaching version also a usable one:

- **Incremental counts.** After a merge only the chunks that contained the merged pair change, so
  only their pairs are uncounted and recounted; a heap gives the most frequent pair. The plain
  loop that recounts everything after every merge (``train(..., incremental=False)``) gives the
  same merges and is kept for comparison (``benchmarks/bench_tokenizers.py``).
- **Deterministic ties.** Among pairs of equal count the smallest ``(left id, right id)`` wins.

Every token's bytes are unique: a merge whose bytes already have a token (``a + bc`` after
``ab + c``) is skipped. Encoding applies the merges in the order they were learned, as GPT-2 does.

    tok = BPETokenizer(vocab_size=512, pattern="gpt2").train(text)
    tok.encode("hello 世界")        # list of ids
    tok.decode(tok.encode(s)) == s  # for any string s
"""
from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from numbers import Integral
from pathlib import Path

import regex

from ._checks import ArgumentTypeError, check_choice, check_int

# GPT-2's pre-split pattern: contractions, a word with its leading space, a number, punctuation, spaces.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Chinese-aware: as GPT-2, but a run of Han characters is a chunk of its own, apart from the Latin
# letters beside it, and at most 4 characters long (a rough word), so merges learn words, not phrases.
CJK_PATTERN = (r"""'(?:[sdmt]|ll|ve|re)|\p{Han}{1,4}| ?[^\s\p{Han}\p{N}\p{P}\p{S}]+| ?\p{N}{1,3}"""
               r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
PATTERNS = {None: None, "gpt2": GPT2_PATTERN, "cjk": CJK_PATTERN}
FORMAT = "gptlab-bpe"


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """``word`` with every non-overlapping occurrence of ``pair``, left to right, replaced by ``new_id``."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def _pairs(word: Sequence[int]) -> Counter:
    """How often each adjacent pair occurs in ``word``."""
    return Counter(zip(word, word[1:]))


class BPETokenizer:
    """Byte-level BPE: ``vocab_size`` tokens, ids 0-255 the raw bytes, one id per merge after them.

    ``pattern``: ``None`` (no pre-splitting: the text is one chunk), ``"gpt2"`` (GPT-2's regex) or
    ``"cjk"`` (GPT-2's, with runs of Chinese characters split off in chunks of up to 4).
    """

    def __init__(self, vocab_size: int, pattern: str | None = None):
        self.vocab_size = check_int("vocab_size", vocab_size, min_value=256)
        if pattern is not None and not isinstance(pattern, str):
            raise ArgumentTypeError(f"pattern={pattern!r} must be None, 'gpt2' or 'cjk'")
        check_choice("pattern", pattern, PATTERNS)
        self.pattern = pattern
        self._regex = regex.compile(PATTERNS[pattern]) if pattern else None
        self.merges: dict[tuple[int, int], int] = {}
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        self._cache: dict[str, tuple[int, ...]] = {}

    # --- training -----------------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        """The chunks merges stay inside: the pre-split pattern's matches (or the whole text)."""
        _check_text(text)
        if self._regex is None:
            return [text] if text else []
        return self._regex.findall(text)

    def train(self, text: str, *, incremental: bool = True, progress: bool = False) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer if the text runs out of pairs)."""
        _check_text(text)
        if not text:
            raise ValueError("text='' is empty: BPE learns its merges from the text, so give it some")
        return self.train_counts(Counter(self.split(text)), incremental=incremental, progress=progress)

    def train_counts(self, counts, *, incremental: bool = True, progress: bool = False) -> BPETokenizer:
        """Learn merges from chunks given with their frequencies, ``{"low_": 5, "newest_": 6}``.

        This is what :meth:`train` does after splitting; it is also how Sennrich et al. (2016) state
        the algorithm, on a dictionary of words with counts.
        """
        if not hasattr(counts, "items"):
            raise ArgumentTypeError(f"counts={counts!r:.60} must map each chunk (str) to its frequency (int), "
                                    f"got {type(counts).__name__}")
        words: Counter = Counter()
        for chunk, freq in counts.items():
            _check_text(chunk)
            check_int(f"counts[{chunk!r}]", freq, min_value=1)
            words[tuple(chunk.encode("utf-8"))] += int(freq)
        if not words:
            raise ValueError("counts is empty: give at least one chunk with its frequency")
        self.merges, self.vocab, self._cache = {}, {i: bytes([i]) for i in range(256)}, {}
        n_merges = self.vocab_size - 256
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=n_merges, desc="BPE merges", leave=False)
        learn = self._train_incremental if incremental else self._train_recount
        learn(list(words.items()), n_merges, bar)
        if bar is not None:
            bar.close()
        return self

    def _add_merge(self, pair: tuple[int, int]) -> int | None:
        """Record ``pair`` as the next merge and return its id; None when its bytes already exist."""
        merged = self.vocab[pair[0]] + self.vocab[pair[1]]
        if merged in self._known_bytes:
            return None
        new_id = 256 + len(self.merges)
        self.merges[pair] = new_id
        self.vocab[new_id] = merged
        self._known_bytes.add(merged)
        return new_id

    def _train_recount(self, words: list, n_merges: int, bar) -> None:
        """The plain loop: recount every pair of every chunk after every merge."""
        self._known_bytes = set(self.vocab.values())
        skipped: set[tuple[int, int]] = set()
        while len(self.merges) < n_merges:
            counts: Counter = Counter()
            for word, freq in words:
                for pair in zip(word, word[1:]):
                    counts[pair] += freq
            candidates = [(c, p) for p, c in counts.items() if p not in skipped]
            if not candidates:
                break
            best_count = max(c for c, _ in candidates)
            best = min(p for c, p in candidates if c == best_count)  # ties: the smallest pair
            new_id = self._add_merge(best)
            if new_id is None:
                skipped.add(best)
                continue
            words = [(_merge_word(w, best, new_id), f) for w, f in words]
            if bar is not None:
                bar.update(1)

    def _train_incremental(self, words: list, n_merges: int, bar) -> None:
        """Count pairs once; after a merge, recount only the chunks that held the merged pair."""
        self._known_bytes = set(self.vocab.values())
        words = [list(w) for w in words]  # [word tuple, frequency], updated in place
        counts: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = {}  # pair -> indices of the chunks that contain it
        for i, (word, freq) in enumerate(words):
            for pair in zip(word, word[1:]):
                counts[pair] += freq
                where.setdefault(pair, set()).add(i)
        heap = [(-c, p) for p, c in counts.items()]  # entries go stale; checked against counts on pop
        heapq.heapify(heap)
        while len(self.merges) < n_merges and heap:
            neg, best = heapq.heappop(heap)
            if counts.get(best, 0) != -neg or -neg <= 0:
                continue  # stale entry: this pair's count changed since it was pushed
            new_id = self._add_merge(best)
            if new_id is None:
                counts.pop(best)  # its bytes already have a token: never merge it
                continue
            changed: set[tuple[int, int]] = set()
            for i in where.pop(best, ()):
                word, freq = words[i]
                before = _pairs(word)
                word = _merge_word(word, best, new_id)
                words[i][0] = word
                after = _pairs(word)
                for pair in before.keys() | after.keys():
                    delta = (after.get(pair, 0) - before.get(pair, 0)) * freq
                    if delta:
                        counts[pair] += delta
                        changed.add(pair)
                    if pair in after:
                        where.setdefault(pair, set()).add(i)
                    elif pair in where:
                        where[pair].discard(i)
            counts.pop(best, None)
            for pair in changed:
                if counts.get(pair, 0) > 0:
                    heapq.heappush(heap, (-counts[pair], pair))
                else:
                    counts.pop(pair, None)
            if bar is not None:
                bar.update(1)

    # --- encoding -----------------------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:
            # the pair learned earliest among those present is merged first, everywhere in the chunk
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = list(_merge_word(ids, pair, self.merges[pair]))
        result = tuple(ids)
        if len(self._cache) < 100_000:
            self._cache[chunk] = result
        return result

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: bytes, merged chunk by chunk in the order the merges were learned."""
        _check_text(text)
        return [i for chunk in self.split(text) for i in self._encode_chunk(chunk)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``. Bytes that are not valid UTF-8 on their own (half a character) show as �."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise ArgumentTypeError(f"ids={ids!r:.60} must be a list of token ids (ints), got {type(ids).__name__}")
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = []
        for pos, i in enumerate(ids):
            if isinstance(i, bool) or not isinstance(i, Integral):
                raise ArgumentTypeError(f"ids[{pos}]={i!r} must be a whole number (a token id), "
                                        f"got {type(i).__name__}")
            piece = self.vocab.get(int(i))
            if piece is None:
                raise ValueError(f"ids[{pos}]={i} is not a token id of this tokenizer: ids run from 0 to "
                                 f"{len(self.vocab) - 1}")
            out.append(piece)
        return b"".join(out)

    def truncate(self, vocab_size: int) -> BPETokenizer:
        """A copy that keeps only the first ``vocab_size - 256`` merges.

        Training is greedy, one merge at a time, so this is exactly the tokenizer that training to
        ``vocab_size`` would have made: one long run gives every smaller vocabulary for free.
        """
        vocab_size = check_int("vocab_size", vocab_size, min_value=256, max_value=256 + len(self.merges))
        small = BPETokenizer(vocab_size, self.pattern)
        for pair, new_id in self.merges.items():
            if new_id >= vocab_size:
                break
            small.merges[pair] = new_id
            small.vocab[new_id] = self.vocab[new_id]
        return small

    def tokens(self, text: str) -> list[bytes]:
        """The bytes of each token of ``text``, for showing where the cuts fall."""
        return [self.vocab[i] for i in self.encode(text)]

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, pattern={self.pattern!r}, "
                f"{len(self.merges)} merges learned)")

    # --- saving -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the settings and merges (in order) as JSON; the vocabulary follows from them."""
        path = Path(path)
        data = {"format": FORMAT, "version": 1, "vocab_size": self.vocab_size, "pattern": self.pattern,
                "merges": [[a, b] for a, b in self.merges]}
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        """Read a file written by :meth:`save`; a damaged file raises ValueError naming the path."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"path={str(path)!r} is a directory; give the JSON file BPETokenizer.save wrote")
        if not path.exists():
            raise ValueError(f"path={str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a saved BPETokenizer (not valid JSON: {err})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a saved BPETokenizer (no 'format': {FORMAT!r} field)")
        try:
            tok = cls(data["vocab_size"], data["pattern"])
            merges = data["merges"]
            tok._known_bytes = set(tok.vocab.values())
            for n, pair in enumerate(merges):
                a, b = pair
                if not (isinstance(a, int) and isinstance(b, int) and a in tok.vocab and b in tok.vocab):
                    raise ValueError(f"merge {n} = {pair!r} refers to a token that does not exist before it")
                if tok._add_merge((a, b)) is None:
                    raise ValueError(f"merge {n} = {pair!r} repeats the bytes of an earlier token")
            if len(tok.merges) > tok.vocab_size - 256:
                raise ValueError(f"{len(tok.merges)} merges do not fit vocab_size={tok.vocab_size}")
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is a damaged BPETokenizer file: {err}") from None
        return tok


def _check_text(text) -> None:
    if not isinstance(text, str):
        raise ArgumentTypeError(f"text={text!r:.60} must be a string (str), got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"text holds {text[err.start]!r} at position {err.start}, half of a UTF-16 surrogate "
                         f"pair: not a character, so it has no UTF-8 bytes to tokenize") from None


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: how byte-level BPE files (and HF ``tokenizers``) write tokens.

    Printable bytes stand for themselves; the others (space, control bytes) are moved to code points
    from 256 up, so that every token is a visible string.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping
