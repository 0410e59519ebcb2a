"""Inference for VAEs: encode images, decode latents, interpolate between two images, 2D latent walks.

Two kinds of VAE serve these functions, told apart by the checkpoint's task: Fashion-MNIST VAEs
(images uint8 [N, 28, 28], see `fashion_mnist.from_picture`) and colour texture VAEs with a spatial
latent (images uint8 RGB [N, S, S, 3], S = TEXTURE_VAE_SIZE, a centred square of a picture). A latent
is always a flat vector per image: a texture VAE's latent grid [C, S/4, S/4] is flattened, so paths,
walks and prior draws treat both kinds alike. An image's latent is its posterior mean, so encoding is
deterministic and a path's end frames are the reconstructions of its end images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models import registry
from models.data import fashion_mnist
from models.errors import InvalidRequestError, shown
from models.image_input import centre_square
from models.loading import load
from models.sampling import latents, to_uint8, validate_positions, validate_seeds

TASK = "variational-autoencoder"
TEXTURE_TASK = "texture-autoencoder"  # colour texture VAEs (models/nets/texvae.py)
TASKS = (TASK, TEXTURE_TASK)
# Pixels a side a texture VAE encodes and decodes. It was trained on 64-pixel patches of photos at 256 pixels
# on their shorter side; a whole photo's centre square at 64 loses 1.6 dB of PSNR against 128 on the shipped
# DTD examples (22.6 against 24.2 dB), but 64 keeps a 16-frame strip or a 6x6 walk whole on screen.
TEXTURE_VAE_SIZE = 64
STEPS_RANGE = (2, 64)
WALK_SIZE_RANGE = (2, 8)
PATHS = ("linear", "slerp")


def negative_elbo_terms(
    net: torch.nn.Module, x: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (Bernoulli negative log-likelihood of the intensities in [0, 1], KL to N(0, I)), in nats.

    `x` is in [-1, 1]; `noise` ~ N(0, I) of shape [N, latent_dim] draws the reparameterised z.
    """
    mean, log_var = net.posterior(x)
    z = mean + torch.exp(0.5 * log_var) * noise
    target = (x + 1) / 2
    nll = F.binary_cross_entropy_with_logits(net.logits(z), target, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)
    return nll, kl


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak = the full range)."""
    mse = ((reconstruction - target) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


class _VAE(NamedTuple):
    net: torch.nn.Module
    device: torch.device
    texture: bool

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (TEXTURE_VAE_SIZE, TEXTURE_VAE_SIZE, 3) if self.texture else (28, 28)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        if self.texture:
            side = TEXTURE_VAE_SIZE // self.net.cell
            return self.net.config.latent_channels, side, side
        return (self.net.config.latent_dim,)


def is_texture(model_id: str) -> bool:
    """Whether `model_id` is a colour texture VAE (else a Fashion-MNIST VAE); other models are refused."""
    checkpoint = registry.get(model_id)
    if checkpoint.task not in TASKS:
        raise InvalidRequestError(f"Model {shown(model_id)} is a {checkpoint.task} model, not a VAE.")
    return checkpoint.task == TEXTURE_TASK


def _vae(model_id: str, device: str | None) -> _VAE:
    texture = is_texture(model_id)
    net = load(model_id, device)
    return _VAE(net, next(net.parameters()).device, texture)


def from_picture(model_id: str, image: Image.Image) -> np.ndarray:
    """The image a VAE sees for a picture: Fashion-MNIST's domain (uint8 [28, 28], garment centred on black),
    or for a texture VAE the picture's centred square at TEXTURE_VAE_SIZE (uint8 RGB [S, S, 3])."""
    if is_texture(model_id):
        return centre_square(image, TEXTURE_VAE_SIZE)
    return fashion_mnist.from_picture(image)


def _as_batch(vae: _VAE, images: np.ndarray) -> torch.Tensor:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != vae.image_shape or images.ndim != len(vae.image_shape) + 1:
        shape = ", ".join(str(n) for n in vae.image_shape)
        raise InvalidRequestError(f"Expected uint8 images of shape [N, {shape}], got {images.dtype} {images.shape}.")
    batch = torch.tensor(images, device=vae.device).float().div(127.5).sub(1)
    return batch.permute(0, 3, 1, 2) if vae.texture else batch.unsqueeze(1)


def latent_size(model_id: str) -> int:
    """Length of a model's (flattened) latent."""
    return math.prod(_vae(model_id, None).latent_shape)


@torch.inference_mode()
def encode(model_id: str, images: np.ndarray, device: str | None = None) -> np.ndarray:
    """Posterior means of images (uint8 [N, 28, 28], or RGB [N, S, S, 3] for a texture VAE); float32
    [N, latent_size], flattened."""
    vae = _vae(model_id, device)
    batch = _as_batch(vae, images)
    mean = vae.net.encode(batch)[0] if vae.texture else vae.net.posterior(batch)[0]
    return mean.flatten(1).cpu().numpy()


@torch.inference_mode()
def decode(model_id: str, z: np.ndarray, device: str | None = None) -> np.ndarray:
    """Decoder means of latents [N, latent_size]; uint8 [N, 28, 28], or RGB [N, S, S, 3] for a texture VAE."""
    vae = _vae(model_id, device)
    z, size = np.asarray(z, dtype=np.float32), math.prod(vae.latent_shape)
    if z.ndim != 2 or z.shape[1] != size or not np.isfinite(z).all():
        raise InvalidRequestError(f"Latents must be finite, of shape [N, {size}].")
    images = vae.net.decode(torch.from_numpy(z).to(vae.device).view(len(z), *vae.latent_shape))
    return to_uint8(images.permute(0, 2, 3, 1)) if vae.texture else to_uint8(images)  # channels last: RGB


def reconstruct(model_id: str, images: np.ndarray, device: str | None = None) -> np.ndarray:
    """What the VAE makes of each image: decode(encode(images)), in the images' shape."""
    return decode(model_id, encode(model_id, images, device), device)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation from a to b at fractions t [T] (great circle of the directions,
    as in White, "Sampling Generative Networks", 2016); linear when a and b are parallel."""
    cos = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    if math.sin(omega) < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / math.sin(omega)


def path_latents(a: np.ndarray, b: np.ndarray, t: np.ndarray, path: str) -> np.ndarray:
    """The latents at fractions `t` [T] of the way from a to b along a linear or spherical path."""
    if path == "slerp":
        return slerp(a, b, t).astype(np.float32)
    return ((1 - t)[:, None] * a + t[:, None] * b).astype(np.float32)


def validate_steps(steps: int, path: str) -> None:
    lo, hi = STEPS_RANGE
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not lo <= steps <= hi:
        raise InvalidRequestError(f"Steps must be a whole number from {lo} to {hi}, not {shown(steps)}.")
    validate_path(path)


def interpolate(model_id: str, image_a: np.ndarray, image_b: np.ndarray, steps: int, path: str = "linear",
                device: str | None = None) -> np.ndarray:
    """Frames from image A's reconstruction to image B's; uint8 [steps, *image shape]."""
    validate_steps(steps, path)
    return path_at(model_id, image_a, image_b, np.linspace(0, 1, steps), path, device)


def validate_path(path: str) -> None:
    if path not in PATHS:
        raise InvalidRequestError(f"Path must be one of {', '.join(PATHS)}, not {shown(path)}.")


def path_at(model_id: str, image_a: np.ndarray, image_b: np.ndarray, positions: Sequence[float],
            path: str = "linear", device: str | None = None) -> np.ndarray:
    """The path from image A's reconstruction (0) to image B's (1) at fractions `positions` of the way; uint8
    [len(positions), *image shape]. A live preview and the final frame at one position are the same call."""
    validate_path(path)
    positions = validate_positions(positions)
    image_a, image_b = np.asarray(image_a), np.asarray(image_b)
    if image_a.shape != image_b.shape:
        raise InvalidRequestError(f"Images A and B differ in shape: {image_a.shape} and {image_b.shape}.")
    z = encode(model_id, np.stack([image_a, image_b]), device)
    return decode(model_id, path_latents(z[0], z[1], positions, path), device)


def prior_latent(model_id: str, seed: int) -> np.ndarray:
    """A latent drawn from the prior N(0, I) by seed (the same seed gives the same latent); [latent_size]."""
    validate_seeds(seed, 1)
    return latents([seed], latent_size(model_id))[0].numpy()


def walk(model_id: str, corners: np.ndarray, size: int, device: str | None = None) -> np.ndarray:
    """Bilinear grid between four corner latents [4, latent_size] (top-left, top-right, bottom-left,
    bottom-right); uint8 [size, size, *image shape]."""
    lo, hi = WALK_SIZE_RANGE
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi:
        raise InvalidRequestError(f"Walk size must be a whole number from {lo} to {hi}, not {shown(size)}.")
    top_left, top_right, bottom_left, bottom_right = np.asarray(corners, dtype=np.float32)
    t = np.linspace(0, 1, size, dtype=np.float32)
    top = (1 - t)[:, None] * top_left + t[:, None] * top_right
    bottom = (1 - t)[:, None] * bottom_left + t[:, None] * bottom_right
    grid = (1 - t)[:, None, None] * top[None] + t[:, None, None] * bottom[None]
    images = decode(model_id, grid.reshape(size * size, -1), device)
    return images.reshape(size, size, *images.shape[1:])
