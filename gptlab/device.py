"""Which device to compute on: CUDA first, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the best available device, or ``prefer`` when it is given and usable.

    ``prefer`` may be ``"cuda"``, ``"mps"``, ``"cpu"`` (or a ``torch.device``); ``None`` picks
    CUDA, then MPS, then CPU.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={str(prefer)!r} was asked for, but CUDA is not available here; "
                             f"use one of {[str(d) for d in available_devices()]} or None to pick automatically")
        if device.type == "mps" and not _mps_available():
            raise ValueError(f"device={str(prefer)!r} was asked for, but MPS is not available here; "
                             f"use one of {[str(d) for d in available_devices()]} or None to pick automatically")
        if device.type not in ("cuda", "mps", "cpu"):
            raise ValueError(f"device={str(prefer)!r} is not supported; use 'cuda', 'mps', 'cpu' or None")
        return device
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
    device = pick_device() if device is None else torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps: Apple GPU (Metal)"
    return f"cpu: {torch.get_num_threads()} threads"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
