"""Where the studio keeps what a person makes: the outputs folder on disk and the session's history.

Every result image that carries studio parameters is recorded: written to the outputs folder (if there
is one) as a PNG with its parameters, and put first in the history of the browser session.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from models.files import FileWriteError, write_atomically, write_new_file
from studio import files, pnginfo

log = logging.getLogger(__name__)

DEFAULT_OUTPUTS_DIR = Path("outputs")
MAX_HISTORY = 100  # items per browser session; the oldest unstarred drop off (the outputs folder keeps all)
BURST_S = 1.0  # results of one tab and mode closer than this are one burst: only the settled one is kept
TAB_TITLES = {"latent": "Latent sampling", "conditional": "Class-conditional", "vae": "VAE interpolation",
              "inpaint": "Inpainting", "texture": "Texture"}


def on_spaces() -> bool:
    """Hugging Face Spaces sets SPACE_ID; there the disk is shared and ephemeral, so nothing is saved."""
    return bool(os.environ.get("SPACE_ID"))


# Settings a caption leaves out when they have these values (each tab's defaults).
CAPTION_DEFAULTS = {"psi": 1.0, "num_samples": 1, "steps": 16, "path": "slerp", "ping_pong": True,
                    "dilation": 4, "feather": 4}
MODE_TITLES = {"one_of_each": "one of each", "morph": "morph", "interpolate": "interpolation", "walk": "walk",
               "heatmap": "heatmap", "sweep": "sweep", "seed_loop": "seed loop", "blend": "morph"}


def describe(params: dict) -> str:
    """A short caption: tab, mode, model, class and seed, then the settings that differ from the defaults,
    e.g. "Latent sampling · fmnist-gan · seed 42 · ψ 0.8 · PC1 +2.0"."""
    parts = [TAB_TITLES.get(params.get("tab"), str(params.get("tab"))), MODE_TITLES.get(params.get("mode")),
             params.get("model_id"), params.get("class"), params.get("label")]
    if "class_a" in params:
        parts.append(f"{params['class_a']} → {params.get('class_b')}")
    if "seed" in params:
        parts.append(f"seed {params['seed']}")
    changed = {key: value for key, value in params.items()
               if key in CAPTION_DEFAULTS and value != CAPTION_DEFAULTS[key]}
    for key, value in changed.items():
        parts.append({"psi": f"ψ {value}", "num_samples": f"{value} samples", "steps": f"{value} steps",
                      "path": f"{value} path", "ping_pong": "no ping-pong", "dilation": f"dilation {value}",
                      "feather": f"feather {value}"}[key])
    if "size" in params:
        parts.append(f"{params['size']}x{params['size']}")
    if "frame" in params:
        parts.append(f"frame {params['frame']}")
    if "position" in params:
        parts.append(f"at {params['position']}")
    for k, value in enumerate(params.get("directions") or []):
        if isinstance(value, int | float) and value:
            parts.append(f"PC{k + 1} {value:+.1f}")
    if isinstance(animation := params.get("animation"), dict):
        parts.append(animation_caption(animation))
    return " · ".join(str(part) for part in parts if part is not None)


def animation_caption(animation: dict) -> str:
    """An animation's own settings, e.g. "WEBM animation, PC3 swept, 4 s at 24 fps"."""
    what = {"sweep": f"PC{animation.get('direction')} swept", "seed_loop": f"{animation.get('seeds')} seeds"}
    words = [f"{str(animation.get('format', '')).upper()} animation", what.get(animation.get("kind")),
             f"{animation.get('seconds')} s at {animation.get('fps')} fps"]
    return ", ".join(word for word in words if word)


def result_key(params: dict) -> str:
    """Equal for two results made with the same parameters (whatever the studio version)."""
    settings = {key: value for key, value in params.items() if key != "studio_version"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    copies live in the app's working folder. A burst (a slider dragged, a key held, results of one tab and
    mode less than BURST_S apart) keeps only its last, settled result; a result identical to the newest
    is not recorded again; starred items are never pushed out."""

    outputs_dir: Path | None
    # history copy (an unguessable path) -> (the outputs file written with it, when), for the last BURST_S: a
    # burst removes only these (a history comes from the browser, so an item's `saved` may name any file there)
    _written: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def record(self, image: Image.Image | None, history: list[dict] | None,
               now: float | None = None) -> tuple[list[dict], str | None]:
        """Save `image` and put it first in `history`; returns the new history and, if the outputs folder
        could not be written, a warning for the person. Images without studio parameters leave the history
        as it is."""
        history = list(history or [])
        if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
            return history, None
        params = pnginfo.parse(image.info[pnginfo.PNG_TEXT_KEY])
        key, burst = result_key(params), f"{params.get('tab')}:{params.get('mode')}"
        now = time.time() if now is None else now
        if history and history[0].get("key") == key:
            return history, None
        data, stem = png_bytes(image), file_stem(params)
        newest = history[0] if history else {}
        unsettled = newest.get("burst") == burst and not newest.get("starred") and now - newest.get("at", 0) < BURST_S
        saved, warning = None, None
        if self.outputs_dir is not None:
            try:
                saved = write_new_file(self.outputs_dir, stem, ".png", data)
            except FileWriteError as error:
                warning = (f"Could not save to the outputs folder {self.outputs_dir} ({error.reason}); "
                           "the image is in the history: download it from there.")
        copy = write_atomically(files.private_folder("history") / f"{stem}.png", data, durable=False)
        if saved is not None:
            self._wrote(copy, saved, now)
        if unsettled:  # an unsettled step of the same burst, forgotten once its successor is safely written
            step = history.pop(0)
            forget(step, self._saved_just_before(step["path"], now))
        for item in history:
            if item.get("starred"):
                keep_alive(item)
        history.insert(0, {"id": secrets.token_hex(8), "path": str(copy), "caption": describe(params),
                           "saved": str(saved) if saved else None, "key": key, "burst": burst, "at": now,
                           "starred": False})
        while len(history) > MAX_HISTORY:
            oldest = next((i for i in range(len(history) - 1, -1, -1) if not history[i].get("starred")), None)
            if oldest is None:
                break
            forget(history.pop(oldest))
        return history, warning

    def _wrote(self, copy: Path, saved: Path, now: float) -> None:
        with self._lock:
            for old in [c for c, (_, at) in self._written.items() if not 0 <= now - at < BURST_S]:
                del self._written[old]
            self._written[str(copy)] = (str(saved), now)

    def _saved_just_before(self, copy: str, now: float) -> str | None:
        """The outputs file this process wrote with the history copy `copy`, if that was less than BURST_S ago."""
        with self._lock:
            saved, at = self._written.get(copy, (None, -float("inf")))
        return saved if 0 <= now - at < BURST_S else None


def keep_alive(item: dict) -> None:
    """Mark a starred item's copy as used, so the sweep of working files unused for hours keeps it while its
    session is in use."""
    try:
        os.utime(item["path"])
    except OSError:
        pass


def forget(item: dict, saved: str | None = None) -> None:
    """Remove a history item's copy (it was this history's alone) and, for a superseded step of a burst, the
    file `saved` in the outputs folder with it a moment before."""
    Path(item["path"]).unlink(missing_ok=True)
    if saved is not None:
        Path(saved).unlink(missing_ok=True)


def toggle_star(history: list[dict], item_id: str) -> list[dict]:
    """The history with the item `item_id` starred (never pushed out, and its copy kept while the session is in
    use) or unstarred."""
    toggled = [{**item, "starred": not item.get("starred")} if item.get("id") == item_id else item
               for item in history]
    for item in toggled:
        if item.get("id") == item_id and item["starred"]:
            keep_alive(item)
    return toggled


HISTORY_ITEM_TYPES = {"id": str, "path": str, "caption": str, "saved": str | None, "key": str, "burst": str,
                      "at": int | float, "starred": bool}
MAX_CAPTION = 300


def trusted_history(items: object, outputs_dir: Path | None) -> list[dict]:
    """The history as the browser kept it (in its local storage, so it is checked like any request): the
    well-formed items whose copy is still one of the app's history files; `saved` only inside the outputs
    folder. Items from before a restart (their copies are gone) drop out."""
    if not isinstance(items, list):
        return []
    history_root, kept = files.work_dir() / "history", []
    for item in items[: 2 * MAX_HISTORY]:
        if not _well_formed(item):
            continue
        try:
            path = files.admitted_path(item["path"])
        except files.NotUploadedError:
            continue
        saved = item["saved"]
        if saved is not None and (outputs_dir is None or not Path(saved).resolve().is_relative_to(
                outputs_dir.resolve())):
            saved = None
        if path.is_relative_to(history_root):
            kept.append({**{key: item[key] for key in HISTORY_ITEM_TYPES}, "path": str(path), "saved": saved,
                         "caption": item["caption"][:MAX_CAPTION]})
    return kept


def _well_formed(item: object) -> bool:
    return isinstance(item, dict) and all(
        isinstance(item.get(key), kind) and (kind is bool or not isinstance(item.get(key), bool))
        for key, kind in HISTORY_ITEM_TYPES.items())
