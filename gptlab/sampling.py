"""Decoding: how a language model's scores become the next token (lecture notes 1.2 and 3.3).

Every model in gptlab (n-gram, MLP, GPT) ends the same way: one logit per vocabulary entry.
Generating text is a loop that turns those logits into probabilities, draws a token, appends it
and asks again (autoregression). The "tricks" of the lecture notes live in that first step; here
they are, applied in this order:

1. repetition penalty (Keskar et al. 2019, CTRL): tokens already in ``previous`` look less attractive;
2. no-repeat n-gram ban: a token that would repeat an n-gram of ``previous`` gets probability 0;
3. temperature: logits / T, sharper below 1, flatter above; ``T = 0`` means greedy (argmax);
4. top-k (Fan et al. 2018): keep the k most likely tokens;
5. top-p, "nucleus" (Holtzman et al. 2019): keep the fewest most likely tokens whose mass reaches p.

``next_token_probs`` returns the resulting distribution (so a lesson can plot it), ``sample``
draws from it, and ``generate`` runs the loop for any model given as ``logits_fn(ids) -> logits``.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import ArgumentTypeError, check_float, check_int, check_type
from .device import check_device
from .tokenizers import token_ids_list

# top-p compares cumulative sums of float32 probabilities with p: mass within this tolerance of p
# counts as reaching it, so rounding in softmax cannot sneak in an extra token.
TOP_P_TOLERANCE = 1e-6


def make_generator(generator=None, device=None) -> torch.Generator | None:
    """A ``torch.Generator`` from whatever a learner has at hand, for reproducible draws.

    ``None`` -> ``None`` (torch's global random state); an ``int`` -> a generator seeded with it;
    a ``random.Random`` -> a generator seeded from it; a ``torch.Generator`` is returned as is.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, random.Random):
        seed = generator.getrandbits(63)
    elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = check_int("generator", generator, min_value=-2**63, max_value=2**64 - 1)   # what torch accepts
    else:
        raise ArgumentTypeError(f"generator={generator!r:.60} must be None, an int seed, a random.Random or a "
                                f"torch.Generator, got {type(generator).__name__}")
    return torch.Generator(device=check_device(device) if device is not None else "cpu").manual_seed(seed)


def _as_floats(value, name: str) -> torch.Tensor:
    """A list, numpy array or tensor of numbers as a tensor (tensors keep their device and dtype)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if value is None or isinstance(value, (str, bytes, bool)):
        raise ArgumentTypeError(f"{name}={value!r:.60} must be a list, numpy array or torch tensor of numbers, "
                                f"got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ArgumentTypeError(f"{name} must be a list, numpy array or torch tensor of numbers; "
                                f"{_short(value)} cannot be read as numbers ({err})") from None
    return torch.as_tensor(array)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _as_logits(logits, name: str = "logits") -> torch.Tensor:
    """Logits as a floating tensor of shape (V,) or (B, V); lists and numpy arrays are accepted.

    NaN and +inf are refused (softmax would turn every probability into NaN); -inf is allowed and
    means "this token is banned".
    """
    logits = _as_floats(logits, name)
    if logits.dtype == torch.bool or logits.is_complex():
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {logits.dtype}")
    if not logits.is_floating_point():
        logits = logits.float()
    if logits.dim() not in (1, 2) or logits.size(-1) == 0:
        raise ValueError(f"{name} must have shape (V,) or (B, V) with V >= 1; got shape {tuple(logits.shape)}")
    if torch.isnan(logits).any():
        raise ValueError(f"{name} contain NaN; check the model's output before sampling from it")
    if torch.isposinf(logits).any():
        where = torch.nonzero(torch.isposinf(logits))[0].tolist()
        raise ValueError(f"{name} contain +inf (at index {where[0] if len(where) == 1 else tuple(where)}); a logit "
                         f"must be finite, or -inf to ban a token. +inf makes softmax return NaN: check the model "
                         f"for an overflow, or give the token a large finite logit instead")
    return logits


def _check_filters(temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size):
    """Validate the decoding settings once, with messages that say what is allowed."""
    temperature = check_float("temperature", temperature, min_value=0.0)
    if top_k is not None:
        top_k = check_int("top_k", top_k, min_value=1)
    if top_p is not None:
        top_p = check_float("top_p", top_p, min_value=0.0, max_value=1.0, min_inclusive=False)
    repetition_penalty = check_float("repetition_penalty", repetition_penalty, min_value=0.0, min_inclusive=False)
    if no_repeat_ngram_size is not None:
        no_repeat_ngram_size = check_int("no_repeat_ngram_size", no_repeat_ngram_size, min_value=1)
    return temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size


def _ids(tokens, name: str = "ids") -> torch.Tensor:
    """Token ids (list, array or tensor on any device) as a 1-D CPU LongTensor; float ids are refused."""
    if isinstance(tokens, torch.Tensor) and _integer_tensor(tokens):
        if tokens.dim() > 1:
            raise ValueError(f"{name} must be 1-D (one sequence of ids), got shape {tuple(tokens.shape)}")
        return tokens.detach().to("cpu", torch.long).reshape(-1)
    return torch.tensor(token_ids_list(name, tokens), dtype=torch.long)


def _previous_rows(previous, B: int, V: int, batched: bool) -> list[torch.Tensor] | None:
    """``previous`` as one 1-D LongTensor of token ids per row (or None)."""
    if previous is None:
        return None
    if batched:
        if isinstance(previous, (str, bytes)) or not hasattr(previous, "__iter__"):
            raise ArgumentTypeError(f"previous={_short(previous)} must hold one list of ids per row of the (B, V) "
                                    f"logits, got {type(previous).__name__}")
        rows = list(previous)
    else:
        rows = [previous]
    if len(rows) != B:
        raise ValueError(f"previous has {len(rows)} rows but the logits have B={B}; give one id list per row")
    out = []
    for b, row in enumerate(rows):
        name = f"previous[{b}]" if batched else "previous"
        if isinstance(row, torch.Tensor) and not _integer_tensor(row):
            raise ArgumentTypeError(f"{name} must hold whole-number token ids, got a tensor of dtype {row.dtype}")
        ids = _ids(row, name)
        if ids.numel() and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"{name} contains token id {int(ids.max() if ids.max() >= V else ids.min())}, "
                             f"outside the vocabulary 0..{V - 1} of the logits")
        out.append(ids)
    return out


def _integer_tensor(t: torch.Tensor) -> bool:
    return not (t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool)


def banned_by_no_repeat(previous: Sequence[int], ngram_size: int) -> list[int]:
    """Tokens that would complete an n-gram (n = ``ngram_size``) that already occurs in ``previous``.

    With previous = [5, 6, 7, 5, 6] and n = 3, the last two tokens (5, 6) were once followed by 7,
    so 7 is banned. With n = 1 every token seen so far is banned.
    """
    n = check_int("ngram_size", ngram_size, min_value=1)
    ids = _ids(previous, "previous")
    if ids.numel() < n:                              # not even one complete n-gram yet
        return []
    ngrams = ids.unfold(0, n, 1)                     # (L - n + 1, n), every n-gram of previous
    if n == 1:
        return sorted(set(ngrams[:, 0].tolist()))
    matches = (ngrams[:, :-1] == ids[-(n - 1):]).all(dim=1)  # n-grams whose prefix is the current suffix
    return sorted(set(ngrams[matches, -1].tolist()))


def next_token_probs(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                     repetition_penalty: float = 1.0, previous=None,
                     no_repeat_ngram_size: int | None = None) -> torch.Tensor:
    """The distribution the next token is drawn from, after every decoding rule (see module doc).

    ``logits``: (V,) or (B, V). ``previous``: the ids generated so far (a list per row when batched);
    only the repetition penalty and the n-gram ban look at it. Returns probabilities of the same
    shape, exactly 0 for filtered tokens, each row summing to 1.

    Details worth knowing: ``temperature=0`` is greedy and returns a one-hot vector on the argmax
    (ties go to the lowest id); top-k keeps every token tied with the k-th largest, so the result
    never depends on the order of the vocabulary; top-p is measured on the distribution left by
    top-k and always keeps at least the most likely token.
    """
    temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size = _check_filters(
        temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size)
    logits = _as_logits(logits)
    batched = logits.dim() == 2
    scores = (logits if batched else logits.unsqueeze(0)).clone()   # (B, V)
    B, V = scores.size()
    rows = _previous_rows(previous, B, V, batched)

    if rows is not None and repetition_penalty != 1.0:
        for b, ids in enumerate(rows):
            seen = ids.unique().to(scores.device)
            s = scores[b, seen]
            # CTRL's rule: dividing a negative logit would *raise* it, so negatives are multiplied
            scores[b, seen] = torch.where(s > 0, s / repetition_penalty, s * repetition_penalty)
    if rows is not None and no_repeat_ngram_size is not None:
        for b, ids in enumerate(rows):
            banned = banned_by_no_repeat(ids, no_repeat_ngram_size)
            scores[b, banned] = float("-inf")
    if torch.isneginf(scores).all(dim=-1).any():
        raise ValueError("every token has probability 0 (all logits are -inf, or no_repeat_ngram_size banned "
                         "them all); relax no_repeat_ngram_size or check the model")

    if temperature == 0.0:
        # greedy decoding: no division by zero, just the most likely token (argmax returns the first max)
        probs = F.one_hot(scores.argmax(dim=-1), V).to(scores.dtype)
        return probs if batched else probs.squeeze(0)

    # subtract the max first so that a tiny temperature gives huge negative numbers, never inf - inf
    scores = (scores - scores.max(dim=-1, keepdim=True).values) / temperature
    if top_k is not None and top_k < V:
        kth_largest = torch.topk(scores, top_k, dim=-1).values[:, -1:]   # (B, 1)
        scores = scores.masked_fill(scores < kth_largest, float("-inf"))
    probs = F.softmax(scores, dim=-1)                                    # (B, V)

    if top_p is not None and top_p < 1.0:
        keep = _nucleus_from_the_top(probs, top_p)
        if keep is None:
            keep = _nucleus(probs, torch.arange(V, device=probs.device).expand(B, V), top_p)
        probs = probs * keep
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs if batched else probs.squeeze(0)


def _nucleus(probs: torch.Tensor, ids: torch.Tensor, top_p: float) -> torch.Tensor:
    """Top-p's keep mask over ``probs`` (B, V), from the candidates ``ids`` (B, m) of each row.

    The candidates are ranked by probability, ties in id order (a stable sort of id-ordered
    candidates), and each is kept while the mass ranked above it is short of ``top_p``.
    """
    candidates = probs.gather(-1, ids)
    sorted_probs, order = torch.sort(candidates, dim=-1, descending=True, stable=True)  # (B, m)
    acc = sorted_probs if sorted_probs.device.type == "mps" else sorted_probs.double()
    mass_before = torch.cumsum(acc, dim=-1) - acc                   # mass of the tokens ranked above
    keep_sorted = mass_before < top_p - TOP_P_TOLERANCE             # still short of p: keep this one
    keep_sorted[:, 0] = True                                         # never an empty nucleus
    return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, ids.gather(-1, order), keep_sorted)


NUCLEUS_CANDIDATES = 64  # how many of the most likely tokens the fast top-p looks at first


def _nucleus_from_the_top(probs: torch.Tensor, top_p: float) -> torch.Tensor | None:
    """The same keep mask as ``_nucleus`` over the whole vocabulary, found among the most likely
    tokens only (sorting 50,000 probabilities at every generated token costs a millisecond and
    more); None when those do not hold the nucleus, and the whole vocabulary must be ranked.

    Exact: the candidates are every token at least as likely as the 64th, ties included, so they
    are the first ones of the full ranking, in the same order, with the same running mass; every
    token ranked after them is dropped when they already hold ``top_p``.
    """
    B, V = probs.shape
    if B != 1 or V <= 4 * NUCLEUS_CANDIDATES or probs.device.type != "cpu":
        return None
    threshold = torch.topk(probs[0], NUCLEUS_CANDIDATES).values[-1]
    ids = torch.nonzero(probs[0] >= threshold).flatten()             # in id order, ties included
    if ids.numel() > 4 * NUCLEUS_CANDIDATES or probs[0, ids].double().sum() < top_p:
        return None
    return _nucleus(probs, ids.unsqueeze(0), top_p)


def _multinomial(probs: torch.Tensor, num_samples: int, generator: torch.Generator | None) -> torch.Tensor:
    """torch.multinomial with replacement; draws on the generator's device so seeds behave everywhere."""
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), num_samples, replacement=True,
                                 generator=generator).to(probs.device)
    return torch.multinomial(probs, num_samples, replacement=True, generator=generator)


def sample(logits, num_samples: int = 1, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, repetition_penalty: float = 1.0, previous=None,
           no_repeat_ngram_size: int | None = None, generator=None) -> torch.Tensor:
    """Draw token ids from ``next_token_probs(logits, ...)`` with ``torch.multinomial``.

    Returns shape (num_samples,) for (V,) logits and (B, num_samples) for (B, V). ``generator``:
    a ``torch.Generator``, an int seed or a ``random.Random`` (see ``make_generator``).
    """
    num_samples = check_int("num_samples", num_samples, min_value=1)
    probs = next_token_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                             repetition_penalty=repetition_penalty, previous=previous,
                             no_repeat_ngram_size=no_repeat_ngram_size)
    return _multinomial(probs, num_samples, make_generator(generator))


@torch.no_grad()
def generate(logits_fn: Callable[[list[int]], object], prompt: Sequence[int], max_new_tokens: int,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float = 1.0, no_repeat_ngram_size: int | None = None,
             generator=None, stop_token: int | None = None) -> list[int]:
    """Autoregressive generation for any model: ask for logits, draw a token, append, repeat.

    ``logits_fn(ids)`` receives every id so far (prompt included) and returns the next-token logits,
    shape (V,); a model that only looks at the last few tokens (an n-gram, the MLP) slices them
    itself. Returns prompt + new ids; it stops early after drawing ``stop_token`` (kept in the output).
    """
    if not callable(logits_fn):
        raise ArgumentTypeError(f"logits_fn={_short(logits_fn)} must be a function ids -> next-token logits of "
                                f"shape (V,), got {type(logits_fn).__name__}")
    ids = token_ids_list("prompt", prompt)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, min_value=0)
    _check_filters(temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size)
    if stop_token is not None:
        stop_token = check_int("stop_token", stop_token, min_value=0)
    generator = make_generator(generator)
    for step in range(max_new_tokens):
        logits = _as_logits(logits_fn(list(ids)), "logits_fn(ids)")
        if logits.dim() != 1:
            raise ValueError(f"logits_fn must return one logit per vocabulary entry, shape (V,); "
                             f"got shape {tuple(logits.shape)}")
        V = logits.size(0)
        if step == 0:
            if ids and max(ids) >= V:
                raise ValueError(f"prompt contains token id {max(ids)}, outside the vocabulary 0..{V - 1} that "
                                 f"logits_fn's output covers; was the prompt encoded with another tokenizer?")
            if stop_token is not None and stop_token >= V:
                raise ValueError(f"stop_token={stop_token} is outside the vocabulary 0..{V - 1} that "
                                 f"logits_fn's output covers")
        probs = next_token_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                 repetition_penalty=repetition_penalty, previous=ids,
                                 no_repeat_ngram_size=no_repeat_ngram_size)
        next_id = int(_multinomial(probs, 1, generator))
        ids.append(next_id)
        if stop_token is not None and next_id == stop_token:
            break
    return ids


# how far a distribution's sum may be from 1 (float32 softmax over a big vocabulary, or numbers
# a learner rounded to 3 digits, still count as normalised)
SUM_TOLERANCE = 1e-3


def _as_probs(probs, name: str = "probs", normalised: bool = True) -> torch.Tensor:
    """A (V,) or (B, V) probability distribution as a float64 tensor (float32 on MPS)."""
    if isinstance(probs, dict):
        probs = list(probs.values())
    probs = _as_floats(probs, name)
    if probs.dtype == torch.bool or probs.is_complex():
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {probs.dtype}")
    if probs.dim() not in (1, 2) or probs.size(-1) == 0:
        raise ValueError(f"{name} must have shape (V,) or (B, V) with V >= 1; got shape {tuple(probs.shape)}")
    if not torch.isfinite(probs).all():
        raise ValueError(f"{name} contain NaN or inf; probabilities are finite numbers between 0 and 1")
    if (probs < 0).any():
        raise ValueError(f"{name} must be non-negative probabilities (did you pass logits? use softmax first)")
    probs = probs.double() if probs.device.type != "mps" else probs.float()
    if normalised:
        sums = probs.sum(dim=-1)
        off = (sums - 1).abs() > SUM_TOLERANCE
        if off.any():
            bad = float(sums.reshape(-1)[off.reshape(-1)][0])
            raise ValueError(f"{name} must sum to 1 (each row, within {SUM_TOLERANCE:g}); got a sum of {bad:.6g}. "
                             f"Normalise first (p / p.sum()), or use softmax if these are logits")
    return probs


def entropy(probs):
    """Shannon entropy in nats, H = -sum p log p (0 log 0 = 0), of a (V,) or (B, V) distribution.

    0 for a one-hot (greedy) choice, log V for a uniform one; e^H is the number of equally likely
    tokens that would be just as uncertain. A dict of probabilities is accepted too.
    Returns a float for (V,), a tensor of shape (B,) for (B, V).
    """
    probs = _as_probs(probs)
    h = torch.special.entr(probs).sum(dim=-1)
    return float(h) if h.dim() == 0 else h


def kept_mass(before, after):
    """How much of the original distribution ``before`` survives a filter: sum of before[after > 0].

    1.0 means nothing was cut; top-p with p = 0.9 keeps at least 0.9.
    Returns a float for (V,), a tensor of shape (B,) for (B, V).
    """
    before, after = _as_probs(before, "before"), _as_probs(after, "after", normalised=False)
    if before.shape != after.shape:
        raise ValueError(f"before has shape {tuple(before.shape)} but after has {tuple(after.shape)}; "
                         "they must describe the same vocabulary")
    mass = (before * (after > 0)).sum(dim=-1)
    return float(mass) if mass.dim() == 0 else mass


# --------------------------------------------------------------------------------------------
# Measuring generated text (lesson 02, section 5)


def ngrams(ids: Sequence, n: int) -> list[tuple]:
    """Every run of ``n`` consecutive items of ``ids``, in order: ``ngrams([1, 2, 3], 2) == [(1, 2), (2, 3)]``."""
    n = check_int("n", n, min_value=1)
    ids = _sequence("ids", ids)
    return [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]


def _sequence(name: str, ids) -> list:
    """``ids`` (a list, tuple, array or tensor of tokens, or a str of characters) as a list."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"{name} must be 1-D (one sequence), got shape {tuple(ids.shape)}")
        return ids.tolist()
    if isinstance(ids, np.ndarray) and ids.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one sequence), got shape {ids.shape}")
    if ids is None or isinstance(ids, (dict, set, bytes)) or not hasattr(ids, "__iter__"):
        raise ArgumentTypeError(f"{name}={_short(ids)} must be a sequence of tokens (a list of ids, say), "
                                f"got {type(ids).__name__}")
    return list(ids)


def repeated_ngram_fraction(ids: Sequence, n: int = 3) -> float:
    """1 - (distinct n-grams) / (all n-grams): 0 for a text that never repeats n tokens in a row,
    close to 1 for a loop. 0.0 for a text shorter than n."""
    grams = ngrams(ids, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def repeated_ngram_mask(ids: Sequence, n: int = 3) -> list[bool]:
    """One flag per position of ``ids``: True where the position lies inside an n-gram that already
    occurred earlier in ``ids`` (what a reader sees as "this bit repeats"). Used to highlight loops."""
    n = check_int("n", n, min_value=1)
    ids = _sequence("ids", ids)
    mask = [False] * len(ids)
    seen = set()
    for i, gram in enumerate(ngrams(ids, n)):
        if gram in seen:
            mask[i:i + n] = [True] * n
        seen.add(gram)
    return mask


def unseen_ngram_fraction(ids: Sequence, seen: set, n: int = 3) -> float:
    """The share of the n-grams of ``ids`` that are not in ``seen`` (e.g. every n-gram of the training
    text): text no writer of the corpus ever wrote, n tokens at a time. 0.0 for a text shorter than n."""
    if isinstance(seen, (str, bytes)) or not hasattr(seen, "__contains__"):
        raise ArgumentTypeError(f"seen={_short(seen)} must be a set of n-gram tuples, e.g. set(ngrams(train_ids, "
                                f"{n!r})), got {type(seen).__name__}")
    grams = ngrams(ids, n)
    return sum(g not in seen for g in grams) / len(grams) if grams else 0.0


def ngram_logits_fn(model, sentence_end: str = "</s>", cache: bool = False) -> Callable[[list[int]], torch.Tensor]:
    """``logits_fn(ids)`` for an ``NGramLM``, as ``generate`` wants it: the model reads the words of
    the current sentence (after the last ``sentence_end``), of which it uses the last n - 1.

    ``cache=True`` keeps the logits of each context it has seen (an explorer asks for the same
    few contexts again and again); the model must not be refitted while the function is in use.
    """
    from .ngram import NGramLM  # here, not at the top: ngram imports this module
    check_type("model", model, NGramLM, "a fitted gptlab.ngram.NGramLM")
    model._check_fitted()
    if sentence_end is not None:
        check_type("sentence_end", sentence_end, str, "a token string such as '</s>', or None")
    end_id = model.encode([sentence_end])[0] if sentence_end in model.vocab else None

    seen: dict[tuple[int, ...], torch.Tensor] = {}

    def logits_fn(ids):
        ids = list(ids)
        if end_id is not None and end_id in ids:
            ids = ids[len(ids) - ids[::-1].index(end_id):]      # after the last sentence end
        context = tuple(ids[-(model.n - 1):] if model.n > 1 else [])
        if context in seen:
            return seen[context].clone()                         # a copy: the caller may change it
        logits = model.next_token_logits(model.decode(list(context)))
        if cache:
            seen[context] = logits.clone()
        return logits
    return logits_fn


def model_logits_fn(model, block_size: int | None = None) -> Callable[[list[int]], torch.Tensor]:
    """``logits_fn(ids)`` for a ``gptlab.model.GPT`` (any module mapping (1, T) ids to (logits, ...)
    or to logits of shape (1, T, V)): the last position's logits, reading at most ``block_size``
    tokens (default: the model's own ``config.block_size``), without gradients."""
    check_type("model", model, torch.nn.Module, "a torch.nn.Module such as gptlab.model.GPT")
    if block_size is None:
        block_size = getattr(getattr(model, "config", None), "block_size", None)
    else:
        block_size = check_int("block_size", block_size, min_value=1)
    params = next(model.parameters(), None)
    device = params.device if params is not None else torch.device("cpu")

    @torch.no_grad()
    def logits_fn(ids):
        context = list(ids)[-block_size:] if block_size else list(ids)
        out = model(torch.tensor([context], dtype=torch.long, device=device))
        logits = out[0] if isinstance(out, tuple) else out
        return logits[0, -1].float().cpu()                    # (V,)
    return logits_fn
