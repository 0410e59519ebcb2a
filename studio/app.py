"""Assemble the studio's Blocks from its tabs; queue and upload limits live here, in one place."""

from __future__ import annotations

import socket

import gradio as gr
from PIL import Image

from models.image_input import MAX_PIXELS
from studio import __version__
from studio.tabs import conditional, inpaint, latent, texture, vae
from studio.ui import CSS

MAX_UPLOAD_SIZE = "10mb"
DEFAULT_CONCURRENCY = 2


def build_app() -> gr.Blocks:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Gradio's own decoding (the inpainting editor) refuses bombs too
    with gr.Blocks(title="Studio") as demo:
        gr.Markdown(f"# Studio <small>v{__version__}</small>\n"
                    "Small generative and vision models, trained by this project, in one place.")
        with gr.Tabs() as tabs:
            with gr.Tab("Latent sampling", id="latent"):
                send = latent.build(demo)
            with gr.Tab("Class-conditional", id="conditional"):
                send += conditional.build(demo)
            with gr.Tab("VAE interpolation", id="vae"):
                send += vae.build(demo)
            with gr.Tab("Inpainting", id="inpaint"):
                editor, inpaint_send = inpaint.build(demo)
            with gr.Tab("Texture", id="texture"):
                texture_image = texture.build(demo)
        receivers = {"Inpaint": (inpaint.continue_editing, editor, "inpaint"),
                     "Texture": (received_image, texture_image, "texture")}
        for target, button, image in send + inpaint_send:
            convert, component, tab = receivers[target]
            button.click(convert, image, component, api_visibility="private").then(
                lambda tab=tab: gr.Tabs(selected=tab), None, tabs, api_visibility="private")
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def received_image(image: Image.Image | None) -> Image.Image:
    if image is None:
        raise gr.Error("There is no image to send yet.", print_exception=False)
    return image


def launch_kwargs() -> dict:
    """Arguments every launch shares (CSS, limits, error display)."""
    return {"css": CSS, "max_file_size": MAX_UPLOAD_SIZE, "show_error": True}


def launch_on_free_port(demo: gr.Blocks) -> str:
    """Serve `demo` on 127.0.0.1 at a free port, as launch.py would, without blocking; returns its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    return f"http://127.0.0.1:{port}/"
