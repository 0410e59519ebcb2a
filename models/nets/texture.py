"""Texture classifier for RGB photographs, learned from scratch on little data.

A small residual CNN (stride 2 stem, three stages at 1/4, 1/8 and 1/16 resolution) followed by
orderless pooling, which suits textures (what matters is which local patterns occur, not where):
global average pooling of the last stage concatenated with second-order pooling (the covariance of
a 1x1-reduced copy of it, signed-square-rooted and L2-normalised, as in bilinear CNNs). Fully
convolutional, so it takes images of any size; `class_activation_map` gives the per-pixel class
evidence of the average-pooled branch for heatmaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TextureConfig:
    width: int = 32  # channels of the stem; stages have 2x, 4x, 8x
    second_order_dim: int = 32
    num_classes: int = 10
    class_names: tuple[str, ...] = ()


class Residual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = (nn.Identity() if stride == 1 and cin == cout
                     else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class TextureNet(nn.Module):
    def __init__(self, config: TextureConfig):
        super().__init__()
        self.config = config
        w, d = config.width, config.second_order_dim
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 5, 2, 2, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),  # 1/2
            Residual(w, 2 * w, 2), Residual(2 * w, 2 * w, 1),  # 1/4
            Residual(2 * w, 4 * w, 2), Residual(4 * w, 4 * w, 1),  # 1/8
            Residual(4 * w, 8 * w, 2), Residual(8 * w, 8 * w, 1),  # 1/16
        )
        self.reduce = nn.Sequential(nn.Conv2d(8 * w, d, 1, bias=False), nn.BatchNorm2d(d))
        self.dropout = nn.Dropout(0.3)
        self.average_head = nn.Linear(8 * w, config.num_classes)
        self.second_order_head = nn.Linear(d * (d + 1) // 2, config.num_classes)
        self.register_buffer("triangle", torch.triu_indices(d, d), persistent=False)

    def second_order(self, maps: torch.Tensor) -> torch.Tensor:
        """Upper triangle of the channel covariance of `maps` [N, d, H, W], signed sqrt, L2-normalised."""
        x = self.reduce(maps).flatten(2)
        x = x - x.mean(dim=2, keepdim=True)
        covariance = x @ x.transpose(1, 2) / x.shape[2]
        upper = covariance[:, self.triangle[0], self.triangle[1]]
        return F.normalize(upper.sign() * upper.abs().add(1e-8).sqrt(), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for images [N, 3, H, W] in [-1, 1] (ImageNet-free normalisation: just this range)."""
        maps = self.features(x)
        pooled = self.dropout(maps.mean(dim=(2, 3)))
        return self.average_head(pooled) + self.second_order_head(self.dropout(self.second_order(maps)))

    def class_activation_map(self, x: torch.Tensor, label: int) -> torch.Tensor:
        """Evidence for `label` at each position of the last stage [N, H/16, W/16] (CAM of the average branch)."""
        maps = self.features(x)
        return torch.einsum("nchw,c->nhw", maps, self.average_head.weight[label])


@dataclass(frozen=True)
class TextureEnsembleConfig(TextureConfig):
    descriptor_dim: int = 128  # RootSIFT
    pca_dim: int = 64
    components: int = 128  # Gaussians of the GMM
    cnn_weight: float = 0.5  # fused log-probabilities: this share from the CNN, the rest from the Fisher vectors
    temperature: float = 0.2  # the Fisher-vector SVM's scores are divided by this before their softmax


class FisherVectorHead(nn.Module):
    """A linear classifier on improved Fisher vectors (Perronnin et al. 2010) of local descriptors.

    The descriptors are projected by PCA and soft-assigned to a diagonal GMM; the Fisher vector holds the
    normalised gradients with respect to the GMM's means and variances, signed-square-rooted and
    L2-normalised. Every parameter is a buffer, fitted outside torch (models/train/texture_fisher.py)."""

    def __init__(self, descriptor_dim: int, pca_dim: int, components: int, num_classes: int):
        super().__init__()
        self.register_buffer("pca_mean", torch.zeros(descriptor_dim))
        self.register_buffer("pca_components", torch.zeros(pca_dim, descriptor_dim))
        self.register_buffer("gmm_weights", torch.full((components,), 1 / components))
        self.register_buffer("gmm_means", torch.zeros(components, pca_dim))
        self.register_buffer("gmm_variances", torch.ones(components, pca_dim))
        self.register_buffer("svm_weight", torch.zeros(num_classes, 2 * components * pca_dim))
        self.register_buffer("svm_bias", torch.zeros(num_classes))

    def encode(self, descriptors: torch.Tensor) -> torch.Tensor:
        """The Fisher vector [2 * components * pca_dim] of descriptors [N, descriptor_dim] (N >= 1)."""
        x = (descriptors - self.pca_mean) @ self.pca_components.T
        weights, means, variances = self.gmm_weights, self.gmm_means, self.gmm_variances
        inverse = 1 / variances
        log_likelihood = (-0.5 * ((x * x) @ inverse.T - 2 * x @ (means * inverse).T + (means * means * inverse).sum(1))
                          - 0.5 * variances.log().sum(1) + weights.log())
        posteriors = log_likelihood.softmax(dim=1)  # [N, K]
        count, total, squares = posteriors.sum(0), posteriors.T @ x, posteriors.T @ (x * x)
        n = len(x)
        first = (total - count[:, None] * means) / variances.sqrt() / (n * weights.sqrt()[:, None])
        second = ((squares - 2 * means * total + count[:, None] * means * means) * inverse - count[:, None]) / (
            n * (2 * weights).sqrt()[:, None])
        fisher = torch.cat([first.flatten(), second.flatten()])
        fisher = fisher.sign() * fisher.abs().sqrt()
        return F.normalize(fisher, dim=0)

    def forward(self, descriptors: torch.Tensor) -> torch.Tensor:
        """Class scores [num_classes] (the SVM's decision values) of one image's descriptors."""
        return self.svm_weight @ self.encode(descriptors) + self.svm_bias


class TextureEnsemble(nn.Module):
    """`TextureNet` and a Fisher-vector head on dense SIFT, fused by a weighted sum of log-probabilities.

    The two err differently (learned mid-level features against hand-made gradient histograms), so the
    fusion beats both. The heatmap is the CNN's."""

    def __init__(self, config: TextureEnsembleConfig):
        super().__init__()
        self.config = config
        self.cnn = TextureNet(config)
        self.fisher = FisherVectorHead(config.descriptor_dim, config.pca_dim, config.components, config.num_classes)

    def forward(self, x: torch.Tensor, descriptors: torch.Tensor) -> torch.Tensor:
        """Fused class logits [1, num_classes] of one image [1, 3, H, W] and its descriptors [N, 128]: their
        softmax is the normalised weighted geometric mean of the two members' probabilities."""
        cnn = F.log_softmax(self.cnn(x), dim=1)
        fisher = F.log_softmax(self.fisher(descriptors)[None] / self.config.temperature, dim=1)
        return self.config.cnn_weight * cnn + (1 - self.config.cnn_weight) * fisher

    def class_activation_map(self, x: torch.Tensor, label: int) -> torch.Tensor:
        return self.cnn.class_activation_map(x, label)
