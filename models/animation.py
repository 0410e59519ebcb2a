"""Frames of latent animations, each a seamless loop (the first frame follows the last): a sweep along one
GANSpace direction (-5 -> +5 -> -5 standard deviations), a loop through N consecutive seeds (spherical
interpolation from each seed's latent to the next and back to the first), a class morph (A -> B -> A) and a
VAE path (A -> B -> A).

Deterministic, like the functions they build on: a sweep's frame at value v is the single sample with that
direction at v, and a seed loop passes through each seed's own sample exactly (same latents, same forward
passes). Frames are made a chunk at a time; `progress(fraction)` is called between chunks, so the caller can
show how far it got and stop the work by raising from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from models import conditional, sampling, texgen, vae
from models.errors import InvalidRequestError, shown

MAX_FRAMES = 600  # most frames one animation has (20 seconds at 30 frames a second)
SEED_COUNT_RANGE = (2, 16)  # seeds a seed loop passes through
CHUNK = 32  # frames per forward pass between progress reports (grey 28-pixel frames; textures go one by one)

Progress = Callable[[float], None] | None


def validate_frames(frames: int, minimum: int = 2) -> None:
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not minimum <= frames <= MAX_FRAMES:
        raise InvalidRequestError(f"An animation has {minimum} to {MAX_FRAMES} frames, not {shown(frames)}.")


def loop_positions(frames: int) -> np.ndarray:
    """Fractions of the way from one end (0) to the other (1) and back for `frames` frames of a seamless loop,
    eased (a cosine): frame 0 is at 0, frame frames/2 (for an even count) at 1, and frame 0 follows the last."""
    validate_frames(frames)
    return (1 - np.cos(2 * np.pi * np.arange(frames) / frames)) / 2


def _report(progress: Progress, fraction: float) -> None:
    if progress is not None:
        progress(min(1.0, fraction))


def _in_chunks(count: int, make: Callable[[slice], np.ndarray], progress: Progress, chunk: int = CHUNK) -> np.ndarray:
    """`make(rows)` for consecutive slices of `chunk` rows of `count`, concatenated, with progress between."""
    parts = []
    for start in range(0, count, chunk):
        _report(progress, start / count)
        parts.append(make(slice(start, min(count, start + chunk))))
    _report(progress, 1.0)
    return np.concatenate(parts)


def _direction_rows(model_id: str, direction_values: Sequence[float], direction: int,
                    values: np.ndarray) -> list[list[float]]:
    """The direction values of each frame of a sweep: `direction` (0-based) at each of `values`, the others as
    given (missing ones at 0)."""
    count = len(sampling.latent_directions(model_id))
    if isinstance(direction, bool) or not isinstance(direction, (int, np.integer)) or not 0 <= direction < count:
        raise InvalidRequestError(f"This model has directions 1 to {count}; direction {shown(direction)} was asked.")
    base = [float(v) for v in direction_values] + [0.0] * max(0, direction + 1 - len(direction_values))
    return [base[:direction] + [float(v)] + base[direction + 1:] for v in values]


def sweep(model_id: str, seed: int, psi: float, direction_values: Sequence[float], direction: int, frames: int,
          size: int = 256, seamless: bool = False, progress: Progress = None) -> np.ndarray:
    """One sample while direction `direction` (0-based) goes from -5 to +5 and back (eased; +5 at frame
    frames/2 for an even count), the other directions at `direction_values`. uint8 [frames, H, W] for a grey
    generator, [frames, size, size, 3] for a texture generator (`size` and `seamless` apply only to it)."""
    lo, hi = sampling.DIRECTION_RANGE
    rows = _direction_rows(model_id, direction_values, direction, lo + (hi - lo) * loop_positions(frames))
    if texgen.is_texture_model(model_id):
        return _in_chunks(frames, lambda part: np.concatenate([
            texgen.generate(model_id, texgen.ANY_CLASS, seed, size, seamless, psi, row) for row in rows[part]]),
            progress, chunk=1)
    z = torch.cat([sampling.sample_latents(model_id, seed, 1, psi, row) for row in rows])
    return _in_chunks(frames, lambda part: sampling.render(model_id, z[part]), progress)


def slerp_loop(points: torch.Tensor, per_segment: int) -> torch.Tensor:
    """A closed path through `points` [N, ...]: `per_segment` steps of spherical interpolation from each to the
    next and from the last back to the first; [N * per_segment, ...]. Step 0 of each segment is its point
    exactly (not a rounding of it), so the loop passes through every point."""
    flat = points.reshape(len(points), -1).double().numpy()
    t = np.arange(per_segment) / per_segment
    segments = []
    for j in range(len(flat)):
        segment = vae.slerp(flat[j], flat[(j + 1) % len(flat)], t)
        segment = torch.from_numpy(segment).to(points.dtype)
        segment[0] = points[j].reshape(-1)
        segments.append(segment)
    return torch.cat(segments).reshape(len(points) * per_segment, *points.shape[1:])


def seed_loop(model_id: str, seed: int, seeds: int, psi: float, direction_values: Sequence[float],
              frames_per_seed: int, size: int = 256, seamless: bool = False, progress: Progress = None) -> np.ndarray:
    """A seamless loop through seeds seed .. seed + seeds - 1: `frames_per_seed` frames from each seed's latent
    to the next (slerp of the seeds' standard-normal draws, then truncation and directions as for one sample),
    the last back to the first. Frame j * frames_per_seed is the sample of seed + j exactly. For a texture
    generator the spatial noise is interpolated the same way. uint8 [seeds * frames_per_seed, ...]."""
    lo, hi = SEED_COUNT_RANGE
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or not lo <= seeds <= hi:
        raise InvalidRequestError(f"A seed loop passes through {lo} to {hi} seeds, not {shown(seeds)}.")
    if isinstance(frames_per_seed, bool) or not isinstance(frames_per_seed, (int, np.integer)) or frames_per_seed < 1:
        raise InvalidRequestError(f"Frames per seed must be a whole number, at least 1, not {shown(frames_per_seed)}.")
    validate_frames(seeds * frames_per_seed)
    values = [float(v) for v in direction_values]
    if texgen.is_texture_model(model_id):
        return _texture_seed_loop(model_id, seed, seeds, psi, values, frames_per_seed, size, seamless, progress)
    z_dim = sampling.check_request(model_id, seed, seeds, psi, values)
    # The seeds' draws, interpolated, then psi and directions as for one sample: the seeds' frames are their samples.
    z = sampling.steer(model_id, slerp_loop(sampling.latents(range(seed, seed + seeds), z_dim), frames_per_seed),
                       psi, values)
    return _in_chunks(len(z), lambda part: sampling.render(model_id, z[part]), progress)


def _texture_seed_loop(model_id: str, seed: int, seeds: int, psi: float, values: list[float], frames_per_seed: int,
                       size: int, seamless: bool, progress: Progress) -> np.ndarray:
    texgen.check_request(model_id, seed, 1, size, psi, values)  # one frame at a time: one texture's size
    sampling.validate_seeds(seed, seeds)
    z_local, z_global = texgen.noise(model_id, range(seed, seed + seeds), size, seamless)
    z_local = slerp_loop(z_local, frames_per_seed)
    z_global = sampling.steer(model_id, slerp_loop(z_global, frames_per_seed), psi, values)

    def frame(part: slice) -> np.ndarray:
        return texgen.render(model_id, z_local[part], z_global[part], texgen.ANY_CLASS, size)

    return _in_chunks(len(z_local), frame, progress, chunk=1)


def morph_loop(model_id: str, class_a: str, class_b: str, seed: int, frames: int, psi: float = 1.0,
               size: int = 128, seamless: bool = False, progress: Progress = None) -> np.ndarray:
    """A class morph from A to B and back (eased): uint8 [frames, 28, 28] for the grey conditional generator,
    [frames, size, size, 3] for a texture generator."""
    positions = loop_positions(frames)
    if texgen.is_texture_model(model_id):
        return _in_chunks(frames, lambda part: texgen.morph_at(model_id, class_a, class_b, seed, positions[part],
                                                                size, seamless, psi), progress, chunk=4)
    return _in_chunks(frames, lambda part: conditional.morph_at(model_id, class_a, class_b, seed, positions[part],
                                                                psi), progress)


def path_loop(model_id: str, image_a: np.ndarray, image_b: np.ndarray, frames: int, path: str = "slerp",
              progress: Progress = None) -> np.ndarray:
    """A VAE's path from image A's reconstruction to image B's and back (eased); uint8 [frames, *image shape]."""
    positions = loop_positions(frames)
    return _in_chunks(frames, lambda part: vae.path_at(model_id, image_a, image_b, positions[part], path), progress)
