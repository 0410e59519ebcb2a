"""Convolutional VAE for 28x28 grayscale images.

Encoder: two stride-2 convolutions (28 -> 14 -> 7), a 3x3 convolution, and a linear layer to the
posterior mean and log-variance. Decoder: the mirror image, ending in per-pixel logits; the
likelihood is Bernoulli on intensities in [0, 1], so `decode` returns sigmoid(logits) mapped to the
studio's [-1, 1] image range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 32
    width: int = 32  # channels at 14x14; 7x7 has 2x and 4x
    image_channels: int = 1


def _conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
    kernel = 4 if stride == 2 else 3
    return [nn.Conv2d(cin, cout, kernel, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        w, c = config.width, config.image_channels
        self.encoder = nn.Sequential(
            *_conv(c, w, 2), *_conv(w, 2 * w, 2), *_conv(2 * w, 4 * w, 1), nn.Flatten(),
            nn.Linear(4 * w * 7 * 7, 2 * config.latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, 4 * w * 7 * 7, bias=False), nn.Unflatten(1, (4 * w, 7, 7)),
            nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
            *_up(4 * w, 2 * w), *_up(2 * w, w), nn.Conv2d(w, c, 3, 1, 1),
        )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of q(z | x) for images in [-1, 1]."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var.clamp(-30, 20)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x | z) per pixel."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x | z) as an image in [-1, 1]."""
        return torch.sigmoid(self.logits(z)) * 2 - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the posterior mean (what the studio shows)."""
        return self.decode(self.posterior(x)[0])
