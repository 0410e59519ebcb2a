"""Model output (uint8 arrays) -> PIL images for display, at model pixels: the browser draws each at a whole
number of screen pixels per model pixel (studio/browser.js), so the studio never resamples them. A grid
records where its cells lie (a PNG text chunk), so a click on it can pick one."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.files import write_atomically

GIF_SIZE = 224  # longest side a GIF frame is blown up to (a GIF is a download: it has no whole-pixel viewer)
GRID_GAP = 2  # pixels between grid cells, in model pixels
STRIP_COLUMNS = 8  # frames per row of a strip: 8 frames of 28 pixels are at least 84 screen pixels each at 1440 px
LABEL_SCALE = 2  # labelled rows of small pictures are drawn at twice the model pixels, so their labels are legible
LABEL_MIN_SIZE = 48  # pictures at least this large are drawn at their own size beside labels
CELLS_KEY = "studio-cells"  # the text chunk with a grid's layout


def tile(images: np.ndarray, gap: int = GRID_GAP, cols: int | None = None) -> np.ndarray:
    """Arrange uint8 [N, H, W] (grey) or [N, H, W, 3] (RGB) in a grid (near-square unless `cols` is given) with
    `gap`-pixel gutters."""
    n, h, w = images.shape[:3]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, *images.shape[3:]), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return grid


def upscale(image: np.ndarray, factor: int) -> Image.Image:
    """Nearest-neighbour upscale by a whole factor: pixels stay square and sharp."""
    return Image.fromarray(image).resize((image.shape[1] * factor, image.shape[0] * factor), Image.Resampling.NEAREST)


def with_cells(image: Image.Image, count: int, cols: int, cell: tuple[int, int], origin: tuple[int, int] = (0, 0),
               gap: int = GRID_GAP) -> Image.Image:
    """Record in `image` where its `count` cells of `cell` (width, height) pixels lie, `cols` to a row."""
    if count > 1:
        image.info[CELLS_KEY] = json.dumps({"count": count, "cols": cols, "cell": list(cell), "origin": list(origin),
                                            "gap": gap})
    return image


def grid_image(images: np.ndarray, cols: int | None = None) -> Image.Image:
    """One sample, or a grid of samples (near-square unless `cols` is given) that knows its cells."""
    n, h, w = images.shape[:3]
    cols = min(n, cols or math.ceil(math.sqrt(n)))
    return with_cells(Image.fromarray(tile(images, cols=cols)), n, cols, (w, h))


def strip_image(images: np.ndarray) -> Image.Image:
    """Frames left to right, wrapping after STRIP_COLUMNS so that each is drawn large enough to read."""
    return grid_image(images, cols=STRIP_COLUMNS)


def labelled_rows_image(images: np.ndarray, labels: list[str]) -> Image.Image:
    """uint8 [rows, cols, H, W] (grey) or [rows, cols, H, W, 3] (RGB) as a grid with each row's label written
    at its left; small pictures are drawn at LABEL_SCALE pixels a model pixel, so that the labels are legible
    beside them."""
    rows, cols, h, w = images.shape[:4]
    scale = LABEL_SCALE if max(h, w) < LABEL_MIN_SIZE else 1
    grid = upscale(tile(images.reshape(rows * cols, *images.shape[2:]), cols=cols, gap=GRID_GAP), scale)
    font = ImageFont.load_default(size=6 * LABEL_SCALE)
    margin = int(max(ImageDraw.Draw(grid).textlength(label, font=font) for label in labels)) + 3 * LABEL_SCALE
    canvas = Image.new(grid.mode, (grid.width + margin, grid.height), 0)
    canvas.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    white = 255 if grid.mode == "L" else (255, 255, 255)
    for r, label in enumerate(labels):
        centre = (r * (h + GRID_GAP) + h // 2) * scale
        draw.text((LABEL_SCALE, centre), label, fill=white, font=font, anchor="lm")
    return with_cells(canvas, rows * cols, cols, (w * scale, h * scale), (margin, 0), GRID_GAP * scale)


def _layout(image: Image.Image) -> dict | None:
    """The cell layout an image records, or None (one picture, or a layout that does not add up)."""
    try:
        layout = json.loads(image.info.get(CELLS_KEY, "null"))
        count, cols, gap = (int(layout[key]) for key in ("count", "cols", "gap"))
        (w, h), (left, top) = ([int(v) for v in layout[key]] for key in ("cell", "origin"))
    except (TypeError, ValueError, KeyError):
        return None
    rows = math.ceil(count / cols) if cols > 0 else 0
    fits = left + cols * (w + gap) - gap <= image.width and top + rows * (h + gap) - gap <= image.height
    if not (count > 1 and cols > 0 and w > 0 and h > 0 and left >= 0 and top >= 0 and gap >= 0 and fits):
        return None
    return {"count": count, "cols": cols, "cell": (w, h), "origin": (left, top), "gap": gap}


def cell_count(image: Image.Image) -> int:
    """How many pictures an image holds (1 unless it is a grid)."""
    layout = _layout(image)
    return layout["count"] if layout else 1


def cell_at(image: Image.Image, x: object, y: object) -> int | None:
    """The index of the grid cell at image pixel (x, y), or None (not a grid, a gutter or outside)."""
    layout = _layout(image)
    if layout is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y)):
        return None
    (w, h), (left, top), gap = layout["cell"], layout["origin"], layout["gap"]
    col, x_in = divmod(x - left, w + gap)
    row, y_in = divmod(y - top, h + gap)
    index = row * layout["cols"] + col
    inside = x >= left and y >= top and x_in < w and y_in < h and col < layout["cols"]
    return index if inside and index < layout["count"] else None


def cell_image(image: Image.Image, index: int) -> Image.Image:
    """The picture in cell `index` of a grid (the image itself if it is not a grid)."""
    layout = _layout(image)
    if layout is None:
        return image
    (w, h), (left, top), gap = layout["cell"], layout["origin"], layout["gap"]
    row, col = divmod(index, layout["cols"])
    x, y = left + col * (w + gap), top + row * (h + gap)
    picture = image.crop((x, y, x + w, y + h))
    picture.info = {}  # the grid's layout and parameters describe the grid, not this picture
    return picture


def write_gif(frames: np.ndarray, path: Path, frame_ms: int | Sequence[int] = 80, target: int = GIF_SIZE,
              comment: str = "", progress: Callable[[float], None] | None = None) -> Path:
    """Animated GIF of uint8 [T, H, W] (or [T, H, W, 3]) frames, each upscaled crisply, looping forever, with an
    optional comment; `frame_ms` is one duration for every frame or one per frame. `progress(fraction)` is
    called per frame as they are prepared (raising from it stops the write and leaves no file). A working file
    of the app (shown and downloaded, not kept past the process), so not flushed to disk."""
    factor = max(1, target // max(frames.shape[1:3]))

    def upscaled():  # lazily: Pillow takes (and quantizes) one frame at a time, so progress follows the encoding
        for index, frame in enumerate(frames):
            if progress is not None:
                progress(index / len(frames))
            yield upscale(frame, factor)

    images = upscaled()
    first = next(images)
    frame_ms = frame_ms if isinstance(frame_ms, int) else list(frame_ms)
    return write_atomically(path, lambda file: first.save(file, format="GIF", save_all=True, append_images=images,
                                                          duration=frame_ms, loop=0, comment=comment),
                            durable=False)


# A perceptually ordered ramp (dark blue -> purple -> orange -> yellow) for heatmaps.
HEAT_STOPS = np.array([[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]], np.float32)


def heat_overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> Image.Image:
    """RGB uint8 [H, W, 3] under a heatmap [H, W] in [0, 1], coloured from dark blue (0) to yellow (1)."""
    position = np.clip(heat, 0, 1) * (len(HEAT_STOPS) - 1)
    low = np.minimum(position.astype(int), len(HEAT_STOPS) - 2)
    fraction = (position - low)[..., None]
    colours = (1 - fraction) * HEAT_STOPS[low] + fraction * HEAT_STOPS[low + 1]
    return Image.fromarray(np.round((1 - opacity) * image + opacity * colours).astype(np.uint8))
