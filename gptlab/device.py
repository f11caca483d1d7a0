"""Which device to compute on: CUDA first, then Apple's MPS, then the CPU; and, on the CPU,
how many threads actually help."""
from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from numbers import Integral

import torch

from ._checks import ArgumentTypeError, check_float, check_int, check_type
from .i18n import _

DEVICE_NAMES = "'cpu', 'cuda', 'cuda:N' (N = a GPU's number), 'mps'"


def _available_names() -> str:
    names = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names += ["cuda"] + [f"cuda:{i}" for i in range(count)]
    if _mps_available():
        names.append("mps")
    return ", ".join(repr(n) for n in names)


def check_device(device, name: str = "device") -> torch.device:
    """``device`` (a name such as ``"cuda"`` or a ``torch.device``) as a usable ``torch.device``.

    A name torch does not know (``"gpu"``), a device this machine lacks (``"cuda"`` without CUDA),
    or a GPU number past the last GPU raises a ValueError that lists what is allowed and what
    exists here; a value of the wrong type raises a TypeError.
    """
    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        raise ArgumentTypeError(f"{name}={device!r:.60} must be a device name ({DEVICE_NAMES}), a torch.device, "
                                f"or None to pick automatically; got {type(device).__name__}. "
                                f"Available here: {_available_names()}")
    text = str(device).strip().lower() if isinstance(device, str) else str(device)
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cuda", "mps", "cpu"):
        raise ValueError(f"{name}={str(device)!r} is not supported; allowed device names: {DEVICE_NAMES}, "
                         f"or None to pick automatically. Available here: {_available_names()}")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={str(device)!r} was asked for, but CUDA is not available here; "
                             f"use one of {_available_names()} or None to pick automatically")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0; use one of {_available_names()}")
    if parsed.type == "mps" and not _mps_available():
        raise ValueError(f"{name}={str(device)!r} was asked for, but MPS is not available here; "
                         f"use one of {_available_names()} or None to pick automatically")
    return parsed


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the best available device, or ``prefer`` when it is given and usable.

    ``prefer`` may be ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` (or a ``torch.device``); ``None``
    picks CUDA, then MPS, then CPU. Anything else, or a device this machine lacks, raises a
    ValueError that lists the allowed names and the devices that exist here.
    """
    if prefer is not None:
        return check_device(prefer, "device")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_devices() -> list[torch.device]:
    """Every device this machine can compute on, CPU always included (used by the tests)."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if _mps_available():
        devices.append(torch.device("mps"))
    return devices


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description, e.g. ``'cuda: NVIDIA H100 (79.1 GiB)'``."""
    device = pick_device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps: Apple GPU (Metal)"
    n = torch.get_num_threads()
    return (_("cpu: {n} thread") if n == 1 else _("cpu: {n} threads")).format(n=n)


def fastest_num_threads(step: Callable[[], object], candidates: Sequence[int] | None = None, rounds: int = 3,
                        calls: int = 2, margin: float = 0.1, apply: bool = True) -> tuple[int, dict[int, float]]:
    """Time ``step()`` with each number of CPU threads in ``candidates``; return the fastest and
    the median seconds per call of each.

    More threads are not always faster: on a machine whose cores are busy with other work, or
    for a model too small to split, threads spin while they wait for each other and a run can
    be several times slower than on one thread. So measure rather than guess: the candidates
    (default 1, 2, 4, ... up to the number of cores) run in ``rounds`` alternating rounds of
    ``calls`` calls each, after one warm-up call, so a busy moment of a shared machine falls on
    all of them alike. A candidate wins over one with fewer threads only when it is at least
    ``margin`` (10%) faster. With ``apply`` the winner is set with ``torch.set_num_threads``;
    otherwise the thread count is left as it was. ``step`` should be one small unit of the real
    work (a forward and backward pass on one batch, say) that leaves nothing changed behind.
    """
    cores = os.cpu_count() or 1
    most = 4 * cores
    if candidates is None:
        candidates = [1]
        while candidates[-1] * 2 <= cores:
            candidates.append(candidates[-1] * 2)
        if candidates[-1] != cores:
            candidates.append(cores)
    if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__"):
        raise ArgumentTypeError(f"candidates={candidates!r:.60} must be a list of thread counts such as [1, 2], "
                                f"got {type(candidates).__name__}")
    given = list(candidates)
    for c in given:
        if isinstance(c, bool) or not isinstance(c, Integral):
            raise ArgumentTypeError(f"candidates={given!r:.60} must be whole-number thread counts such as [1, 2]; "
                                    f"{c!r} is a {type(c).__name__}")
        if not 1 <= c <= most:
            raise ValueError(f"candidates={given!r:.60} must be thread counts from 1 to {most} (4 x the {cores} "
                             f"cores here; more threads than that cannot help); {c!r} is not")
    candidates = sorted({int(c) for c in given})
    if not candidates:
        raise ValueError(f"candidates={given!r} must be thread counts of at least 1, e.g. [1, 2]")
    if not callable(step):
        raise ArgumentTypeError(f"step must be a function to time (called with no arguments), "
                                f"got {type(step).__name__}")
    rounds = check_int("rounds", rounds, min_value=1)
    calls = check_int("calls", calls, min_value=1)
    margin = check_float("margin", margin, min_value=0.0, max_value=1.0, max_inclusive=False)
    check_type("apply", apply, bool, "True or False")
    original = torch.get_num_threads()
    timings: dict[int, list[float]] = {n: [] for n in candidates}
    try:
        for n in candidates:  # warm-up: thread pools started, buffers allocated
            torch.set_num_threads(n)
            step()
        for r in range(rounds):
            for n in candidates if r % 2 == 0 else candidates[::-1]:
                torch.set_num_threads(n)
                start = time.perf_counter()
                for _ in range(calls):
                    step()
                timings[n].append((time.perf_counter() - start) / calls)
    finally:
        torch.set_num_threads(original)
    seconds = {n: statistics.median(t) for n, t in timings.items()}
    best = candidates[0]
    for n in candidates[1:]:
        if seconds[n] < seconds[best] * (1 - margin):
            best = n
    if apply:
        torch.set_num_threads(best)
    return best, seconds


def describe_thread_timing(best: int, seconds: dict[int, float]) -> str:
    """One line from ``fastest_num_threads``'s result: which thread count won, and by how much.

    E.g. ``'training on 2 CPU threads: one step 40 ms; 1.4x slower with 1'`` or, when the extra
    threads lose, ``'training on 1 CPU thread: one step 57 ms; 27.3x slower with 2'``.
    """
    if not isinstance(seconds, dict) or not seconds:
        raise ArgumentTypeError(f"seconds={seconds!r:.60} must be the non-empty dict {{threads: seconds per call}} "
                                f"that fastest_num_threads returns, got {type(seconds).__name__}")
    for n, t in seconds.items():
        check_int("a thread count in seconds", n, min_value=1)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError(f"seconds[{n!r}]={t!r} must be a finite number of seconds, at least 0")
    check_int("best", best, min_value=1)
    if best not in seconds:
        raise ValueError(f"best={best!r} must be one of the timed thread counts {sorted(seconds)!r}")
    parts = []
    for n in sorted(seconds):
        if n != best:
            ratio = max(seconds[n], 1e-12) / max(seconds[best], 1e-12)   # a clock too coarse may say 0
            parts.append(_("{ratio:.1f}x slower with {n}").format(ratio=ratio, n=n) if ratio >= 1
                         else _("{ratio:.2f}x faster with {n}, within the margin").format(ratio=1 / ratio, n=n))
    line = (_("training on {best} CPU thread: one step {ms:.0f} ms") if best == 1 else
            _("training on {best} CPU threads: one step {ms:.0f} ms")).format(best=best, ms=seconds[best] * 1e3)
    return line + ("; " + ", ".join(parts) if parts else "")


def pick_training_threads(model: torch.nn.Module, batch: torch.Tensor, **kwargs) -> str:
    """Time one training step of ``model`` on ``batch`` (B, T + 1) ids with 1, 2, ... CPU threads,
    keep the fastest (``fastest_num_threads``) and return one line saying what was measured.

    The step is a forward and backward pass, ``model(batch[:, :-1], batch[:, 1:])``, whose gradients
    are then dropped, so the model is left as it was. ``kwargs`` go to ``fastest_num_threads``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ArgumentTypeError(f"model must be a torch.nn.Module (a GPT, say), got {type(model).__name__}")
    if not isinstance(batch, torch.Tensor) or batch.dim() != 2 or batch.size(1) < 2:
        raise ValueError(f"batch must be a (B, T + 1) tensor of token ids with T >= 1, got "
                         f"{tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__}")
    if batch.dtype.is_floating_point or batch.dtype.is_complex or batch.dtype == torch.bool:
        raise ValueError(f"batch must hold integer token ids (torch.long), got dtype {batch.dtype}")

    def one_step():
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        model.zero_grad(set_to_none=True)

    return describe_thread_timing(*fastest_num_threads(one_step, **kwargs))


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
