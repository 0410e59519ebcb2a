"""A convolutional VAE for colour texture patches with a spatial latent.

The latent is a grid (`latent_channels` per cell, one cell per 2**downsamples pixels), so a texture's
layout lives in the latent and interpolating two textures blends them place by place. Fully
convolutional: it encodes and decodes any size that is a multiple of the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TexVAEConfig:
    width: int = 32
    latent_channels: int = 8
    downsamples: int = 2  # a latent cell is 2**downsamples pixels


def block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, 3, padding=1, padding_mode="reflect"),
                         nn.GroupNorm(8, channels_out), nn.LeakyReLU(0.2))


class TexVAE(nn.Module):
    def __init__(self, config: TexVAEConfig):
        super().__init__()
        self.config = config
        w, d = config.width, config.downsamples
        widths = [w * 2 ** min(i, 2) for i in range(d + 1)]
        encoder: list[nn.Module] = [block(3, widths[0])]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2), block(b, b)]
        self.encoder = nn.Sequential(*encoder, nn.Conv2d(widths[-1], 2 * config.latent_channels, 1))
        decoder: list[nn.Module] = [block(config.latent_channels, widths[-1])]
        for a, b in zip(widths[::-1][:-1], widths[::-1][1:], strict=True):
            decoder += [nn.Upsample(scale_factor=2, mode="nearest"), block(a, b), block(b, b)]
        self.decoder = nn.Sequential(*decoder, nn.Conv2d(widths[0], 3, 3, padding=1, padding_mode="reflect"),
                                     nn.Tanh())

    @property
    def cell(self) -> int:
        return 2 ** self.config.downsamples

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of the posterior, each [N, latent_channels, H / cell, W / cell]."""
        mean, log_variance = self.encoder(images).chunk(2, dim=1)
        return mean, log_variance.clamp(-10, 10)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction from a posterior sample, mean, log-variance)."""
        mean, log_variance = self.encode(images)
        latent = mean + torch.randn_like(mean) * (0.5 * log_variance).exp()
        return self.decode(latent), mean, log_variance


def kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(q || N(0, I)) per image, summed over the latent grid."""
    return 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).flatten(1).sum(1)


def detail(images: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude of images [N, 3, H, W] (how much fine structure they hold), per image."""
    dy = (images[:, :, 1:, :-1] - images[:, :, :-1, :-1])
    dx = (images[:, :, :-1, 1:] - images[:, :, :-1, :-1])
    return (dx.pow(2) + dy.pow(2)).sqrt().flatten(1).mean(1)
