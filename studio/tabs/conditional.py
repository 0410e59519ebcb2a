"""Class-conditional generation: samples of a class, one of each class, and class morphs (strip + GIF)."""

from __future__ import annotations

import random

import gradio as gr
from PIL import Image

from models import conditional, sampling
from models.data.fashion_mnist import CLASS_NAMES
from models.errors import shown
from studio import files, pnginfo
from studio.images import cell_image, grid_image, labelled_rows_image, strip_image, write_gif
from studio.outputs import file_stem
from studio.ui import (
    BATCH_SIZE,
    FileInput,
    Restorer,
    StudioImage,
    TabParts,
    cancel_button,
    finish_results,
    model_card,
    model_choices,
    picked_cell,
    restored_model,
    restored_number,
    result_column,
    result_image,
    send_buttons,
    serve_batch,
    skip_link,
    tab_parameters,
    user_errors,
    whole_number,
    wire_cancel,
)

DEFAULT_MODEL = "fmnist-cgan"
MAX_ONE_OF_EACH_COLUMNS = 8


def generate_request(model_id: str, class_name: str, num_samples: float, seed: float, psi: float) -> dict:
    """The model layer's request for one set of UI or API values."""
    return {"model_id": model_id, "label": conditional.class_index(class_name), "seed": whole_number(seed, "Seed"),
            "n": whole_number(num_samples, "Number of samples"), "psi": float(psi)}


def generated_image(request: dict, pixels) -> Image.Image:
    return pnginfo.embed(grid_image(pixels), {
        "tab": "conditional", "mode": "generate", "model_id": request["model_id"],
        "class": CLASS_NAMES[request["label"]], "num_samples": request["n"], "seed": request["seed"],
        "psi": request["psi"]})


@user_errors
def generate(model_id: str, class_name: str, num_samples: float, seed: float, psi: float) -> Image.Image:
    """`num_samples` images of one class from consecutive seeds."""
    request = generate_request(model_id, class_name, num_samples, seed, psi)
    return generated_image(request, conditional.generate(**request))


def generate_batch(model_id: list, class_name: list, num_samples: list, seed: list, psi: list):
    """The /generate endpoint, batched by Gradio (each argument lists a batch's values; the names are the
    API's): concurrent requests share the generator's forward passes."""
    requests = [lambda i=i: generate_request(model_id[i], class_name[i], num_samples[i], seed[i], psi[i])
                for i in range(len(model_id))]
    return [serve_batch(requests, conditional.generate_many, generated_image)]


@user_errors
def one_of_each(model_id: str, num_samples: float, seed: float, psi: float) -> Image.Image:
    """A row per class; column j is the latent of seed + j in every row."""
    seed, n = whole_number(seed, "Seed"), whole_number(num_samples, "Number of samples")
    columns = min(n, MAX_ONE_OF_EACH_COLUMNS)
    pixels = conditional.one_of_each(model_id, seed, columns, float(psi))
    return pnginfo.embed(labelled_rows_image(pixels, list(CLASS_NAMES)), {
        "tab": "conditional", "mode": "one_of_each", "model_id": model_id, "num_samples": columns,
        "seed": seed, "psi": float(psi)})


@user_errors
def morph(model_id: str, class_a: str, class_b: str, steps: float, seed: float, psi: float,
          progress: gr.Progress = gr.Progress()):
    """Fixed latent, class embedding blended from A to B: a strip and an animated GIF."""
    seed, steps = whole_number(seed, "Seed"), whole_number(steps, "Steps")
    a, b = conditional.class_index(class_a), conditional.class_index(class_b)
    progress(0, desc="generating frames")
    frames = conditional.morph(model_id, a, b, seed, steps, float(psi))
    params = {"tab": "conditional", "mode": "morph", "model_id": model_id, "class_a": CLASS_NAMES[a],
              "class_b": CLASS_NAMES[b], "steps": steps, "seed": seed, "psi": float(psi)}
    progress(0.5, desc="rendering the GIF")
    gif = write_gif(frames, files.private_folder("animations") / f"{file_stem(params)}.gif",
                    comment=pnginfo.gif_comment(params))
    return pnginfo.embed(strip_image(frames), params), str(gif)


@user_errors
def pick(image: Image.Image | None, evt: gr.SelectData):
    """A click on a cell: in a Generate grid, that sample alone (its seed the working seed); in One of each, that
    class at that seed; in a morph, that frame. Returns class, samples, seed and the new result."""
    picked = picked_cell(image, evt)
    if picked is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    index, params = picked
    model_id, class_name, n, seed, psi, _, _, _, mode = controls_of(params)
    if mode == "morph":
        frame = pnginfo.embed(cell_image(image, index), {**pnginfo.image_params(image), "frame": index + 1})
        return gr.skip(), gr.skip(), gr.skip(), frame
    if mode == "one_of_each":
        row, column = divmod(index, n)
        if row >= len(CLASS_NAMES):  # a grid whose layout does not match its parameters
            raise pnginfo.NotAStudioPNGError("That image's parameters are damaged.")
        class_name, index = CLASS_NAMES[row], column
    return class_name, 1, seed + index, generate(model_id, class_name, 1, seed + index, psi)


def restored_class(name: object) -> str:
    if name not in CLASS_NAMES:
        raise pnginfo.NotAStudioPNGError("That PNG names a class this model does not have.")
    return name


def controls_of(params: dict) -> tuple:
    """The checked control values of a conditional PNG's parameters: model, class, samples, seed, psi, morph
    classes, steps, and the mode."""
    try:
        model_id, mode = restored_model(params["model_id"]), params["mode"]
        seed = restored_number(params["seed"], (0, sampling.MAX_SEED))
        psi = restored_number(params["psi"], sampling.PSI_RANGE, whole=False)
        n = restored_number(params.get("num_samples", 1), (1, sampling.MAX_SAMPLES))
        steps = restored_number(params.get("steps", 16), conditional.MORPH_STEPS_RANGE)
        class_name, class_a, class_b = (restored_class(params.get(key, default)) for key, default in
                                        (("class", CLASS_NAMES[0]), ("class_a", CLASS_NAMES[0]),
                                         ("class_b", CLASS_NAMES[1])))
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That PNG's parameters are incomplete.") from error
    if mode not in ("generate", "one_of_each", "morph"):
        raise pnginfo.NotAStudioPNGError(f"Unknown mode {shown(mode)} in that PNG.")
    return model_id, class_name, n, seed, psi, class_a, class_b, steps, mode


@user_errors
def restore(png_path: str | None):
    """Controls and image of a studio PNG from this tab (generate, one-of-each, a morph or one of its frames)."""
    params = tab_parameters(png_path, "conditional", "class-conditional")
    model_id, class_name, n, seed, psi, class_a, class_b, steps, mode = controls_of(params)
    if mode == "generate":
        image = generate(model_id, class_name, n, seed, psi)
    elif mode == "one_of_each":
        image = one_of_each(model_id, n, seed, psi)
    else:
        image, _ = morph(model_id, class_a, class_b, steps, seed, psi)
        frame = params.get("frame")
        if frame is not None:
            frame = restored_number(frame, (1, steps))
            image = pnginfo.embed(cell_image(image, frame - 1), {**pnginfo.image_params(image), "frame": frame})
    return model_id, class_name, n, seed, psi, class_a, class_b, steps, image


def build(demo: gr.Blocks) -> TabParts:
    choices = model_choices(conditional.TASK, DEFAULT_MODEL)
    skip_link("conditional")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model", allow_custom_value=True)
            model_card(model)
            class_name = gr.Dropdown(list(CLASS_NAMES), value=CLASS_NAMES[0], label="Class", allow_custom_value=True)
            num_samples = gr.Slider(1, sampling.MAX_SAMPLES, value=8, step=1, label="Samples",
                                    info=f"One of each uses up to {MAX_ONE_OF_EACH_COLUMNS} columns. "
                                         "Click a picture in a grid to pick it.")
            with gr.Row():
                seed = gr.Number(value=0, step=1, label="Seed", info=f"0 to {sampling.MAX_SEED}", scale=3)
                dice = gr.Button("Random seed", scale=1)
            psi = gr.Slider(*sampling.PSI_RANGE, value=1.0, step=0.05, label="Truncation ψ")
            with gr.Row():
                generate_button = gr.Button("Generate", variant="primary")
                each_button = gr.Button("One of each")
            with gr.Group():
                gr.Markdown("**Class morph**: the latent stays fixed while the class blends from one to the other.",
                            padding=True)
                with gr.Row():
                    class_a = gr.Dropdown(list(CLASS_NAMES), value="Sneaker", label="From", allow_custom_value=True)
                    class_b = gr.Dropdown(list(CLASS_NAMES), value="Ankle boot", label="To", allow_custom_value=True)
                steps = gr.Slider(*conditional.MORPH_STEPS_RANGE, value=16, step=1, label="Steps")
                with gr.Row():
                    morph_button = gr.Button("Morph")
                    cancel = cancel_button()
        with result_column("conditional"):
            image = result_image("Result", pick_cells=True, height=560)
            send = send_buttons(image)
            with gr.Row():
                gif = StudioImage(label="Morph animation (GIF)", type="filepath", elem_classes="crisp",
                                  interactive=False, height=240)
                with gr.Column():
                    save = gr.DownloadButton("Save PNG", value=None)
                    restore_file = FileInput(label="Restore parameters from a studio PNG", file_types=[".png"],
                                             type="filepath", height=120)

    morphed = morph_button.click(morph, [model, class_a, class_b, steps, seed, psi], [image, gif], api_name="morph")
    wire_cancel(cancel, [morphed])
    made = [
        generate_button.click(generate_batch, [model, class_name, num_samples, seed, psi], image, api_name="generate",
                              batch=True, max_batch_size=BATCH_SIZE),
        each_button.click(one_of_each, [model, num_samples, seed, psi], image, api_name="one_of_each"),
        morphed,
        dice.click(lambda: random.randint(0, sampling.MAX_SEED - sampling.MAX_SAMPLES), None, seed,
                   api_visibility="private").then(generate, [model, class_name, num_samples, seed, psi], image,
                                                 api_visibility="private"),
        image.select(pick, image, [class_name, num_samples, seed, image], api_visibility="private"),
    ]
    restored_outputs = [model, class_name, num_samples, seed, psi, class_a, class_b, steps, image]
    restored = restore_file.upload(restore, restore_file, restored_outputs, api_name="restore_conditional",
                                   api_visibility="undocumented")
    finish_results([*made, restored], image, save)
    return TabParts(send=send, made=[(event, image) for event in made],
                    restorer=Restorer("conditional", restore, restored_outputs), receivers={})
