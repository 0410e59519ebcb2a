"""Inference for colour texture generators: class, seed, size, seamless, truncation and direction edits ->
RGB pixels.

Deterministic: an image's spatial noise and global latent come from its seed through a CPU
`torch.Generator`, so picture i of a grid with first seed s is the picture of seed s + i alone. The
generator pads circularly, as it was trained, so what it makes repeats after its latent grid: a
seamless texture is exactly one period; any other is cut from a grid one cell larger, so it does not
repeat within the picture. The global latent is `psi * z(seed) + sum_k value_k * direction_k` (GANSpace
directions of the global latent, in standard deviations), so the sliders change the material while the
seed keeps its layout; a class morph keeps both and blends the class embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models import registry
from models.errors import InvalidRequestError, shown
from models.loading import load
from models.sampling import (
    PREVIEW_OFFSETS,
    checkpoint_for,
    latent_directions,
    steer,
    validate,
    validate_positions,
    validate_seeds,
)

TASK = "texture-generation"
ANY_CLASS = "any"
SIZE_RANGE = (64, 1024)  # pixels a side; a multiple of the generator's cell (16)
MAX_PIXELS = 4 * 1024 * 1024  # most pixels one request makes (four textures of 1024, sixty-four of 256)
PREVIEW_SIZE = 64  # pixels a side of the pictures in a direction's preview strip
MORPH_STEPS_RANGE = (2, 64)


def _generator(model_id: str, device: str | None = None):
    return load(checkpoint_for(model_id, TASK), device)


def is_texture_model(model_id: str) -> bool:
    """Whether `model_id` names a texture generator (the tabs that also serve grey models ask this)."""
    return registry.has(model_id) and registry.get(model_id).task == TASK


def class_names(model_id: str) -> list[str]:
    """The classes a texture generator was trained on (empty for one trained on pictures of one kind)."""
    return list(_generator(model_id).config.class_names)


def class_index(model_id: str, name: str) -> int:
    """The generator's index of a class name (case-insensitive); "any" is the last index (no class)."""
    names = class_names(model_id)
    key = name.strip().lower() if isinstance(name, str) else name
    if key == ANY_CLASS or (not names and key in ("", None)):
        return _generator(model_id).config.num_classes
    lowered = [n.lower() for n in names]
    if key not in lowered:
        raise InvalidRequestError(f"Unknown texture class {shown(name)}. Classes: {', '.join([ANY_CLASS, *names])}.")
    return lowered.index(key)


def validate_size(size: int, count: int, cell: int) -> None:
    lo, hi = SIZE_RANGE
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi or size % cell:
        raise InvalidRequestError(f"Size must be a multiple of {cell} from {lo} to {hi} pixels, not {shown(size)}.")
    if count * size * size > MAX_PIXELS:
        most = MAX_PIXELS // (size * size)
        raise InvalidRequestError(f"At {size} pixels a side the studio makes at most {most} textures at once.")


def check_request(model_id: str, seed: int, n: int, size: int, psi: float, direction_values: Sequence[float]) -> None:
    """Refuse a request for n textures from seed on that `generate` would refuse (size, seeds, psi, directions)."""
    validate_size(size, n, _generator(model_id).cell)
    validate(seed, n, float(psi), [float(v) for v in direction_values], len(latent_directions(model_id)))


def noise(model_id: str, seeds: Sequence[int], size: int, seamless: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Each seed's standard-normal draws, before psi and directions (see `sampling.steer`): (spatial noise
    [N, z_local, cells, cells], global latent [N, z_global]). Not validated here."""
    generator = _generator(model_id)
    config = generator.config
    cells = size // generator.cell + (0 if seamless else 1)
    z_local, z_global = [], []
    for seed in seeds:
        draws = torch.Generator().manual_seed(int(seed))
        z_local.append(torch.randn(1, config.z_local, cells, cells, generator=draws))
        z_global.append(torch.randn(1, config.z_global, generator=draws))
    return torch.cat(z_local), torch.cat(z_global)


def render(model_id: str, z_local: torch.Tensor, z_global: torch.Tensor, class_name: str, size: int,
           device: str | None = None) -> np.ndarray:
    """Textures of one class from noise and steered global latents (see `noise`); uint8 [N, size, size, 3]."""
    label = torch.full((len(z_local),), class_index(model_id, class_name))
    return _render(model_id, z_local, _styles(model_id, z_global, label, device), size, device)


def _latents(model_id: str, seeds: Sequence[int], size: int, seamless: bool, psi: float,
             direction_values: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated (spatial noise [N, z_local, cells, cells], global latent [N, z_global]), one per seed."""
    check_request(model_id, seeds[0], len(seeds), size, psi, direction_values)
    z_local, z_global = noise(model_id, seeds, size, seamless)
    return z_local, steer(model_id, z_global, psi, direction_values)


@torch.inference_mode()
def _render(model_id: str, z_local: torch.Tensor, styles: torch.Tensor, size: int, device: str | None = None,
            per_pass: int = 1) -> np.ndarray:
    """uint8 [N, size, size, 3] from noise and styles, `per_pass` pictures a forward pass. One by default: a
    1024-pixel batch would be large, and a picture's pixels must not depend on what else was in its batch (a
    picked grid cell is then exactly that seed alone); previews, which are not kept, go faster in batches."""
    generator = _generator(model_id, device)
    target = next(generator.parameters()).device
    images = torch.cat([generator.synthesize(z_local[i : i + per_pass].to(target), styles[i : i + per_pass].to(target),
                                             True) for i in range(0, len(z_local), per_pass)])
    return np.stack([to_rgb_uint8(image[:, :size, :size]) for image in images])


@torch.inference_mode()
def _styles(model_id: str, z_global: torch.Tensor, labels: torch.Tensor, device: str | None = None) -> torch.Tensor:
    generator = _generator(model_id, device)
    target = next(generator.parameters()).device
    return generator.style(z_global.to(target), labels.to(target))


def generate(model_id: str, class_name: str = ANY_CLASS, seed: int = 0, size: int = 256, seamless: bool = False,
             psi: float = 1.0, direction_values: Sequence[float] = (), n: int = 1,
             device: str | None = None) -> np.ndarray:
    """`n` textures of one class from consecutive seeds; uint8 [n, size, size, 3]."""
    validate_seeds(seed, n)
    label = class_index(model_id, class_name)
    z_local, z_global = _latents(model_id, range(seed, seed + n), size, seamless, psi, direction_values)
    return _render(model_id, z_local, _styles(model_id, z_global, torch.full((n,), label), device), size, device)


def generate_many(requests: Sequence[dict], device: str | None = None) -> list[np.ndarray | Exception]:
    """`generate(**request)` for each request; a bad request gets its error in its place. Textures are
    large, so each is its own forward pass (nothing to gain from sharing)."""
    results: list[np.ndarray | Exception] = []
    for request in requests:
        try:
            results.append(generate(**request, device=device))
        except (InvalidRequestError, registry.UnknownModelError) as error:
            results.append(error)
    return results


def one_of_each(model_id: str, seed: int, n: int = 1, size: int = 128, seamless: bool = False, psi: float = 1.0,
                device: str | None = None) -> np.ndarray:
    """The latents of seeds seed .. seed + n - 1 as every class; uint8 [classes, n, size, size, 3]."""
    validate_seeds(seed, n)
    names = class_names(model_id)
    classes = max(len(names), 1)  # a generator without classes has one row: "any"
    validate_size(size, classes * n, _generator(model_id).cell)
    z_local, z_global = _latents(model_id, range(seed, seed + n), size, seamless, psi, ())
    labels = torch.arange(classes).repeat_interleave(n) if names else torch.full((n,), classes)
    styles = _styles(model_id, z_global.repeat(classes, 1), labels, device)
    pixels = _render(model_id, z_local.repeat(classes, 1, 1, 1), styles, size, device)
    return pixels.reshape(classes, n, *pixels.shape[1:])


def morph(model_id: str, class_a: str, class_b: str, seed: int, steps: int, size: int = 128, seamless: bool = False,
          psi: float = 1.0, device: str | None = None) -> np.ndarray:
    """One seed's noise and latent while the class embedding blends linearly from A to B; uint8
    [steps, size, size, 3]."""
    lo, hi = MORPH_STEPS_RANGE
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not lo <= steps <= hi:
        raise InvalidRequestError(f"Steps must be a whole number from {lo} to {hi}, not {shown(steps)}.")
    return morph_at(model_id, class_a, class_b, seed, np.linspace(0, 1, steps), size, seamless, psi, device)


@torch.inference_mode()
def morph_at(model_id: str, class_a: str, class_b: str, seed: int, positions: Sequence[float], size: int = 128,
             seamless: bool = False, psi: float = 1.0, device: str | None = None) -> np.ndarray:
    """The morph at fractions `positions` of the way from A (0) to B (1); uint8 [len(positions), size, size, 3]."""
    positions = validate_positions(positions)
    a, b = class_index(model_id, class_a), class_index(model_id, class_b)
    generator = _generator(model_id, device)
    target = next(generator.parameters()).device
    validate_size(size, len(positions), generator.cell)
    z_local, z_global = _latents(model_id, [seed], size, seamless, psi, ())
    t = torch.tensor(positions, dtype=torch.float32, device=target)[:, None]
    embeddings = generator.embedding(torch.tensor([a, b], device=target))
    styles = generator.style_of_embedding(z_global.to(target).expand(len(positions), -1),
                                          (1 - t) * embeddings[0] + t * embeddings[1])
    return _render(model_id, z_local.expand(len(positions), -1, -1, -1), styles, size, device)


def direction_previews(model_id: str, seed: int, psi: float, direction_values: Sequence[float],
                       offsets: Sequence[float] = PREVIEW_OFFSETS, size: int = PREVIEW_SIZE) -> np.ndarray:
    """What each direction does to one texture (any class, `size` pixels, seamless): uint8
    [len(direction_values), len(offsets), size, size, 3], as `sampling.direction_previews` for grey models."""
    values = [float(v) for v in direction_values]
    rows = [values[:k] + [offset] + values[k + 1:] for k in range(len(values)) for offset in offsets]
    latents = [_latents(model_id, [seed], size, True, psi, row) for row in rows]
    z_local, z_global = torch.cat([z for z, _ in latents]), torch.cat([g for _, g in latents])
    label = torch.full((len(rows),), class_index(model_id, ANY_CLASS))
    pixels = _render(model_id, z_local, _styles(model_id, z_global, label), size, per_pass=len(rows))
    return pixels.reshape(len(values), len(offsets), *pixels.shape[1:])


def to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    """A generated image [3, H, W] in [-1, 1] -> RGB uint8 [H, W, 3]."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
