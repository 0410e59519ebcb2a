"""The studio's class-conditional GAN for 28x28 grayscale images.

Generator: the unconditional generator's stack with conditional batch norm. One shared class
embedding feeds the input (concatenated to z) and every norm layer's scale and shift, so a class
is a point in embedding space and two classes can be blended by interpolating their embeddings.
Discriminator: the unconditional critic's convolutions, a minibatch standard-deviation channel
against mode collapse (a conditional generator can otherwise ignore z and draw one image per
class), a projection head (Miyato & Koyama, 2018), and an auxiliary classification head (as in
AC-GAN, trained on real images only) whose verdict on generated images pushes the generator to
make each class recognisable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.nets.gan import DiscriminatorConfig, MinibatchStdDev, discriminator_trunk


@dataclass(frozen=True)
class ConditionalGeneratorConfig:
    z_dim: int = 64
    width: int = 32
    num_classes: int = 10
    embedding_dim: int = 32
    image_channels: int = 1


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are predicted from a class embedding."""

    def __init__(self, channels: int, embedding_dim: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.affine = nn.Linear(embedding_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine(embedding)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * scale + shift


class ConditionalGenerator(nn.Module):
    def __init__(self, config: ConditionalGeneratorConfig):
        super().__init__()
        self.config = config
        w, e = config.width, config.embedding_dim
        self.class_embedding = nn.Embedding(config.num_classes, e)
        self.project = nn.Linear(config.z_dim + e, 4 * w * 7 * 7, bias=False)
        self.norm0 = ConditionalBatchNorm2d(4 * w, e)
        self.up1 = nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False)
        self.norm1 = ConditionalBatchNorm2d(2 * w, e)
        self.up2 = nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False)
        self.norm2 = ConditionalBatchNorm2d(w, e)
        self.to_image = nn.Conv2d(w, config.image_channels, 3, 1, 1)

    def embed(self, labels: torch.Tensor) -> torch.Tensor:
        return self.class_embedding(labels)

    def synthesize(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Images from latents and class embeddings (rows of `embed`, or blends of them)."""
        w = self.config.width
        x = self.project(torch.cat([z, embedding], dim=1)).view(-1, 4 * w, 7, 7)
        x = torch.relu(self.norm0(x, embedding))
        x = torch.relu(self.norm1(self.up1(x), embedding))
        x = torch.relu(self.norm2(self.up2(x), embedding))
        return torch.tanh(self.to_image(x))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.synthesize(z, self.embed(labels))


class ProjectionDiscriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig, num_classes: int = 10):
        super().__init__()
        feature_dim = (2 * config.width + 1) * 7 * 7
        wrap = spectral_norm if config.norm == "spectral" else (lambda layer: layer)
        self.features = nn.Sequential(discriminator_trunk(config), MinibatchStdDev())
        self.head = wrap(nn.Linear(feature_dim, 1))
        projection = nn.Embedding(num_classes, feature_dim)
        if config.norm == "spectral":
            self.class_projection = spectral_norm(projection)  # normalised, so its N(0, 1) init is harmless
        else:
            nn.init.zeros_(projection.weight)  # unnormalised N(0, 1) rows would outweigh the head ~80x at first
            self.class_projection = projection
        self.class_head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.logits_and_classes(x, labels)[0]

    def logits_and_classes(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logits [N], class logits [N, num_classes])."""
        h = self.features(x).flatten(1)
        logits = self.head(h).squeeze(1) + (self.class_projection(labels) * h).sum(1)
        return logits, self.class_head(h)
