"""Inpainting network for RGB photographs: a U-Net of gated convolutions (Yu et al., "Free-Form Image
Inpainting with Gated Convolution", 2019), and the PatchGAN critic it trains against.

The hole is first filled by pyramid (push-pull) interpolation of the known pixels, a smooth fill as
good as classical diffusion inpainting; the network sees that fill and the mask and predicts a
correction to it (its last layer starts at zero, so training starts from the smooth fill). Output:
an RGB image in [-1, 1]; callers keep the known pixels and take only the hole from it. Sizes must
be multiples of `InpaintNet.MULTIPLE` (the inference code pads). The network works at 1/2 to 1/8
resolution (a dilated bottleneck at 1/8 gives each hole pixel context from far away) and only its
last layer runs at full resolution, which keeps it fast on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class InpaintConfig:
    width: int = 16  # channels at 1/2 resolution; 1/4 has 2x, 1/8 has 4x
    dilations: tuple[int, ...] = (2, 4, 8)


class GatedConv(nn.Module):
    """features * sigmoid(gate): the layer learns per pixel and channel how much to trust its input."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, kernel, stride, dilation * (kernel - 1) // 2, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(features) * torch.sigmoid(gate)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def pyramid_fill(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Push-pull interpolation: average the known pixels down a pyramid until every cell has some,
    then fill each level's unknown pixels from the level below, upsampled. image [N, C, H, W],
    known [N, 1, H, W] in [0, 1]."""
    levels = [(image * known, known)]
    while min(levels[-1][0].shape[2:]) > 1 and not bool((levels[-1][1] > 0).all()):
        x, w = levels[-1]
        levels.append((F.avg_pool2d(x, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True)))
    x, w = levels[-1]
    filled = x / w.clamp_min(1e-8)
    for x, w in reversed(levels[:-1]):
        coarse = F.interpolate(filled, size=x.shape[2:], mode="bilinear", align_corners=False)
        weight = w.clamp(0, 1)
        filled = weight * (x / w.clamp_min(1e-8)) + (1 - weight) * coarse
    return filled


class InpaintNet(nn.Module):
    MULTIPLE = 8

    def __init__(self, config: InpaintConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.enc1 = nn.Sequential(GatedConv(4, w, 5, 2), GatedConv(w, w))  # 1/2
        self.enc2 = nn.Sequential(GatedConv(w, 2 * w, 3, 2), GatedConv(2 * w, 2 * w))  # 1/4
        self.enc3 = GatedConv(2 * w, 4 * w, 3, 2)  # 1/8
        self.bottleneck = nn.Sequential(*(GatedConv(4 * w, 4 * w, 3, 1, d) for d in config.dilations))
        self.dec2 = nn.Sequential(GatedConv(4 * w + 2 * w, 2 * w), GatedConv(2 * w, 2 * w))
        self.dec1 = nn.Sequential(GatedConv(2 * w + w, w), GatedConv(w, w))
        self.out = nn.Sequential(GatedConv(w + 4, w), nn.Conv2d(w, 3, 3, 1, 1))  # full resolution
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """image [N, 3, H, W] in [-1, 1], mask [N, 1, H, W] (1 = hole) -> RGB [N, 3, H, W] in [-1, 1]."""
        smooth = pyramid_fill(image, 1 - mask)
        known = torch.cat([smooth, mask], dim=1)
        x1 = self.enc1(known)
        x2 = self.enc2(x1)
        x3 = self.bottleneck(self.enc3(x2))
        y2 = self.dec2(torch.cat([_up(x3), x2], dim=1))
        y1 = self.dec1(torch.cat([_up(y2), x1], dim=1))
        return (smooth + self.out(torch.cat([_up(y1), known], dim=1))).clamp(-1, 1)


class PatchCritic(nn.Module):
    """PatchGAN critic with spectral norm: one real/fake score per overlapping patch (about 46x46 pixels)."""

    def __init__(self, width: int = 32):
        super().__init__()
        layers, cin = [], 4
        for cout, stride in ((width, 2), (2 * width, 2), (4 * width, 2), (4 * width, 1)):
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, stride, 1)), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 4, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, mask], dim=1))
