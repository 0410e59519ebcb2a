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
