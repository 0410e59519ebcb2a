"""Class-conditional generation: samples of a class, one of each class, and class morphs (strip + GIF), for the
grey Fashion-MNIST generator and the colour texture generators (their classes, size and seamless tiling)."""

from __future__ import annotations

import random

import gradio as gr
from PIL import Image

from models import conditional, registry, sampling, texgen
from models.animation import morph_loop
from models.data.fashion_mnist import CLASS_NAMES
from models.errors import shown
from studio import animation, files, live, pnginfo
from studio.images import cell_image, grid_image, labelled_rows_image, strip_image, write_gif
from studio.outputs import file_stem
from studio.ui import (
    BATCH_SIZE,
    FileInput,
    ModelList,
    Restorer,
    StudioImage,
    TabParts,
    cancel_button,
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
    wire_cancel,
)

DEFAULT_MODEL = "fmnist-cgan"
MAX_ONE_OF_EACH_COLUMNS = 8
DEFAULT_SIZE = 128  # pixels a side of a texture here: ten rows of them stay in view
GREY_MORPH = ("Sneaker", "Ankle boot")  # the morph's classes when a model is chosen, where it has them
TEXTURE_MORPH = ("bubbly", "cracked")
DEFAULT_POSITION = 0.5  # the morph position slider's start: halfway between the two classes


def classes_of(model_id: str) -> list[str]:
    """The class names a model offers: Fashion-MNIST's, or a texture generator's own and "any"."""
    if texgen.is_texture_model(model_id):
        return [*texgen.class_names(model_id), texgen.ANY_CLASS]
    return list(CLASS_NAMES)


def class_name_of(model_id: str, class_name: str) -> str:
    """The model's own spelling of a class given by name or (grey models) index; unknown ones are refused."""
    if texgen.is_texture_model(model_id):
        return classes_of(model_id)[texgen.class_index(model_id, class_name)]
    return CLASS_NAMES[conditional.class_index(class_name)]


def texture_params(model_id: str, size: float, seamless: bool) -> dict:
    """The size and seamless switch of a texture request (nothing for a grey model)."""
    if not texgen.is_texture_model(model_id):
        return {}
    return {"size": whole_number(size, "Size"), "seamless": bool(seamless)}


def generate_request(model_id: str, class_name: str, num_samples: float, seed: float, psi: float,
                     size: float = DEFAULT_SIZE, seamless: bool = False) -> dict:
    """The model layer's request for one set of UI or API values."""
    request = {"model_id": model_id, "seed": whole_number(seed, "Seed"),
               "n": whole_number(num_samples, "Number of samples"), "psi": float(psi)}
    if texgen.is_texture_model(model_id):
        return {**request, "class_name": class_name_of(model_id, class_name),
                **texture_params(model_id, size, seamless)}
    return {**request, "label": conditional.class_index(class_name)}


def generated_image(request: dict, pixels) -> Image.Image:
    class_name = request["class_name"] if "class_name" in request else CLASS_NAMES[request["label"]]
    return pnginfo.embed(grid_image(pixels), {
        "tab": "conditional", "mode": "generate", "model_id": request["model_id"], "class": class_name,
        "num_samples": request["n"], "seed": request["seed"], "psi": request["psi"],
        **{key: request[key] for key in ("size", "seamless") if key in request}})


def generate_many(requests: list[dict]) -> list:
    """Serve grey and texture requests together, each kind through its own model-layer function."""
    return serve_grey_and_texture(requests, conditional.generate_many, texgen.generate_many)


@user_errors
def generate(model_id: str, class_name: str, num_samples: float, seed: float, psi: float,
             size: float = DEFAULT_SIZE, seamless: bool = False) -> Image.Image:
    """`num_samples` images of one class from consecutive seeds."""
    request = generate_request(model_id, class_name, num_samples, seed, psi, size, seamless)
    result = generate_many([request])[0]
    if isinstance(result, Exception):
        raise result
    return generated_image(request, result)


def generate_batch(model_id: list, class_name: list, num_samples: list, seed: list, psi: list, *texture: list):
    """The /generate endpoint, batched by Gradio (each argument lists a batch's values; the names are the
    API's; `texture` is the size and seamless lists): concurrent requests share the generator's forward passes."""
    requests = [lambda i=i: generate_request(model_id[i], class_name[i], num_samples[i], seed[i], psi[i],
                                             *[values[i] for values in texture])
                for i in range(len(model_id))]
    return [serve_batch(requests, generate_many, generated_image)]


@user_errors
def one_of_each(model_id: str, num_samples: float, seed: float, psi: float, size: float = DEFAULT_SIZE,
                seamless: bool = False) -> Image.Image:
    """A row per class; column j is the latent of seed + j in every row."""
    seed, n = whole_number(seed, "Seed"), whole_number(num_samples, "Number of samples")
    columns = min(n, MAX_ONE_OF_EACH_COLUMNS)
    texture = texture_params(model_id, size, seamless)
    if texture:
        names = texgen.class_names(model_id) or [texgen.ANY_CLASS]
        columns = max(1, min(columns, texgen.MAX_PIXELS // (len(names) * texture["size"] ** 2)))
        pixels = texgen.one_of_each(model_id, seed, columns, psi=float(psi), **texture)
    else:
        names, pixels = list(CLASS_NAMES), conditional.one_of_each(model_id, seed, columns, float(psi))
    return pnginfo.embed(labelled_rows_image(pixels, names), {
        "tab": "conditional", "mode": "one_of_each", "model_id": model_id, "num_samples": columns,
        "seed": seed, "psi": float(psi), **texture})


@user_errors
def morph(model_id: str, class_a: str, class_b: str, steps: float, seed: float, psi: float,
          size: float = DEFAULT_SIZE, seamless: bool = False, progress: gr.Progress = gr.Progress()):
    """Fixed latent, class embedding blended from A to B: a strip and an animated GIF."""
    seed, steps = whole_number(seed, "Seed"), whole_number(steps, "Steps")
    class_a, class_b = class_name_of(model_id, class_a), class_name_of(model_id, class_b)
    texture = texture_params(model_id, size, seamless)
    progress(0, desc="generating frames")
    if texture:
        frames = texgen.morph(model_id, class_a, class_b, seed, steps, psi=float(psi), **texture)
    else:
        frames = conditional.morph(model_id, class_a, class_b, seed, steps, float(psi))
    params = {"tab": "conditional", "mode": "morph", "model_id": model_id, "class_a": class_a,
              "class_b": class_b, "steps": steps, "seed": seed, "psi": float(psi), **texture}
    progress(0.5, desc="rendering the GIF")
    gif = write_gif(frames, files.private_folder("animations") / f"{file_stem(params)}.gif",
                    comment=pnginfo.gif_comment(params))
    return pnginfo.embed(strip_image(frames), params), str(gif)


def blend_request(model_id: str, class_a: str, class_b: str, seed: float, psi: float, position: float,
                  size: float = DEFAULT_SIZE, seamless: bool = False) -> dict:
    """The request for one picture of the morph: `position` 0 is class A, 1 is class B."""
    return {"model_id": model_id, "class_a": class_name_of(model_id, class_a),
            "class_b": class_name_of(model_id, class_b), "seed": whole_number(seed, "Seed"), "psi": float(psi),
            "position": round(float(position), 4), **texture_params(model_id, size, seamless)}


def blend_pixels(request: dict):
    """The morph's picture at the request's position, as one-picture pixels."""
    at = [request["model_id"], request["class_a"], request["class_b"], request["seed"], [request["position"]]]
    if "size" in request:
        return texgen.morph_at(*at, request["size"], request["seamless"], request["psi"])
    return conditional.morph_at(*at, request["psi"])


def blended_image(request: dict, pixels) -> Image.Image:
    return pnginfo.embed(grid_image(pixels), {"tab": "conditional", "mode": "blend", **request})


@user_errors
def blend(model_id: str, class_a: str, class_b: str, seed: float, psi: float, position: float,
          size: float = DEFAULT_SIZE, seamless: bool = False) -> Image.Image:
    """The class morph at one position between A (0) and B (1): the picture the position slider shows."""
    request = blend_request(model_id, class_a, class_b, seed, psi, position, size, seamless)
    return blended_image(request, blend_pixels(request))


def live_previews(params: list[dict]) -> list:
    """Pictures for live previews while the morph position is dragged (studio.live), as `blend` makes them."""
    return live.previews(
        params,
        lambda p: live.check_texture_side(blend_request(
            p["model_id"], p["class_a"], p["class_b"], p["seed"], p["psi"], p["position"],
            p.get("size", DEFAULT_SIZE), p.get("seamless", False))),
        live.one_by_one(blend_pixels), lambda request, pixels: grid_image(pixels))


@user_errors
def animate_morph(model_id: str, class_a: str, class_b: str, seed: float, psi: float, size: float = DEFAULT_SIZE,
                  seamless: bool = False, fps: float = animation.DEFAULT_FPS,
                  seconds: float = animation.DEFAULT_SECONDS, animation_size: float = animation.DEFAULT_SIZE,
                  format: str = animation.DEFAULT_FORMAT,
                  request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> str:
    """The class morph A -> B -> A as a seamless loop (GIF, WebM or MP4, by `format`); returns its file."""
    seed = whole_number(seed, "Seed")
    class_a, class_b = class_name_of(model_id, class_a), class_name_of(model_id, class_b)
    texture = texture_params(model_id, size, seamless)
    chosen = animation.options(fps, seconds, animation_size, format)
    params = {"tab": "conditional", "mode": "morph", "model_id": model_id, "class_a": class_a,
              "class_b": class_b, "seed": seed, "psi": float(psi), **texture, "animation": {"kind": "morph"}}
    return animation.export(lambda frames, report: morph_loop(model_id, class_a, class_b, seed, frames, float(psi),
                                                              progress=report, **texture),
                            animation.frame_side(params), params, chosen, request, progress)


@user_errors
def pick(image: Image.Image | None, evt: gr.SelectData):
    """A click on a cell: in a Generate grid, that sample alone (its seed the working seed); in One of each, that
    class at that seed; in a morph, that frame. Returns class, samples, seed and the new result."""
    picked = picked_cell(image, evt)
    if picked is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    index, params = picked
    model_id, class_name, n, seed, psi, _, _, _, size, seamless, mode, _ = controls_of(params)
    if mode == "blend":
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    if mode == "morph":
        frame = pnginfo.embed(cell_image(image, index), {**pnginfo.image_params(image), "frame": index + 1})
        return gr.skip(), gr.skip(), gr.skip(), frame
    if mode == "one_of_each":
        row, column = divmod(index, n)
        names = classes_of(model_id)
        if row >= len(names):  # a grid whose layout does not match its parameters
            raise pnginfo.NotAStudioPNGError("That image's parameters are damaged.")
        class_name, index = names[row], column
    return class_name, 1, seed + index, generate(model_id, class_name, 1, seed + index, psi, size, seamless)


def restored_class(model_id: str, name: object) -> str:
    if name not in classes_of(model_id):
        raise pnginfo.NotAStudioPNGError("That PNG names a class this model does not have.")
    return name


def controls_of(params: dict) -> tuple:
    """The checked control values of a conditional PNG's parameters: model, class, samples, seed, psi, morph
    classes, steps, texture size and seamless switch, the mode and the morph position."""
    try:
        model_id, mode = restored_model(params["model_id"]), params["mode"]
        seed = restored_number(params["seed"], (0, sampling.MAX_SEED))
        psi = restored_number(params["psi"], sampling.PSI_RANGE, whole=False)
        n = restored_number(params.get("num_samples", 1), (1, sampling.MAX_SAMPLES))
        steps = restored_number(params.get("steps", 16), conditional.MORPH_STEPS_RANGE)
        names = classes_of(model_id)
        class_name, class_a, class_b = (restored_class(model_id, params.get(key, default)) for key, default in
                                        (("class", names[0]), ("class_a", names[0]), ("class_b", names[1])))
        size = restored_number(params.get("size", DEFAULT_SIZE), texgen.SIZE_RANGE)
        seamless = params.get("seamless", False)
        position = restored_number(params.get("position", DEFAULT_POSITION), (0, 1), whole=False)
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That PNG's parameters are incomplete.") from error
    if mode not in ("generate", "one_of_each", "morph", "blend") or not isinstance(seamless, bool):
        raise pnginfo.NotAStudioPNGError(f"Unknown mode {shown(mode)} in that PNG.")
    return model_id, class_name, n, seed, psi, class_a, class_b, steps, size, seamless, mode, position


@user_errors
def restore(png_path: str | None):
    """Controls and image of a studio PNG from this tab (generate, one-of-each, a morph or one of its frames)."""
    params = tab_parameters(png_path, "conditional", "class-conditional")
    model_id, class_name, n, seed, psi, class_a, class_b, steps, size, seamless, mode, position = controls_of(params)
    if mode == "blend":
        image = blend(model_id, class_a, class_b, seed, psi, position, size, seamless)
    elif mode == "generate":
        image = generate(model_id, class_name, n, seed, psi, size, seamless)
    elif mode == "one_of_each":
        image = one_of_each(model_id, n, seed, psi, size, seamless)
    else:
        image, _ = morph(model_id, class_a, class_b, steps, seed, psi, size, seamless)
        frame = params.get("frame")
        if frame is not None:
            frame = restored_number(frame, (1, steps))
            image = pnginfo.embed(cell_image(image, frame - 1), {**pnginfo.image_params(image), "frame": frame})
    return model_id, class_name, n, seed, psi, class_a, class_b, steps, size, seamless, position, image


def model_controls(model_id: str, class_name: str, class_a: str, class_b: str) -> tuple:
    """The class lists of a model (the chosen classes kept where it has them: a restored PNG sets them with the
    model) and whether its texture controls show."""
    names = classes_of(model_id) if registry.has(model_id) else list(CLASS_NAMES)
    morph_ends = TEXTURE_MORPH if set(TEXTURE_MORPH) <= set(names) else tuple(names[:2])
    defaults = (names[0], *morph_ends) if texgen.is_texture_model(model_id) else (CLASS_NAMES[0], *GREY_MORPH)
    kept = [value if value in names else default for value, default in
            zip((class_name, class_a, class_b), defaults, strict=True)]
    return (*[gr.update(choices=names, value=value) for value in kept],
            gr.update(visible=texgen.is_texture_model(model_id)))


def build(demo: gr.Blocks) -> TabParts:
    choices = model_choices((conditional.TASK, texgen.TASK), DEFAULT_MODEL)
    skip_link("conditional")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model", allow_custom_value=True,
                                **live_control("conditional", "model_id"))
            model_card(model)
            class_name = gr.Dropdown(list(CLASS_NAMES), value=CLASS_NAMES[0], label="Class", allow_custom_value=True)
            num_samples = gr.Slider(1, sampling.MAX_SAMPLES, value=8, step=1, label="Samples",
                                    info=f"One of each uses up to {MAX_ONE_OF_EACH_COLUMNS} columns. "
                                         "Click a picture in a grid to pick it.")
            with gr.Row():
                seed = gr.Number(value=0, step=1, label="Seed", info=f"0 to {sampling.MAX_SEED}", scale=3,
                                 **live_control("conditional", "seed"))
                dice = gr.Button("Random seed", scale=1)
            psi = gr.Slider(*sampling.PSI_RANGE, value=1.0, step=0.05, label="Truncation ψ",
                            **live_control("conditional", "psi"))
            with gr.Group(visible=False) as texture_group:
                size = gr.Slider(*texgen.SIZE_RANGE, value=DEFAULT_SIZE, step=16, label="Size (pixels a side)",
                                 **live_control("conditional", "size"))
                seamless = gr.Checkbox(value=False, label="Seamless (tiles with no visible seam)",
                                       **live_control("conditional", "seamless"))
            with gr.Row():
                generate_button = gr.Button("Generate", variant="primary")
                each_button = gr.Button("One of each")
            with gr.Group():
                gr.Markdown("**Class morph**: the latent stays fixed while the class blends from one to the other.",
                            padding=True)
                with gr.Row():
                    class_a = gr.Dropdown(list(CLASS_NAMES), value=GREY_MORPH[0], label="From", allow_custom_value=True,
                                          **live_control("conditional", "class_a"))
                    class_b = gr.Dropdown(list(CLASS_NAMES), value=GREY_MORPH[1], label="To", allow_custom_value=True,
                                          **live_control("conditional", "class_b"))
                position = gr.Slider(0, 1, value=DEFAULT_POSITION, step=0.01, label="Morph position",
                                     info="0 is the first class, 1 the second: the result follows while you drag.",
                                     **live_control("conditional", "position", drag=True))
                steps = gr.Slider(*conditional.MORPH_STEPS_RANGE, value=16, step=1, label="Steps")
                with gr.Row():
                    morph_button = gr.Button("Morph")
                    cancel = cancel_button()
            with gr.Accordion("Animation of the morph (A → B → A)", open=False, elem_id="morph-animation"):
                morph_animation = animation.section("Make animation", "morph-animation")
        with result_column("conditional"):
            image = result_image("Result", pick_cells=True, height=560, elem_id=live_result_id("conditional"))
            live_status("conditional")
            send = send_buttons(image)
            with gr.Row():
                gif = StudioImage(label="Morph animation (GIF)", type="filepath", elem_classes="crisp",
                                  interactive=False, height=240)
                with gr.Column():
                    save = gr.DownloadButton("Save PNG", value=None)
                    restore_file = FileInput(label="Restore parameters from a studio PNG or animation",
                                             file_types=[".png", *animation.FILE_TYPES], type="filepath", height=120)

    morphed = morph_button.click(morph, [model, class_a, class_b, steps, seed, psi, size, seamless], [image, gif],
                                 api_name="morph")
    wire_cancel(cancel, [morphed])
    animation_inputs = [model, class_a, class_b, seed, psi, size, seamless, *morph_animation.controls]
    animation.wire(morph_animation, lambda request, progress, *values: animate_morph(*values, request, progress),
                   animation_inputs)
    animation.endpoint(animate_morph, animation_inputs, "animate_morph")
    made = [
        generate_button.click(generate_batch, [model, class_name, num_samples, seed, psi, size, seamless], image,
                              api_name="generate", batch=True, max_batch_size=BATCH_SIZE),
        each_button.click(one_of_each, [model, num_samples, seed, psi, size, seamless], image, api_name="one_of_each"),
        morphed,
        dice.click(lambda: random.randint(0, sampling.MAX_SEED - sampling.MAX_SAMPLES), None, seed,
                   api_visibility="private").then(generate, [model, class_name, num_samples, seed, psi, size, seamless],
                                                 image, api_visibility="private"),
        image.select(pick, image, [class_name, num_samples, seed, image], api_visibility="private"),
        position.input(blend, [model, class_a, class_b, seed, psi, position, size, seamless], image, api_name="blend",
                       trigger_mode="always_last"),
    ]
    restored_outputs = [model, class_name, num_samples, seed, psi, class_a, class_b, steps, size, seamless, position,
                        image]
    restored = restore_file.upload(restore, restore_file, restored_outputs, api_name="restore_conditional",
                                   api_visibility="undocumented")
    finish_results([*made, restored], image, save)
    animation.restore_options_on(restored, restore_file, morph_animation.controls)
    model.change(model_controls, [model, class_name, class_a, class_b], [class_name, class_a, class_b, texture_group],
                 api_visibility="private")
    return TabParts(send=send, made=[(event, image) for event in made],
                    restorer=animation.with_options(Restorer("conditional", restore, restored_outputs),
                                                    morph_animation.controls), receivers={},
                    models=ModelList(model, (conditional.TASK, texgen.TASK), DEFAULT_MODEL))
