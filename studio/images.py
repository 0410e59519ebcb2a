"""Model output (uint8 arrays) -> crisp, upscaled PIL images for display."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

DISPLAY_SIZE = 448  # longest side a single sample is blown up to, in pixels
GRID_DISPLAY_SIZE = 960  # same for a grid of samples
GRID_GAP = 2  # pixels between grid cells, in model pixels


def tile(images: np.ndarray, gap: int = GRID_GAP) -> np.ndarray:
    """Arrange uint8 [N, H, W] in a near-square grid with `gap`-pixel gutters."""
    n, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return grid


def upscale(image: np.ndarray, target: int = DISPLAY_SIZE) -> Image.Image:
    """Nearest-neighbour upscale by the largest whole factor that fits `target`, so pixels stay square and sharp."""
    factor = max(1, target // max(image.shape[:2]))
    return Image.fromarray(image).resize(
        (image.shape[1] * factor, image.shape[0] * factor), Image.Resampling.NEAREST
    )


def grid_image(images: np.ndarray) -> Image.Image:
    """One sample or a grid of samples, upscaled crisply for display."""
    if len(images) == 1:
        return upscale(images[0])
    return upscale(tile(images), GRID_DISPLAY_SIZE)
