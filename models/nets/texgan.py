"""A fully convolutional, class-conditional texture GAN for colour images of any size.

Generator: a spatial latent (`z_local` channels on a grid, one cell per 2**blocks pixels) goes through
`blocks` upsampling stages; every stage is modulated (adaptive instance normalisation) by a style made
from a global latent and the class embedding, so the global latent and the class set the material while
the spatial noise lays it out. The last class index means "any class" (trained by dropping labels), so
one network serves conditional and unconditional use. Nothing in it depends on the image size: a grid
of 4x4 cells makes 64 pixels, 64x64 cells 1024. With `seamless` every convolution pads circularly, so
the latent grid and the image are periodic: the output tiles with no seam (the interior is made as in
training, which pads with zeros). Padding is chosen per call, so one loaded network serves both.

Discriminator: convolutions with spectral norm, each stage ending in 2x2 average pooling (a strided
convolution left the generator a diagonal hatching to exploit), to a map of patch logits plus a
projection of the class embedding (Miyato and Koyama 2018) at every patch, and an auxiliary class head
on the pooled features (trained on real patches only; the generator is asked to satisfy it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class TexGANConfig:
    num_classes: int = 10
    class_names: tuple[str, ...] = ()
    z_local: int = 16  # channels of the spatial noise
    z_global: int = 32  # the global latent (what the direction sliders move)
    embed: int = 32  # class embedding
    style: int = 128
    width: int = 32  # channels of the last stage; earlier stages have more
    blocks: int = 4  # each doubles the size: a latent cell is 2**blocks pixels


def stage_widths(config: TexGANConfig) -> list[int]:
    """Channels from the latent grid to the last stage: 4x, 4x, 2x, 2x, 1x ... of `width`, the finest last."""
    multipliers = [4, 4, 2, 2, 1, 1, 1][: config.blocks + 1]
    return [config.width * m for m in multipliers]


class ModulatedConv(nn.Module):
    """3x3 convolution (zero or circular padding), instance normalisation, a per-channel scale and shift from
    the style, LeakyReLU."""

    def __init__(self, channels_in: int, channels_out: int, style: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 3)
        self.affine = nn.Linear(style, 2 * channels_out)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor, seamless: bool = False) -> torch.Tensor:
        x = self.conv(F.pad(x, (1, 1, 1, 1), mode="circular" if seamless else "constant"))
        n, c, h, w = x.shape
        scale, shift = self.affine(style).chunk(2, dim=1)
        # One fused op: normalising [1, N*C, H, W] with per-(image, channel) weights is each image's instance
        # norm followed by its own scale and shift (a 1024-pixel texture spends most of its time outside the
        # convolutions).
        x = F.instance_norm(x.reshape(1, n * c, h, w), weight=(1 + scale).reshape(-1), bias=shift.reshape(-1))
        return F.leaky_relu(x.view(n, c, h, w), 0.2, inplace=True)


class TexGenerator(nn.Module):
    def __init__(self, config: TexGANConfig):
        super().__init__()
        self.config = config
        widths = stage_widths(config)
        self.embedding = nn.Embedding(config.num_classes + 1, config.embed)  # the last row: any class
        self.mapping = nn.Sequential(nn.Linear(config.z_global + config.embed, config.style), nn.LeakyReLU(0.2),
                                     nn.Linear(config.style, config.style), nn.LeakyReLU(0.2))
        self.input = ModulatedConv(config.z_local, widths[0], config.style)
        self.stages = nn.ModuleList(
            nn.ModuleList([ModulatedConv(a, b, config.style), ModulatedConv(b, b, config.style)])
            for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.to_rgb = nn.Conv2d(widths[-1], 3, 1)

    @property
    def cell(self) -> int:
        """Pixels per latent grid cell."""
        return 2 ** self.config.blocks

    def style(self, z_global: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.style_of_embedding(z_global, self.embedding(labels))

    def style_of_embedding(self, z_global: torch.Tensor, class_embedding: torch.Tensor) -> torch.Tensor:
        """The style of a global latent and a class embedding (or a blend of two, for a class morph)."""
        return self.mapping(torch.cat([z_global, class_embedding], dim=1))

    def early_features(self, z_global: torch.Tensor) -> torch.Tensor:
        """The style of "any class" for each global latent, where GANSpace finds its principal directions."""
        return self.style(z_global, torch.full((len(z_global),), self.config.num_classes, device=z_global.device))

    def forward(self, z_local: torch.Tensor, z_global: torch.Tensor, labels: torch.Tensor,
                seamless: bool = False) -> torch.Tensor:
        """z_local [N, z_local, h, w], z_global [N, z_global], labels [N] (num_classes = any) ->
        images [N, 3, h * cell, w * cell] in [-1, 1]; seamless ones tile."""
        return self.synthesize(z_local, self.style(z_global, labels), seamless)

    def synthesize(self, z_local: torch.Tensor, style: torch.Tensor, seamless: bool = False) -> torch.Tensor:
        """Images from spatial noise and a style [N, style]."""
        x = self.input(z_local, style, seamless)
        for first, second in self.stages:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = second(first(x, style, seamless), style, seamless)
        return torch.tanh(self.to_rgb(x))


class TexDiscriminator(nn.Module):
    def __init__(self, config: TexGANConfig):
        super().__init__()
        self.config = config
        widths = list(reversed(stage_widths(config)))
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [spectral_norm(nn.Conv2d(a, b, 3, padding=1)), nn.LeakyReLU(0.2), nn.AvgPool2d(2),
                       spectral_norm(nn.Conv2d(b, b, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.logit = spectral_norm(nn.Conv2d(widths[-1], 1, 1))
        self.embedding = spectral_norm(nn.Embedding(config.num_classes + 1, widths[-1]))
        self.classes = spectral_norm(nn.Linear(widths[-1], config.num_classes))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(patch logits [N, 1, h, w]: realness of each patch given its class, class logits [N, classes])."""
        features = self.features(images)
        projection = (features * self.embedding(labels)[:, :, None, None]).sum(dim=1, keepdim=True)
        return self.logit(features) + projection, self.classes(features.mean(dim=(2, 3)))


@dataclass(frozen=True)
class TexDCGANConfig:
    """The plain DCGAN baseline made spatial (as SGAN did): its latent is a grid, so it too makes any size."""

    z_local: int = 16
    width: int = 32
    blocks: int = 4


class TexDCGANGenerator(nn.Module):
    """Transposed convolutions with batch norm and ReLU, each doubling the size, tanh at the end."""

    def __init__(self, config: TexDCGANConfig):
        super().__init__()
        self.config = config
        widths = [config.width * 2 ** (config.blocks - 1 - i) for i in range(config.blocks)]
        layers: list[nn.Module] = []
        for a, b in zip([config.z_local, *widths[:-1]], widths, strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        self.body = nn.Sequential(*layers[:-2], nn.Conv2d(widths[-1], 3, 3, padding=1), nn.Tanh())

    @property
    def cell(self) -> int:
        return 2 ** self.config.blocks

    def forward(self, z_local: torch.Tensor) -> torch.Tensor:
        return self.body(z_local)


class TexDCGANDiscriminator(nn.Module):
    """Strided convolutions with batch norm and LeakyReLU to a map of patch logits."""

    def __init__(self, config: TexDCGANConfig):
        super().__init__()
        widths = [config.width * 2**i for i in range(config.blocks)]
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers, nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)
