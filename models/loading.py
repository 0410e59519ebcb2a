"""Build a network from its registry entry, verify and load its weights, cache it per device."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import fields
from pathlib import Path
from threading import Lock

import torch
from safetensors.torch import load_file
from torch import nn

from models import registry
from models.device import select_device
from models.nets import ARCHITECTURES

log = logging.getLogger(__name__)
_cache: dict[tuple[str, str, str, str], nn.Module] = {}
_cache_lock = Lock()


def _forget_unregistered() -> None:
    """Drop cached networks whose checkpoint is gone from the registry or was exported again (a user model)."""
    current = {(c.id, str(c.directory), c.weights.sha256) for c in registry.checkpoints()}
    with _cache_lock:
        for key in [key for key in _cache if key[:3] not in current]:
            del _cache[key]


registry.on_refresh(_forget_unregistered)


class WeightFileError(RuntimeError):
    """A weight file is missing or its content does not match the sha256 in the registry."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_tensors(checkpoint: registry.Checkpoint, file: registry.WeightFile) -> dict[str, torch.Tensor]:
    """Load a safetensors file of a checkpoint after checking its sha256."""
    path = checkpoint.path(file)
    if not path.is_file():
        raise WeightFileError(
            f"Weight file {path} of model {checkpoint.id!r} is missing (expected sha256 {file.sha256})."
        )
    actual = sha256_of(path)
    if actual != file.sha256:
        raise WeightFileError(
            f"Weight file {path} of model {checkpoint.id!r} is corrupt: sha256 is {actual}, "
            f"expected {file.sha256}."
        )
    return load_file(path)


def build(architecture: str, config: dict) -> nn.Module:
    """Instantiate a network from its architecture name and config dict."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}")
    config_cls, net_cls = ARCHITECTURES[architecture]
    known = {f.name for f in fields(config_cls)}
    return net_cls(config_cls(**{k: v for k, v in config.items() if k in known}))


def load(model: str | registry.Checkpoint, device: str | torch.device | None = None) -> nn.Module:
    """Return the network of a registered checkpoint (by id) in eval mode on `device`, cached."""
    checkpoint = registry.get(model) if isinstance(model, str) else model
    device = torch.device(device) if isinstance(device, torch.device) else select_device(device)
    key = (checkpoint.id, str(checkpoint.directory), checkpoint.weights.sha256, str(device))
    with _cache_lock:
        if key not in _cache:
            # Built outside inference mode even when the first caller runs in it: inference tensors
            # could never take part in autograd, and the VAE prior optimises through its decoder.
            with torch.inference_mode(False):
                try:
                    net = build(checkpoint.architecture, checkpoint.config)
                    net.load_state_dict(verified_tensors(checkpoint, checkpoint.weights))
                except (TypeError, ValueError, KeyError, RuntimeError) as error:
                    if isinstance(error, WeightFileError):
                        raise
                    raise WeightFileError(f"Model {checkpoint.id!r} cannot be built from its files: its "
                                          f"{registry.ENTRY_FILE} and weights do not fit ({type(error).__name__})."
                                          " Export it again or delete it.") from error
                _cache[key] = net.to(device).eval().requires_grad_(False)
            log.info("loaded %s on %s", checkpoint.id, device)
        return _cache[key]
