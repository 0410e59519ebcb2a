"""Parameters embedded in the studio's PNGs (a text chunk), GIFs (the comment) and WebM/MP4 animations (the
container's comment tag, see studio.video), so a saved image or animation can restore the settings that made it."""

from __future__ import annotations

import base64
import copy
import io
import json
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from models.files import write_atomically
from models.image_input import (
    MAX_PIXELS,
    OPENED_FORMATS,
    TEXT_LIMIT_MESSAGE,
    ImageInputError,
    check_gif_comment,
    check_pixel_cap,
    check_size,
    is_text_limit,
    open_image,
)
from studio import __version__, video

PNG_TEXT_KEY = "studio-parameters"
RECENT_READS = 32  # files whose parameters `read` keeps
_recent_reads: dict[tuple[str, int, int, int, int], dict] = {}
_read_lock = threading.Lock()


class NotAStudioPNGError(ValueError):
    pass


def embed(image: Image.Image, params: dict) -> Image.Image:
    """Attach `params` (plus the studio version) as a PNG text chunk; Gradio keeps text `info` when it saves PNGs."""
    image.info[PNG_TEXT_KEY] = json.dumps({**params, "studio_version": __version__}, sort_keys=True)
    return image


def save_png(image: Image.Image, path: Path | BinaryIO) -> Path | BinaryIO:
    """Write `image` as PNG with its embedded parameters (to a path or an open binary file)."""
    info = PngInfo()
    if PNG_TEXT_KEY in image.info:
        info.add_text(PNG_TEXT_KEY, image.info[PNG_TEXT_KEY])
    if isinstance(path, str | Path):
        return write_atomically(path, lambda file: image.save(file, format="PNG", pnginfo=info))
    image.save(path, format="PNG", pnginfo=info)
    return path


def gif_comment(params: dict) -> str:
    """The GIF comment that carries `params` (plus the studio version)."""
    return f"{PNG_TEXT_KEY}:" + json.dumps({**params, "studio_version": __version__}, sort_keys=True)


def encode_pixels(pixels: np.ndarray) -> str:
    """A small uint8 image [H, W] (grey) or [H, W, 3] (RGB) as text for the parameters, so an input image
    travels with its output."""
    shape = "x".join(str(n) for n in pixels.shape)
    return f"{shape}:" + base64.b64encode(np.ascontiguousarray(pixels).tobytes()).decode()


def encode_jpeg(image: Image.Image, quality: int = 90) -> str:
    """A picture as base64 JPEG text for the parameters (inputs too big to carry losslessly)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode()


def decode_jpeg(text: str) -> Image.Image:
    """The picture a PNG's parameters carry, within the studio's pixel cap (checked from its header)."""
    try:
        return open_image(base64.b64decode(text))
    except (ValueError, TypeError) as error:  # binascii.Error and ImageInputError are ValueErrors
        raise NotAStudioPNGError(f"That PNG's image parameters are damaged: {error}"
                                 if isinstance(error, ImageInputError) else
                                 "That PNG's image parameters are damaged.") from error


def decode_pixels(text: str) -> np.ndarray:
    """Pixels `encode_pixels` wrote ("HxW[x3]:base64"), their size checked before they are decoded."""
    try:
        shape, data = text.split(":", 1)
        dimensions = [int(v) for v in shape.split("x")]
        if len(dimensions) < 2 or dimensions[2:] not in ([], [3]):  # grey or RGB
            raise ValueError(f"unexpected pixel shape {shape}")
        check_size(dimensions[1], dimensions[0])  # an ImageInputError, a ValueError
        return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(dimensions).copy()
    except (ValueError, TypeError, AttributeError) as error:
        raise NotAStudioPNGError("That PNG's image parameters are damaged.") from error


def read(path: str | Path) -> dict:
    """Return the parameters of a studio PNG, GIF, WebM or MP4; raise NotAStudioPNGError with a readable reason
    otherwise. One restore reads the same file in several handlers (the PNG info tab, the tab switch, the
    animation controls), so a file's parameters are kept while its inode, size and times stay the same."""
    try:
        status = Path(path).stat()
        key = (str(Path(path).resolve()), status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    except (OSError, ValueError):
        return _read(path)  # the readers below give the sentence for an unreadable file
    with _read_lock:
        if key in _recent_reads:
            return copy.deepcopy(_recent_reads[key])
    params = _read(path)
    with _read_lock:
        _recent_reads[key] = copy.deepcopy(params)
        while len(_recent_reads) > RECENT_READS:
            _recent_reads.pop(next(iter(_recent_reads)))
    return params


def _read(path: str | Path) -> dict:
    if (container := _video_container(path)) is not None:
        return _video_parameters(path, container)
    try:
        check_gif_comment(path)
        with Image.open(path, formats=OPENED_FORMATS) as image:  # a JPEG is named as such, an ICO is not read
            check_pixel_cap(*image.size)  # from the header: a studio image is never over the cap
            if image.format == "GIF":
                text = _comment_text(image.info.get("comment", b"").decode("utf-8", "replace"))
            elif image.format == "PNG":
                text = image.info.get(PNG_TEXT_KEY)
            else:
                raise NotAStudioPNGError(f"That file is a {image.format or 'non-PNG'} image, not a studio PNG.")
    except NotAStudioPNGError:
        raise
    except ImageInputError as error:
        raise NotAStudioPNGError(str(error)) from error
    except Image.DecompressionBombError as error:
        raise NotAStudioPNGError(f"The image is too large: the studio accepts up to {MAX_PIXELS / 1e6:.0f} "
                                 "megapixels.") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        if is_text_limit(error):
            raise NotAStudioPNGError(TEXT_LIMIT_MESSAGE) from error
        raise NotAStudioPNGError("That file is not a readable image.") from error
    if text is None:
        raise NotAStudioPNGError("That image holds no studio parameters (it was not saved by the studio).")
    return parse(text)


def _comment_text(comment: str) -> str | None:
    """The parameters' JSON in a GIF or video comment written by `gif_comment`, or None."""
    return comment.removeprefix(f"{PNG_TEXT_KEY}:") if comment.startswith(f"{PNG_TEXT_KEY}:") else None


def _video_container(path: str | Path) -> str | None:
    """"matroska" or "mp4" if the file's first bytes announce a WebM or MP4, else None (an image, perhaps)."""
    try:
        with open(path, "rb") as file:
            return video.sniffed_format(file.read(12))
    except OSError:
        return None  # the image reader below says the file is unreadable


def _video_parameters(path: str | Path, container: str) -> dict:
    try:
        text = _comment_text(video.read_comment(path, container))
    except video.VideoReadError as error:
        raise NotAStudioPNGError(str(error)) from error
    if text is None:
        raise NotAStudioPNGError("That video holds no studio parameters (it was not saved by the studio).")
    return parse(text)


def image_params(image: Image.Image) -> dict:
    """The parameters embedded in a studio image (an empty dict if it carries none)."""
    text = image.info.get(PNG_TEXT_KEY)
    return {} if text is None else parse(text)


def _int64(text: str) -> int:
    """A JSON integer within 64 bits (the studio writes none larger; JSON output cannot carry them)."""
    value = int(text)  # ValueError past Python's limit on digits
    if not -(2**63) <= value < 2**63:
        raise ValueError("an integer beyond 64 bits")
    return value


MAX_TEXT_CHARS = 2_000_000  # a studio's parameters are under 0.5 MB (a heatmap's copy of its input, as JPEG)
MAX_CONTAINERS = 1_000  # lists and objects in them: a few dozen (base64 has no brackets); millions of empty
# lists in a few MB took 225 MB of memory each time they were parsed


def parse(text: str) -> dict:
    """Decode the JSON of a studio-parameters text chunk: an object whose "tab", if any, is a string."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS or text.count("[") + text.count("{") > MAX_CONTAINERS:
        raise NotAStudioPNGError("That PNG's studio parameters are damaged.")
    try:
        params = json.loads(text, parse_int=_int64)
    except (ValueError, RecursionError, TypeError) as error:  # RecursionError: absurdly deep nesting
        raise NotAStudioPNGError("That PNG's studio parameters are damaged.") from error
    if not isinstance(params, dict) or not isinstance(params.get("tab", ""), str):
        raise NotAStudioPNGError("That PNG's studio parameters are damaged.")
    return params
