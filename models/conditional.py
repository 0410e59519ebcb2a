"""Inference for class-conditional generators: samples of a class, one of each class, class morphs.

Latents come from seeds exactly as in `models.sampling`, so seed s gives the same noise vector in
every mode; a morph keeps that vector and interpolates the class embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.data.fashion_mnist import CLASS_NAMES
from models.errors import InvalidRequestError, shown
from models.loading import load
from models.sampling import (
    checkpoint_for,
    fixed_size_forward,
    latents,
    shared_forward_passes,
    to_uint8,
    validate_positions,
    validate_psi,
    validate_seeds,
)

TASK = "class-conditional-generation"
MORPH_STEPS_RANGE = (2, 64)


def class_index(label: str | int) -> int:
    """A class given by name (case-insensitive) or index -> its index."""
    if isinstance(label, str):
        names = [n.lower() for n in CLASS_NAMES]
        if label.strip().lower() in names:
            return names.index(label.strip().lower())
        digits = label.strip()
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 3):  # "²" is a digit, not an int
            raise InvalidRequestError(f"Unknown class {shown(label)}. Classes: {', '.join(CLASS_NAMES)}.")
        label = int(digits)
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(CLASS_NAMES):
        raise InvalidRequestError(f"Class index must be 0 to {len(CLASS_NAMES) - 1}, not {shown(label)}.")
    return int(label)


def _generator(model_id: str, device: str | None):
    net = load(checkpoint_for(model_id, TASK), device)
    return net, next(net.parameters()).device


def generation_inputs(model_id: str, label: str | int, seed: int, n: int = 1,
                      psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The validated latents [n, z_dim] and class indices [n] of a request."""
    index = class_index(label)
    validate_seeds(seed, n)
    validate_psi(psi)
    z_dim = int(checkpoint_for(model_id, TASK).config["z_dim"])
    return latents(range(seed, seed + n), z_dim) * psi, torch.full((n,), index)


@torch.inference_mode()
def render(model_id: str, z: torch.Tensor, labels: torch.Tensor, device: str | None = None) -> np.ndarray:
    net, param_device = _generator(model_id, device)
    return to_uint8(fixed_size_forward(net, z.to(param_device), labels.to(param_device)))


def generate(model_id: str, label: str | int, seed: int, n: int = 1, psi: float = 1.0,
             device: str | None = None) -> np.ndarray:
    """`n` images of one class from consecutive seeds; uint8 [n, 28, 28]."""
    return render(model_id, *generation_inputs(model_id, label, seed, n, psi), device)


def generate_many(requests: Sequence[dict], device: str | None = None) -> list[np.ndarray | Exception]:
    """`generate(**request)` for each request, sharing forward passes; a bad request gets its error in its place."""
    return shared_forward_passes(
        requests,
        lambda r: (r["model_id"], generation_inputs(r["model_id"], r["label"], r["seed"], r.get("n", 1),
                                                    r.get("psi", 1.0))),
        lambda model_id, z, labels: render(model_id, z, labels, device))


@torch.inference_mode()
def one_of_each(model_id: str, seed: int, n: int = 1, psi: float = 1.0, device: str | None = None) -> np.ndarray:
    """The latents of seeds seed .. seed + n - 1 dressed as every class; uint8 [num_classes, n, 28, 28]."""
    validate_seeds(seed, n)
    validate_psi(psi)
    net, param_device = _generator(model_id, device)
    k = net.config.num_classes
    z = latents(range(seed, seed + n), net.config.z_dim).to(param_device).repeat(k, 1) * psi
    labels = torch.arange(k, device=param_device).repeat_interleave(n)
    images = to_uint8(net(z, labels))
    return images.reshape(k, n, *images.shape[1:])


def morph(model_id: str, label_a: str | int, label_b: str | int, seed: int, steps: int, psi: float = 1.0,
          device: str | None = None) -> np.ndarray:
    """Fixed latent, class embedding interpolated linearly from class A to class B; uint8 [steps, 28, 28]."""
    lo, hi = MORPH_STEPS_RANGE
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not lo <= steps <= hi:
        raise InvalidRequestError(f"Steps must be a whole number from {lo} to {hi}, not {shown(steps)}.")
    return morph_at(model_id, label_a, label_b, seed, np.linspace(0, 1, steps), psi, device)


@torch.inference_mode()
def morph_at(model_id: str, label_a: str | int, label_b: str | int, seed: int, positions: Sequence[float],
             psi: float = 1.0, device: str | None = None) -> np.ndarray:
    """The morph from class A to class B at fractions `positions` of the way (0: A, 1: B); uint8
    [len(positions), 28, 28]. A live preview and the final image at one position are the same call."""
    a, b = class_index(label_a), class_index(label_b)
    positions = validate_positions(positions)
    validate_seeds(seed, 1)
    validate_psi(psi)
    net, param_device = _generator(model_id, device)
    t = torch.tensor(positions, dtype=torch.float32, device=param_device)[:, None]
    embeddings = net.embed(torch.tensor([a, b], device=param_device))
    blended = (1 - t) * embeddings[0] + t * embeddings[1]
    z = latents([seed], net.config.z_dim).to(param_device).expand(len(positions), -1) * psi
    return to_uint8(net.synthesize(z, blended))
