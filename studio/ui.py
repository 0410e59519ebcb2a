"""UI helpers shared by every tab: user-facing errors and the CSS that keeps small images crisp."""

from __future__ import annotations

import base64
import binascii
import functools
import html
import logging
import math
import numbers
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
from gradio.components.image_editor import AcceptBlobs, EditorData
from gradio.data_classes import FileData, ImageData, ListFiles
from gradio_client.utils import is_http_url_like
from PIL import Image
from pydantic import model_validator

from models import image_input, registry
from models.errors import InvalidRequestError, cut, shown
from models.files import FileWriteError, write_atomically
from models.loading import WeightFileError
from models.registry import UnknownModelError
from studio import files, outputs, pnginfo
from studio.images import CELLS_KEY, cell_at, cell_count
from studio.pnginfo import NotAStudioPNGError
from studio.serving import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside long work when the person pressed Cancel."""


# Errors whose message is the whole answer: the caller can act on it; the log gets one line, no traceback.
USER_ERRORS = (InvalidRequestError, UnknownModelError, NotAStudioPNGError, WeightFileError, FileWriteError, Cancelled)

# Browsers smooth upscaled images by default; model pixels should stay square. `fill` blows a small
# input image (a 28x28 example) up to its box. browser.js sizes `.whole-pixels` images.
CSS = """
.crisp img, .crisp canvas, #history-gallery img { image-rendering: pixelated; image-rendering: crisp-edges; }
.fill img { width: 100%; height: 100%; object-fit: contain; }
.pick-cells img { cursor: crosshair; }
/* the result stays in view: beside the controls while they scroll on wide screens, first on a phone */
@media (min-width: 1024px) {
  .result-column { position: sticky; top: 8px; align-self: flex-start; }
}
.gradio-container { overflow: clip !important; }  /* clips like Gradio's "hidden" without breaking sticky */
@media (max-width: 767px) {
  .result-column { order: -1; }
  .result-column .whole-pixels { max-height: calc(100vw - 16px); }
}
/* a swipe that starts on a slider scrolls the page (browser.js keeps the value) */
input[type=range] { touch-action: pan-y; }
/* errors appear at the bottom, clear of the History toggle and the results */
.toast-wrap { top: auto !important; bottom: var(--size-4); }
.skip-link-block { height: 0; min-height: 0 !important; margin-bottom: calc(-1 * var(--layout-gap)); }
.skip-link { position: absolute; left: -10000px; }
.skip-link:focus { position: static; display: inline-block; padding: 4px 8px; background: #1d4ed8; color: #fff; }
/* the image editor's floating toolbar gets a strip of its own instead of covering the picture's left edge */
.image-editor-block .pixi-target { left: 52px !important; width: calc(100% - 52px) !important; }
.direction-slider label span { white-space: nowrap; }
.live-base { display: none !important; }  /* parameters the page sends with a live preview (browser.js) */
.train-progress + progress { width: 100%; height: 12px; }
.direction-row { flex-wrap: nowrap !important; }
.direction-row > * { min-width: 0 !important; }
/* WCAG AA: text at least 4.5:1 on its background (Gradio's orange gives 2.8 to 3.6, its slider ends 1.9) */
:root, .dark {
  --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412;
  --button-primary-text-color: #ffffff; --button-primary-border-color: #c2410c;
  --button-cancel-background-fill: #b91c1c; --button-cancel-background-fill-hover: #991b1b;
  --button-cancel-text-color: #ffffff; --button-cancel-border-color: #b91c1c;
}
:root { --body-text-color-subdued: #5f5f66; }
.dark { --body-text-color-subdued: #a1a1aa; }
button[role=tab][aria-selected=true] { color: #c2410c !important; }
.dark button[role=tab][aria-selected=true] { color: #fdba74 !important; }
.min_value, .max_value { color: #595959 !important; }
.dark .min_value, .dark .max_value { color: #b3b3b3 !important; }
/* a visible focus ring on every control, sliders included (Gradio removes outlines) */
:focus-visible, input[type=range]:focus-visible {
  outline: 3px solid #1d4ed8 !important; outline-offset: 2px !important;
}
"""


MAX_PAYLOAD_PIXELS = 4 * image_input.MAX_PIXELS  # all images of one input together: an editor's background, mask
# layer and composite of a 25-megapixel picture, and a little more (each is decoded to RGBA: a payload of 30 such
# layers took 2.8 GB)


def admit_payload(payload: Any, images: bool) -> list[Path | bytes]:
    """Every file a component payload names must pass `files.admitted_path` (data: URLs carry their bytes and
    name no file); with `images`, each must also be within the pixel cap, read from its header alone.
    Returns what to read, in the payload's order: admitted paths, and the bytes of data: URLs."""
    data = payload.model_dump() if hasattr(payload, "model_dump") else payload
    sources, pixels = [], 0
    for file in _file_dicts(data):
        path, url = file.get("path"), file.get("url")
        if path is None and isinstance(url, str) and url.startswith("data:"):
            source: str | Path | bytes = _data_url_bytes(url)
        elif path is None:
            raise files.NotUploadedError()
        else:
            source = files.admitted_path(path)
        if images:
            width, height = image_input.check_header(source)
            pixels += width * height
            check_payload_pixels(pixels)
        sources.append(source)
    return sources


def check_payload_pixels(pixels: int) -> None:
    if pixels > MAX_PAYLOAD_PIXELS:
        raise InvalidRequestError(f"The request's images hold more than {MAX_PAYLOAD_PIXELS // 1_000_000} megapixels "
                                  "in all.")


def _file_dicts(data: Any) -> list[dict]:
    if isinstance(data, dict):
        if "path" in data and "url" in data:
            return [data]
        return [f for value in data.values() for f in _file_dicts(value)]
    if isinstance(data, list):
        return [f for value in data for f in _file_dicts(value)]
    return []


def _data_url_bytes(url: str) -> bytes:
    """The bytes of an image sent inline, held to the upload limit (base64 takes 4 characters per 3 bytes)."""
    if len(url) > MAX_UPLOAD_BYTES * 4 // 3 + 100:
        raise InvalidRequestError(f"The image is larger than {MAX_UPLOAD_MB} MB.")
    try:
        return base64.b64decode(url.split(",", 1)[1], validate=False)
    except (IndexError, binascii.Error, ValueError) as error:
        raise InvalidRequestError("The image data is damaged.") from error


class AdmitsFiles:
    """Mixin for every component that takes files in a request: the paths its payload names pass
    `files.admitted_path` (and, for images, the header size check) before the component opens anything.
    `studio.app` refuses to build a studio with a file-taking input that lacks it."""

    holds_images = True

    @classmethod
    def _gradio_class(cls) -> type:
        return next(c for c in cls.__mro__ if c.__module__.startswith("gradio."))

    def get_block_name(self) -> str:  # rendered by the frontend of the Gradio component it extends
        base = self._gradio_class()
        return (base.__base__ if getattr(base, "is_template", False) else base).__name__.lower()

    def get_block_class(self) -> str:
        return self.get_block_name()

    def preprocess(self, payload: Any):
        if payload is None:
            return None
        try:
            return self.open_admitted(payload, admit_payload(payload, images=self.holds_images))
        except InvalidRequestError as error:
            raise gr.Error(page_message(error), print_exception=False) from error

    def open_admitted(self, payload: Any, sources: list[Path | bytes]):
        """Turn an admitted payload into the handler's value (here the Gradio component's own preprocessing;
        `sources` are what admit_payload read)."""
        return super().preprocess(payload)  # type: ignore[misc]

    # A payload with Gradio's "meta" marker and a web address as its path would make Gradio download it into
    # its cache before the studio's check: inputs never fetch anything.
    def move_resource_to_block_cache(self, url_or_file_path):
        _refuse_web_addresses(url_or_file_path)
        return super().move_resource_to_block_cache(url_or_file_path)  # type: ignore[misc]

    async def async_move_resource_to_block_cache(self, url_or_file_path):
        _refuse_web_addresses(url_or_file_path)
        return await super().async_move_resource_to_block_cache(url_or_file_path)  # type: ignore[misc]


def _refuse_web_addresses(path: object) -> None:
    if isinstance(path, str) and is_http_url_like(path):
        log.info("refused a request naming a web address as a file")
        raise gr.Error(files.NOT_UPLOADED, print_exception=False)


class StudioImage(AdmitsFiles, gr.Image):
    """A gr.Image whose payloads are admitted: results and heatmaps (their PNG text chunks reach the handler)."""


class ImageInput(AdmitsFiles, gr.Image):
    """An image input decoded by `models.image_input`: the pixel cap is checked before decoding, every colour
    mode becomes RGB, and a file that is not an image gets a readable message. The handler receives an RGB
    PIL image; give it format="png" so images set by the app stay lossless."""

    @staticmethod
    def decode(source: str | Path | bytes):
        return image_input.open_image(source)

    def open_admitted(self, payload: ImageData, sources: list[Path | bytes]):
        return self.decode(sources[0])  # the admitted path, or the bytes of a data: URL


class MaskInput(ImageInput):
    """An ImageInput for masks: the handler receives bool [H, W], True where the image is opaque (if it
    has transparency) or bright."""

    @staticmethod
    def decode(source: str | Path | bytes):
        return image_input.open_mask(source)


class MetaOptionalFileData(FileData):
    """FileData that takes a payload without Gradio's "meta" marker, so that such a payload reaches the
    studio's check and gets its sentence (Gradio's own refusal is a validation error and a logged traceback)."""

    @model_validator(mode="before")
    @classmethod
    def validate_model(cls, value, info):
        if isinstance(value, dict) and not value.get("path"):
            return {**value, "path": ""}  # no file named: refused by the studio's check, with its sentence
        return value


class FileInput(AdmitsFiles, gr.File):
    """A gr.File (one file) for studio PNGs and GIFs to read parameters from (restore, PNG info)."""

    holds_images = False
    payload_model: type = MetaOptionalFileData  # what a request's payload is read as

    @property
    def data_model(self) -> type:
        return self.payload_model

    @data_model.setter
    def data_model(self, value: type) -> None:
        """gr.File sets its own in __init__ (an __init__ here would hide its parameters from Gradio's config)."""


class MetaOptionalFiles(ListFiles):
    """Several files, each taken as MetaOptionalFileData is."""

    root: list[MetaOptionalFileData]


class FilesInput(FileInput):
    """A gr.File of several files (zips and pictures for training): the handler receives the admitted paths."""

    payload_model = MetaOptionalFiles

    def open_admitted(self, payload: Any, sources: list[Path | bytes]) -> list[str]:
        if any(isinstance(source, bytes) for source in sources):
            raise InvalidRequestError("Upload the files: inline data is not taken here.")
        return [str(source) for source in sources]


EDITOR_MAX_LAYERS = 8
EDITOR_BLOBS_MB = 200


def _blob_bytes(storage: dict) -> int:
    return sum(len(blob) for blobs in storage.values()
               for blob in [blobs.background, blobs.composite, *(blobs.layers or [])] if blob)


class MetaOptionalEditorData(EditorData):
    """EditorData whose images may come without Gradio's "meta" marker (see MetaOptionalFileData)."""

    background: MetaOptionalFileData | None = None
    layers: list[MetaOptionalFileData] = []
    composite: MetaOptionalFileData | None = None


class EditorInput(AdmitsFiles, gr.ImageEditor):
    """A gr.ImageEditor whose background and layers are admitted and size-checked; pieces the browser sent as
    blobs (not files) are size-checked from their headers too."""

    data_model = MetaOptionalEditorData

    def accept_blobs(self, data: AcceptBlobs):
        """The browser's upload of one editor image as a blob (Gradio's server function), held to the upload
        limit, the pixel cap and a few layers; the blobs waiting to be used are held to EDITOR_BLOBS_MB in
        all, the oldest dropped first."""
        kind, index, edit_id = data.data.get("type"), data.data.get("index"), data.data.get("id")
        blob = bytes(data.files[0][1]) if data.files else b""
        try:
            layer = int(index) if index not in (None, "", "null") else None
        except (TypeError, ValueError):
            layer = -1
        if (kind not in ("background", "layer", "composite") or not isinstance(edit_id, str) or len(edit_id) > 64
                or not blob or (kind == "layer" and not (layer is not None and 0 <= layer < EDITOR_MAX_LAYERS))):
            raise gr.Error("That image data is damaged.", print_exception=False)
        if len(blob) > MAX_UPLOAD_BYTES:
            raise gr.Error(f"The image is larger than {MAX_UPLOAD_MB} MB.", print_exception=False)
        try:
            image_input.check_header(blob)
        except InvalidRequestError as error:
            raise gr.Error(page_message(error), print_exception=False) from error
        storage = self.blob_storage
        while storage and _blob_bytes(storage) + len(blob) > EDITOR_BLOBS_MB * 1_000_000:
            storage.pop(next(iter(storage)))
        return super().accept_blobs(data)

    def open_admitted(self, payload: Any, sources: list[Path | bytes]):
        if len(getattr(payload, "layers", None) or []) > EDITOR_MAX_LAYERS:
            raise InvalidRequestError(f"The editor sends at most {EDITOR_MAX_LAYERS} layers.")
        blobs = self.blob_storage.get(payload.id) if getattr(payload, "id", None) else None
        if blobs is not None:
            pixels = 0
            for blob in [blobs.background, blobs.composite, *(blobs.layers or [])]:
                if isinstance(blob, bytes | bytearray):
                    width, height = image_input.check_header(bytes(blob))
                    pixels += width * height
            check_payload_pixels(pixels)
        return super().open_admitted(payload, sources)


class SketchInput(EditorInput, gr.Sketchpad):
    """A gr.Sketchpad whose payload is admitted like EditorInput's."""


SEND_TARGETS = ("Inpaint", "Texture", "VAE slot A", "VAE slot B")


class SendButton(NamedTuple):
    """A "Send to <target>" button under an image output; `studio.app` wires it to the target tab."""

    target: str
    button: gr.Button
    image: gr.Image


def send_buttons(image: gr.Image, targets: tuple[str, ...] = SEND_TARGETS) -> list[SendButton]:
    """A row of "Send to ..." buttons for an image output."""
    with gr.Row():
        return [SendButton(t, gr.Button(f"Send to {t}", size="sm", min_width=90), image) for t in targets]


class Restorer(NamedTuple):
    """How a tab restores a studio PNG (or GIF) made in it: `fn(path)` returns the values of `outputs`."""

    tab: str
    fn: Callable
    outputs: list[gr.components.Component]


class ModelList(NamedTuple):
    """A tab's model dropdown and what fills it (`model_choices(tasks, default)`), refreshed when a model is
    trained or deleted."""

    dropdown: gr.Dropdown
    tasks: tuple[str, ...]
    default: str


class TabParts(NamedTuple):
    """What a tab gives the app to wire across tabs."""

    send: list[SendButton]  # its "Send to" buttons
    made: list[tuple[Any, gr.Image]]  # (event, result image): each success puts the image in the history
    restorer: Restorer
    receivers: dict[str, tuple[Callable, gr.components.Component]]  # target name -> (image -> value, component)
    models: ModelList | None = None  # its model dropdown, where trained models may appear


def received_image(image: Image.Image | None) -> Image.Image:
    """A sent image, as an image input takes it: one picture, not a grid of them."""
    if image is None:
        raise gr.Error("There is no image to send yet.", print_exception=False)
    if (count := cell_count(image)) > 1:
        raise gr.Error(f"This result holds {count} pictures: click the one you want, then send it.",
                       print_exception=False)
    return studio_text_only(image)


def studio_text_only(image: Image.Image) -> Image.Image:
    """The image with only the studio's own text entries (parameters, grid layout): Gradio writes every text entry
    of an image it serves back into the PNG, so an upload's text would travel on (a 66 kB upload came back as 66
    MB of text before PNG text was capped)."""
    image.info = {key: value for key, value in image.info.items() if key in (pnginfo.PNG_TEXT_KEY, CELLS_KEY)}
    return image


def model_card_markdown(model_id: str | None) -> str:
    """The short model card: what it is, data, license, measured metrics, training record."""
    try:
        checkpoint = registry.get(model_id)
    except UnknownModelError as error:
        return f"*{error}*"
    metrics = ", ".join(f"{name.replace('_', ' ')} {value:.4g}" if isinstance(value, float) else
                        f"{name.replace('_', ' ')} {value}"
                        for name, value in checkpoint.metrics.items() if isinstance(value, int | float | str))
    training = checkpoint.training
    trained = ", ".join(str(v) for v in (training.get("hardware"), training.get("wall_time_s") and
                                         f"{training['wall_time_s'] / 60:.0f} min") if v)
    return (f"**{checkpoint.id}** ({checkpoint.task}, `{checkpoint.architecture}`)  \n"
            f"**Data**: {checkpoint.training_data or 'not recorded'}  \n"
            f"**License**: {checkpoint.license or 'not recorded'}  \n"
            f"**Metrics**: {metrics or 'none recorded'}  \n"
            f"**Trained on**: {trained or 'not recorded'}  \n"
            f"Full card: `{'user models' if checkpoint.user else 'assets'}/{checkpoint.directory.name}/"
            f"{checkpoint.card}`")


def model_card(model: gr.Dropdown, markdown: Callable[[str | None], str] = model_card_markdown) -> gr.Markdown:
    """A closed "Model card" accordion under a model dropdown that follows its choice (`markdown` of the id)."""
    with gr.Accordion("Model card", open=False):
        card = gr.Markdown(markdown(model.value))
    model.change(markdown, model, card, api_visibility="private")
    return card


_cancel_times: dict[str, float] = {}  # browser or API session -> when it last asked to cancel (monotonic clock)
MAX_CANCEL_REQUESTS = 10_000  # remembered at most, the oldest forgotten first
MAX_SESSION_HASH = 100  # characters; Gradio's own are 11 to 36


def request_cancel(request: gr.Request) -> None:
    """Ask the long work of this session that is running now to stop. Gradio's own cancelling stops waiting
    for a result but cannot stop the thread that computes it, so the work checks this at every step."""
    session = request.session_hash
    if not isinstance(session, str) or len(session) > MAX_SESSION_HASH:
        raise gr.Error("That session is not one of the studio's.", print_exception=False)
    _cancel_times.pop(session, None)
    _cancel_times[session] = time.monotonic()  # last in the order: the dict is oldest first
    while len(_cancel_times) > MAX_CANCEL_REQUESTS:
        _cancel_times.pop(next(iter(_cancel_times)))


def forget_cancels(before: float) -> None:
    """Forget cancel requests made before the monotonic time `before` (their work has long ended)."""
    for session, when in list(_cancel_times.items()):
        if when < before:
            _cancel_times.pop(session, None)


def cancel_button() -> gr.Button:
    return gr.Button("Cancel", variant="stop", scale=1, min_width=80)


def wire_cancel(button: gr.Button, events: list) -> None:
    """Cancel `events`: stop waiting for them and stop the work they run (see request_cancel)."""
    button.click(request_cancel, None, None, cancels=events, api_visibility="private", concurrency_limit=None)


def cancellable_progress(progress: gr.Progress, desc: str, request: gr.Request | None) -> Callable[[float], None]:
    """A model-layer progress callback: shows `desc` with the fraction done; raises Cancelled once the
    session asked to cancel after the work began."""
    started = time.monotonic()
    session = request.session_hash if request is not None else None

    def report(fraction: float) -> None:
        if session is not None and _cancel_times.get(session, -math.inf) > started:
            log.info("%s: cancelled at %.0f%%", desc, 100 * fraction)
            raise Cancelled(f"{desc} was cancelled.")
        progress(fraction, desc=desc)

    return report


def result_image(label: str, pick_cells: bool = False, **kwargs) -> gr.Image:
    """An output image of model pixels: lossless PNG (it carries the parameters), drawn at a whole number of
    screen pixels per model pixel. With `pick_cells`, a click on a grid's cell reports that cell's pixels."""
    classes = ["crisp", "whole-pixels"] + (["pick-cells"] if pick_cells else [])
    return StudioImage(label=label, type="pil", format="png", interactive=False, elem_classes=classes,
                       alt_text=label, **kwargs)


def live_control(tab_id: str, key: str, drag: bool = False, classes: tuple[str, ...] | list[str] = ()) -> dict:
    """The elem_id and classes that make a control part of a tab's live preview (browser.js, part 5): the page
    sends every such control's value under `key` (`name-0`, `name-1`... make a list), and a `drag` slider
    asks for previews while it is dragged."""
    return {"elem_id": f"live-{tab_id}-{key}",
            "elem_classes": [*classes, f"live-{tab_id}", *(["live-drag"] if drag else [])]}


def live_result_id(tab_id: str) -> str:
    """The elem_id of the image a tab's live previews are drawn in."""
    return f"live-{tab_id}-result"


def live_status(tab_id: str) -> gr.HTML:
    """A line that says whether the tab's sliders preview live; browser.js fills it in."""
    return gr.HTML(f'<p class="live-status" data-live-tab="{tab_id}" role="status">Live preview: checking…</p>',
                   padding=False, container=False)


def skip_link(tab_id: str) -> None:
    """The tab's first stop for the keyboard: a link, visible when focused, that jumps to the tab's results."""
    gr.HTML(f'<a class="skip-link" href="#{tab_id}-result">Skip to the result</a>', padding=False,
            container=False, elem_classes="skip-link-block")


def result_column(tab_id: str, scale: int = 2) -> gr.Column:
    """The column of a tab's results: it stays in view beside the controls on wide screens and comes first on
    a phone (see CSS)."""
    return gr.Column(scale=scale, elem_id=f"{tab_id}-result", elem_classes="result-column")


def picked_cell(image: Image.Image | None, evt: gr.SelectData) -> tuple[int, dict] | None:
    """(cell index, the grid's parameters) of a click on a grid result, or None (one picture, a gutter)."""
    position = evt.index
    if image is None or not isinstance(position, list | tuple) or len(position) != 2:
        return None
    index = cell_at(image, *position)
    return None if index is None else (index, pnginfo.image_params(image))


def page_message(message: object) -> str:
    """A message for a toast (gr.Error, gr.Warning) with &, < and > escaped: the page renders toasts as HTML, and
    a message may echo a caller's words (a model id of `<a href=...>` made a working link). API callers get the
    same text."""
    return html.escape(str(message), quote=False)


def user_errors(fn: Callable) -> Callable:
    """Turn the model layer's precise exceptions into a gr.Error a person can read (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise  # already a message for a person (from a wrapped function this one called)
        except USER_ERRORS as error:
            log.info("%s refused: %s", fn.__name__, error)
            raise gr.Error(page_message(error), print_exception=False) from error
        except (TypeError, ValueError, ArithmeticError) as error:  # a value no check foresaw: one log line
            log.warning("bad input to %s: %s", fn.__name__, cut(str(error)), exc_info=log.isEnabledFor(logging.DEBUG))
            raise gr.Error(page_message(f"Invalid input: {cut(str(error))}"), print_exception=False) from error

    return wrapper


BATCH_SIZE = 16  # most requests one batched endpoint serves with shared forward passes


def serve_batch(requests: list[Callable[[], dict]], serve_many: Callable[[list[dict]], list],
                make_output: Callable[[dict, Any], Any]) -> list:
    """The outputs of a Gradio-batched function. Each of `requests` builds its model request (raising
    InvalidRequestError on bad input); `serve_many` serves the good ones together, answering each with a
    result or its error; `make_output(request, result)` turns a result into the output. Gradio gives a batch
    one answer for errors, so a batch where every request failed answers with the first error, and in a mixed
    batch a failed request gets an empty output (its error is logged) rather than failing the others."""
    built = []
    for build_request in requests:
        try:
            built.append(build_request())
        except InvalidRequestError as error:
            built.append(error)
        except Exception as error:  # noqa: BLE001 - whatever one request's values raise is that request's failure
            built.append(InvalidRequestError(f"Invalid input: {cut(str(error))}"))
    answers = iter(serve_many([r for r in built if not isinstance(r, Exception)]))
    pairs = [(None, r) if isinstance(r, Exception) else (r, next(answers)) for r in built]
    failures = [answer for _, answer in pairs if isinstance(answer, Exception)]
    if len(failures) == len(pairs):
        raise gr.Error(page_message(failures[0]), print_exception=False)
    for failure in failures:
        log.warning("a request in a batch was refused: %s", failure)
    return [None if isinstance(answer, Exception) else make_output(request, answer) for request, answer in pairs]


def serve_grey_and_texture(requests: list[dict], serve_grey: Callable[[list[dict]], list],
                           serve_texture: Callable[[list[dict]], list]) -> list:
    """Answers to a batch that mixes grey and texture requests (a texture request has a "size"), each kind
    served by its own model-layer function, in the batch's order."""
    results: list = [None] * len(requests)
    for serve, is_texture in ((serve_grey, False), (serve_texture, True)):
        indices = [i for i, request in enumerate(requests) if ("size" in request) == is_texture]
        for i, result in zip(indices, serve([requests[i] for i in indices]) if indices else [], strict=True):
            results[i] = result
    return results


MARKDOWN_MARKS = re.compile(r"([\\\[\]<>!:@]|(?<=[wW]{3})\.)")  # what starts a link, an image, a tag or an autolink


def plain_markdown(text: object) -> str:
    """Text for a gr.Markdown on one line, its links, images, tags and autolinks (`https:`, `www.`, `@`) shown as
    written: their marks backslash-escaped, so text from a request (a PNG's parameters) links nowhere and loads
    nothing (a model id `[x](https://...)` made a working link, `![](https://...)` a remote image). Emphasis marks
    stay, as harmless as they are common in names (`red_brick`)."""
    return MARKDOWN_MARKS.sub(r"\\\1", " ".join(str(text).splitlines()))


def code_span(text: object) -> str:
    """Text as a Markdown code span on one line, shown exactly as written (a path with `_` in it is not
    emphasis): its fence is one backtick longer than any run of backticks inside it."""
    text = " ".join(str(text).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


MAX_WHOLE = 2**53  # the largest whole number a request may give: floats hold every whole number up to it


def is_number(value: object) -> bool:
    """A whole number or a finite real one (NumPy's too), not a bool; math.isfinite overflows on an int past 1e308,
    so it only sees the others."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return isinstance(value, numbers.Integral) or math.isfinite(value)


def whole_number(value: float | None, name: str) -> int:
    """A UI or API number that must be an integer (seeds, counts); anything else is the user's error."""
    if not is_number(value) or value != int(value):
        raise InvalidRequestError(f"{name} must be a whole number, not {shown(value)}.")
    if abs(value) > MAX_WHOLE:
        raise InvalidRequestError(f"{name} must be a whole number from -2^53 to 2^53, not {shown(value)}.")
    return int(value)


def model_choices(tasks: str | tuple[str, ...], default: str) -> list[str]:
    """Registered checkpoints of a task (or of any of several), the tab's default model first."""
    tasks = (tasks,) if isinstance(tasks, str) else tasks
    ids = [c.id for task in tasks for c in registry.checkpoints(task)]
    return sorted(ids, key=lambda i: (i != default, i))


@user_errors
def save_for_download(image: Image.Image | None) -> str | None:
    """Write the shown image with its parameters, named like the outputs folder's files, for a Save button."""
    if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
        return None
    params = pnginfo.parse(image.info[pnginfo.PNG_TEXT_KEY])
    path = files.private_folder("downloads") / f"{outputs.file_stem(params)}.png"
    return str(write_atomically(path, outputs.png_bytes(image), durable=False))


def alt_text(image: Image.Image | None, label: str) -> str:
    """What a result image is, for screen readers: its caption (tab, model, seed, settings) and, for a grid,
    how many pictures it holds."""
    if image is None or pnginfo.PNG_TEXT_KEY not in image.info:
        return label
    try:
        caption = outputs.describe(pnginfo.image_params(image))
    except NotAStudioPNGError:
        return label
    count = cell_count(image)
    return f"{label}: {caption}" + (f" (a grid of {count} pictures: click one to pick it)" if count > 1 else "")


def finish_results(events: list, image: gr.Image, save: gr.DownloadButton | None = None) -> None:
    """After each of `events`: the image gets its alt text and the Save button (if any) the image's file."""
    label = image.label

    @user_errors
    def finish(value: Image.Image | None):
        described = gr.Image(alt_text=alt_text(value, label))
        return (described, save_for_download(value)) if save else described

    for event in events:
        event.then(finish, image, [image, save] if save else image, api_visibility="private")


DTD_EXAMPLES_DIR = registry.ASSETS_DIR / "examples" / "dtd"


def dtd_examples() -> list[tuple[str, str]]:
    """(path, caption): the first shipped DTD photo of each class (held out from the models' training)."""
    firsts = {}
    for path in sorted(DTD_EXAMPLES_DIR.glob("*.jpg")):
        firsts.setdefault(path.stem.rsplit("_", 1)[0], str(path))
    return [(path, name) for name, path in firsts.items()]


def example_path(examples: list[tuple[str, str]], index: object) -> str:
    """The path of the shipped example a gallery click chose, by its index."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(examples):
        raise gr.Error("That example does not exist.", print_exception=False)
    return examples[index][0]


def restored_model(model_id: object) -> str:
    """A model id read from a PNG: a registry id, or the PNG is refused."""
    if not registry.has(model_id):
        raise NotAStudioPNGError("That image names a model this studio does not have.")
    return model_id


def restored_number(value: object, limits: tuple[float, float], whole: bool = True) -> float:
    """A number read from a PNG, within `limits` (and whole, for counts and seeds), or the PNG is refused."""
    if not is_number(value) or not limits[0] <= value <= limits[1] or (whole and value != int(value)):
        raise NotAStudioPNGError("That image's parameters are damaged.")
    return int(value) if whole else float(value)


def tab_parameters(png_path: str | None, tab: str, tab_title: str) -> dict:
    """The parameters of a studio PNG made in `tab`, or a NotAStudioPNGError saying why not."""
    if not png_path:
        raise NotAStudioPNGError("Drop a PNG saved by the studio to restore its parameters.")
    params = pnginfo.read(png_path)
    if params.get("tab") != tab:
        raise NotAStudioPNGError(f"That PNG was not made in the {tab_title} tab.")
    return params
