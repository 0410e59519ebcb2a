"""Latent animations to take away: the options every animation shares (format, frames a second, length,
size), the writer's call with the parameters embedded, the player, and the latent tab's two kinds (a sweep
along one direction and a loop through seeds). The class morph and the VAE path are made by their own tabs'
handlers, through `export` and `section` here. Frames come from `models.animation`; files from
`studio.video`.

Every animation is a seamless loop and carries its parameters like a PNG does (`studio-parameters:` in the GIF
comment or the video's comment tag), so PNG info shows them and restores them in the tab that made it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import gradio as gr
import numpy as np

from models import animation, texgen
from models.data.fashion_mnist import IMAGE_SIZE
from models.errors import InvalidRequestError
from studio import files, pnginfo, video
from studio.outputs import file_stem
from studio.ui import (
    Restorer,
    StudioImage,
    cancel_button,
    cancellable_progress,
    restored_number,
    user_errors,
    whole_number,
    wire_cancel,
)

DEFAULT_FORMAT = "webm"
DEFAULT_FPS = 24
DEFAULT_SECONDS = 4
DEFAULT_SIZE = 256  # pixels to blow the longest side up to: 28-pixel frames are blown up 9 times (252)
KINDS = {"sweep": "Sweep along a direction (-5 → +5 → -5)", "seed_loop": "Loop through seeds"}
DEFAULT_SEEDS = 4
MAX_TEXTURE_SIZE = 512  # pixels a side of a texture animation's frames (the tab's texture size)
FILE_TYPES = (".gif", ".webm", ".mp4")  # what a restore file input takes besides PNGs


class Options(NamedTuple):
    """The checked options of one animation."""

    fps: int
    seconds: int
    size: int
    fmt: str

    @property
    def frames(self) -> int:
        return self.fps * self.seconds

    def record(self) -> dict:
        return {"fps": self.fps, "seconds": self.seconds, "size": self.size, "format": self.fmt}


def options(fps: float, seconds: float, size: float, fmt: str) -> Options:
    """UI or API values -> checked options (a sentence for anything beyond the limits)."""
    checked = Options(whole_number(fps, "Frames per second"), whole_number(seconds, "Length"),
                      whole_number(size, "Size"), fmt)
    video.check_options(checked.fps, checked.seconds, checked.size, checked.fmt)
    if checked.frames < 2:
        raise InvalidRequestError(f"An animation needs at least 2 frames; {checked.fps} frame a second for "
                                  f"{checked.seconds} second makes {checked.frames}. Choose more frames a second "
                                  "or a longer length.")
    return checked


def export(make_frames: Callable[[int, Callable[[float], None]], np.ndarray], frame_side: int, params: dict,
           chosen: Options, request: gr.Request | None, progress: gr.Progress, frames: int | None = None) -> str:
    """Make the frames (`make_frames(count, progress)`), write them in the chosen format with `params` and
    the options embedded, and return the file's path. Progress shows and Cancel stops the frames (first 80%)
    and the encoding (the rest: the writer reports after each frame it encodes)."""
    frames = frames or chosen.frames
    if frame_side > MAX_TEXTURE_SIZE:
        raise InvalidRequestError(f"Animations are made at up to {MAX_TEXTURE_SIZE} pixels a side; choose a "
                                  "smaller size for the texture.")
    video.check_budget(frames, (frame_side, frame_side), chosen.size)
    report = cancellable_progress(progress, "making the frames", request)
    pixels = make_frames(frames, lambda fraction: report(0.8 * fraction))
    writing = cancellable_progress(progress, f"writing the {video.FORMAT_LABELS[chosen.fmt]}", request)
    params = {**params, "animation": {**params.get("animation", {}), **chosen.record(), "frames": len(pixels)}}
    path = files.private_folder("animations") / f"{file_stem(params)}.{chosen.fmt}"
    return str(video.write_animation(pixels, path, chosen.fps, chosen.size, pnginfo.gif_comment(params),
                                     lambda fraction: writing(0.8 + 0.2 * fraction)))


def options_of(params: dict) -> tuple:
    """The frames a second, length, size and format of an animation's parameters (the defaults for a PNG)."""
    record = params.get("animation", {})
    if not isinstance(record, dict):
        raise pnginfo.NotAStudioPNGError("That animation's parameters are damaged.")
    fmt = record.get("format", DEFAULT_FORMAT)
    if fmt not in video.FORMATS:
        raise pnginfo.NotAStudioPNGError("That animation's parameters are damaged.")
    return (restored_number(record.get("fps", DEFAULT_FPS), video.FPS_RANGE),
            restored_number(record.get("seconds", DEFAULT_SECONDS), video.SECONDS_RANGE),
            restored_number(record.get("size", DEFAULT_SIZE), video.SIZE_RANGE), fmt)


# The latent tab: a sweep along one direction and a loop through seeds.


def _latent_params(mode: str, model_id: str, seed: float, psi: float, directions: object, size: float,
                   seamless: bool) -> dict:
    """A latent animation's parameters, keyed as the latent tab's PNGs are (so its restore reads them). How
    many directions a model has is checked by the model layer."""
    if not isinstance(directions, list | tuple):
        raise InvalidRequestError("Directions must be a list of numbers, one per direction.")
    params = {"tab": "latent", "mode": mode, "model_id": model_id, "seed": whole_number(seed, "Seed"),
              "num_samples": 1, "psi": float(psi), "directions": [round(float(v), 4) for v in directions]}
    if texgen.is_texture_model(model_id):
        params.update(size=whole_number(size, "Size"), seamless=bool(seamless))
    return params


def frame_side(params: dict) -> int:
    """Pixels a side of the frames a model makes for these parameters (a texture's size, or 28)."""
    return params.get("size", IMAGE_SIZE)


def _texture_args(params: dict) -> dict:
    """The size and seamless setting of a texture model's parameters (none for a grey model: it has neither)."""
    return {key: params[key] for key in ("size", "seamless") if key in params}


@user_errors
def animate_sweep(model_id: str, seed: float, psi: float, directions: list[float], size: float, seamless: bool,
                  direction: float, fps: float, seconds: float, animation_size: float, format: str,
                  request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> str:
    """A sample while direction `direction` (1 to 10) sweeps from -5 to +5 and back, the others at
    `directions`; returns the animation's file (GIF, WebM or MP4, by `format`)."""
    params = _latent_params("sweep", model_id, seed, psi, directions, size, seamless)
    k = whole_number(direction, "Direction") - 1
    chosen = options(fps, seconds, animation_size, format)
    frames = chosen.frames + chosen.frames % 2  # even, so that one frame is at +5 exactly
    params["animation"] = {"kind": "sweep", "direction": k + 1}
    return export(lambda count, report: animation.sweep(
        model_id, params["seed"], params["psi"], params["directions"], k, count, progress=report,
        **_texture_args(params)), frame_side(params), params, chosen, request, progress, frames)


@user_errors
def animate_seeds(model_id: str, seed: float, psi: float, directions: list[float], size: float, seamless: bool,
                  seeds: float, fps: float, seconds: float, animation_size: float, format: str,
                  request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> str:
    """A seamless loop through `seeds` consecutive seeds from `seed` (slerp from each to the next, the last
    back to the first), at `psi` and `directions`; returns the animation's file."""
    params = _latent_params("seed_loop", model_id, seed, psi, directions, size, seamless)
    count = whole_number(seeds, "Seeds")
    chosen = options(fps, seconds, animation_size, format)
    lo, hi = animation.SEED_COUNT_RANGE
    if not lo <= count <= hi:
        raise InvalidRequestError(f"A seed loop passes through {lo} to {hi} seeds, not {count}.")
    # About the chosen frames in all, never more than an animation holds (30 fps for 20 s over 16 seeds: 37 each).
    per_seed = max(1, min(round(chosen.frames / count), animation.MAX_FRAMES // count))
    params["animation"] = {"kind": "seed_loop", "seeds": count}
    return export(lambda frames, report: animation.seed_loop(
        model_id, params["seed"], count, params["psi"], params["directions"], per_seed, progress=report,
        **_texture_args(params)), frame_side(params), params, chosen, request, progress, per_seed * count)


def latent_options_of(params: dict, slider_count: int) -> tuple:
    """The latent tab's animation controls (kind, direction, seeds, frames a second, length, size, format) of a
    file's parameters, for a tab of `slider_count` direction sliders; for a PNG, the defaults."""
    record = params.get("animation", {})
    kind = record.get("kind", "sweep") if isinstance(record, dict) else None
    if kind not in KINDS:
        raise pnginfo.NotAStudioPNGError("That animation's parameters are damaged.")
    direction = restored_number(record.get("direction", 1), (1, slider_count))
    seeds = restored_number(record.get("seeds", DEFAULT_SEEDS), animation.SEED_COUNT_RANGE)
    return (kind, direction, seeds, *options_of(params))


def with_options(restorer: Restorer, controls: list, read: Callable[[dict], tuple] = options_of) -> Restorer:
    """A tab's restorer that also puts an animation's options back in the tab's animation `controls` (for a
    PNG, their defaults)."""

    def restore(path: str | None):
        values = restorer.fn(path)
        return (*values, *read(pnginfo.read(path)))

    return Restorer(restorer.tab, restore, [*restorer.outputs, *controls])


def restore_options_on(event, file: gr.File, controls: list, read: Callable[[dict], tuple] = options_of) -> None:
    """After a tab's own restore `event` succeeded: its animation controls from the same file."""
    event.success(user_errors(lambda path: read(pnginfo.read(path))), file, controls, api_visibility="private")


# The UI: the shared option controls, the player, and a section (button, Cancel, player) for any tab.


class Section(NamedTuple):
    """An animation section's option controls (in `options_of`'s order), its button, Cancel and players."""

    controls: list[gr.components.Component]  # frames a second, length, size, format
    button: gr.Button
    cancel: gr.Button
    video: gr.Video
    gif: gr.Image


def section(button_label: str, elem_id: str) -> Section:
    """Frames a second, length, size and format; a button and Cancel; the player (a video, or the GIF)."""
    with gr.Row():
        fps = gr.Slider(*video.FPS_RANGE, value=DEFAULT_FPS, step=1, label="Frames a second", min_width=140)
        seconds = gr.Slider(*video.SECONDS_RANGE, value=DEFAULT_SECONDS, step=1, label="Length (seconds)",
                            min_width=140)
    with gr.Row():
        size = gr.Slider(*video.SIZE_RANGE, value=DEFAULT_SIZE, step=16, label="Size to blow up to (pixels)",
                         info="The longest side: small frames are blown up by the largest whole number that fits, "
                         "so pixels stay square; larger frames are never shrunk.", min_width=140)
        fmt = gr.Dropdown([(label, key) for key, label in video.FORMAT_LABELS.items()], value=DEFAULT_FORMAT,
                          label="Format", min_width=120)
    with gr.Row():
        button = gr.Button(button_label, variant="primary", scale=2)
        cancel = cancel_button()
    player = gr.Video(label="Loop (video)", visible=False, autoplay=True, loop=True, interactive=False,
                      elem_id=f"{elem_id}-video", buttons=["download"])
    gif = StudioImage(label="Loop (GIF)", type="filepath", interactive=False, visible=False,
                      elem_classes="crisp", elem_id=f"{elem_id}-gif", buttons=["download"])
    return Section([fps, seconds, size, fmt], button, cancel, player, gif)


def players_for(path: str):
    """The players for an animation file: the video player for WebM and MP4, the image for a GIF."""
    is_gif = path.endswith(".gif")
    return (gr.Video(value=None if is_gif else path, visible=not is_gif),
            gr.Image(value=path if is_gif else None, visible=is_gif))


def wire(part: Section, ui_fn: Callable, ui_inputs: list) -> None:
    """The section's button makes the animation with `ui_fn(request, progress, *ui_inputs)` (a file's path)
    and shows it; Cancel stops it. All animations share one worker: they keep the CPU busy."""

    @user_errors
    def make(request: gr.Request = None, progress: gr.Progress = gr.Progress(), *values):
        return players_for(ui_fn(request, progress, *values))

    made = part.button.click(make, ui_inputs, [part.video, part.gif], api_visibility="private",
                             concurrency_id="animation", concurrency_limit=1)
    wire_cancel(part.cancel, [made])


def endpoint(fn: Callable, inputs: list, api_name: str) -> None:
    """`fn(*inputs)` as the API endpoint `api_name`, answering with the animation's file."""
    gr.Button(visible=False).click(fn, inputs, gr.File(visible=False), api_name=api_name,
                                   concurrency_id="animation", concurrency_limit=1)


def latent_section(model, seed, psi, sliders: list, size, seamless) -> tuple[list[gr.components.Component],
                                                                             Callable[[dict], tuple]]:
    """The latent tab's "Animation" accordion and the /animate_sweep and /animate_seeds endpoints; returns
    its controls in `latent_options_of`'s order, and the reader of a file's values for them."""
    slider_count = len(sliders)
    with gr.Accordion("Animation", open=False, elem_id="latent-animation"):
        gr.Markdown("A seamless loop to take away, with its parameters inside: PNG info restores them.")
        kind = gr.Radio([(label, key) for key, label in KINDS.items()], value="sweep", label="Kind of animation")
        with gr.Row():
            direction = gr.Slider(1, slider_count, value=1, step=1, label="Direction (PC) to sweep", min_width=140)
            seeds = gr.Slider(*animation.SEED_COUNT_RANGE, value=DEFAULT_SEEDS, step=1, label="Seeds in the loop",
                              info="seed, seed + 1, ...: each one's sample, then back to the first", min_width=140)
        part = section("Make animation", "latent-animation")

    def make(request, progress, kind_value, model_id, seed_value, psi_value, *rest):
        directions, (size_value, seamless_value, k, count, *chosen) = list(rest[:slider_count]), rest[slider_count:]
        if kind_value == "sweep":
            return animate_sweep(model_id, seed_value, psi_value, directions, size_value, seamless_value, k,
                                 *chosen, request, progress)
        return animate_seeds(model_id, seed_value, psi_value, directions, size_value, seamless_value, count,
                             *chosen, request, progress)

    wire(part, make, [kind, model, seed, psi, *sliders, size, seamless, direction, seeds, *part.controls])
    directions = gr.JSON(visible=False)  # the API's `directions`: a list of numbers, one per direction
    endpoint(animate_sweep, [model, seed, psi, directions, size, seamless, direction, *part.controls],
             "animate_sweep")
    endpoint(animate_seeds, [model, seed, psi, directions, size, seamless, seeds, *part.controls], "animate_seeds")
    return [kind, direction, seeds, *part.controls], partial(latent_options_of, slider_count=slider_count)
