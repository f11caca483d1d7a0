import pytest
import torch

from gptlab.device import available_devices

DEVICES = available_devices()


@pytest.fixture(params=DEVICES, ids=[str(d) for d in DEVICES])
def device(request) -> torch.device:
    """Run a test once on every device this machine has (CPU; CUDA and MPS where present)."""
    return request.param
