"""Latent-space sampling: seed, truncation, GANSpace direction sliders, grid mode, PNG parameters; for a colour
texture generator also the output size, seamless tiling and a 2x2 tiled preview."""

from __future__ import annotations

import random

import gradio as gr
import numpy as np
from PIL import Image

from models import sampling, texgen
from models.errors import InvalidRequestError
from models.registry import UnknownModelError
from studio import animation, live, pnginfo
from studio.images import cell_image, grid_image
from studio.ui import (
    BATCH_SIZE,
    FileInput,
    ModelList,
    Restorer,
    StudioImage,
    TabParts,
    finish_results,
    live_control,
    live_result_id,
    live_status,
    model_card,
    model_choices,
    picked_cell,
    restored_model,
    restored_number,
    result_column,
    result_image,
    send_buttons,
    serve_batch,
    serve_grey_and_texture,
    skip_link,
    tab_parameters,
    user_errors,
    whole_number,
)

SLIDER_COUNT = 10
DEFAULT_MODEL = "fmnist-gan"
DEFAULT_SIZE = 256  # pixels a side of a texture


def sample_request(model_id: str, seed: float, num_samples: float, psi: float, *rest) -> dict:
    """The model layer's request for one set of UI or API values: `rest` is the SLIDER_COUNT direction values,
    then the texture size and seamless switch (which grey models ignore)."""
    direction_values, (size, seamless) = rest[:SLIDER_COUNT], rest[SLIDER_COUNT:]
    request = {"model_id": model_id, "seed": whole_number(seed, "Seed"),
               "n": whole_number(num_samples, "Number of samples"),
               "psi": float(psi), "direction_values": [round(float(v), 4) for v in direction_values]}
    if texgen.is_texture_model(model_id):
        request.update(class_name=texgen.ANY_CLASS, size=whole_number(size, "Size"), seamless=bool(seamless))
    return request


def sample_image(request: dict, pixels) -> Image.Image:
    """The displayed image of a request's pixels; the PNG carries the parameters."""
    params = {"tab": "latent", "model_id": request["model_id"], "seed": request["seed"],
              "num_samples": request["n"], "psi": request["psi"], "directions": request["direction_values"]}
    if "size" in request:
        params.update(size=request["size"], seamless=request["seamless"])
    return pnginfo.embed(grid_image(pixels), params)


def sample_many(requests: list[dict]) -> list:
    """Serve grey and texture requests together, each kind through its own model-layer function."""
    return serve_grey_and_texture(requests, sampling.sample_many, texgen.generate_many)


@user_errors
def sample(model_id: str, seed: float, num_samples: float, psi: float, *rest) -> Image.Image:
    """Render the image for one set of parameters (`rest`: directions, size, seamless)."""
    request = sample_request(model_id, seed, num_samples, psi, *rest)
    result = sample_many([request])[0]
    if isinstance(result, Exception):
        raise result
    return sample_image(request, result)


def sample_batch(model_id: list, seed: list, num_samples: list, psi: list, *rest: list):
    """The /sample endpoint, batched by Gradio (each argument lists a batch's values; the names are the
    API's): concurrent requests share the generator's forward passes."""
    requests = [lambda i=i: sample_request(model_id[i], seed[i], num_samples[i], psi[i], *[v[i] for v in rest])
                for i in range(len(model_id))]
    return [serve_batch(requests, sample_many, sample_image)]


def live_previews(params: list[dict]) -> list:
    """Pictures for live previews while a slider is dragged (studio.live): the same model-layer call and grid
    as `sample`, without the parameters. `params` are the controls by their API names (a grey model's page
    has no size and seamless controls)."""
    return live.previews(
        params,
        lambda p: live.check_texture_side(sample_request(
            p["model_id"], p["seed"], p["num_samples"], p["psi"], *p["directions"], p.get("size", DEFAULT_SIZE),
            p.get("seamless", False))),
        sample_many, lambda request, pixels: grid_image(pixels))


@user_errors
def random_seed(model_id: str, num_samples: float, psi: float, *rest):
    seed = random.randint(0, sampling.MAX_SEED - int(num_samples) + 1)
    return seed, sample(model_id, seed, num_samples, psi, *rest)


@user_errors
def reset(model_id: str, seed: float, num_samples: float, size: float, seamless: bool):
    zeros = [0.0] * SLIDER_COUNT
    return (1.0, *zeros, sample(model_id, seed, num_samples, 1.0, *zeros, size, seamless))


def controls_of(params: dict) -> tuple:
    """The control values (model, seed, samples, psi, directions, size, seamless) of a latent PNG's
    parameters, checked."""
    try:
        model_id = restored_model(params["model_id"])
        seed = restored_number(params["seed"], (0, sampling.MAX_SEED))
        n = restored_number(params["num_samples"], (1, sampling.MAX_SAMPLES))
        psi = restored_number(params["psi"], sampling.PSI_RANGE, whole=False)
        directions = params["directions"]
        if not isinstance(directions, list) or len(directions) > SLIDER_COUNT:
            raise pnginfo.NotAStudioPNGError("That PNG's latent parameters are damaged.")
        values = [restored_number(v, sampling.DIRECTION_RANGE, whole=False) for v in directions]
        size = restored_number(params.get("size", DEFAULT_SIZE), texgen.SIZE_RANGE)
        seamless = params.get("seamless", False)
        if not isinstance(seamless, bool):
            raise pnginfo.NotAStudioPNGError("That PNG's latent parameters are damaged.")
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That PNG's latent parameters are incomplete.") from error
    return model_id, seed, n, psi, *values, *[0.0] * (SLIDER_COUNT - len(values)), size, seamless


@user_errors
def restore(png_path: str | None):
    """Read a studio PNG and return every control's value plus the regenerated image."""
    controls = controls_of(tab_parameters(png_path, "latent", "latent-sampling"))
    return (*controls, sample(*controls))


@user_errors
def pick_sample(image: Image.Image | None, evt: gr.SelectData):
    """A click on a cell of a grid: that sample alone becomes the result, and its seed the working seed."""
    picked = picked_cell(image, evt)
    if picked is None:
        return gr.skip(), gr.skip(), gr.skip()
    index, params = picked
    model_id, seed, _, psi, *rest = controls_of(params)
    return seed + index, 1, sample(model_id, seed + index, 1, psi, *rest)


@user_errors
def tiled_preview(image: Image.Image | None):
    """A seamless texture (the first, in a grid) tiled 2x2, so that a seam would show; hidden otherwise."""
    params = pnginfo.image_params(image) if image is not None else {}
    texture = cell_image(image, 0) if params.get("seamless") else None
    if texture is None or max(texture.size) > texgen.SIZE_RANGE[1]:  # no generator makes a larger one
        return gr.update(visible=False, value=None)
    return gr.update(visible=True, value=Image.fromarray(np.tile(np.asarray(texture.convert("RGB")), (2, 2, 1))))


def model_controls(model_id: str) -> tuple:
    """For a newly chosen model: its size and seamless controls (shown only for a texture generator) and the
    direction sliders' labels with its components' shares of the variance."""
    try:
        directions = sampling.latent_directions(model_id)
    except (InvalidRequestError, UnknownModelError):
        return gr.skip(), *[gr.skip()] * SLIDER_COUNT
    return (gr.update(visible=texgen.is_texture_model(model_id)),
            *[gr.update(label=direction_label(k, directions)) for k in range(SLIDER_COUNT)])


def direction_label(k: int, directions: sampling.LatentDirections) -> str:
    share = f" · {100 * float(directions.explained_variance[k]):.1f}%" if k < len(directions) else ""
    return f"PC{k + 1}{share}"


def preview_strips(model_id: str, seed: float, psi: float, *direction_values: float) -> list[Image.Image | None]:
    """Beside each direction slider, the current sample at -4, -2, 0, +2 and +4 along that direction."""
    previews = texgen.direction_previews if texgen.is_texture_model(model_id) else sampling.direction_previews
    try:
        rows = previews(model_id, whole_number(seed, "Seed"), float(psi), direction_values)
    except (InvalidRequestError, UnknownModelError, TypeError, ValueError):
        return [None] * SLIDER_COUNT  # the result says what is wrong with the request
    strips = [grid_image(row, cols=len(row)) for row in rows]
    return strips + [None] * (SLIDER_COUNT - len(strips))


def direction_row(k: int, directions: sampling.LatentDirections) -> tuple[gr.Slider, gr.Image]:
    """A direction's slider and, beside it, the strip showing what it does."""
    with gr.Row(equal_height=True, elem_classes="direction-row"):
        slider = gr.Slider(*sampling.DIRECTION_RANGE, value=0.0, step=0.1, label=direction_label(k, directions),
                           scale=3, min_width=200, **live_control("latent", f"directions-{k}", drag=True,
                                                                  classes=["direction-slider"]))
        offsets = ", ".join(f"{v:+g}" for v in sampling.PREVIEW_OFFSETS)
        strip = StudioImage(type="pil", format="png", interactive=False, show_label=False, container=False,
                            elem_classes=["crisp", "whole-pixels", "direction-strip"], height=64, scale=2,
                            min_width=150, buttons=[], alt_text=f"The sample at {offsets} along PC{k + 1}")
    return slider, strip


def build(demo: gr.Blocks) -> TabParts:
    choices = model_choices((sampling.TASK, texgen.TASK), DEFAULT_MODEL)
    directions = sampling.latent_directions(choices[0])
    skip_link("latent")
    with gr.Row():
        with gr.Column(scale=5, min_width=320):
            model = gr.Dropdown(choices, value=choices[0], label="Model", allow_custom_value=True,
                                **live_control("latent", "model_id"))
            model_card(model)
            with gr.Row():
                seed = gr.Number(value=42, step=1, label="Seed", info=f"0 to {sampling.MAX_SEED}", scale=3,
                                 **live_control("latent", "seed"))
                dice = gr.Button("Random seed", scale=1)
            psi = gr.Slider(*sampling.PSI_RANGE, value=1.0, step=0.05, label="Truncation ψ",
                            info="Scales the latent toward its mean: lower is more typical, higher more varied.",
                            **live_control("latent", "psi", drag=True))
            num_samples = gr.Slider(1, sampling.MAX_SAMPLES, value=1, step=1, label="Samples",
                                    info="More than one shows a grid from consecutive seeds: click one to pick it.",
                                    **live_control("latent", "num_samples"))
            with gr.Group(visible=texgen.is_texture_model(choices[0])) as texture_group:
                size = gr.Slider(*texgen.SIZE_RANGE, value=DEFAULT_SIZE, step=16, label="Size (pixels a side)",
                                 info="One network paints any size: the texture's grain stays the same, "
                                      "a larger picture shows more of it.", **live_control("latent", "size"))
                seamless = gr.Checkbox(value=False, label="Seamless (tiles with no visible seam)",
                                       **live_control("latent", "seamless"))
            with gr.Accordion("Principal directions (GANSpace), in standard deviations", open=True):
                gr.Markdown("Beside each slider: the sample at −4, −2, 0, +2 and +4 along that direction.")
                sliders, strips = zip(*(direction_row(k, directions) for k in range(SLIDER_COUNT)), strict=True)
            reset_button = gr.Button("Reset ψ and directions")
            animation_controls, read_animation = animation.latent_section(model, seed, psi, list(sliders), size,
                                                                          seamless)
        with result_column("latent", scale=6):
            image = result_image("Sample", pick_cells=True, height=520, elem_id=live_result_id("latent"))
            live_status("latent")
            tiled = StudioImage(label="Seamless check: the texture tiled 2x2", type="pil", format="png",
                                interactive=False, visible=False, elem_classes=["crisp", "whole-pixels"],
                                buttons=["download", "fullscreen"],
                                alt_text="The texture repeated twice across and twice down")
            send = send_buttons(image)
            with gr.Row():
                save = gr.DownloadButton("Save PNG", value=None)
                restore_file = FileInput(label="Restore parameters from a studio PNG or animation",
                                         file_types=[".png", *animation.FILE_TYPES],
                                         type="filepath", height=120)

    sliders, strips = list(sliders), list(strips)
    controls = [model, seed, num_samples, psi, *sliders, size, seamless]
    sampled = gr.on(
        triggers=[model.input, seed.submit, seed.blur, num_samples.input, psi.input, *[s.input for s in sliders],
                  size.release, seamless.input],
        fn=sample_batch, inputs=controls, outputs=image, api_name="sample", trigger_mode="always_last",
        batch=True, max_batch_size=BATCH_SIZE, concurrency_limit=2,
    )
    made = [sampled,
            dice.click(random_seed, [model, num_samples, psi, *sliders, size, seamless], [seed, image],
                       api_visibility="private"),
            reset_button.click(reset, [model, seed, num_samples, size, seamless], [psi, *sliders, image],
                               api_visibility="private"),
            image.select(pick_sample, image, [seed, num_samples, image], api_visibility="private")]
    restored = restore_file.upload(restore, restore_file, [*controls, image], api_name="restore_latent",
                                   api_visibility="undocumented")
    loaded = demo.load(sample, controls, image, api_visibility="private")
    finish_results([*made, restored, loaded], image, save)
    animation.restore_options_on(restored, restore_file, animation_controls, read_animation)
    image.change(tiled_preview, image, tiled, api_visibility="private")
    model.change(model_controls, model, [texture_group, *sliders], api_visibility="private")
    strip_inputs = [model, seed, psi, *sliders]
    gr.on([model.input, seed.submit, seed.blur, psi.input], preview_strips, strip_inputs, strips,
          api_visibility="private", trigger_mode="always_last")
    for event in [*made[1:], restored, loaded]:
        event.then(preview_strips, strip_inputs, strips, api_visibility="private")
    return TabParts(send=send, made=[(event, image) for event in made],
                    restorer=animation.with_options(Restorer("latent", restore, [*controls, image]),
                                                    animation_controls, read_animation),
                    receivers={}, models=ModelList(model, (sampling.TASK, texgen.TASK), DEFAULT_MODEL))
