"""Device selection: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_default_preference = "auto"


class DeviceUnavailableError(RuntimeError):
    pass


def select_device(preference: str | None = None) -> torch.device:
    """Resolve a preference (`auto`, `cpu`, `cuda`, `mps`, or None for the process default)."""
    preference = preference or _default_preference
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {preference!r}")
    cuda_ok = torch.cuda.is_available()
    mps_ok = torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda_ok else "mps" if mps_ok else "cpu")
    if preference == "cuda" and not cuda_ok:
        raise DeviceUnavailableError("--device cuda was asked for, but PyTorch sees no CUDA GPU.")
    if preference == "mps" and not mps_ok:
        raise DeviceUnavailableError("--device mps was asked for, but Apple MPS is not available.")
    return torch.device(preference)


def set_default_device(preference: str) -> torch.device:
    """Set the process-wide preference used when callers pass no device; returns the resolved device."""
    global _default_preference
    device = select_device(preference)
    _default_preference = preference
    return device
