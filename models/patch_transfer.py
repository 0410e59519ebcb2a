"""Patch transfer: carry real texture from the known part of a picture into its hole.

A network trained for pixel error fills a hole with the average of what could be there, which is a
blur. This stage keeps that fill as a guide and gives every hole pixel a real pixel from the known
part of the same picture, taken where the neighbourhood matches the guide (an exemplar method guided
by the network, in the spirit of PatchMatch completion, Barnes et al. 2009):

1. Search: at a low resolution (SEARCH_SIDE), every hole cell's 7x7 patch of the guide, lightly
   blurred so that a sharp source is not penalised for being sharper than the blurry guide, is
   compared with every fully known patch in a PCA space of the known patches, by an exact
   nearest-neighbour search (a matrix product). The result is an offset per hole cell.
2. Refine: at up to REFINE_SIDE pixels, PatchMatch-style rounds: each hole pixel tries its offset,
   the offsets one pixel away and the offsets of four pixels REFINE_STEPS away (halving each round,
   as in jump flooding, so a good offset found at the hole's edge reaches its middle in a few
   rounds), scored on patches of the current fill with known pixels weighted more, which aligns
   copied texture with the real texture at the hole's edge; the fill is then copied along the
   winning offsets.
3. Copy: the offsets are scaled to the picture's own resolution and each hole pixel takes the real
   pixel they point to, so detail is never resampled.

Everything is deterministic (no random search): the same picture, hole and guide give the same pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SEARCH_SIDE = 128  # longest side of the picture during the nearest-neighbour search
SEARCH_PATCH = 7
SEARCH_BLUR = 1.0  # Gaussian sigma (search pixels) applied to guide and sources alike before matching
SEARCH_DIMENSIONS = 24  # PCA dimensions of a search patch
REFINE_SIDE = 256  # longest side during refinement
REFINE_PATCH = 9
REFINE_STEPS = (8, 4, 2, 1, 1)  # one round per entry: neighbours this many pixels away offer their offsets
KNOWN_WEIGHT = 32.0  # weight of known pixels, relative to filled ones, in a refinement patch distance
CHUNK = 2048  # hole cells per block of the distance matrix


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma)
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=image.dtype) ** 2 / (2 * sigma**2))
    taps = (taps / taps.sum()).to(image.device)
    channels = image.shape[1]
    image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"),
                     taps.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(F.pad(image, (0, 0, radius, radius), mode="replicate"),
                    taps.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _resized(guide: torch.Tensor, hole: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The guide [1, 3, H, W] and hole [H, W] reduced (area) so the longest side is at most `side`; a
    reduced pixel is a hole pixel if any pixel under it is."""
    height, width = hole.shape
    scale = min(1.0, side / max(height, width))
    if scale == 1:
        return guide, hole
    size = (max(SEARCH_PATCH, round(height * scale)), max(SEARCH_PATCH, round(width * scale)))
    return (F.interpolate(guide, size=size, mode="area"),
            F.interpolate(hole[None, None].float(), size=size, mode="area")[0, 0] > 0)


def _scaled_offsets(offsets: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Offsets [2, h, w] (in pixels of their own grid) to a grid of `size` (nearest cell, scaled)."""
    height, width = size
    rows = torch.div(torch.arange(height, device=offsets.device) * offsets.shape[1], height, rounding_mode="floor")
    cols = torch.div(torch.arange(width, device=offsets.device) * offsets.shape[2], width, rounding_mode="floor")
    scale = torch.tensor([height / offsets.shape[1], width / offsets.shape[2]], device=offsets.device)
    return torch.round(offsets[:, rows][:, :, cols] * scale.view(2, 1, 1)).long()


def _searched_offsets(guide: torch.Tensor, hole: torch.Tensor) -> torch.Tensor | None:
    """Offsets [2, h, w] on the search grid from each hole cell to its best-matching known patch, or None
    when no patch lies wholly in the known part."""
    small, small_hole = _resized(guide, hole, SEARCH_SIDE)
    small = _gaussian_blur(small, SEARCH_BLUR)
    pad = SEARCH_PATCH // 2
    height, width = small_hole.shape
    patches = F.unfold(F.pad(small, (pad,) * 4, mode="replicate"), SEARCH_PATCH)[0]
    touches_hole = F.max_pool2d(F.pad(small_hole[None, None].float(), (pad,) * 4, value=1.0), SEARCH_PATCH,
                                stride=1)[0, 0].flatten() > 0
    sources = torch.nonzero(~touches_hole).flatten()
    targets = torch.nonzero(small_hole.flatten()).flatten()
    if len(sources) == 0:
        return None
    known = patches[:, sources].T
    mean = known.mean(0)
    _, vectors = torch.linalg.eigh((known - mean).T @ (known - mean))
    basis = vectors[:, -SEARCH_DIMENSIONS:]
    source_codes = (known - mean) @ basis
    target_codes = (patches[:, targets].T - mean) @ basis
    source_norms = (source_codes * source_codes).sum(1)
    best = torch.cat([(source_norms[None] - 2 * block @ source_codes.T).argmin(1)
                      for block in target_codes.split(CHUNK)])
    matched = sources[best]
    offsets = torch.zeros(2, height * width, dtype=torch.long, device=guide.device)
    offsets[0, targets] = torch.div(matched, width, rounding_mode="floor") - torch.div(targets, width,
                                                                                        rounding_mode="floor")
    offsets[1, targets] = matched % width - targets % width
    return offsets.view(2, height, width)


def _patch_indices(rows: torch.Tensor, cols: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flat indices [REFINE_PATCH², N] of the patches centred on (rows, cols), clamped at the border."""
    pad = REFINE_PATCH // 2
    steps = torch.arange(-pad, pad + 1, device=rows.device)
    patch_rows = (rows[None, None] + steps.view(-1, 1, 1)).clamp(0, size[0] - 1)
    patch_cols = (cols[None, None] + steps.view(1, -1, 1)).clamp(0, size[1] - 1)
    return (patch_rows * size[1] + patch_cols).reshape(REFINE_PATCH * REFINE_PATCH, -1)


def _refined(guide: torch.Tensor, hole: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """PatchMatch-style rounds (no random search) on offsets [2, H, W] of the hole pixels of `guide`
    [1, 3, H, W]; returns the improved offsets."""
    size = tuple(hole.shape)
    image = guide[0].reshape(3, -1).clone()
    rows, cols = torch.nonzero(hole, as_tuple=True)
    current = offsets[:, rows, cols]
    known = ~hole.flatten()
    target_patches = _patch_indices(rows, cols, size)
    weights = 1 + (KNOWN_WEIGHT - 1) * known[target_patches].float()
    moves = torch.tensor([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], device=guide.device)
    field = offsets.clone()
    for step in REFINE_STEPS:
        field[:, rows, cols] = current
        neighbours = [field[:, (rows + step * dy).clamp(0, size[0] - 1), (cols + step * dx).clamp(0, size[1] - 1)]
                      for dy, dx in moves[1:].tolist()]
        candidates = [current + move.view(2, 1) for move in moves] + neighbours
        targets = image[:, target_patches]
        best_distance = torch.full((len(rows),), float("inf"), device=guide.device)
        for candidate in candidates:
            source_rows, source_cols = rows + candidate[0], cols + candidate[1]
            inside = (source_rows >= 0) & (source_rows < size[0]) & (source_cols >= 0) & (source_cols < size[1])
            source = source_rows.clamp(0, size[0] - 1) * size[1] + source_cols.clamp(0, size[1] - 1)
            usable = inside & known[source]
            sources = image[:, _patch_indices(source_rows.clamp(0, size[0] - 1), source_cols.clamp(0, size[1] - 1),
                                              size)]
            distance = (((sources - targets) ** 2).sum(0) * weights).sum(0)
            better = usable & (distance < best_distance)
            best_distance = torch.where(better, distance, best_distance)
            current = torch.where(better, candidate, current)
        source = (rows + current[0]).clamp(0, size[0] - 1) * size[1] + (cols + current[1]).clamp(0, size[1] - 1)
        copied = known[source]
        hole_pixels = rows * size[1] + cols
        image[:, hole_pixels[copied]] = image[:, source[copied]]
    field[:, rows, cols] = current
    return field


def transfer(picture: np.ndarray, hole: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Fill `hole` (bool [H, W]) of `picture` (uint8 or float [H, W, 3]) with real pixels of its known
    part, chosen to match `guide` (float [H, W, 3] in 0..255: the picture with a smooth fill in the hole).
    Returns float32 [H, W, 3]; hole pixels with no usable source keep the guide's value."""
    height, width = hole.shape
    guide_tensor = torch.from_numpy(np.ascontiguousarray(guide, dtype=np.float32)).permute(2, 0, 1)[None]
    hole_tensor = torch.from_numpy(hole)
    result = np.array(guide, dtype=np.float32)
    if not hole.any() or hole.all():
        return result
    offsets = _searched_offsets(guide_tensor, hole_tensor)
    if offsets is None:
        return result
    refine_guide, refine_hole = _resized(guide_tensor, hole_tensor, REFINE_SIDE)
    offsets = _refined(refine_guide, refine_hole, _scaled_offsets(offsets, tuple(refine_hole.shape)))
    offsets = _scaled_offsets(offsets, (height, width)).numpy()
    rows, cols = np.nonzero(hole)
    source_rows = np.clip(rows + offsets[0, rows, cols], 0, height - 1)
    source_cols = np.clip(cols + offsets[1, rows, cols], 0, width - 1)
    usable = ~hole[source_rows, source_cols]
    result[rows[usable], cols[usable]] = picture[source_rows[usable], source_cols[usable]]
    return result
