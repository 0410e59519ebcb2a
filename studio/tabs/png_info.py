"""PNG info: drop an image the studio made, see the parameters inside it, restore them in the tab that made it."""

from __future__ import annotations

import gradio as gr

from studio import animation, pnginfo
from studio.outputs import TAB_TITLES, describe
from studio.ui import FileInput, plain_markdown, user_errors

LONG_TEXT = 80  # parameters longer than this (embedded input images) are summarised for display


def shown_parameters(params: dict) -> dict:
    """The parameters for people: embedded images become a short note instead of base64 text."""
    return {key: f"<embedded image, {len(value)} characters>" if isinstance(value, str) and len(value) > LONG_TEXT
            else value for key, value in params.items()}


@user_errors
def inspect(path: str | None):
    """Summary, parameters, and the restore button named after the tab that made the image."""
    if not path:
        return "", None, gr.Button("Restore in its tab", interactive=False)
    params = pnginfo.read(path)
    tab = TAB_TITLES.get(params.get("tab"))
    if tab is None:
        raise pnginfo.NotAStudioPNGError("That image holds studio parameters from an unknown tab.")
    version = plain_markdown(params.get("studio_version", "?"))
    return (f"**{plain_markdown(describe(params))}**  \nmade with studio {version}",
            shown_parameters(params), gr.Button(f"Restore in {tab}", interactive=True))


def build() -> tuple[FileInput, gr.Button]:
    """Build the tab; returns the file input and the restore button, which `studio.app` wires to every tab."""
    gr.Markdown("Drop a PNG (or a GIF, WebM or MP4 animation) saved by the studio: from the outputs folder, a "
                "**Save PNG** button, an animation's download, the history or the API. It shows the parameters "
                "inside it, and **Restore** puts them back in the tab that made it and makes the image again.")
    with gr.Row():
        with gr.Column():
            file = FileInput(label="Studio PNG or animation (GIF, WebM, MP4)",
                             file_types=[".png", *animation.FILE_TYPES], type="filepath", height=160,
                             elem_id="pnginfo-file")
            restore = gr.Button("Restore in its tab", variant="primary", interactive=False)
        with gr.Column():
            summary = gr.Markdown()
            params = gr.JSON(label="Parameters")
    file.change(inspect, file, [summary, params, restore], api_name="png_info")
    return file, restore
