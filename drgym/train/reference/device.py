"""Where the reference trainers run: ``cpu``, ``cuda`` (or ``cuda:N``), or ``auto`` (CUDA when there is one)."""

from __future__ import annotations

import re

import torch

from drgym.errors import ConfigError

__all__ = ["resolve_device"]

_NAMES = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str, *, field: str = "device") -> torch.device:
    """The torch device for `name`; raises ConfigError naming `field` for an unknown name or a missing GPU."""
    if not isinstance(name, str) or not _NAMES.fullmatch(name):
        raise ConfigError(f"{field} {name!r} is not a device: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ConfigError(f"{field} {name!r}: no CUDA device is usable (torch {torch.__version__}, {build}); "
                              "use 'cpu', or 'auto' to take a GPU only when there is one")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"{field} {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                              f"(cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    return torch.device(name)
