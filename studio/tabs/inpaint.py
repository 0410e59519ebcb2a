"""Inpainting: paint a hole on any image with a brush and fill it with the inpainting network (photos),
alone or guiding patch transfer (`models.patch_transfer`), with a VAE as a generative prior (the VAEs
that fit the picture: Fashion-MNIST or texture), or with one of OpenCV's classical methods
(`models.classical_inpaint`; the tab offers the fast and the moderately slow ones)."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from models import classical_inpaint, inpaint, vae
from models.errors import InvalidRequestError
from models.image_input import check_size, open_image, to_rgb
from studio import pnginfo
from studio.ui import (
    EditorInput,
    FileInput,
    ImageInput,
    MaskInput,
    Restorer,
    TabParts,
    cancel_button,
    cancellable_progress,
    dtd_examples,
    example_path,
    finish_results,
    model_card,
    model_card_markdown,
    model_choices,
    received_image,
    restored_model,
    restored_number,
    result_column,
    result_image,
    send_buttons,
    skip_link,
    studio_text_only,
    tab_parameters,
    user_errors,
    whole_number,
    wire_cancel,
)

DEFAULT_MODEL = "photo-inpaint"
MASK_COLOUR = ("#ff2e88", 0.7)  # the brush: a translucent pink that shows what lies under it
MASK_RGBA = (255, 46, 136, 179)  # the same, as a layer's pixels
EMPTY_MASK_NOTICE = "The mask is empty: paint over the part to fill. The image is returned unchanged."


PATCHES_LABEL = "the network guiding patch transfer (real texture from the picture)"
PATCHES_ABOUT = ("the inpainting network's fill guides a patch search, and every hole pixel takes a real pixel of the "
                 "picture's known part where the surroundings match, so the fill keeps the picture's grain and "
                 "pattern instead of a blur; where nothing alike exists it can paste the wrong thing.")
PRIOR_LABELS = {vae.TASK: "VAE prior, for Fashion-MNIST-like images", vae.TEXTURE_TASK: "VAE prior, for colour photos"}


def labelled_models(image: np.ndarray | None = None) -> list[tuple[str, str]]:
    """(label, id): inpainting networks first (the default leading), each network guiding patch transfer,
    then the VAEs usable as a prior: those that fit `image` (`inpaint.fitting_priors`), or all of them before
    there is a picture; then the classical methods the tab offers (they fit any picture)."""
    priors = [(f"{i}: {label}", i) for task, label in PRIOR_LABELS.items() for i in model_choices(task, "")
              if image is None or i in inpaint.fitting_priors(image)]
    classical = [(f"{m.id}: {m.label}", m.id) for m in classical_inpaint.METHODS.values() if m.in_tab]
    networks = model_choices(inpaint.TASK, DEFAULT_MODEL)
    patched = [(f"{inpaint.patch_method_id(i)}: {PATCHES_LABEL}", inpaint.patch_method_id(i)) for i in networks]
    return [(f"{i}: inpainting network for photos", i) for i in networks] + patched + priors + classical


def method_card(model_id: str | None) -> str:
    """The model card of a checkpoint (for a patch-transfer method, its network's, after a line on patch
    transfer), or what a classical method is, what it suits and how large it goes."""
    if (network_id := inpaint.patch_method_network(model_id)) is not None:
        return f"**{model_id}**: {PATCHES_ABOUT}\n\n{model_card_markdown(network_id)}"
    if not classical_inpaint.is_method(model_id):
        return model_card_markdown(model_id)
    method = classical_inpaint.METHODS[model_id]
    limit = (f"  \n**Size limit**: {method.max_megapixels:g} megapixels of hole and surroundings (it is slow)"
             if method.max_megapixels is not None else "")
    repeats = "" if method.deterministic else ("  \n**Not repeatable**: OpenCV's implementation can give different "
                                               "pixels for the same picture and mask")
    return (f"**{method.id}** ({method.label})  \n{method.about}  \n"
            f"**Weights**: none, a classical method of OpenCV (opencv-contrib, Apache 2.0 license){limit}{repeats}")


def fitting_models(value: dict | None, model_id: str) -> gr.Dropdown:
    """The model choices for the editor's picture; a chosen VAE that does not fit it gives way to the default."""
    background = (value or {}).get("background")
    choices = labelled_models(None if background is None else np.asarray(to_rgb(background)))
    ids = [i for _, i in choices]
    return gr.Dropdown(choices=choices, value=model_id if model_id in ids else ids[0] if ids else None)


def editor_image_and_mask(value: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """The editor's background as RGB uint8 and the union of its painted layers' alpha as the mask."""
    background = (value or {}).get("background")
    if background is None:
        raise InvalidRequestError("Upload, paste or send an image first, then paint over the part to fill.")
    check_size(*background.size)
    image = np.asarray(to_rgb(background))
    mask = np.zeros(image.shape[:2], bool)
    for layer in value.get("layers") or []:
        if layer.size != background.size:
            layer = layer.resize(background.size, Image.Resampling.NEAREST)
        mask |= np.asarray(layer.convert("RGBA"))[..., 3] > 0
    return image, mask


def run(model_id: str, image: np.ndarray, mask: np.ndarray, dilation: float, feather: float,
        progress: gr.Progress, request: gr.Request | None) -> Image.Image:
    dilation, feather = whole_number(dilation, "Mask dilation"), whole_number(feather, "Feathering")
    if not mask.any():
        gr.Warning(EMPTY_MASK_NOTICE)
    filled = inpaint.fill(model_id, image, mask, dilation, feather,
                          progress=cancellable_progress(progress, "optimising the latent", request))
    return pnginfo.embed(Image.fromarray(filled), {
        "tab": "inpaint", "model_id": model_id, "dilation": dilation, "feather": feather,
        "width": image.shape[1], "height": image.shape[0], "hole_pixels": int(mask.sum())})


@user_errors
def inpaint_image(image: Image.Image | None, mask: np.ndarray | None, model_id: str, dilation: float, feather: float,
                  request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> Image.Image:
    """API: fill `mask` (white or opaque = hole, same size as the image) in `image`."""
    if image is None or mask is None:
        raise InvalidRequestError("Both an image and a mask are needed.")
    return run(model_id, np.asarray(image), mask, dilation, feather, progress, request)


@user_errors
def inpaint_editor(value: dict | None, model_id: str, dilation: float, feather: float,
                   request: gr.Request = None, progress: gr.Progress = gr.Progress()) -> Image.Image:
    image, mask = editor_image_and_mask(value)
    return run(model_id, image, mask, dilation, feather, progress, request)


def inpaint_on_stroke(value: dict | None, model_id: str, dilation: float, feather: float, fill_on_stroke: bool,
                      request: gr.Request = None, progress: gr.Progress = gr.Progress()):
    """The editor changed: fill at once if the person asked for that."""
    if not fill_on_stroke:
        return gr.skip()
    return inpaint_editor(value, model_id, dilation, feather, request, progress)


def continue_editing(result: Image.Image | None):
    """The result (or a sent image) becomes the editor's new background, with an empty mask layer."""
    if result is None:
        raise gr.Error("There is no image to edit yet.", print_exception=False)
    result = studio_text_only(result)
    return {"background": result, "layers": [], "composite": result}


def examples() -> list[tuple[str, str]]:
    """(path, caption): the first shipped DTD photo of each class (held out from the inpainting training)."""
    return dtd_examples()


def pick_example(evt: gr.SelectData) -> dict:
    """The clicked example in the editor, with an empty mask (looked up by index, not by the browser's path)."""
    image = open_image(example_path(examples(), evt.index))
    return {"background": image, "layers": [], "composite": image}


@user_errors
def invert_mask(value: dict | None) -> dict:
    """The editor with its mask inverted: what was painted is kept, everything else will be filled."""
    image, mask = editor_image_and_mask(value)
    layer = np.zeros((*mask.shape, 4), np.uint8)
    layer[~mask] = MASK_RGBA
    painted = Image.fromarray(layer, "RGBA")
    background = Image.fromarray(image)
    return {"background": background, "layers": [painted],
            "composite": Image.alpha_composite(background.convert("RGBA"), painted)}


def before_after(value: dict | None, result: Image.Image | None):
    """The editor's image and the result, for the before/after slider."""
    background = (value or {}).get("background")
    return None if background is None or result is None else (to_rgb(background), result)


@user_errors
def restore(png_path: str | None):
    """The settings of a studio PNG from this tab, and the PNG itself in the editor to keep working on."""
    params = tab_parameters(png_path, "inpaint", "inpainting")
    try:
        model_id = params["model_id"]
        dilation = restored_number(params["dilation"], inpaint.DILATION_RANGE)
        feather = restored_number(params["feather"], inpaint.FEATHER_RANGE)
    except KeyError as error:
        raise pnginfo.NotAStudioPNGError("That PNG's parameters are incomplete.") from error
    image = open_image(png_path)
    model_id = model_id if inpaint.is_method(model_id) else restored_model(model_id)
    return model_id, dilation, feather, {"background": image, "layers": [], "composite": image}


def build(demo: gr.Blocks) -> TabParts:
    choices = labelled_models()
    skip_link("inpaint")
    with gr.Row():
        with gr.Column(scale=3):
            editor = EditorInput(
                label="Image: paint over the part to fill", type="pil", image_mode="RGBA", format="png",
                elem_id="inpaint-editor", elem_classes="image-editor-block", sources=["upload", "clipboard", "webcam"],
                layers=False, transforms=(),
                height=480,
                brush=gr.Brush(colors=[MASK_COLOUR], color_mode="fixed", default_size=24),
                eraser=gr.Eraser(default_size=24))
            gallery = gr.Gallery(examples(), label="Example photos (DTD, held out from training): click to use",
                                 columns=5, height=300, allow_preview=False)
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                allow_custom_value=True)
            model_card(model, method_card)
            dilation = gr.Slider(*inpaint.DILATION_RANGE, value=4, step=1, label="Mask dilation (pixels)",
                                 info="grow the hole to cover the edges of what you painted over")
            feather = gr.Slider(*inpaint.FEATHER_RANGE, value=4, step=1, label="Feathering (pixels)",
                                info="blend the fill into the picture over the inner edge of the hole")
            fill_on_stroke = gr.Checkbox(value=False, label="Fill as soon as a stroke ends")
            with gr.Row():
                run_button = gr.Button("Inpaint", variant="primary", scale=2)
                cancel = cancel_button()
                invert = gr.Button("Invert mask", scale=1)
            gr.Markdown("The brush size, eraser and undo are in the editor's toolbar. Pixels outside the "
                        "(dilated) mask are returned unchanged.")
    with gr.Row():
        with result_column("inpaint", scale=3):
            compare = gr.ImageSlider(label="Before and after: drag the handle", type="pil", interactive=False,
                                     height=480, max_height=460, format="png")
            result = result_image("Result", visible=False)
            send = send_buttons(result, targets=("Texture", "VAE slot A", "VAE slot B"))
        with gr.Column(scale=2, min_width=320):
            again = gr.Button("Continue editing (result back into the editor)")
            save = gr.DownloadButton("Save PNG", value=None)
            restore_file = FileInput(label="Restore settings from a studio PNG of this tab", file_types=[".png"],
                                     type="filepath", height=120)
    with gr.Row(visible=False):
        api_image = ImageInput(label="image", type="pil", format="png")
        api_mask = MaskInput(label="mask (white or opaque = hole)", type="pil", format="png")

    editor_inputs = [editor, model, dilation, feather]
    ran = run_button.click(inpaint_editor, editor_inputs, result, api_visibility="private")
    stroked = editor.input(inpaint_on_stroke, [*editor_inputs, fill_on_stroke], result, api_visibility="private",
                           trigger_mode="always_last")
    api = gr.Button(visible=False).click(inpaint_image, [api_image, api_mask, model, dilation, feather], result,
                                         api_name="inpaint")
    finish_results([ran, stroked, api], result, save)
    for event in (ran, stroked):
        event.success(before_after, [editor, result], compare, api_visibility="private")
    wire_cancel(cancel, [ran, stroked])
    invert.click(invert_mask, editor, editor, api_visibility="private")
    editor.change(fitting_models, [editor, model], model, api_visibility="private", trigger_mode="always_last")
    gallery.select(pick_example, None, editor, api_visibility="private")
    again.click(continue_editing, result, editor, api_visibility="private")
    restore_file.upload(restore, restore_file, [model, dilation, feather, editor], api_name="restore_inpaint",
                        api_visibility="undocumented")
    return TabParts(send=send, made=[(ran, result), (stroked, result)],
                    restorer=Restorer("inpaint", restore, [model, dilation, feather, editor]),
                    receivers={"Inpaint": (lambda image: continue_editing(received_image(image)), editor)})
