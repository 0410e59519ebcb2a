"""Plain DCGAN baseline (the PyTorch examples/dcgan design) sized for 28x28: transposed
convolutions 1 -> 7 -> 14 -> 28, a two-conv discriminator, BCE loss. Used to measure the studio GAN
against."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DCGANConfig:
    z_dim: int = 100
    width: int = 64  # ngf / ndf of the PyTorch example
    image_channels: int = 1


class DCGANGenerator(nn.Module):
    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.project = nn.Sequential(
            nn.ConvTranspose2d(config.z_dim, 2 * w, 7, 1, 0, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(True),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.ConvTranspose2d(w, config.image_channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def early_features(self, z: torch.Tensor) -> torch.Tensor:
        return self.project(z[:, :, None, None])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.early_features(z))


class DCGANDiscriminator(nn.Module):
    """Outputs logits; the sigmoid of the original lives in BCEWithLogitsLoss for stability."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        w = config.width
        self.net = nn.Sequential(
            nn.Conv2d(config.image_channels, w, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 1, 7, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
