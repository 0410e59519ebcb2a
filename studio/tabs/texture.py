"""Texture classification: top-5 classes of an image, a class heatmap, and a colour-coded texture map."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from models import registry, texture
from models.errors import InvalidRequestError
from studio import pnginfo
from studio.images import heat_overlay
from studio.ui import (
    ImageInput,
    ModelList,
    Restorer,
    StudioImage,
    TabParts,
    cancel_button,
    cancellable_progress,
    example_path,
    model_card,
    model_choices,
    received_image,
    restored_model,
    result_column,
    send_buttons,
    skip_link,
    tab_parameters,
    user_errors,
    whole_number,
    wire_cancel,
)

DEFAULT_MODEL = "dtd10-texture-ensemble"  # the CNN fused with Fisher vectors; "dtd10-texture" is the CNN alone
EXAMPLES_DIR = registry.ASSETS_DIR / "examples" / "dtd"
TOP_CLASSES = 5
SOURCE_RECORD_SIZE = 768  # longest side of the copy of the input a heatmap PNG carries, so it can be restored
DISPLAY_SIDE = 2048  # heatmaps and texture maps of larger pictures are drawn at this longest side: full-size
# colour maps of a 25-megapixel picture took GBs (and the network sees every picture at 192 pixels anyway)


def _pixels(image: Image.Image | None) -> np.ndarray:
    if image is None:
        raise InvalidRequestError("Upload, paste or pick an image first.")
    return np.asarray(image)


def for_display(image: Image.Image) -> Image.Image:
    """The picture as drawn under a heatmap or texture map: reduced to DISPLAY_SIDE pixels a side if larger."""
    scale = DISPLAY_SIDE / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                        Image.Resampling.BOX)


@user_errors
def classify(model_id: str, image: Image.Image | None) -> dict[str, float]:
    """{class: probability} for every class (the Label shows the top 5)."""
    return texture.classify(model_id, _pixels(image))


@user_errors
def explain(model_id: str, image: Image.Image | None, label: str | None) -> Image.Image:
    """The image under a heatmap of where the network sees `label` (the top class if none is chosen); the PNG
    carries the settings and a copy of the input (at most SOURCE_RECORD_SIZE pixels a side, JPEG)."""
    pixels = _pixels(image)
    label = label or next(iter(texture.classify(model_id, pixels)))
    drawn = np.asarray(for_display(image))
    overlay = heat_overlay(drawn, texture.heatmap(model_id, drawn, label))
    source = image.copy()
    source.thumbnail((SOURCE_RECORD_SIZE, SOURCE_RECORD_SIZE))
    return pnginfo.embed(overlay, {"tab": "texture", "mode": "heatmap", "model_id": model_id, "label": label,
                                   "width": image.width, "height": image.height,
                                   "source": pnginfo.encode_jpeg(source)})


@user_errors
def texture_map(model_id: str, image: Image.Image | None, window_percent: float,
                request: gr.Request = None, progress: gr.Progress = gr.Progress()):
    """(image, [(mask, class)]) for an AnnotatedImage: each pixel's most probable class over the windows."""
    pixels = _pixels(image)
    window = max(16, round(whole_number(window_percent, "Window") / 100 * min(pixels.shape[:2])))
    labels, _ = texture.texture_map(model_id, pixels, window,
                                    progress=cancellable_progress(progress, "classifying windows", request))
    names = texture.class_names(model_id)
    drawn = for_display(image)
    if drawn is not image:
        rows = np.arange(drawn.height) * labels.shape[0] // drawn.height
        labels = labels[np.ix_(rows, np.arange(drawn.width) * labels.shape[1] // drawn.width)]
    image = drawn
    return image, [((labels == k).astype(np.float32) * 0.6, names[k]) for k in np.unique(labels)]


def classify_shown(model_id: str, image: Image.Image | None):
    """Classify whenever the image changes; a cleared image clears the scores."""
    return None if image is None else classify(model_id, image)


def explain_shown(model_id: str, image: Image.Image | None, label: str | None) -> Image.Image | None:
    """The heatmap after each classification; a cleared image clears it."""
    return None if image is None else explain(model_id, image, label)


def pick_example(evt: gr.SelectData) -> str:
    """The clicked example, looked up by its index (a path in the event's data is the browser's word)."""
    return example_path(examples(), evt.index)


def top_choices(scores: dict[str, float] | None, restored_label: str | None):
    """The heatmap's class picker, listing classes most probable first; a restored PNG's class is chosen
    once (then forgotten), otherwise the most probable one."""
    if not scores:
        return gr.Dropdown(choices=[], value=None), None
    names = sorted(scores, key=scores.get, reverse=True)
    return gr.Dropdown(choices=names, value=restored_label if restored_label in names else names[0]), None


@user_errors
def restore(png_path: str | None):
    """Model, input image and heatmap class of a heatmap PNG from this tab (the image is classified again)."""
    params = tab_parameters(png_path, "texture", "texture")
    try:
        model_id, label, source = restored_model(params["model_id"]), params["label"], params["source"]
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That PNG's parameters are incomplete.") from error
    if label not in texture.class_names(model_id) or not isinstance(source, str):
        raise pnginfo.NotAStudioPNGError("That PNG's parameters are damaged.")
    source = pnginfo.decode_jpeg(source)
    return model_id, source, label


def examples() -> list[tuple[str, str]]:
    return [(str(p), p.stem.rsplit("_", 1)[0]) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]


def build(demo: gr.Blocks) -> TabParts:
    choices = model_choices(texture.TASK, DEFAULT_MODEL)
    skip_link("texture")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=choices[0] if choices else None, label="Model",
                                allow_custom_value=True)
            model_card(model)
            image = ImageInput(label="Image", sources=["upload", "clipboard", "webcam"], type="pil", format="png",
                               elem_id="texture-image", height=320)
            gallery = gr.Gallery(examples(), label="DTD examples, two per class (click to use)", columns=5,
                                 height=240, allow_preview=False)
            classify_button = gr.Button("Classify", variant="primary")
        with result_column("texture", scale=1):
            scores = gr.Label(num_top_classes=TOP_CLASSES, label="Top 5 classes")
            label = gr.Dropdown([], label="Heatmap for class", allow_custom_value=True)
            heat = StudioImage(label="Where the network sees that class (class activation map)", type="pil",
                               format="png", interactive=False, height=320,
                               alt_text="Class activation map over the image")
            send = send_buttons(heat, targets=("Inpaint", "VAE slot A", "VAE slot B"))
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            window = gr.Slider(10, 100, value=25, step=5, label="Texture map window (% of the shorter side)",
                               info="Overlapping windows, each classified on its own; smaller is finer and slower.")
            with gr.Row():
                map_button = gr.Button("Texture map", scale=2)
                cancel = cancel_button()
        with gr.Column(scale=2):
            annotated = gr.AnnotatedImage(label="Texture map", height=480, format="png")

    restored_label = gr.State(None)
    gallery.select(pick_example, None, image, api_visibility="private")
    all_scores = gr.Label(visible=False)  # the API answers with every class, so its confidences sum to 1
    gr.Button(visible=False).click(classify, [model, image], all_scores, api_name="classify")
    made = []
    for classified in (classify_button.click(classify, [model, image], scores, api_visibility="private"),
                       gr.on([image.change, model.change], classify_shown, [model, image], scores,
                             api_visibility="private", trigger_mode="always_last")):
        made.append(classified.success(top_choices, [scores, restored_label], [label, restored_label],
                                       api_visibility="private").then(
            explain_shown, [model, image, label], heat, api_visibility="private"))
    made.append(label.input(explain, [model, image, label], heat, api_name="heatmap"))
    mapped = map_button.click(texture_map, [model, image, window], annotated, api_name="texture_map")
    wire_cancel(cancel, [mapped])
    return TabParts(send=send, made=[(event, heat) for event in made],
                    restorer=Restorer("texture", restore, [model, image, restored_label]),
                    receivers={"Texture": (received_image, image)},
                    models=ModelList(model, (texture.TASK,), DEFAULT_MODEL))
