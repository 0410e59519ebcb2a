"""Assemble the studio's Blocks from its tabs; queue and upload limits live here, in one place."""

from __future__ import annotations

import socket

import gradio as gr

from studio import __version__
from studio.tabs import conditional, latent
from studio.ui import CSS

MAX_UPLOAD_SIZE = "10mb"
DEFAULT_CONCURRENCY = 2


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Studio") as demo:
        gr.Markdown(f"# Studio <small>v{__version__}</small>\nSmall generative and vision models, trained by this project, in one place.")
        with gr.Tabs():
            with gr.Tab("Latent sampling", id="latent"):
                latent.build(demo)
            with gr.Tab("Class-conditional", id="conditional"):
                conditional.build(demo)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


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
