"""Where the studio keeps what a person makes: the outputs folder on disk and the session's history.

Every result image that carries studio parameters is recorded: written to the outputs folder (if there
is one) as a PNG with its parameters, and put first in the history of the browser session.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from models.files import FileWriteError, write_atomically, write_new_file
from studio import files, pnginfo

log = logging.getLogger(__name__)

DEFAULT_OUTPUTS_DIR = Path("outputs")
MAX_HISTORY = 100  # items kept per browser session; older ones drop off the end (the outputs folder keeps all)
TAB_TITLES = {"latent": "Latent sampling", "conditional": "Class-conditional", "vae": "VAE interpolation",
              "inpaint": "Inpainting", "texture": "Texture"}


def on_spaces() -> bool:
    """Hugging Face Spaces sets SPACE_ID; there the disk is shared and ephemeral, so nothing is saved."""
    return bool(os.environ.get("SPACE_ID"))


def describe(params: dict) -> str:
    """A short caption: tab, mode and the settings a person would recognise the image by."""
    parts = [TAB_TITLES.get(params.get("tab"), str(params.get("tab")))]
    for key in ("mode", "model_id", "class", "class_a", "class_b", "seed", "steps", "size", "label", "window"):
        if key in params:
            parts.append(f"{key.replace('_', ' ')} {params[key]}")
    return " · ".join(parts)


def file_stem(params: dict) -> str:
    """A file name stem from a result's parameters: time, tab, mode, model and seed. The parameters may come
    from a request (a PNG's text chunk), so every word goes through the one sanitiser and the model must be
    a registry id."""
    seed = params.get("seed")
    return files.file_stem(time.strftime("%Y%m%d-%H%M%S"), params.get("tab"), params.get("mode"),
                           files.model_slug(params.get("model_id")), None if seed is None else f"seed{seed}")


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG with its studio parameters, encoded once for every copy that is written."""
    buffer = io.BytesIO()
    pnginfo.save_png(image, buffer)
    return buffer.getvalue()


@dataclass
class OutputRecorder:
    """Records result images: into the outputs folder (None: off) and into a session's history list, whose
    copies live in the app's working folder."""

    outputs_dir: Path | None

    def record(self, image: Image.Image | None, history: list[dict] | None) -> tuple[list[dict], str | None]:
        """Save `image` and put it first in `history`; returns the new history and, if the outputs folder
        could not be written, a warning for the person. Images without studio parameters leave the history
        as it is."""
        history = list(history or [])
        if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
            return history, None
        params = pnginfo.parse(image.info[pnginfo.PNG_TEXT_KEY])
        data, stem = png_bytes(image), file_stem(params)
        saved, warning = None, None
        if self.outputs_dir is not None:
            try:
                saved = write_new_file(self.outputs_dir, stem, ".png", data)
            except FileWriteError as error:
                warning = (f"Could not save to the outputs folder {self.outputs_dir} ({error.reason}); "
                           "the image is in the history: download it from there.")
        copy = write_atomically(files.private_folder("history") / f"{stem}.png", data)
        history.insert(0, {"path": str(copy), "caption": describe(params), "saved": str(saved) if saved else None})
        for dropped in history[MAX_HISTORY:]:  # the copy was this history's alone (the outputs folder keeps its own)
            Path(dropped["path"]).unlink(missing_ok=True)
        return history[:MAX_HISTORY], warning
