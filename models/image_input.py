"""Decode images that users bring (any file, any colour mode) into 8-bit RGB, safely.

One place for the decoded-pixel cap (decompression bombs are refused from the header, before any
pixels are decoded) and for the colour-mode conversions: palette, grey + alpha and RGBA are
composited over white, 16-bit and float images are scaled to 8 bits, CMYK / YCbCr / LAB / HSV are
converted, EXIF orientation is applied, and animations give their first frame.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from models.errors import InvalidRequestError

log = logging.getLogger(__name__)

MAX_PIXELS = 25_000_000  # 25 megapixels, e.g. 6000x4000; larger images are refused before decoding
MIN_SIDE = 8
READABLE_FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"
OPENED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # the Pillow parsers a user's file may reach
MAX_TEXT_BYTES = 2_000_000  # text chunks of a PNG, all together: a studio PNG's parameters are under 0.5 MB
MAX_GIF_COMMENT_BYTES = 256_000  # a GIF's comment: Pillow joins its blocks in quadratic time (9.8 MB took 38 s)
PngImagePlugin.MAX_TEXT_MEMORY = MAX_TEXT_BYTES  # Pillow's default, 64 MB, let a 66 kB file inflate to MBs of text


class ImageInputError(InvalidRequestError):
    """An image a user gave cannot be used (not an image, damaged, too small, too large)."""


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit samples divided by 257; float or out-of-range integer images stretched to 0..255."""
    values = np.asarray(image, dtype=np.float64)
    lo, hi = values.min(initial=0), values.max(initial=0)
    if image.mode == "F" or lo < 0 or hi > 65535:
        values = (values - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(values)
    elif hi > 255:
        values = values / 257
    return Image.fromarray(np.clip(values.round(), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image -> mode RGB, transparent areas composited over white."""
    if image.mode in ("1", "L", "RGB"):
        return image.convert("RGB")
    if image.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I") or image.mode == "F":
        return _to_8bit(image).convert("RGB")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def centre_square(image: Image.Image, size: int) -> np.ndarray:
    """The largest centred square of a picture, scaled to `size` pixels a side; RGB uint8 [size, size, 3]."""
    return np.asarray(ImageOps.fit(to_rgb(image), (size, size), Image.Resampling.LANCZOS)).copy()


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    check_pixel_cap(width, height, max_pixels)
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(f"The image is {width}x{height} pixels; it needs at least {MIN_SIDE} pixels a side.")


def check_pixel_cap(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise ImageInputError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the studio accepts up to {max_pixels / 1e6:.0f} megapixels. Please downscale it."
        )


def open_image(source: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a file path, encoded bytes, PIL image or uint8 array into an RGB PIL image."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim not in (2, 3):
            raise ImageInputError(f"Expected a uint8 image array, got {source.dtype} with shape {source.shape}.")
        source = Image.fromarray(source)
    if isinstance(source, Image.Image):
        check_size(*source.size, max_pixels=max_pixels)
        return to_rgb(ImageOps.exif_transpose(source))
    return to_rgb(_decode(source, max_pixels))


DAMAGED_MESSAGE = "The image file is damaged or truncated and cannot be decoded."
TEXT_LIMIT_MESSAGE = ("The image carries more text (metadata) than the studio reads: 1 MB in one chunk, "
                      f"{MAX_TEXT_BYTES // 1_000_000} MB in all. Save it again without its metadata.")


def is_text_limit(error: Exception) -> bool:
    """Whether Pillow refused a PNG for the text its chunks hold, rather than for damage."""
    return "MAX_TEXT_MEMORY" in str(error) or "MAX_TEXT_CHUNK" in str(error)


@contextlib.contextmanager
def _opened(source: str | Path | bytes, max_pixels: int) -> Iterator[Image.Image]:
    """The image file opened (header read, no pixels decoded) and within the pixel cap; every failure,
    here or while the caller decodes, becomes an ImageInputError with a readable message."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        check_gif_comment(source)
        with Image.open(stream, formats=OPENED_FORMATS) as image:
            check_size(*image.size, max_pixels=max_pixels)
            yield image
    except ImageInputError:
        raise
    except Image.DecompressionBombError as error:  # Pillow's own cap (the app sets it to MAX_PIXELS) came first
        raise ImageInputError(
            f"The image is too large: the studio accepts up to {max_pixels / 1e6:.0f} megapixels. Please downscale it."
        ) from error
    except UnidentifiedImageError as error:
        raise ImageInputError(f"That file is not an image the studio can read ({READABLE_FORMATS}).") from error
    except FileNotFoundError as error:
        raise ImageInputError("The image file was not found.") from error
    except ValueError as error:
        log.info("undecodable image: %s", error)
        raise ImageInputError(TEXT_LIMIT_MESSAGE if is_text_limit(error) else DAMAGED_MESSAGE) from error
    except (OSError, SyntaxError) as error:
        log.info("undecodable image: %s", error)
        raise ImageInputError(DAMAGED_MESSAGE) from error



def check_header(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Refuse a file that is not an image, or an image over the pixel cap, from its header alone; (width, height)
    of one that passes."""
    with _opened(source, max_pixels) as image:
        return image.size


def check_gif_comment(source: str | Path | bytes) -> None:
    """Refuse a GIF whose comment is over MAX_GIF_COMMENT_BYTES, by walking its blocks (nothing decoded), before
    Pillow reads it; any other file passes."""
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            if file.read(4) != b"GIF8":
                return
            file.seek(0)
            source = file.read()
    if source[:4] == b"GIF8" and gif_comment_bytes(source) > MAX_GIF_COMMENT_BYTES:
        raise ImageInputError(f"The GIF's comment is over {MAX_GIF_COMMENT_BYTES // 1000} kB; the studio does not "
                              "read GIFs carrying that much text.")


def gif_comment_bytes(data: bytes) -> int:
    """The bytes in a GIF's comment extensions, found by skipping from block to block (a damaged file stops the
    count where it breaks; Pillow then says it is damaged)."""
    def table(flags: int) -> int:  # bytes of a colour table, if the flags say there is one
        return 3 << ((flags & 7) + 1) if flags & 0x80 else 0

    def sub_blocks(pos: int) -> tuple[int, int]:  # (where they end, their data bytes)
        size = 0
        while pos < len(data) and data[pos]:
            size += data[pos]
            pos += 1 + data[pos]
        return pos + 1, size

    if len(data) < 13:
        return 0
    pos, total = 13 + table(data[10]), 0
    while pos + 1 < len(data) and data[pos] != 0x3B:  # the trailer
        if data[pos] == 0x21:  # an extension: its label (0xFE: a comment), then sub-blocks
            label = data[pos + 1]
            pos, size = sub_blocks(pos + 2)
            total += size if label == 0xFE else 0
        elif data[pos] == 0x2C and pos + 10 <= len(data):  # an image: descriptor, colour table, LZW size, data
            pos, _ = sub_blocks(pos + 10 + table(data[pos + 9]) + 1)
        else:
            break
    return total


def _decode(source: str | Path | bytes, max_pixels: int) -> Image.Image:
    """Decode the first frame of an image file in its own mode, EXIF orientation applied."""
    with _opened(source, max_pixels) as image:
        image.seek(0)
        image.load()
        return ImageOps.exif_transpose(image)


def open_mask(source: str | Path | bytes | Image.Image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a mask image into bool [H, W], True = hole: its opaque pixels if it has transparency,
    otherwise its bright pixels (luminance above half)."""
    if isinstance(source, Image.Image):
        image = source
        check_size(*image.size, max_pixels=max_pixels)
    else:
        image = _decode(source, max_pixels)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if alpha.min() < 255:
            return alpha > 127
    return np.asarray(to_rgb(image).convert("L")) > 127
