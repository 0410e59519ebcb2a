"""Random brush-stroke masks (free-form, as a person paints a hole): thin, medium and thick strokes.

Stroke widths are fractions of the image's shorter side, so a mask kind means the same at any size.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

MASK_KINDS = ("thin", "medium", "thick")
STROKE_WIDTH = {"thin": (0.02, 0.04), "medium": (0.05, 0.09), "thick": (0.10, 0.16)}  # of the shorter side
STROKES = (1, 4)
VERTICES = (3, 8)
SEGMENT_LENGTH = (0.08, 0.25)  # of the shorter side
MAX_COVERAGE = 0.5


def brush_mask(height: int, width: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A bool [height, width] mask of 1 to 4 random strokes (polylines with round joints), True = hole."""
    if kind not in STROKE_WIDTH:
        raise ValueError(f"mask kind must be one of {MASK_KINDS}, not {kind!r}")
    side = min(height, width)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(STROKES[0], STROKES[1] + 1)):
        stroke = max(1, round(rng.uniform(*STROKE_WIDTH[kind]) * side))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = rng.uniform(0, 2 * math.pi)
        points = [(x, y)]
        for _ in range(rng.integers(VERTICES[0], VERTICES[1] + 1)):
            angle += rng.uniform(-math.pi / 2, math.pi / 2)
            length = rng.uniform(*SEGMENT_LENGTH) * side
            x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
            y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=stroke, joint="curve")
        for px, py in (points[0], points[-1]):
            draw.ellipse((px - stroke / 2, py - stroke / 2, px + stroke / 2, py + stroke / 2), fill=255)
        if np.asarray(canvas).mean() / 255 > MAX_COVERAGE:
            break
    return np.asarray(canvas) > 127
