"""Inpainting inference: fill the masked pixels of an image of any size.

The size strategy (IOPaint's "crop"): the hole is split into regions, each region is cut out with a
margin of context around it, reduced if it is larger than the network's working size, filled, and
the result is pasted back into the hole only. Pixels outside the (dilated) mask are returned
bit-identical to the input. Feathering blends the fill into the original over the inner edge of
the hole.

A second mode fills with a VAE as a generative prior: it searches the latent whose decoded image best
matches the known pixels (plus the prior's pull toward N(0, I)), then takes the hole from that image. A
Fashion-MNIST VAE sees the whole picture at 28x28 grey; a texture VAE fills each region of the hole
(the crop strategy above) at up to TEXTURE_PRIOR_SIZE pixels, near the scale of its training photos.
`fitting_priors` says which VAEs suit a picture.

With `patches` (method id: the network's id plus PATCHES_SUFFIX), the network's fill of each crop is only a
guide: `patch_transfer` fills the hole with real pixels of the picture that match it, so the fill carries the
picture's texture instead of a blur.

A third kind is classical (`models.classical_inpaint`: OpenCV's Telea, Navier-Stokes, FSR and shift-map), named by
its method id; it fills region by region too, with the same dilation, feathering and checks, at full resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from models import classical_inpaint, patch_transfer, registry, vae
from models.errors import InvalidRequestError, shown
from models.loading import load
from models.sampling import checkpoint_for

TASK = "inpainting"
PATCHES_SUFFIX = "-patches"  # an inpainting network's id plus this names the network guiding patch_transfer
WORKING_SIZE = 512  # longest side of a crop the network sees; larger crops are reduced to it
BLOCK = 32  # mask regions are found on a grid of this many pixels
MARGIN = 0.5  # context around a region, as a fraction of its size ...
MIN_MARGIN = 32  # ... but at least this many pixels
MAX_REGIONS = 500  # separate parts of a hole the network (and patch transfer) fills, each a pass of its own (150
# dust spots on a 3000x2000 photo: 1.4 s, 3.5 s with patch transfer; 2,700 dots on 5000x5000 took 35 s) ...
MAX_PRIOR_REGIONS = 12  # ... and a texture VAE prior, each an optimisation of about 1.7 s on a 2-core CPU
MAX_HOLE_FRACTION = 0.95  # more than this leaves too little of the image to fill from
DILATION_RANGE = (0, 64)
FEATHER_RANGE = (0, 32)
PRIOR_STEPS = 300
TEXTURE_PRIOR_SIZE = 128  # longest side of a crop a texture VAE prior fills; larger crops are reduced to it
TEXTURE_PRIOR_STEPS = 100
TEXTURE_SMOOTHING = 0.3  # weight of the fill's total variation: without it the hole's edge fills with colour noise
GREY_TOLERANCE = 8  # mean spread of a pixel's channels, in grey levels, below which a picture is grey ...
GREY_PRIOR_MAX_SIDE = 512  # ... and pictures that are grey and at most this large are Fashion-MNIST-like


def _check_inputs(image: np.ndarray, mask: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidRequestError(f"Expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}.")
    if mask.shape != image.shape[:2]:
        raise InvalidRequestError(
            f"The mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
            f"{image.shape[1]}x{image.shape[0]}; they must be the same size."
        )


def _check_range(value: int, bounds: tuple[int, int], name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not bounds[0] <= value <= bounds[1]:
        raise InvalidRequestError(f"{name} must be a whole number of pixels from {bounds[0]} to {bounds[1]}.")


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the hole by `pixels` in every direction (square neighbourhood)."""
    if pixels == 0:
        return mask.copy()
    grown = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * pixels + 1))
    return np.asarray(grown) > 127


def blend_weights(hole: np.ndarray, feather: int) -> np.ndarray:
    """Per-pixel weight of the fill: 1 deep inside the hole, falling to about 1/2 at its edge over
    `feather` pixels, and 0 outside (the outside is never changed)."""
    if feather == 0:
        return hole.astype(np.float32)
    blurred = Image.fromarray(hole.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(feather / 2))
    return np.where(hole, np.asarray(blurred, dtype=np.float32) / 255, 0).astype(np.float32)


def hole_regions(hole: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (top, left, bottom, right) around the connected parts of the hole, with context margins,
    merged where they overlap."""
    h, w = hole.shape
    rows, cols = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.zeros((rows * BLOCK, cols * BLOCK), bool)
    padded[:h, :w] = hole
    cells = padded.reshape(rows, BLOCK, cols, BLOCK).any(axis=(1, 3))
    seen = np.zeros_like(cells)
    boxes = []
    for start in zip(*np.nonzero(cells), strict=True):
        if seen[start]:
            continue
        stack, members = [start], []
        seen[start] = True
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for nr in range(max(r - 1, 0), min(r + 2, rows)):
                for nc in range(max(c - 1, 0), min(c + 2, cols)):
                    if cells[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        rs, cs = zip(*members, strict=True)
        top, bottom = min(rs) * BLOCK, min((max(rs) + 1) * BLOCK, h)
        left, right = min(cs) * BLOCK, min((max(cs) + 1) * BLOCK, w)
        margin_y = max(MIN_MARGIN, int(MARGIN * (bottom - top)))
        margin_x = max(MIN_MARGIN, int(MARGIN * (right - left)))
        boxes.append((max(top - margin_y, 0), max(left - margin_x, 0),
                      min(bottom + margin_y, h), min(right + margin_x, w)))
    return _merge(boxes)


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


# The network fills the crop and the crop turned by 180 degrees (flipped on both axes) in one batch, and
# the two fills are averaged: +0.15 dB in the hole for twice the network time (see the model card).
VIEWS = ((), (2, 3))  # tensor dimensions flipped for each view

CropFill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _network_fill(net: torch.nn.Module) -> CropFill:
    @torch.inference_mode()
    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        fills = net(torch.cat([image.flip(dims) for dims in VIEWS]), torch.cat([mask.flip(dims) for dims in VIEWS]))
        return sum(fill[None].flip(dims) for fill, dims in zip(fills, VIEWS, strict=True)) / len(VIEWS)

    return fill


def _fill_crop(fill: CropFill, crop: np.ndarray, hole: np.ndarray, device: torch.device, working_size: int,
               multiple: int) -> np.ndarray:
    """Fill one crop (reduced to `working_size` if larger, padded to a multiple of `multiple`) with
    `fill(image [1, 3, h, w] in [-1, 1], mask [1, 1, h, w], 1 = hole)`; float32 RGB [h, w, 3] in 0..255."""
    h, w = hole.shape
    image = torch.tensor(crop, device=device).permute(2, 0, 1).float()[None] / 127.5 - 1
    mask = torch.from_numpy(hole).to(device).float()[None, None]
    scale = min(1.0, working_size / max(h, w))
    if scale < 1:
        size = (max(8, round(h * scale)), max(8, round(w * scale)))
        image = F.interpolate(image, size=size, mode="area")
        mask = (F.interpolate(mask, size=size, mode="area") > 0).float()
    ph, pw = -image.shape[2] % multiple, -image.shape[3] % multiple
    pad = "reflect" if min(image.shape[2:]) > max(ph, pw) else "replicate"
    image, mask = F.pad(image, (0, pw, 0, ph), mode=pad), F.pad(mask, (0, pw, 0, ph), mode="replicate")
    output = fill(image, mask)[:, :, : image.shape[2] - ph, : image.shape[3] - pw]
    if scale < 1:
        output = F.interpolate(output, size=(h, w), mode="bicubic", align_corners=False)
    return ((output[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).cpu().numpy()


def _fill_regions(image: np.ndarray, hole: np.ndarray, feather: int,
                  fill_crop: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  max_regions: int | None = None) -> np.ndarray:
    """Fill each region of the hole (disjoint boxes, each with a margin around its hole) and paste it back; a hole
    in more than `max_regions` separate parts is refused (each is a fill of its own: a sprinkle of dots would
    keep the server busy for minutes)."""
    regions = hole_regions(hole)
    if max_regions is not None and len(regions) > max_regions:
        raise InvalidRequestError(f"The mask has {len(regions)} separate parts; this fill takes at most {max_regions}, "
                                  "as it fills each part on its own. Join the strokes, or paint fewer.")
    result = image.copy()
    for top, left, bottom, right in regions:
        region, region_hole = image[top:bottom, left:right], hole[top:bottom, left:right]
        result[top:bottom, left:right] = _composite(region, fill_crop(region, region_hole), region_hole, feather)
    return result


def _validated_hole(image: np.ndarray, mask: np.ndarray, dilation: int, feather: int) -> np.ndarray:
    _check_inputs(image, mask)
    _check_range(dilation, DILATION_RANGE, "Mask dilation")
    _check_range(feather, FEATHER_RANGE, "Feathering")
    hole = dilate(mask.astype(bool), dilation)
    if hole.mean() > MAX_HOLE_FRACTION:
        raise InvalidRequestError(
            f"The mask covers {100 * hole.mean():.0f}% of the image, which leaves nothing to fill from. "
            "Leave at least 5% of the image unmasked."
        )
    return hole


def _composite(image: np.ndarray, fill: np.ndarray, hole: np.ndarray, feather: int) -> np.ndarray:
    weights = blend_weights(hole, feather)[..., None]
    blended = np.clip(np.round(weights * fill + (1 - weights) * image), 0, 255).astype(np.uint8)
    return np.where(hole[..., None], blended, image)


def inpaint(model_id: str, image: np.ndarray, mask: np.ndarray, dilation: int = 0, feather: int = 0,
            device: str | None = None, patches: bool = False) -> np.ndarray:
    """Fill `mask` (bool [H, W], True = hole) in `image` (uint8 [H, W, 3]); uint8 [H, W, 3]. With `patches`,
    the network's fill only guides `patch_transfer`, which fills the hole with real pixels of the picture.

    An empty mask returns the image unchanged. Pixels outside the dilated mask are never touched.
    """
    hole = _validated_hole(image, mask, dilation, feather)
    if not hole.any():
        return image.copy()
    net = load(checkpoint_for(model_id, TASK), device)
    net.to(memory_format=torch.channels_last)  # about 15% faster convolutions on a CPU; a no-op once done
    fill, param_device = _network_fill(net), next(net.parameters()).device

    def fill_crop(crop: np.ndarray, crop_hole: np.ndarray) -> np.ndarray:
        network_fill = _fill_crop(fill, crop, crop_hole, param_device, WORKING_SIZE, net.MULTIPLE)
        if not patches:
            return network_fill
        return patch_transfer.transfer(crop, crop_hole, np.where(crop_hole[..., None], network_fill, crop))

    return _fill_regions(image, hole, feather, fill_crop, MAX_REGIONS)


def patch_method_id(network_id: str) -> str:
    """The id of the method that fills by `patch_transfer` guided by the inpainting network `network_id`."""
    return network_id + PATCHES_SUFFIX


def patch_method_network(method_id: object) -> str | None:
    """The inpainting network behind a patch-transfer method id, or None if `method_id` is not one."""
    if not isinstance(method_id, str) or not method_id.endswith(PATCHES_SUFFIX):
        return None
    network_id = method_id.removesuffix(PATCHES_SUFFIX)
    return network_id if network_id in {c.id for c in registry.checkpoints(TASK)} else None


def is_method(method_id: object) -> bool:
    """Whether `method_id` names a fill that is not a registry checkpoint: a classical method or a
    patch-transfer method."""
    return classical_inpaint.is_method(method_id) or patch_method_network(method_id) is not None


def is_fashion_like(image: np.ndarray) -> bool:
    """Whether a picture is Fashion-MNIST-like: grey (its channels differ by less than GREY_TOLERANCE on
    average) and at most GREY_PRIOR_MAX_SIDE pixels a side, as the garments the studio makes and shows are."""
    spread = image.max(axis=2).astype(np.int16) - image.min(axis=2)
    return max(image.shape[:2]) <= GREY_PRIOR_MAX_SIDE and float(spread.mean()) < GREY_TOLERANCE


def fitting_priors(image: np.ndarray) -> list[str]:
    """The VAEs that can fill `image` (uint8 RGB [H, W, 3]) as a prior: Fashion-MNIST VAEs for
    Fashion-MNIST-like pictures (`is_fashion_like`), texture VAEs for every other picture (colour or large)."""
    task = vae.TASK if is_fashion_like(image) else vae.TEXTURE_TASK
    return [checkpoint.id for checkpoint in registry.checkpoints(task)]


def _check_prior_fits(vae_id: str, image: np.ndarray) -> None:
    if vae_id not in fitting_priors(image):
        kind = "a Fashion-MNIST-like picture (grey, small)" if is_fashion_like(image) else "a colour or large photo"
        suited = ", ".join(fitting_priors(image)) or "none"
        raise InvalidRequestError(f"The VAE {shown(vae_id)} does not fit this picture: it is {kind}. "
                                  f"VAE priors that fit it: {suited}.")


def _optimised_latent(start: torch.Tensor, fit: Callable[[torch.Tensor], torch.Tensor], steps: int, seed: int,
                      progress: Callable[[float], None] | None) -> torch.Tensor:
    """Adam from `start` (plus a little noise from the seed) on fit(z) plus the prior's pull 0.5 |z|^2."""
    generator = torch.Generator().manual_seed(seed)
    z = (start + 0.1 * torch.randn(start.shape, generator=generator).to(start.device)).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.05)
    with torch.enable_grad():
        for step in range(steps):
            loss = fit(z) + 0.5 * z.pow(2).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if progress is not None and step % 20 == 0:
                progress(step / steps)
    return z.detach()


def prior_inpaint(vae_id: str, image: np.ndarray, mask: np.ndarray, dilation: int = 0, feather: int = 0,
                  steps: int = PRIOR_STEPS, seed: int = 0, progress: Callable[[float], None] | None = None,
                  device: str | None = None) -> np.ndarray:
    """Fill a Fashion-MNIST-like image with the VAE as prior: the image is seen at 28x28 grayscale,
    the latent is optimised so the decoded image matches the known pixels (plus the prior's pull
    toward N(0, I)), and the hole takes the decoded image, scaled back up. uint8 [H, W, 3]."""
    hole = _validated_hole(image, mask, dilation, feather)
    _check_prior_fits(vae_id, image)
    if not hole.any():
        return image.copy()
    net = load(checkpoint_for(vae_id, vae.TASK), device)
    param_device = next(net.parameters()).device
    small = np.asarray(Image.fromarray(image).convert("L").resize((28, 28), Image.Resampling.BOX), np.float32)
    known = np.asarray(Image.fromarray((~hole).astype(np.uint8) * 255).resize((28, 28), Image.Resampling.BOX)) == 255
    target = torch.from_numpy(small / 255).to(param_device)[None, None]
    weight = torch.from_numpy(known.astype(np.float32)).to(param_device)[None, None]
    with torch.inference_mode():
        start = net.posterior(target * 2 - 1)[0].clone()
    z = _optimised_latent(
        start, lambda z: (F.binary_cross_entropy_with_logits(net.logits(z), target, reduction="none") * weight).sum(),
        steps, seed, progress)
    with torch.inference_mode():
        decoded = (torch.sigmoid(net.logits(z))[0, 0] * 255).cpu().numpy()
    h, w = hole.shape
    large = np.asarray(Image.fromarray(decoded.round().astype(np.uint8)).resize((w, h), Image.Resampling.NEAREST))
    return _composite(image, np.repeat(large[..., None], 3, axis=2).astype(np.float32), hole, feather)


def _hole_variation(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Total variation (L1 of neighbour differences) of `image` where `hole` is 1."""
    down = (image[..., 1:, :] - image[..., :-1, :]).abs() * hole[..., 1:, :]
    right = (image[..., 1:] - image[..., :-1]).abs() * hole[..., 1:]
    return down.sum() + right.sum()


def _texture_prior_fill(net: torch.nn.Module, steps: int, seed: int,
                        progress: Callable[[float], None] | None) -> CropFill:
    """A crop fill by a texture VAE: its spatial latent starts from the crop with the hole painted in the known
    pixels' mean colour, and is optimised so the decoded crop matches the known pixels (L1), stays smooth in
    the hole, and is pulled toward N(0, I)."""
    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        known = 1 - mask
        mean_colour = (image * known).sum((2, 3), keepdim=True) / known.sum().clamp_min(1)
        with torch.inference_mode():
            start = net.encode(image * known + mean_colour * mask)[0].clone()

        def fit(z: torch.Tensor) -> torch.Tensor:
            decoded = net.decode(z)
            return ((decoded - image).abs() * known).sum() + TEXTURE_SMOOTHING * _hole_variation(decoded, mask)

        z = _optimised_latent(start, fit, steps, seed, progress)
        with torch.inference_mode():
            return net.decode(z)

    return fill


def texture_prior_inpaint(vae_id: str, image: np.ndarray, mask: np.ndarray, dilation: int = 0, feather: int = 0,
                          steps: int = TEXTURE_PRIOR_STEPS, seed: int = 0,
                          progress: Callable[[float], None] | None = None, device: str | None = None) -> np.ndarray:
    """Fill a photo with a texture VAE as prior, region by region, each region's crop seen at up to
    TEXTURE_PRIOR_SIZE pixels; pixels outside the (dilated) hole are untouched. uint8 [H, W, 3]."""
    hole = _validated_hole(image, mask, dilation, feather)
    _check_prior_fits(vae_id, image)
    if not hole.any():
        return image.copy()
    net = load(checkpoint_for(vae_id, vae.TEXTURE_TASK), device)
    fill, param_device = _texture_prior_fill(net, steps, seed, progress), next(net.parameters()).device
    return _fill_regions(image, hole, feather,
                         lambda crop, crop_hole: _fill_crop(fill, crop, crop_hole, param_device, TEXTURE_PRIOR_SIZE,
                                                            net.cell), MAX_PRIOR_REGIONS)


def classical(method_id: str, image: np.ndarray, mask: np.ndarray, dilation: int = 0,
              feather: int = 0) -> np.ndarray:
    """Fill with one of OpenCV's classical methods (`classical_inpaint.METHODS`), each region of the hole cut out
    with its margin of context as for the network (at full resolution) and pasted back into the hole only. A slow
    method is refused when the regions hold more than its `max_megapixels`. uint8 [H, W, 3]."""
    hole = _validated_hole(image, mask, dilation, feather)
    if not hole.any():
        return image.copy()
    method = classical_inpaint.METHODS[method_id]
    megapixels = sum((bottom - top) * (right - left) for top, left, bottom, right in hole_regions(hole)) / 1e6
    if method.max_megapixels is not None and megapixels > method.max_megapixels:
        raise InvalidRequestError(
            f"{method.label} is too slow for this: the hole and its surroundings are {megapixels:.2f} megapixels, "
            f"over its limit of {method.max_megapixels:g}. Paint a smaller hole, use a smaller picture, or choose "
            "Telea or Navier-Stokes, which fill any size in a moment.")
    return _fill_regions(image, hole, feather, partial(classical_inpaint.fill, method_id))


def fill(model_id: str, image: np.ndarray, mask: np.ndarray, dilation: int = 0, feather: int = 0,
         progress: Callable[[float], None] | None = None, device: str | None = None) -> np.ndarray:
    """Inpaint with a classical method (by its id), an inpainting network, or a VAE as generative prior (by the
    checkpoint's task)."""
    if classical_inpaint.is_method(model_id):
        return classical(model_id, image, mask, dilation, feather)
    if (network_id := patch_method_network(model_id)) is not None:
        return inpaint(network_id, image, mask, dilation, feather, device, patches=True)
    if not registry.has(model_id):
        networks = ", ".join([c.id for task in (TASK, vae.TASK, vae.TEXTURE_TASK) for c in registry.checkpoints(task)]
                             + [patch_method_id(c.id) for c in registry.checkpoints(TASK)])
        raise InvalidRequestError(f"Unknown model id {shown(model_id)} for inpainting. Known: "
                                  f"{networks or 'no networks'}, and the classical methods "
                                  f"{', '.join(classical_inpaint.METHODS)}.")
    task = registry.get(model_id).task
    if task == TASK:
        return inpaint(model_id, image, mask, dilation, feather, device)
    if task == vae.TASK:
        return prior_inpaint(model_id, image, mask, dilation, feather, progress=progress, device=device)
    if task == vae.TEXTURE_TASK:
        return texture_prior_inpaint(model_id, image, mask, dilation, feather, progress=progress, device=device)
    raise InvalidRequestError(f"Model {shown(model_id)} is a {task} model; "
                              "inpainting takes an inpainting model or a VAE.")
