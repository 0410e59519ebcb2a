"""Where the studio keeps what a person makes: the outputs folder on disk and the session's history.

Every result image that carries studio parameters is recorded: written to the outputs folder (if there
is one) as a PNG with its parameters, and put first in the history of the browser session.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from studio import pnginfo

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
    """A file name stem from the parameters: time, tab, mode, model and seed, safe on every filesystem."""
    parts = [time.strftime("%Y%m%d-%H%M%S"), params.get("tab"), params.get("mode"), params.get("model_id")]
    if "seed" in params:
        parts.append(f"seed{params['seed']}")
    stem = "-".join(str(p) for p in parts if p is not None)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


def write_new_png(data: bytes, directory: Path, stem: str) -> Path:
    """Write PNG `data` to `directory/stem.png`, or `stem-2.png`, ... : an existing file is never overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        path = directory / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")
        try:
            with open(path, "xb") as file:
                file.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"too many files named {stem}*.png in {directory}")


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG with its studio parameters, encoded once for every copy that is written."""
    buffer = io.BytesIO()
    pnginfo.save_png(image, buffer)
    return buffer.getvalue()


@dataclass
class OutputRecorder:
    """Records result images: into the outputs folder (None: off) and into a session's history list."""

    outputs_dir: Path | None
    history_dir: Path

    @classmethod
    def create(cls, outputs_dir: Path | None) -> OutputRecorder:
        return cls(outputs_dir=outputs_dir, history_dir=Path(tempfile.mkdtemp(prefix="studio-history-")))

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
                saved = write_new_png(data, self.outputs_dir, stem)
            except OSError as error:
                log.warning("could not save to the outputs folder %s: %s", self.outputs_dir, error)
                warning = (f"Could not save to the outputs folder {self.outputs_dir} ({error.strerror or error}); "
                           "the image is in the history: download it from there.")
        copy = write_new_png(data, self.history_dir, stem)
        history.insert(0, {"path": str(copy), "caption": describe(params), "saved": str(saved) if saved else None})
        return history[:MAX_HISTORY], warning
