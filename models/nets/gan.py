"""The studio's unconditional GAN for 28x28 grayscale images.

Generator: a DCGAN-family stack (linear to 7x7, two stride-2 transposed convolutions, a 3x3 output
convolution). Discriminator: two stride-2 convolutions and a linear head, normalised by batch norm
(the shipped models), spectral norm (for the hinge loss) or nothing (for an R1 penalty); the
training script picks the loss that goes with each. Both are sized to train on a CPU in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class GeneratorConfig:
    z_dim: int = 64
    width: int = 64  # channels at 28x28; 14x14 has 2x, 7x7 has 4x
    image_channels: int = 1


class Generator(nn.Module):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.project = nn.Sequential(
            nn.Linear(config.z_dim, 4 * w * 7 * 7, bias=False),
            nn.Unflatten(1, (4 * w, 7, 7)),
            nn.BatchNorm2d(4 * w),
            nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, config.image_channels, 3, 1, 1),
            nn.Tanh(),
        )

    def early_features(self, z: torch.Tensor) -> torch.Tensor:
        """Activations of the first layer (7x7 maps), where GANSpace finds its principal directions."""
        return self.project(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


@dataclass(frozen=True)
class DiscriminatorConfig:
    width: int = 64  # channels at 14x14; 7x7 has 2x
    image_channels: int = 1
    norm: str = "spectral"  # "spectral", "batch" (DCGAN-style), or "none" (for R1-regularised training)


def discriminator_trunk(config: DiscriminatorConfig) -> nn.Sequential:
    """Two stride-2 convolutions 28 -> 14 -> 7, shared by the unconditional and projection critics."""
    w = config.width
    wrap = spectral_norm if config.norm == "spectral" else (lambda layer: layer)
    return nn.Sequential(
        wrap(nn.Conv2d(config.image_channels, w, 4, 2, 1)),
        nn.LeakyReLU(0.2, inplace=True),
        wrap(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=config.norm != "batch")),
        nn.BatchNorm2d(2 * w) if config.norm == "batch" else nn.Identity(),
        nn.LeakyReLU(0.2, inplace=True),
    )


MINIBATCH_STD_GROUP = 4  # samples per standard-deviation group


class MinibatchStdDev(nn.Module):
    """Append the mean standard deviation of features across groups of samples as one more channel
    (Karras et al., 2018), so the critic sees a batch's diversity and can punish a collapsed generator."""

    def __init__(self, group_size: int = MINIBATCH_STD_GROUP):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:
            group = 1
        std = x.view(group, -1, c, h, w).var(0, unbiased=False).add(1e-8).sqrt().mean(dim=(1, 2, 3))
        return torch.cat([x, std.repeat(group)[:, None, None, None].expand(n, 1, h, w)], dim=1)


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.features = discriminator_trunk(config)
        head = nn.Linear(2 * config.width * 7 * 7, 1)
        self.head = spectral_norm(head) if config.norm == "spectral" else head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)
