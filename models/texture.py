"""Texture classification inference: class probabilities, a class heatmap, and a texture map.

The network sees an image resized so its shorter side is `WORKING_SIZE`: the largest scale of its
training views (half to all of a 256-pixel photo shown at 96 pixels) for a DTD-sized photo. The
size was chosen on val1 (single views at 112 to 192 pixels, with and without averaging over the
four flips: larger was better, flips did not help).
A texture map classifies overlapping windows (a quarter of the shorter side, or `window`) across
the image and colours each pixel by the most probable class of the windows covering it. A window is
a patch of texture, seen as the network saw patches in training: at DTD's photo scale (a 256-pixel
shorter side at WORKING_SIZE), never smaller than the whole image is seen. At the whole image's scale
a 20% window of a 2x2 collage of DTD photos reached the network as 38 pixels, far below its 96-pixel
training views, and the map disagreed with the classifier on most quarters.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models.errors import InvalidRequestError, shown
from models.loading import load
from models.nets.texture import TextureEnsemble
from models.sampling import checkpoint_for

TASK = "texture-classification"
WORKING_SIZE = 192  # shorter side the network sees
MAX_LONG_SIDE = 3 * WORKING_SIZE  # very elongated images are reduced further
WINDOW_FRACTION = 0.25  # texture-map windows: this fraction of the shorter side ...
WINDOW_STRIDE = 0.5  # ... moved by this fraction of the window
MAX_WINDOWS = 400
MAP_VOTE_SIDE = 1024  # a texture map's votes are counted on a grid at most this many cells a side (per pixel
# for a 10-class map of a 25-megapixel picture would be 1 GB)
TRAINING_VIEW = 96  # pixels: training views were crops of half to all of a photo shown at this size ...
PHOTO_SCALE = WORKING_SIZE / 256  # ... and a whole DTD photo (shorter side 256) is seen at this scale
SIFT_BINS = (4, 6, 8)  # dense SIFT: pixels a side of its 4x4 spatial bins (patches of 16, 24, 32 pixels) ...
SIFT_STEP = 6  # ... every 6 pixels, of the picture at DTD's photo scale (256 pixels on its shorter side)
SIFT_MIN_SIDE = 2 * 2 * max(SIFT_BINS) + 1  # the smallest side that holds one descriptor of every size


def as_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidRequestError(f"Expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}.")
    return torch.tensor(image, device=device).permute(2, 0, 1).float()[None] / 127.5 - 1


def working_scale(height: int, width: int) -> float:
    """The factor that brings an image to the network's working size."""
    return min(WORKING_SIZE / min(height, width), MAX_LONG_SIDE / max(height, width))


def resized(x: torch.Tensor, scale: float) -> torch.Tensor:
    h, w = x.shape[2:]
    size = (max(16, round(h * scale)), max(16, round(w * scale)))
    if scale < 1:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def dense_sift(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """RootSIFT descriptors [N, 128] float32 of an RGB uint8 image's grey, resized by `scale` (a side that would
    be shorter than SIFT_MIN_SIDE is made that long, to hold one descriptor of each size), on a dense grid:
    upright OpenCV SIFT descriptors every SIFT_STEP pixels with spatial bins of each of SIFT_BINS pixels,
    L1-normalised, square root. OpenCV's spatial bin is 3 sigma = 1.5 x the keypoint size, so a bin of b
    pixels is a keypoint of size 2b/3."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    # Each side on its own: enlarging a sliver as a whole would put millions of descriptors along its long side.
    target = (max(SIFT_MIN_SIDE, round(width * scale)), max(SIFT_MIN_SIDE, round(height * scale)))
    if target != (width, height):
        shrinks = target[0] <= width and target[1] <= height
        grey = cv2.resize(grey, target, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)
    h, w = grey.shape
    keypoints = [cv2.KeyPoint(float(x), float(y), 2 * bin_size / 3, 0)
                 for bin_size in SIFT_BINS
                 for y in range(2 * bin_size, h - 2 * bin_size + 1, SIFT_STEP)
                 for x in range(2 * bin_size, w - 2 * bin_size + 1, SIFT_STEP)]
    _, descriptors = cv2.SIFT_create().compute(grey, keypoints)
    descriptors = descriptors.astype(np.float32)
    return np.sqrt(descriptors / np.maximum(descriptors.sum(1, keepdims=True), 1e-12))


@torch.inference_mode()
def predict_probabilities(net: torch.nn.Module, image: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Class probabilities [num_classes] of one RGB uint8 image, resized by `scale` (default: to the
    working size). An ensemble's Fisher vectors see the same image at DTD's photo scale instead."""
    device = next(net.parameters()).device
    scale = working_scale(*image.shape[:2]) if scale is None else scale
    x = resized(as_tensor(image, device), scale)
    if isinstance(net, TextureEnsemble):
        descriptors = torch.from_numpy(dense_sift(image, scale / PHOTO_SCALE)).to(device)
        return F.softmax(net(x, descriptors), dim=1)[0].cpu().numpy()
    return F.softmax(net(x), dim=1)[0].cpu().numpy()


def _net(model_id: str, device: str | None):
    return load(checkpoint_for(model_id, TASK), device)


def class_names(model_id: str) -> list[str]:
    net = _net(model_id, None)
    return list(net.config.class_names) or [str(k) for k in range(net.config.num_classes)]


def classify(model_id: str, image: np.ndarray, device: str | None = None) -> dict[str, float]:
    """{class name: probability} for an RGB uint8 image, most probable first."""
    probabilities = predict_probabilities(_net(model_id, device), image)
    names = class_names(model_id)
    order = np.argsort(-probabilities)
    return {names[k]: float(probabilities[k]) for k in order}


@torch.inference_mode()
def heatmap(model_id: str, image: np.ndarray, label: str, device: str | None = None) -> np.ndarray:
    """Class activation map of `label` over the image, float32 [H, W] in [0, 1] (the image's size)."""
    names = class_names(model_id)
    if label not in names:
        raise InvalidRequestError(f"Unknown texture class {shown(label)}. Classes: {', '.join(names)}.")
    net = _net(model_id, device)
    x = resized(as_tensor(image, next(net.parameters()).device), working_scale(*image.shape[:2]))
    cam = net.class_activation_map(x, names.index(label))[None]
    cam = F.interpolate(cam, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max().clamp_min(1e-8)).cpu().numpy().astype(np.float32)


def window_scale(height: int, width: int, window: int) -> float:
    """The scale a texture-map window is seen at: a training view's (TRAINING_VIEW pixels, at most a whole
    DTD photo's scale), and never below the scale the whole image is classified at."""
    return max(working_scale(height, width), min(PHOTO_SCALE, TRAINING_VIEW / window))


def window_boxes(height: int, width: int, window: int) -> list[tuple[int, int]]:
    """Top-left corners of overlapping windows that cover the whole image."""
    stride = max(1, int(window * WINDOW_STRIDE))

    def starts(length: int) -> list[int]:
        last = max(length - window, 0)
        return sorted({*range(0, last + 1, stride), last})

    return [(y, x) for y in starts(height) for x in starts(width)]


def texture_map(model_id: str, image: np.ndarray, window: int | None = None,
                progress: Callable[[float], None] | None = None,
                device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(label index per pixel int16 [H, W], confidence per pixel float32 [H, W]) from overlapping windows; on a
    picture over MAP_VOTE_SIDE pixels a side the votes are counted per cell of a few pixels."""
    h, w = image.shape[:2]
    window = window or max(32, int(WINDOW_FRACTION * min(h, w)))
    if not 16 <= window <= min(h, w):
        raise InvalidRequestError(f"The window must be from 16 pixels to the image's shorter side ({min(h, w)}).")
    boxes = window_boxes(h, w, window)
    if len(boxes) > MAX_WINDOWS:
        raise InvalidRequestError(f"A {window}-pixel window needs {len(boxes)} windows on this image; "
                                  f"use a window that needs at most {MAX_WINDOWS}.")
    net = _net(model_id, device)
    scale = window_scale(h, w, window)
    cell = -(-max(h, w) // MAP_VOTE_SIDE)  # votes are counted per cell of this many pixels a side
    votes = np.zeros((net.config.num_classes, -(-h // cell), -(-w // cell)), np.float32)
    for i, (y, x) in enumerate(boxes):
        window_image = image[y : y + window, x : x + window]
        votes[:, y // cell : -(-(y + window) // cell), x // cell : -(-(x + window) // cell)] += (
            predict_probabilities(net, window_image, scale)[:, None, None])
        if progress is not None and i % 10 == 0:
            progress(i / len(boxes))
    labels, confidence = votes.argmax(0).astype(np.int16), votes.max(0) / np.maximum(votes.sum(0), 1e-8)
    cells = np.ix_(np.arange(h) // cell, np.arange(w) // cell)
    return labels[cells], confidence[cells]  # float32, as the votes
