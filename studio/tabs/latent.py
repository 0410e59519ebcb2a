"""Latent-space sampling: seed, truncation, GANSpace direction sliders, grid mode, PNG parameters."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image

from models import sampling
from studio import pnginfo
from studio.images import grid_image
from studio.ui import (
    SendButton,
    model_choices,
    result_image,
    save_for_download,
    send_buttons,
    tab_parameters,
    user_errors,
    whole_number,
)

SLIDER_COUNT = 10
DEFAULT_MODEL = "fmnist-gan"
_saved_dir = Path(tempfile.mkdtemp(prefix="studio-latent-"))


@user_errors
def sample(model_id: str, seed: float, num_samples: float, psi: float, *direction_values: float) -> Image.Image:
    """Render the image for one set of parameters; the PNG carries them."""
    seed_int, n = whole_number(seed, "Seed"), whole_number(num_samples, "Number of samples")
    values = [round(float(v), 4) for v in direction_values]
    pixels = sampling.sample(model_id, seed_int, n, float(psi), values)
    params = {"tab": "latent", "model_id": model_id, "seed": seed_int, "num_samples": n,
              "psi": float(psi), "directions": values}
    return pnginfo.embed(grid_image(pixels), params)


def save_png(image: Image.Image | None) -> str | None:
    return save_for_download(image, _saved_dir, lambda p: f"{p['model_id']}-seed{p['seed']}-n{p['num_samples']}.png")


@user_errors
def random_seed(model_id: str, num_samples: float, psi: float, *direction_values: float):
    seed = random.randint(0, sampling.MAX_SEED - int(num_samples) + 1)
    return seed, sample(model_id, seed, num_samples, psi, *direction_values)


@user_errors
def reset(model_id: str, seed: float, num_samples: float):
    zeros = [0.0] * SLIDER_COUNT
    return (1.0, *zeros, sample(model_id, seed, num_samples, 1.0, *zeros))


@user_errors
def restore(png_path: str | None):
    """Read a studio PNG and return every control's value plus the regenerated image."""
    params = tab_parameters(png_path, "latent", "latent-sampling")
    try:
        model_id, seed, n, psi = params["model_id"], params["seed"], params["num_samples"], params["psi"]
        values = list(params["directions"]) + [0.0] * (SLIDER_COUNT - len(params["directions"]))
    except (KeyError, TypeError) as error:
        raise pnginfo.NotAStudioPNGError("That PNG's latent parameters are incomplete.") from error
    image = sample(model_id, seed, n, psi, *values)
    return (model_id, seed, n, psi, *values, image)


def direction_slider(k: int, directions: sampling.LatentDirections) -> gr.Slider:
    share = f" · {100 * float(directions.explained_variance[k]):.1f}%" if k < len(directions) else ""
    return gr.Slider(*sampling.DIRECTION_RANGE, value=0.0, step=0.1, label=f"PC{k + 1}{share}", min_width=160)


def build(demo: gr.Blocks) -> list[SendButton]:
    choices = model_choices(sampling.TASK, DEFAULT_MODEL)
    directions = sampling.latent_directions(choices[0])
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=choices[0], label="Model", allow_custom_value=True)
            with gr.Row():
                seed = gr.Number(value=42, step=1, label="Seed", info=f"0 to {sampling.MAX_SEED}", scale=3)
                dice = gr.Button("Random seed", scale=1)
            psi = gr.Slider(*sampling.PSI_RANGE, value=1.0, step=0.05, label="Truncation ψ",
                            info="Scales the latent toward its mean: lower is more typical, higher more varied.")
            num_samples = gr.Slider(1, sampling.MAX_SAMPLES, value=1, step=1, label="Samples",
                                    info="More than one shows a grid from consecutive seeds.")
            with gr.Accordion("Principal directions (GANSpace), in standard deviations", open=True):
                sliders = []
                for first in range(0, SLIDER_COUNT, 2):
                    with gr.Row():
                        sliders += [direction_slider(k, directions) for k in (first, first + 1)]
            reset_button = gr.Button("Reset ψ and directions")
        with gr.Column(scale=2):
            image = result_image("Sample", height=520)
            send = send_buttons(image)
            with gr.Row():
                save = gr.DownloadButton("Save PNG", value=None)
                restore_file = gr.File(label="Restore parameters from a studio PNG", file_types=[".png"],
                                       type="filepath", height=120)

    controls = [model, seed, num_samples, psi, *sliders]
    sampled = gr.on(
        triggers=[model.input, seed.submit, seed.blur, num_samples.input, psi.input, *[s.input for s in sliders]],
        fn=sample, inputs=controls, outputs=image, api_name="sample", trigger_mode="always_last",
        concurrency_limit=4,
    )
    events = [sampled,
              dice.click(random_seed, [model, num_samples, psi, *sliders], [seed, image], api_visibility="private"),
              reset_button.click(reset, [model, seed, num_samples], [psi, *sliders, image], api_visibility="private"),
              restore_file.upload(restore, restore_file, [*controls, image], api_name="restore_latent",
                                  api_visibility="undocumented")]
    for event in events:
        event.then(save_png, image, save, api_visibility="private")
    demo.load(sample, controls, image, api_visibility="private").then(
        save_png, image, save, api_visibility="private")
    return send
