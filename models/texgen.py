"""Inference for colour texture generators: class, seed, size, seamless, truncation and direction edits ->
RGB pixels.

Deterministic: an image's spatial noise and global latent come from its seed through a CPU
`torch.Generator`. The generator pads circularly, as it was trained, so what it makes repeats after
its latent grid: a seamless texture is exactly one period; any other is cut from a grid one cell
larger, so it does not repeat within the picture. The global latent is
`psi * z(seed) + sum_k value_k * direction_k` (GANSpace directions of the global latent, in standard
deviations), so the sliders change the material while the seed keeps its layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.errors import InvalidRequestError, shown
from models.loading import load
from models.sampling import checkpoint_for, latent_directions, validate

TASK = "texture-generation"
ANY_CLASS = "any"
SIZE_RANGE = (64, 1024)  # pixels a side; a multiple of the generator's cell (16)


def _generator(model_id: str, device: str | None = None):
    return load(checkpoint_for(model_id, TASK), device)


def class_names(model_id: str) -> list[str]:
    """The classes a texture generator was trained on (empty for one trained on pictures of one kind)."""
    return list(_generator(model_id).config.class_names)


def class_index(model_id: str, name: str) -> int:
    """The generator's index of a class name; "any" is the last index (no class)."""
    names = class_names(model_id)
    if name == ANY_CLASS or (not names and name in ("", None)):
        return _generator(model_id).config.num_classes
    if name not in names:
        raise InvalidRequestError(f"Unknown texture class {shown(name)}. Classes: {', '.join([ANY_CLASS, *names])}.")
    return names.index(name)


def validate_size(size: int, cell: int) -> None:
    lo, hi = SIZE_RANGE
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi or size % cell:
        raise InvalidRequestError(f"Size must be a multiple of {cell} from {lo} to {hi} pixels, not {shown(size)}.")


def generate(model_id: str, class_name: str = ANY_CLASS, seed: int = 0, size: int = 256, seamless: bool = False,
             psi: float = 1.0, direction_values: Sequence[float] = (), device: str | None = None) -> np.ndarray:
    """One texture, uint8 [size, size, 3]."""
    generator = _generator(model_id, device)
    config = generator.config
    label = class_index(model_id, class_name)
    validate_size(size, generator.cell)
    direction_values = [float(v) for v in direction_values]
    directions = latent_directions(model_id)
    validate(seed, 1, float(psi), direction_values, len(directions))
    noise = torch.Generator().manual_seed(seed)
    cells = size // generator.cell + (0 if seamless else 1)
    z_local = torch.randn(1, config.z_local, cells, cells, generator=noise)
    z_global = torch.randn(1, config.z_global, generator=noise) * psi
    if direction_values:
        z_global = z_global + torch.tensor(direction_values) @ directions.directions[: len(direction_values)]
    target = next(generator.parameters()).device
    with torch.inference_mode():
        image = generator(z_local.to(target), z_global.to(target), torch.tensor([label], device=target), True)
    return to_rgb_uint8(image[0, :, :size, :size])


def to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    """A generated image [3, H, W] in [-1, 1] -> RGB uint8 [H, W, 3]."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
