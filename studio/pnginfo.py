"""Parameters embedded in the studio's PNGs, so a saved image can restore the settings that made it."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from studio import __version__

PNG_TEXT_KEY = "studio-parameters"


class NotAStudioPNGError(ValueError):
    pass


def embed(image: Image.Image, params: dict) -> Image.Image:
    """Attach `params` (plus the studio version) as a PNG text chunk; Gradio keeps text `info` when it saves PNGs."""
    image.info[PNG_TEXT_KEY] = json.dumps({**params, "studio_version": __version__}, sort_keys=True)
    return image


def save_png(image: Image.Image, path: Path) -> Path:
    """Write `image` as PNG with its embedded parameters."""
    info = PngInfo()
    if PNG_TEXT_KEY in image.info:
        info.add_text(PNG_TEXT_KEY, image.info[PNG_TEXT_KEY])
    image.save(path, format="PNG", pnginfo=info)
    return path


def read(path: str | Path) -> dict:
    """Return the parameters of a studio PNG; raise NotAStudioPNGError with a readable reason otherwise."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise NotAStudioPNGError(f"That file is a {image.format or 'non-PNG'} image, not a studio PNG.")
            text = image.info.get(PNG_TEXT_KEY)
    except (UnidentifiedImageError, OSError) as error:
        raise NotAStudioPNGError("That file is not a readable image.") from error
    if text is None:
        raise NotAStudioPNGError("That PNG holds no studio parameters (it was not saved by the studio).")
    return parse(text)


def parse(text: str) -> dict:
    """Decode the JSON of a studio-parameters text chunk."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotAStudioPNGError("That PNG's studio parameters are damaged.") from error
    if not isinstance(params, dict):
        raise NotAStudioPNGError("That PNG's studio parameters are damaged.")
    return params
