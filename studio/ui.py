"""UI helpers shared by every tab: user-facing errors and the CSS that keeps small images crisp."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import gradio as gr
from gradio.data_classes import ImageData
from PIL import Image

from models import image_input, registry
from models.errors import InvalidRequestError
from models.loading import WeightFileError
from models.registry import UnknownModelError
from studio import pnginfo
from studio.pnginfo import NotAStudioPNGError

log = logging.getLogger(__name__)

USER_ERRORS = (InvalidRequestError, UnknownModelError, NotAStudioPNGError, WeightFileError)

# Browsers smooth upscaled images by default; model pixels should stay square. `fill` blows a small
# input image (a 28x28 example) up to its box.
CSS = """
.crisp img, .crisp canvas { image-rendering: pixelated; image-rendering: crisp-edges; }
.fill img { width: 100%; height: 100%; object-fit: contain; }
"""


class ImageInput(gr.Image):
    """A gr.Image whose uploads are decoded by `models.image_input`: the pixel cap is checked before
    decoding, every colour mode becomes RGB, and a file that is not an image gets a readable message.
    The handler receives an RGB PIL image; give it format="png" so images set by the app stay lossless."""

    def get_block_name(self) -> str:
        return "image"  # rendered by the frontend's Image component

    def get_block_class(self) -> str:
        return "image"

    @staticmethod
    def decode(source: str | bytes):
        return image_input.open_image(source)

    def preprocess(self, payload: ImageData | None):
        if payload is None:
            return None
        try:
            if payload.path is None and payload.url and payload.url.startswith("data:"):
                return self.decode(base64.b64decode(payload.url.split(",", 1)[1]))
            if payload.path is None:
                raise InvalidRequestError("No image was received.")
            return self.decode(payload.path)
        except InvalidRequestError as error:
            raise gr.Error(str(error), print_exception=False) from error
        except binascii.Error as error:
            raise gr.Error("The image data is damaged.", print_exception=False) from error


class MaskInput(ImageInput):
    """An ImageInput for masks: the handler receives bool [H, W], True where the image is opaque (if it
    has transparency) or bright."""

    @staticmethod
    def decode(source: str | bytes):
        return image_input.open_mask(source)


SEND_TARGETS = ("Inpaint", "Texture")


class SendButton(NamedTuple):
    """A "Send to <target>" button under an image output; `studio.app` wires it to the target tab."""

    target: str
    button: gr.Button
    image: gr.Image


def send_buttons(image: gr.Image, targets: tuple[str, ...] = SEND_TARGETS) -> list[SendButton]:
    """A row of "Send to ..." buttons for an image output."""
    with gr.Row():
        return [SendButton(t, gr.Button(f"Send to {t}", size="sm"), image) for t in targets]


def result_image(label: str, **kwargs) -> gr.Image:
    """An output image of model pixels: lossless PNG (it carries the parameters), crisp when upscaled."""
    return gr.Image(label=label, type="pil", format="png", interactive=False, elem_classes="crisp", **kwargs)


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


def unique_path(directory: Path, name: str) -> Path:
    """`name` in a fresh subfolder of `directory`, so concurrent requests never overwrite each other's files."""
    return Path(tempfile.mkdtemp(dir=directory)) / name


def save_for_download(image: Image.Image | None, directory: Path, name: Callable[[dict], str]) -> str | None:
    """Write the shown image with its parameters under a descriptive file name, for a Save button."""
    if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
        return None
    params = pnginfo.parse(image.info[pnginfo.PNG_TEXT_KEY])
    return str(pnginfo.save_png(image, unique_path(directory, name(params))))


def tab_parameters(png_path: str | None, tab: str, tab_title: str) -> dict:
    """The parameters of a studio PNG made in `tab`, or a NotAStudioPNGError saying why not."""
    if not png_path:
        raise NotAStudioPNGError("Drop a PNG saved by the studio to restore its parameters.")
    params = pnginfo.read(png_path)
    if params.get("tab") != tab:
        raise NotAStudioPNGError(f"That PNG was not made in the {tab_title} tab.")
    return params
