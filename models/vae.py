"""Inference for VAEs: encode images, decode latents, interpolate between two images, 2D latent walks.

Images are uint8 [N, 28, 28] in the Fashion-MNIST domain (see `fashion_mnist.from_picture`). An
image's latent is its posterior mean, so encoding is deterministic and a path's end frames are the
reconstructions of its end images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from models.errors import InvalidRequestError, shown
from models.loading import load
from models.sampling import checkpoint_for, latents, to_uint8, validate_seeds

TASK = "variational-autoencoder"
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


def _vae(model_id: str, device: str | None):
    net = load(checkpoint_for(model_id, TASK), device)
    return net, next(net.parameters()).device


def _as_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InvalidRequestError(f"Expected uint8 images of shape [N, 28, 28], got {images.dtype} {images.shape}.")
    return torch.tensor(images, device=device).float().div(127.5).sub(1).unsqueeze(1)


@torch.inference_mode()
def encode(model_id: str, images: np.ndarray, device: str | None = None) -> np.ndarray:
    """Posterior means of uint8 [N, 28, 28] images; float32 [N, latent_dim]."""
    net, param_device = _vae(model_id, device)
    return net.posterior(_as_batch(images, param_device))[0].cpu().numpy()


@torch.inference_mode()
def decode(model_id: str, z: np.ndarray, device: str | None = None) -> np.ndarray:
    """Decoder means of latents [N, latent_dim]; uint8 [N, 28, 28]."""
    net, param_device = _vae(model_id, device)
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != net.config.latent_dim or not np.isfinite(z).all():
        raise InvalidRequestError(f"Latents must be finite, of shape [N, {net.config.latent_dim}].")
    return to_uint8(net.decode(torch.from_numpy(z).to(param_device)))


def reconstruct(model_id: str, images: np.ndarray, device: str | None = None) -> np.ndarray:
    """What the VAE makes of each image: decode(encode(images)); uint8 [N, 28, 28]."""
    return decode(model_id, encode(model_id, images, device), device)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation from a to b at fractions t [T] (great circle of the directions,
    as in White, "Sampling Generative Networks", 2016); linear when a and b are parallel."""
    cos = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    if math.sin(omega) < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (np.sin((1 - t) * omega)[:, None] * a + np.sin(t * omega)[:, None] * b) / math.sin(omega)


def path_latents(a: np.ndarray, b: np.ndarray, steps: int, path: str) -> np.ndarray:
    """`steps` latents from a to b (both ends included) along a linear or spherical path."""
    t = np.linspace(0, 1, steps)
    if path == "slerp":
        return slerp(a, b, t).astype(np.float32)
    return ((1 - t)[:, None] * a + t[:, None] * b).astype(np.float32)


def validate_steps(steps: int, path: str) -> None:
    lo, hi = STEPS_RANGE
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not lo <= steps <= hi:
        raise InvalidRequestError(f"Steps must be a whole number from {lo} to {hi}, not {shown(steps)}.")
    if path not in PATHS:
        raise InvalidRequestError(f"Path must be one of {', '.join(PATHS)}, not {shown(path)}.")


def interpolate(model_id: str, image_a: np.ndarray, image_b: np.ndarray, steps: int, path: str = "linear",
                device: str | None = None) -> np.ndarray:
    """Frames from image A's reconstruction to image B's; uint8 [steps, 28, 28]."""
    validate_steps(steps, path)
    z = encode(model_id, np.stack([image_a, image_b]), device)
    return decode(model_id, path_latents(z[0], z[1], steps, path), device)


def prior_latent(model_id: str, seed: int) -> np.ndarray:
    """A latent drawn from the prior N(0, I) by seed (the same seed gives the same latent); [latent_dim]."""
    validate_seeds(seed, 1)
    net, _ = _vae(model_id, None)
    return latents([seed], net.config.latent_dim)[0].numpy()


def walk(model_id: str, corners: np.ndarray, size: int, device: str | None = None) -> np.ndarray:
    """Bilinear grid between four corner latents [4, latent_dim] (top-left, top-right, bottom-left,
    bottom-right); uint8 [size, size, 28, 28]."""
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
