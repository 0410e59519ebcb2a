"""Model output (uint8 arrays) -> crisp, upscaled PIL images for display."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.files import write_atomically

DISPLAY_SIZE = 448  # longest side a single sample is blown up to, in pixels
GRID_DISPLAY_SIZE = 960  # same for a grid of samples
GRID_GAP = 2  # pixels between grid cells, in model pixels


def tile(images: np.ndarray, gap: int = GRID_GAP, cols: int | None = None) -> np.ndarray:
    """Arrange uint8 [N, H, W] in a grid (near-square unless `cols` is given) with `gap`-pixel gutters."""
    n, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
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


def strip_image(images: np.ndarray, per_row: int = 16) -> Image.Image:
    """Frames left to right (wrapping after `per_row`), upscaled crisply."""
    return upscale(tile(images, cols=min(len(images), per_row)), GRID_DISPLAY_SIZE)


def labelled_rows_image(images: np.ndarray, labels: list[str]) -> Image.Image:
    """uint8 [rows, cols, H, W] as a grid with each row's label written at its left."""
    rows, cols, h, w = images.shape
    grid = upscale(tile(images.reshape(rows * cols, h, w), cols=cols), GRID_DISPLAY_SIZE)
    factor = grid.height // (rows * h + (rows - 1) * GRID_GAP)
    font = ImageFont.load_default(size=max(12, 6 * factor))
    margin = int(max(ImageDraw.Draw(grid).textlength(label, font=font) for label in labels)) + 3 * factor
    canvas = Image.new("L", (grid.width + margin, grid.height), 0)
    canvas.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, label in enumerate(labels):
        centre = r * (h + GRID_GAP) * factor + h * factor // 2
        draw.text((factor, centre), label, fill=255, font=font, anchor="lm")
    return canvas


def write_gif(frames: np.ndarray, path: Path, frame_ms: int = 80, target: int = DISPLAY_SIZE // 2,
              comment: str = "") -> Path:
    """Animated GIF of uint8 [T, H, W] frames, each upscaled crisply, looping forever, with an optional comment;
    a working file of the app (shown and downloaded, not kept past the process), so not flushed to disk."""
    images = [upscale(frame, target) for frame in frames]
    return write_atomically(path, lambda file: images[0].save(file, format="GIF", save_all=True,
                                                              append_images=images[1:], duration=frame_ms,
                                                              loop=0, comment=comment), durable=False)


# A perceptually ordered ramp (dark blue -> purple -> orange -> yellow) for heatmaps.
HEAT_STOPS = np.array([[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]], np.float32)


def heat_overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> Image.Image:
    """RGB uint8 [H, W, 3] under a heatmap [H, W] in [0, 1], coloured from dark blue (0) to yellow (1)."""
    position = np.clip(heat, 0, 1) * (len(HEAT_STOPS) - 1)
    low = np.minimum(position.astype(int), len(HEAT_STOPS) - 2)
    fraction = (position - low)[..., None]
    colours = (1 - fraction) * HEAT_STOPS[low] + fraction * HEAT_STOPS[low + 1]
    return Image.fromarray(np.round((1 - opacity) * image + opacity * colours).astype(np.uint8))
