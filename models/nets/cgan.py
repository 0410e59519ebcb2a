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

    def early_features(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Activations of the first layer (7x7 maps)."""
        w = self.config.width
        x = self.project(torch.cat([z, embedding], dim=1)).view(-1, 4 * w, 7, 7)
        return torch.relu(self.norm0(x, embedding))

    def synthesize(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Images from latents and class embeddings (rows of `embed`, or blends of them)."""
        x = self.early_features(z, embedding)
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


@dataclass(frozen=True)
class ClusterGeneratorConfig:
    z_dim: int = 64
    width: int = 32
    embedding_dim: int = 32
    cluster_weights: tuple[float, ...] = (1.0,)  # share of the training images in each cluster
    image_channels: int = 1


class ClusterGenerator(nn.Module):
    """An unconditional generator G(z) made of a conditional one whose "classes" are clusters of the
    training images found without labels (k-means; in the spirit of self-conditioned GANs, Liu et al.,
    2020). The angle of (z[0], z[1]) picks the cluster, each in proportion to its share of the data: for
    z ~ N(0, I) that angle is uniform and independent of |z|, so truncation (scaling z) keeps the cluster."""

    def __init__(self, config: ClusterGeneratorConfig):
        super().__init__()
        self.config = config
        self.conditional = ConditionalGenerator(ConditionalGeneratorConfig(
            z_dim=config.z_dim, width=config.width, num_classes=len(config.cluster_weights),
            embedding_dim=config.embedding_dim, image_channels=config.image_channels))
        weights = torch.tensor(config.cluster_weights, dtype=torch.float64)
        self.register_buffer("bounds", (weights.cumsum(0) / weights.sum()).float(), persistent=False)

    def clusters(self, z: torch.Tensor) -> torch.Tensor:
        turn = (torch.atan2(z[:, 1], z[:, 0]) / (2 * torch.pi)) % 1.0
        return torch.bucketize(turn, self.bounds, right=True).clamp_(max=len(self.bounds) - 1)

    def latents(self, clusters: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """z ~ N(0, I) conditioned on picking `clusters` (used in training to fill class-grouped batches)."""
        low = torch.cat([self.bounds.new_zeros(1), self.bounds[:-1]]).cpu()[clusters.cpu()]
        high = self.bounds.cpu()[clusters.cpu()]
        angle = 2 * torch.pi * (low + (high - low) * torch.rand(len(clusters), generator=generator))
        radius = torch.sqrt(-2 * torch.log1p(-torch.rand(len(clusters), generator=generator)))
        rest = torch.randn(len(clusters), self.config.z_dim - 2, generator=generator)
        return torch.cat([(radius * torch.cos(angle))[:, None], (radius * torch.sin(angle))[:, None], rest], 1)

    def early_features(self, z: torch.Tensor) -> torch.Tensor:
        return self.conditional.early_features(z, self.conditional.embed(self.clusters(z)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conditional(z, self.clusters(z))
