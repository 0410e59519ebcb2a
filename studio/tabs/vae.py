"""VAE interpolation: two image slots (examples, upload or drawing), what the model sees and makes of
each, a linear or spherical path between them (strip, a position slider that previews live, GIF) and a 2D
latent walk. The Fashion-MNIST VAE works on garments (grey 28x28), a texture VAE on colour texture photos
(their centred square)."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
from PIL import Image

from models import registry, sampling, vae
from models.animation import path_loop
from models.errors import InvalidRequestError, shown
from studio import animation, files, live, pnginfo
from studio.images import cell_image, grid_image, strip_image, write_gif
from studio.outputs import file_stem
from studio.ui import (
    FileInput,
    ImageInput,
    ModelList,
    Restorer,
    SketchInput,
    StudioImage,
    TabParts,
    cancel_button,
    dtd_examples,
    example_path,
    finish_results,
    live_control,
    live_result_id,
    live_status,
    model_card,
    model_choices,
    picked_cell,
    received_image,
    restored_model,
    restored_number,
    result_column,
    result_image,
    send_buttons,
    skip_link,
    tab_parameters,
    user_errors,
    whole_number,
    wire_cancel,
)

DEFAULT_MODEL = "fmnist-vae"
EXAMPLES_DIR = registry.ASSETS_DIR / "examples" / "fashion-mnist"
SLOTS = ("A", "B", "C", "D")
GIF_FRAME_MS = 80


def model_view(model_id: str, image: Image.Image | None, slot: str) -> np.ndarray:
    """The picture the model sees for a slot's image (28x28 grey, or a texture VAE's colour square)."""
    if image is None:
        raise InvalidRequestError(f"Slot {slot} is empty: pick an example, upload an image or use a drawing.")
    return vae.from_picture(model_id, image)


@user_errors
def encode(model_id: str, image: Image.Image | None) -> tuple[Image.Image, list[float]]:
    """What the model sees next to its reconstruction, and the latent (posterior mean)."""
    pixels = model_view(model_id, image, "A")
    latent = vae.encode(model_id, pixels[None])
    reconstruction = vae.decode(model_id, latent)[0]
    return grid_image(np.stack([pixels, reconstruction])), latent[0].round(5).tolist()


def preview(model_id: str, image: Image.Image | None) -> Image.Image | None:
    """Slot preview for the UI: empty when the slot is empty."""
    return None if image is None else encode(model_id, image)[0]


def interpolation_frames(model_id: str, image_a, image_b, steps: float, path: str, ping_pong: bool):
    """(frames uint8 [T, 28, 28] or RGB [T, S, S, 3], parameters) shared by the strip, the GIF and the scrubber."""
    steps = whole_number(steps, "Steps")
    a, b = model_view(model_id, image_a, "A"), model_view(model_id, image_b, "B")
    frames = vae.interpolate(model_id, a, b, steps, path)
    params = {"tab": "vae", "mode": "interpolate", "model_id": model_id, "steps": steps, "path": path,
              "ping_pong": bool(ping_pong), "image_a": pnginfo.encode_pixels(a), "image_b": pnginfo.encode_pixels(b)}
    return frames, params


def gif_frames(frames: np.ndarray, ping_pong: bool) -> np.ndarray:
    """Ping-pong plays the path forward and back without repeating the end frames."""
    return np.concatenate([frames, frames[-2:0:-1]]) if ping_pong and len(frames) > 2 else frames


@user_errors
def interpolate(model_id: str, image_a, image_b, steps: float, path: str, ping_pong: bool,
                progress: gr.Progress = gr.Progress()) -> tuple[Image.Image, str]:
    """A strip of frames from A's reconstruction to B's, and the animated GIF (both carry the parameters)."""
    progress(0, desc="decoding the path")
    frames, params = interpolation_frames(model_id, image_a, image_b, steps, path, ping_pong)
    progress(0.5, desc="rendering the GIF")
    gif = write_gif(gif_frames(frames, ping_pong), files.private_folder("animations") / f"{file_stem(params)}.gif",
                    GIF_FRAME_MS, comment=pnginfo.gif_comment(params))
    return pnginfo.embed(strip_image(frames), params), str(gif)


@user_errors
def animate_path(model_id: str, image_a, image_b, path: str = "slerp", fps: float = animation.DEFAULT_FPS,
                 seconds: float = animation.DEFAULT_SECONDS, animation_size: float = animation.DEFAULT_SIZE,
                 format: str = animation.DEFAULT_FORMAT, request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> str:
    """The path from A's reconstruction to B's and back as a seamless loop (GIF, WebM or MP4, by `format`);
    returns its file, which carries both images like the strip's PNG."""
    a, b = model_view(model_id, image_a, "A"), model_view(model_id, image_b, "B")
    vae.validate_path(path)
    chosen = animation.options(fps, seconds, animation_size, format)
    params = {"tab": "vae", "mode": "interpolate", "model_id": model_id, "path": path,
              "image_a": pnginfo.encode_pixels(a), "image_b": pnginfo.encode_pixels(b), "animation": {"kind": "path"}}
    return animation.export(lambda frames, report: path_loop(model_id, a, b, frames, path, report), a.shape[0],
                            params, chosen, request, progress)


def path_request(params: dict, position: float) -> dict:
    """The request for one picture of an interpolation's path (its parameters: model, both end images, path) at
    `position`, 0 being A's reconstruction and 1 B's."""
    try:
        request = {"model_id": restored_model(params["model_id"]), "path": params.get("path", "linear"),
                   "image_a": pnginfo.decode_pixels(params["image_a"]),
                   "image_b": pnginfo.decode_pixels(params["image_b"]), "position": round(float(position), 4)}
    except KeyError as error:
        raise InvalidRequestError("Interpolate A → B first: the position moves along its path.") from error
    return request


def path_pixels(request: dict) -> np.ndarray:
    return vae.path_at(request["model_id"], request["image_a"], request["image_b"], [request["position"]],
                       request["path"])


@user_errors
def frame_at(strip: Image.Image | None, position: float) -> Image.Image | None:
    """The picture at `position` along the path of the interpolation `strip` shows (what the position slider
    shows); it carries the interpolation's parameters and the position."""
    params = pnginfo.image_params(strip) if strip is not None else {}
    if params.get("mode") != "interpolate":
        return None
    request = path_request(params, position)
    return pnginfo.embed(grid_image(path_pixels(request)), {**params, "position": request["position"]})


@user_errors
def live_base(strip: Image.Image | None) -> str:
    """What the page sends with a live preview of the position slider: the interpolation's model, path and end
    images (studio.live; a hidden textbox holds it)."""
    params = pnginfo.image_params(strip) if strip is not None else {}
    if params.get("mode") != "interpolate":
        return ""
    return json.dumps({key: params[key] for key in ("model_id", "path", "image_a", "image_b") if key in params})


def live_previews(params: list[dict]) -> list:
    """Pictures for live previews while the position is dragged (studio.live), as `frame_at` makes them."""
    return live.previews(params, lambda p: path_request(p, p["position"]),
                         live.one_by_one(path_pixels),
                         lambda request, pixels: grid_image(pixels))


@user_errors
def pick_frame(strip: Image.Image | None, evt: gr.SelectData):
    """A click on a frame of the strip moves the position to that frame."""
    picked = picked_cell(strip, evt)
    steps = pnginfo.image_params(strip).get("steps") if picked is not None else None
    if not isinstance(steps, int) or steps < 2:
        return gr.skip()
    return round(picked[0] / (steps - 1), 2)


@user_errors
def pick_walk_cell(grid: Image.Image | None, evt: gr.SelectData):
    """A click on a cell of the walk shows that picture alone, ready to send."""
    picked = picked_cell(grid, evt)
    return gr.skip() if picked is None else cell_image(grid, picked[0])


@user_errors
def walk(model_id: str, image_a, image_b, image_c, image_d, size: float, seed: float) -> Image.Image:
    """Bilinear grid between corners A (top left), B (top right), C and D (bottom); an empty C or D is a
    random latent from the seed (C: seed, D: seed + 1)."""
    size, seed = whole_number(size, "Walk size"), whole_number(seed, "Seed")
    views = [model_view(model_id, image, slot) if image is not None or slot in "AB" else None
             for image, slot in zip((image_a, image_b, image_c, image_d), SLOTS, strict=True)]
    encoded = iter(vae.encode(model_id, np.stack([v for v in views if v is not None])))
    random_seeds = {"C": seed, "D": seed + 1}
    corners = [next(encoded) if view is not None else vae.prior_latent(model_id, random_seeds[slot])
               for view, slot in zip(views, SLOTS, strict=True)]
    grid = vae.walk(model_id, np.stack(corners), size)
    params = {"tab": "vae", "mode": "walk", "model_id": model_id, "size": size, "seed": seed,
              **{f"image_{s.lower()}": pnginfo.encode_pixels(v) for s, v in zip(SLOTS, views, strict=True)
                 if v is not None}}
    return pnginfo.embed(grid_image(grid.reshape(size * size, *grid.shape[2:])), params)


@user_errors
def restore(png_path: str | None):
    """Slots, controls and result (interpolation strip and GIF, or walk) of a studio PNG or GIF from this tab."""
    params = tab_parameters(png_path, "vae", "VAE interpolation")
    try:
        model_id, mode = restored_model(params["model_id"]), params["mode"]
        slots = [Image.fromarray(pnginfo.decode_pixels(params[f"image_{s.lower()}"])).convert("RGB")
                 if f"image_{s.lower()}" in params else None for s in SLOTS]
        steps = restored_number(params.get("steps", 16), vae.STEPS_RANGE)
        path, ping_pong = params.get("path", "linear"), params.get("ping_pong", False)
        size = restored_number(params.get("size", 5), vae.WALK_SIZE_RANGE)
        seed = restored_number(params.get("seed", 0), (0, sampling.MAX_SEED))
        position = restored_number(params.get("position", 0), (0, 1), whole=False)
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That image's parameters are incomplete.") from error
    if path not in vae.PATHS or not isinstance(ping_pong, bool):
        raise pnginfo.NotAStudioPNGError("That image's parameters are damaged.")
    if mode == "interpolate":
        strip, gif = interpolate(model_id, slots[0], slots[1], steps, path, ping_pong)
        outputs = (position, strip, gif, frame_at(strip, position), gr.skip())
    elif mode == "walk":
        outputs = (gr.skip(), gr.skip(), gr.skip(), gr.skip(), walk(model_id, *slots, size, seed))
    else:
        raise pnginfo.NotAStudioPNGError(f"Unknown mode {shown(mode)} in that image.")
    return (model_id, *slots, steps, path, ping_pong, size, seed, *outputs)


def examples(model_id: str = DEFAULT_MODEL) -> list[tuple[str, str]]:
    """(path, caption) of the shipped examples for a model: Fashion-MNIST test-set garments, or DTD photos for a
    texture VAE."""
    if registry.has(model_id) and vae.is_texture(model_id):
        return dtd_examples()
    return [(str(p), p.stem.split("-", 2)[2].replace("-", " ")) for p in sorted(EXAMPLES_DIR.glob("*.png"))]


@user_errors
def examples_gallery(model_id: str):
    """The gallery and the drawing's note for the chosen model."""
    texture = registry.has(model_id) and vae.is_texture(model_id)
    label = "DTD example photos (click to use)" if texture else "Test-set examples (click to use)"
    return gr.Gallery(examples(model_id), label=label), gr.Markdown(visible=texture)


def fill_slot(model_id: str, target: str, evt: gr.SelectData):
    """Put the clicked example into the chosen slot; the other slots stay as they are. The example is
    looked up by its index: a path in the event's data is the browser's word, not the server's."""
    path = example_path(examples(model_id), evt.index)
    return [gr.skip() if slot != target else path for slot in SLOTS]


def use_drawing(sketch: dict | None, target: str):
    if sketch is None or sketch.get("composite") is None:
        raise gr.Error("Draw something first.", print_exception=False)
    return [gr.skip() if slot != target else sketch["composite"] for slot in SLOTS]


def build(demo: gr.Blocks) -> TabParts:
    choices = model_choices(vae.TASKS, DEFAULT_MODEL)
    skip_link("vae")
    with gr.Row():
        model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model", allow_custom_value=True)
        with gr.Column():
            model_card(model)
    slots, previews = {}, {}
    with gr.Row():
        for slot in "AB":
            with gr.Column(min_width=240):
                slots[slot] = ImageInput(label=f"Slot {slot}", sources=["upload", "clipboard", "webcam"], type="pil",
                                         format="png", height=280, elem_classes=["crisp", "fill"])
                previews[slot] = result_image(f"{slot}: input | reconstruction", height=100)
        with gr.Column(scale=2, min_width=300):
            target = gr.Radio(list(SLOTS), value="A", label="Examples and drawings fill slot")
            with gr.Tab("Examples"):
                gallery = gr.Gallery(examples(), label="Test-set examples (click to use)", columns=5, height="auto",
                                     allow_preview=False, elem_classes="crisp")
            with gr.Tab("Draw"):
                draw_note = gr.Markdown("The brush draws in black: a drawing is a grey picture, made for the "
                                        "Fashion-MNIST VAE; a texture VAE sees it as a grey texture.", visible=False)
                with gr.Row():
                    sketch = SketchInput(type="pil", image_mode="RGB", canvas_size=(280, 280), label="Drawing",
                                         brush=gr.Brush(default_size=20, colors=["#000000"], color_mode="fixed"),
                                         height=300, min_width=220)
                    use_sketch = gr.Button("Use drawing", scale=0, min_width=120)
    with gr.Tab("Interpolate A → B"):
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown("Click a frame of the strip to see it alone, ready to send.")
                path = gr.Radio(list(vae.PATHS), value="slerp", label="Path",
                                info="linear: straight line in latent space; slerp: along the sphere")
                steps = gr.Slider(*vae.STEPS_RANGE, value=16, step=1, label="Steps")
                ping_pong = gr.Checkbox(value=True, label="Ping-pong loop (GIF plays forward and back)")
                with gr.Row():
                    interpolate_button = gr.Button("Interpolate A → B", variant="primary", scale=2)
                    cancel = cancel_button()
                with gr.Accordion("Animation of the path (A → B → A)", open=False, elem_id="path-animation"):
                    path_animation = animation.section("Make animation", "path-animation")
            with result_column("vae", scale=2):
                strip = result_image("Interpolation", pick_cells=True, height=200)
                with gr.Row():
                    with gr.Column(min_width=200):
                        frame = result_image("Along the path", height=200, elem_id=live_result_id("vae"))
                        position = gr.Slider(0, 1, value=0, step=0.01, label="Position along the path",
                                             info="0 is A's reconstruction, 1 is B's.",
                                             **live_control("vae", "position", drag=True))
                        live_status("vae")
                        base = gr.Textbox(visible=True, interactive=False, show_label=False, container=False,
                                          **live_control("vae", "base", classes=["live-base"]))
                    gif = StudioImage(label="Animation (GIF)", type="filepath", interactive=False,
                                      elem_classes="crisp", height=240, min_width=200)
                send = send_buttons(frame)
    with gr.Tab("2D latent walk"):
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown("A top left, B top right, C and D at the bottom. An empty C or D is a random latent "
                            "drawn from the seed. Click a cell of the walk to pick it.")
                with gr.Row():
                    for slot in "CD":
                        slots[slot] = ImageInput(label=f"Slot {slot} (optional)", sources=["upload", "clipboard"],
                                                 type="pil", format="png", height=180, min_width=150,
                                                 elem_classes=["crisp", "fill"])
                size = gr.Slider(*vae.WALK_SIZE_RANGE, value=6, step=1, label="Grid size")
                seed = gr.Number(value=0, step=1, label="Seed for empty corners")
                walk_button = gr.Button("Walk", variant="primary")
            with result_column("vae-walk", scale=2):
                walk_image = result_image("Latent walk", pick_cells=True, height=420)
                picked = result_image("Picked cell", height=120)
                send += send_buttons(picked)
    with gr.Row():
        save = gr.DownloadButton("Save PNG", value=None)
        restore_file = FileInput(label="Restore from a studio PNG or animation of this tab",
                                 file_types=[".png", *animation.FILE_TYPES], type="filepath", height=120)
    slot_list = [slots[s] for s in SLOTS]
    latent = gr.JSON(visible=False)

    gr.Button(visible=False).click(encode, [model, slots["A"]], [previews["A"], latent], api_name="encode")
    for slot in "AB":
        gr.on([slots[slot].change, model.change], preview, [model, slots[slot]], previews[slot],
              api_visibility="private")
    model.change(examples_gallery, model, [gallery, draw_note], api_visibility="private")
    gallery.select(fill_slot, [model, target], slot_list, api_visibility="private")
    use_sketch.click(use_drawing, [sketch, target], slot_list, api_visibility="private")
    interpolation_inputs = [model, slots["A"], slots["B"], steps, path, ping_pong]
    interpolated = interpolate_button.click(interpolate, interpolation_inputs, [strip, gif], api_name="interpolate")
    interpolated.success(frame_at, [strip, position], frame, api_visibility="private")
    wire_cancel(cancel, [interpolated])
    animation_inputs = [model, slots["A"], slots["B"], path, *path_animation.controls]
    animation.wire(path_animation, lambda request, progress, *values: animate_path(*values, request, progress),
                   animation_inputs)
    animation.endpoint(animate_path, animation_inputs, "animate_path")
    position.input(frame_at, [strip, position], frame, api_visibility="private", trigger_mode="always_last")
    strip.select(pick_frame, strip, position, api_visibility="private").success(
        frame_at, [strip, position], frame, api_visibility="private")
    strip.change(live_base, strip, base, api_visibility="private", queue=False)
    walked = walk_button.click(walk, [model, *slot_list, size, seed], walk_image, api_name="walk")
    walk_image.select(pick_walk_cell, walk_image, picked, api_visibility="private")
    restored_outputs = [model, *slot_list, steps, path, ping_pong, size, seed, position, strip, gif, frame, walk_image]
    restored = restore_file.upload(restore, restore_file, restored_outputs, api_name="restore_vae",
                                   api_visibility="undocumented")
    finish_results([interpolated], strip, save)
    finish_results([walked], walk_image, save)
    finish_results([restored], strip)
    finish_results([restored], walk_image)
    animation.restore_options_on(restored, restore_file, path_animation.controls)
    return TabParts(send=send, made=[(interpolated, strip), (walked, walk_image)],
                    restorer=animation.with_options(Restorer("vae", restore, restored_outputs),
                                                    path_animation.controls),
                    receivers={"VAE slot A": (received_image, slots["A"]),
                               "VAE slot B": (received_image, slots["B"])},
                    models=ModelList(model, vae.TASKS, DEFAULT_MODEL))
