"""gptlab: the package the course's notebooks stand on."""
from .device import available_devices, describe_device, pick_device

__version__ = "0.1.0"
__all__ = ["available_devices", "describe_device", "pick_device"]
