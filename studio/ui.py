"""UI helpers shared by every tab: user-facing errors and the CSS that keeps small images crisp."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from PIL import Image

from models import registry
from models.loading import WeightFileError
from models.registry import UnknownModelError
from models.sampling import InvalidRequestError
from studio import pnginfo
from studio.pnginfo import NotAStudioPNGError

log = logging.getLogger(__name__)

USER_ERRORS = (InvalidRequestError, UnknownModelError, NotAStudioPNGError, WeightFileError)

# Browsers smooth upscaled images by default; model pixels should stay square.
CSS = """
.crisp img, .crisp canvas { image-rendering: pixelated; image-rendering: crisp-edges; }
"""


def user_errors(fn: Callable) -> Callable:
    """Turn the model layer's precise exceptions into a gr.Error a person can read (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error), print_exception=False) from error
        except (TypeError, ValueError) as error:
            log.exception("bad input to %s", fn.__name__)
            raise gr.Error(f"Invalid input: {error}", print_exception=False) from error

    return wrapper


def whole_number(value: float | None, name: str) -> int:
    """A UI or API number that must be an integer (seeds, counts); anything else is the user's error."""
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value != int(value):
        raise InvalidRequestError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def model_choices(task: str, default: str) -> list[str]:
    """Registered checkpoints of `task`, the tab's default model first."""
    ids = [c.id for c in registry.checkpoints(task)]
    return sorted(ids, key=lambda i: (i != default, i))


def save_for_download(image: Image.Image | None, directory: Path, name: Callable[[dict], str]) -> str | None:
    """Write the shown image with its parameters under a descriptive file name, for a Save button."""
    if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
        return None
    params = pnginfo.parse(image.info[pnginfo.PNG_TEXT_KEY])
    return str(pnginfo.save_png(image, directory / name(params)))


def tab_parameters(png_path: str | None, tab: str, tab_title: str) -> dict:
    """The parameters of a studio PNG made in `tab`, or a NotAStudioPNGError saying why not."""
    if not png_path:
        raise NotAStudioPNGError("Drop a PNG saved by the studio to restore its parameters.")
    params = pnginfo.read(png_path)
    if params.get("tab") != tab:
        raise NotAStudioPNGError(f"That PNG was not made in the {tab_title} tab.")
    return params
