"""Inference for unconditional generators: seeds, truncation and principal-direction edits -> pixels.

Deterministic: each image's latent comes from its own seed through a CPU `torch.Generator`, so
image i of a grid with first seed s is the same image as a single sample with seed s + i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models import registry
from models.errors import InvalidRequestError, shown
from models.loading import load, verified_tensors

TASK = "unconditional-generation"
MAX_SEED = 2**32 - 1
MAX_SAMPLES = 64
PSI_RANGE = (0.0, 2.0)
DIRECTION_RANGE = (-5.0, 5.0)  # standard deviations along a principal direction
FORWARD_ROWS = 16  # every serving forward pass computes exactly this many rows (see fixed_size_forward)


@dataclass(frozen=True)
class LatentDirections:
    directions: torch.Tensor  # [k, z_dim] unit vectors
    explained_variance: torch.Tensor  # [k] fraction of early-layer variance

    def __len__(self) -> int:
        return self.directions.shape[0]


_directions_cache: dict[tuple[str, str], LatentDirections] = {}


def latent_directions(model_id: str) -> LatentDirections:
    """The checkpoint's GANSpace directions, verified against their sha256 and cached (by that sha256, so a
    user model exported again under its id is read again)."""
    checkpoint = registry.get(model_id)
    file = checkpoint.extra_files.get("latent_directions")
    if file is None:
        raise InvalidRequestError(f"Model {shown(model_id)} has no latent directions.")
    key = (model_id, file.sha256)
    if key not in _directions_cache:
        tensors = verified_tensors(checkpoint, file)
        _directions_cache[key] = LatentDirections(tensors["directions"], tensors["explained_variance"])
    return _directions_cache[key]


def latents(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """One standard-normal latent per seed, drawn on the CPU so every device sees the same z."""
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 1, H, W] in [-1, 1] -> uint8 [N, H, W]."""
    return ((images.squeeze(1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def validate_seeds(seed: int, n: int) -> None:
    """Seeds seed .. seed + n - 1 must all be valid, and n a supported batch size."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise InvalidRequestError(f"Seed must be a whole number from 0 to {MAX_SEED}, not {shown(seed)}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SAMPLES:
        raise InvalidRequestError(f"Number of samples must be a whole number from 1 to {MAX_SAMPLES}, not {shown(n)}.")
    if seed + n - 1 > MAX_SEED:
        raise InvalidRequestError(f"Seed {seed} + {n} samples runs past the largest seed {MAX_SEED}.")


def validate_psi(psi: float) -> None:
    if not PSI_RANGE[0] <= psi <= PSI_RANGE[1]:
        raise InvalidRequestError(f"Truncation psi must be from {PSI_RANGE[0]} to {PSI_RANGE[1]}, not {psi}.")


def validate_positions(positions: Sequence[float]) -> np.ndarray:
    """Fractions of the way from one end to the other, each from 0 to 1."""
    try:
        positions = np.asarray(positions, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise InvalidRequestError("Positions must be numbers from 0 to 1.") from error
    if not len(positions) or not (np.isfinite(positions) & (positions >= 0) & (positions <= 1)).all():
        raise InvalidRequestError("Positions must be numbers from 0 to 1.")
    return positions


def validate(seed: int, n: int, psi: float, direction_values: Sequence[float], max_directions: int) -> None:
    validate_seeds(seed, n)
    validate_psi(psi)
    if len(direction_values) > max_directions:
        raise InvalidRequestError(
            f"This model has {max_directions} latent directions; {len(direction_values)} values were given."
        )
    lo, hi = DIRECTION_RANGE
    if any(not lo <= v <= hi for v in direction_values):
        raise InvalidRequestError(f"Direction values must lie from {lo} to {hi} standard deviations.")


def checkpoint_for(model_id: str, task: str) -> registry.Checkpoint:
    """The registry entry of `model_id`, which must serve `task`."""
    checkpoint = registry.get(model_id)
    if checkpoint.task != task:
        raise InvalidRequestError(f"Model {shown(model_id)} is a {checkpoint.task} model, not {task}.")
    return checkpoint


def check_request(model_id: str, seed: int, n: int = 1, psi: float = 1.0,
                  direction_values: Sequence[float] = ()) -> int:
    """Refuse a request for seeds seed .. seed + n - 1 that `sample_latents` would refuse; returns the
    model's z_dim."""
    checkpoint = checkpoint_for(model_id, TASK)
    directions = latent_directions(model_id)
    validate(seed, n, float(psi), [float(v) for v in direction_values], len(directions))
    return int(checkpoint.config["z_dim"])


def steer(model_id: str, z: torch.Tensor, psi: float = 1.0, direction_values: Sequence[float] = ()) -> torch.Tensor:
    """Standard-normal draws [n, z_dim] -> latents: psi * z + sum_k value_k * direction_k (values in standard
    deviations; not validated here)."""
    z = z * psi
    direction_values = [float(v) for v in direction_values]
    if direction_values:
        values = torch.tensor(direction_values, dtype=z.dtype)
        z = z + values @ latent_directions(model_id).directions[: len(values)]
    return z


def sample_latents(model_id: str, seed: int, n: int = 1, psi: float = 1.0,
                   direction_values: Sequence[float] = ()) -> torch.Tensor:
    """The validated latents of a request, [n, z_dim]: z = psi * z_seed + sum_k value_k * direction_k
    (values in standard deviations)."""
    z_dim = check_request(model_id, seed, n, psi, direction_values)
    return steer(model_id, latents(range(seed, seed + n), z_dim), psi, direction_values)


def fixed_size_forward(net: torch.nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """`net(*inputs)` computed in zero-padded chunks of exactly FORWARD_ROWS rows. CPU matrix and
    convolution kernels choose their blocking by batch size, so a row's last bits (and now and then a
    pixel after rounding) could depend on how many rows it shared a pass with; with one fixed size, a
    request's pixels are the same whether it is served alone or batched with others."""
    outputs = []
    for start in range(0, len(inputs[0]), FORWARD_ROWS):
        chunk = [x[start : start + FORWARD_ROWS] for x in inputs]
        rows = len(chunk[0])
        padded = [torch.cat([x, x.new_zeros((FORWARD_ROWS - rows, *x.shape[1:]))]) for x in chunk]
        outputs.append(net(*padded)[:rows])
    return torch.cat(outputs)


@torch.inference_mode()
def render(model_id: str, z: torch.Tensor, device: str | None = None) -> np.ndarray:
    """Latents [N, z_dim] -> uint8 [N, H, W]."""
    generator = load(checkpoint_for(model_id, TASK), device)
    return to_uint8(fixed_size_forward(generator, z.to(next(generator.parameters()).device)))


def sample(model_id: str, seed: int, n: int = 1, psi: float = 1.0, direction_values: Sequence[float] = (),
           device: str | None = None) -> np.ndarray:
    """Generate `n` images from consecutive seeds; returns uint8 [n, H, W]."""
    return render(model_id, sample_latents(model_id, seed, n, psi, direction_values), device)


PREVIEW_OFFSETS = (-4.0, -2.0, 0.0, 2.0, 4.0)  # standard deviations a direction's preview strip shows


def direction_previews(model_id: str, seed: int, psi: float, direction_values: Sequence[float],
                       offsets: Sequence[float] = PREVIEW_OFFSETS) -> np.ndarray:
    """What each direction does to one sample: uint8 [len(direction_values), len(offsets), H, W], row k the
    sample with direction k set to each offset and the others at `direction_values`, in one forward pass."""
    values = [float(v) for v in direction_values]
    z = torch.cat([sample_latents(model_id, seed, 1, psi, values[:k] + [offset] + values[k + 1:])
                   for k in range(len(values)) for offset in offsets])
    pixels = render(model_id, z)
    return pixels.reshape(len(values), len(offsets), *pixels.shape[1:])


def shared_forward_passes(requests: Sequence, prepare: Callable, run: Callable) -> list:
    """Serve several requests with one forward pass per model. `prepare(request)` returns (model_id, inputs:
    tuple of tensors with a batch dimension) or raises InvalidRequestError; `run(model_id, *inputs)` returns
    one output row per input row. Each request gets its rows back, or its own error, so one caller's mistake
    does not fail the others."""
    results: list = [None] * len(requests)
    groups: dict[str, list[tuple[int, tuple]]] = {}
    for i, request in enumerate(requests):
        try:
            model_id, inputs = prepare(request)
        except (InvalidRequestError, registry.UnknownModelError) as error:
            results[i] = error
            continue
        groups.setdefault(model_id, []).append((i, inputs))
    for model_id, members in groups.items():
        outputs = run(model_id, *(torch.cat(parts) for parts in zip(*(inputs for _, inputs in members), strict=True)))
        start = 0
        for i, inputs in members:
            results[i] = outputs[start : start + len(inputs[0])]
            start += len(inputs[0])
    return results


def sample_many(requests: Sequence[dict], device: str | None = None) -> list[np.ndarray | Exception]:
    """`sample(**request)` for each request, sharing forward passes; a bad request gets its error in its place."""
    return shared_forward_passes(
        requests,
        lambda r: (r["model_id"], (sample_latents(r["model_id"], r["seed"], r.get("n", 1), r.get("psi", 1.0),
                                                  r.get("direction_values", ())),)),
        lambda model_id, z: render(model_id, z, device))
