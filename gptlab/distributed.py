"""Data-parallel training with PyTorch's own engine: the process group that ``torchrun`` starts.

``torchrun --nproc_per_node=N script.py`` starts N copies of ``script.py`` and tells each who it is
through environment variables: ``RANK`` (0 .. N-1 over all machines), ``LOCAL_RANK`` (0 .. on this
machine; it picks the GPU), ``WORLD_SIZE`` (N) and ``MASTER_ADDR``/``MASTER_PORT`` (where rank 0
listens, so the copies can find each other). ``gptlab.train.Trainer`` calls ``setup`` and, when
more than one process is running, wraps the model in ``torch.nn.parallel.DistributedDataParallel``
(DDP). DDP all-reduces (sums, then divides by N) the gradients during ``backward()``, bucket by
bucket as they become ready, so every process applies the same update and keeps the same weights.

Nothing here re-implements communication: the group is ``torch.distributed``'s, with ``gloo`` on
the CPU and ``nccl`` on CUDA GPUs.

    info, device = setup("cpu")     # DistInfo(rank=0, world_size=1, local_rank=0) without torchrun
    x_mine = shard(x_global, info)  # this process's 1/N slice of the global batch
    cleanup()                       # destroy the group that setup created (also done at exit)
"""
from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ._checks import ArgumentTypeError, check_int, check_type

__all__ = ["DistInfo", "backend_for", "cleanup", "env_info", "is_main_process", "setup", "shard"]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
_owned = False  # True when setup() created the process group (then cleanup() destroys it)


@dataclass(frozen=True)
class DistInfo:
    """Who this process is: ``rank`` of ``world_size`` processes, ``local_rank`` on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self):
        for name in ("rank", "world_size", "local_rank"):
            check_int(name, getattr(self, name), min_value=1 if name == "world_size" else 0)
        if self.rank >= self.world_size:
            raise ValueError(f"rank={self.rank} must be below world_size={self.world_size} (ranks are numbered "
                             f"0 .. world_size-1)")

    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 shows progress, evaluates, logs and saves."""
        return self.rank == 0


def _env_int(name: str, environ) -> int:
    raw = environ[name]
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be a whole number (torchrun sets it); "
                         "start the script with torchrun, or unset it to train in one process") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={value} must be at least 0")
    return value


def env_info(environ=None) -> DistInfo:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (set by torchrun); one process when they are absent.

    When a group already exists (``torch.distributed.is_initialized()``), its rank and size win.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(environ, Mapping):
        raise ArgumentTypeError(f"environ={environ!r:.60} must be a mapping of environment variables such as "
                                f"os.environ or a dict, got {type(environ).__name__}")
    if dist.is_available() and dist.is_initialized():
        local = _env_int("LOCAL_RANK", environ) if "LOCAL_RANK" in environ else dist.get_rank()
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    if "WORLD_SIZE" not in environ:
        return DistInfo()
    world = _env_int("WORLD_SIZE", environ)
    if world < 1:
        raise ValueError(f"environment variable WORLD_SIZE={world} must be at least 1")
    if world == 1:
        return DistInfo()
    missing = [name for name in (*_ENV, "MASTER_ADDR", "MASTER_PORT") if name not in environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} is set but {', '.join(missing)} not; start the processes with "
                         "torchrun --nproc_per_node=N (which sets them all), or unset WORLD_SIZE")
    rank, local = _env_int("RANK", environ), _env_int("LOCAL_RANK", environ)
    if rank >= world:
        raise ValueError(f"environment variable RANK={rank} must be below WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def _as_device(device) -> torch.device:
    """``device`` parsed by torch, or a ValueError/TypeError naming it (never torch's list of device types)."""
    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        raise ArgumentTypeError(f"device={device!r:.60} must be a device name such as 'cpu' or 'cuda', or a "
                                f"torch.device; got {type(device).__name__}")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"device={device!r} is not a device name; use 'cpu' or 'cuda' (data-parallel training "
                         f"runs on those)") from e


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA GPUs (it talks GPU to GPU), ``gloo`` for the CPU."""
    device = _as_device(device)
    if device.type == "cuda":
        return "nccl"
    if device.type == "cpu":
        return "gloo"
    raise ValueError(f"device={str(device)!r}: data-parallel training runs on 'cuda' (nccl) or 'cpu' (gloo); "
                     f"PyTorch has no process-group backend for {device.type}")


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun described (once per process); return ``(info, device)``.

    Without torchrun (``WORLD_SIZE`` unset or 1) nothing happens and ``device`` comes back as given.
    Under torchrun on CUDA, each process takes the GPU ``cuda:LOCAL_RANK``.
    """
    global _owned
    device = _as_device(device)
    info = env_info()
    if not info.enabled:
        return info, device
    backend = backend_for(device)
    if device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={info.local_rank} but this machine has {torch.cuda.device_count()} "
                             "CUDA GPU(s); start at most that many processes per machine (--nproc_per_node)")
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size, **kwargs)
        _owned = True
        atexit.register(cleanup)
    elif dist.get_backend() != backend:
        raise ValueError(f"the existing process group uses {dist.get_backend()!r}, but device={str(device)!r} "
                         f"needs {backend!r}")
    return info, device


def cleanup() -> None:
    """Destroy the process group if ``setup`` created it (a group made by your own code is left alone)."""
    global _owned
    if _owned and dist.is_initialized():
        try:  # leave together: a rank tearing gloo down while another still talks to it can abort
            dist.barrier()
        except RuntimeError:
            pass  # a peer is already gone; destroy what is left
        dist.destroy_process_group()
    _owned = False


def is_main_process() -> bool:
    """True in rank 0, and in a plain single-process run."""
    return env_info().is_main


def shard(batch: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Rank ``r``'s contiguous slice ``batch[r*B/N : (r+1)*B/N]`` of a global batch of ``B`` rows."""
    check_type("batch", batch, torch.Tensor, "a tensor whose first dimension is the batch")
    check_type("info", info, DistInfo, "a DistInfo (from env_info or setup)")
    if batch.dim() == 0:
        raise ValueError("batch must have a batch dimension; got a scalar tensor")
    rows = batch.shape[0]
    if rows % info.world_size:
        raise ValueError(f"a global batch of {rows} rows does not split evenly over {info.world_size} processes; "
                         f"use a multiple of {info.world_size}")
    per = rows // info.world_size
    return batch[info.rank * per:(info.rank + 1) * per]
