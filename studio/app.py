"""Assemble the studio's Blocks from its tabs and wire what crosses tabs: send-to buttons, the history,
the outputs folder and restoring. Queue and upload limits live here, in one place."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import gradio as gr
from gradio.exceptions import InvalidPathError
from PIL import Image

from models import registry
from models.errors import InvalidRequestError, cut, shown
from models.files import FileWriteError
from models.image_input import MAX_PIXELS
from studio import __version__, files, live, pnginfo, serving
from studio.outputs import TAB_TITLES, OutputRecorder, toggle_star, trusted_history
from studio.tabs import conditional, inpaint, latent, png_info, texture, train, vae
from studio.ui import (
    CSS,
    AdmitsFiles,
    ModelList,
    Restorer,
    TabParts,
    code_span,
    forget_cancels,
    model_choices,
    page_message,
    plain_markdown,
    request_cancel,
    user_errors,
)

DEFAULT_CONCURRENCY = 2
log = logging.getLogger(__name__)
TABS = {"latent": latent, "conditional": conditional, "vae": vae, "inpaint": inpaint, "texture": texture}
# the tabs whose sliders preview live while dragged (studio.live)
LIVE_PREVIEWS = {"latent": latent.live_previews, "conditional": conditional.live_previews, "vae": vae.live_previews}


class StudioBlocks(gr.Blocks):
    """gr.Blocks that answers a caller's malformed or forbidden payload with one sentence and one log line,
    where Gradio would answer with its internal message and print a traceback: a payload naming a file
    outside its folders with Gradio's "meta" marker, values its data models reject, too few values."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as error:  # Gradio's own range checks: their sentence, without Gradio's traceback
            log.info("%s refused: %s", block_fn.name, cut(str(error.message)))
            raise gr.Error(page_message(cut(str(error.message))), print_exception=False) from error
        except InvalidPathError as error:
            log.info("%s refused: a file outside the studio's folders", block_fn.name)
            raise gr.Error(files.NOT_UPLOADED, print_exception=False) from error
        except ValueError as error:  # pydantic's ValidationError, ComponentProcessingError, wrong input counts
            log.info("%s refused malformed values: %s", block_fn.name, str(error).splitlines()[0])
            raise gr.Error("The request's values do not fit this endpoint (see its API page).",
                           print_exception=False) from error


def build_app(outputs_dir: Path | None = None, cache_minutes: float = serving.CACHE_MINUTES_LOCAL,
              training: train.Places | None = None) -> gr.Blocks:
    """The studio; every result is also saved as a PNG with its parameters under `outputs_dir` (None: not saved).
    Files Gradio cached and nobody used for `cache_minutes` are deleted. `training` says where the Train tab
    keeps its jobs and models and whether it may train (None: no Train tab)."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Gradio's own decoding refuses bombs too
    recorder = OutputRecorder(outputs_dir)

    def reloaded(items: list[dict], kept: object):
        """A page (re)loaded: its history is the one kept in the browser, checked like any request."""
        items = items or trusted_history(kept, outputs_dir)
        return items, gallery_items(items)

    files.cache_dir()  # in the working folder (unless GRADIO_TEMP_DIR says otherwise): set before any component
    with StudioBlocks(title="Studio") as demo:
        gr.Markdown(f"# Studio <small>v{__version__}</small>\n"
                    "Small generative and vision models, trained by this project, in one place. "
                    "Everything you make is kept in the **History** panel (the arrow at the top right).")
        history = gr.State([])  # the session's history: paths and parameters (the server's copy is the truth)
        kept = gr.BrowserState([], storage_key="studio-history")  # its mirror in the browser, for a reload
        with gr.Sidebar(label="History", position="right", open=False, width=360):
            gr.Markdown("### History\nWhat you made in this browser, newest first: the result a drag or a burst of "
                        "changes settled on. **☆ Keep** keeps an item for good. "
                        + (f"Each image is also saved in `{outputs_dir}`." if outputs_dir else
                           "Saving to disk is off here: download what you want to keep."))
            gallery = gr.Gallery(label="History", columns=2, height=420, allow_preview=False, format="png",
                                 elem_id="history-gallery", show_label=False)
            chosen = gr.State(None)  # the id of the item clicked
            chosen_caption = gr.Markdown()
            with gr.Row():
                reopen = gr.Button("Reopen in its tab", variant="primary", interactive=False)
                star = gr.Button(STAR_LABELS[False], interactive=False)
                download = gr.DownloadButton("Download", value=None, interactive=False)
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # every tab one tap away, on a phone too
            parts: dict[str, TabParts] = {}
            for tab_id, module in TABS.items():
                with gr.Tab(TAB_TITLES[tab_id], id=tab_id):
                    parts[tab_id] = module.build(demo)
            with gr.Tab("PNG info", id="pnginfo"):
                info_file, info_restore = png_info.build()
            if training is not None:
                with gr.Tab("Train", id="train"):
                    trained = train.build(training)

        wire_send_buttons(parts, tabs)
        model_lists = [part.models for part in parts.values() if part.models is not None]
        known_models = gr.State([])  # the registry's ids the model dropdowns were last filled with
        refresh_inputs, refresh_outputs = [known_models], [known_models, *(m.dropdown for m in model_lists)]
        for event in trained.models_changed if training is not None else []:
            event.success(lambda known: refreshed_models(model_lists, known), refresh_inputs, refresh_outputs,
                          api_visibility="private", queue=False, show_progress="hidden")
        demo.load(lambda known: (registry.refresh(), refreshed_models(model_lists, known))[1], refresh_inputs,
                  refresh_outputs, api_visibility="private", queue=False)  # a model trained by the command line
        for part in parts.values():
            for event, image in part.made:
                # one at a time, in order (each reads the history the one before wrote), and a result that
                # comes while one is being recorded is recorded after it, not dropped (Gradio's "once")
                event.success(lambda image, items: recorded(recorder, image, items), [image, history],
                              [history, gallery, kept], api_visibility="private", concurrency_id="history",
                              concurrency_limit=1, trigger_mode="always_last")
        restorers = [part.restorer for part in parts.values()]
        restored_outputs = [tabs, *(c for r in restorers for c in r.outputs)]
        reopen_in_tab = user_errors(lambda path: restore_in_tab(restorers, path))
        info_restore.click(reopen_in_tab, info_file, restored_outputs, api_visibility="private")
        reopen.click(lambda items, item_id: reopen_in_tab(item_path(items, item_id)), [history, chosen],
                     restored_outputs, api_visibility="private")
        gallery.select(choose, history, [chosen, chosen_caption, reopen, star, download], api_visibility="private")
        star.click(starred, [history, chosen], [history, gallery, star, kept], api_visibility="private")
        demo.load(reloaded, [history, kept], [history, gallery], api_visibility="private")
        gr.Button(visible=False).click(request_cancel, None, None, api_name="cancel", concurrency_limit=None)
        demo.load(serving.note_browser_session, None, None, api_visibility="private", queue=False)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=serving.MAX_QUEUE)
    check_file_inputs(demo)
    serving.limit_queue(demo)
    serving.start_housekeeping(demo, cache_minutes, forget_cancels)
    return demo


def check_file_inputs(demo: gr.Blocks) -> None:
    """Every input that takes files must admit them through `studio.files` (see AdmitsFiles)."""
    for fn in demo.fns.values():
        for component in fn.inputs:
            if _takes_files(component) and not isinstance(component, AdmitsFiles):
                raise TypeError(f"{type(component).__name__} {component.label!r} takes files but does not admit them")


def _takes_files(component: gr.components.Component) -> bool:
    """Whether a component's payload can name files (its data model holds FileData)."""
    model = getattr(component, "data_model", None)
    return model is not None and "FileData" in repr(model.model_json_schema())


def refreshed_models(model_lists: list[ModelList], known: list[str]) -> list:
    """Every tab's model choices, where the registry's models changed since `known` (a model was trained or
    deleted); nothing otherwise, so a poll does not disturb an open dropdown."""
    ids = sorted(c.id for c in registry.checkpoints())
    if ids == known:
        return [gr.skip()] * (1 + len(model_lists))
    return [ids, *(gr.update(choices=model_choices(m.tasks, m.default)) for m in model_lists)]


def wire_send_buttons(parts: dict[str, TabParts], tabs: gr.Tabs) -> None:
    """Each "Send to X" button puts its image into X's input and selects X's tab."""
    receivers = {target: (convert, component, tab_id)
                 for tab_id, part in parts.items() for target, (convert, component) in part.receivers.items()}
    for part in parts.values():
        for target, button, image in part.send:
            convert, component, tab_id = receivers[target]
            button.click(convert, image, component, api_visibility="private").success(
                lambda tab_id=tab_id: gr.Tabs(selected=tab_id), None, tabs, api_visibility="private")


def recorded(recorder: OutputRecorder, image: Image.Image | None, items: list[dict]):
    """Record a result: the new history, the gallery showing it (newest first) and the browser's copy."""
    try:
        items, warning = recorder.record(image, items)
    except (FileWriteError, InvalidRequestError, pnginfo.NotAStudioPNGError) as error:
        gr.Warning(page_message(f"The result could not be kept in the history: {error}"))
        return gr.skip(), gr.skip(), gr.skip()
    if warning:
        gr.Warning(warning)
    return items, gallery_items(items), items


STAR_LABELS = {False: "☆ Keep", True: "★ Kept"}


def gallery_items(items: list[dict]) -> list[tuple[str, str]]:
    return [(item["path"], ("★ " if item.get("starred") else "") + item["caption"]) for item in items]


def item_path(items: list[dict], item_id: str | None) -> str | None:
    return next((item["path"] for item in items if item.get("id") == item_id), None)


def starred(items: list[dict], item_id: str | None):
    """Star the chosen item (it is never pushed out of the history) or unstar it."""
    items = toggle_star(items, item_id)
    now = next((item.get("starred") for item in items if item.get("id") == item_id), False)
    return items, gallery_items(items), gr.Button(STAR_LABELS[bool(now)]), items


def choose(items: list[dict], evt: gr.SelectData):
    """A history item was clicked: remember it, describe it, enable reopening and downloading it."""
    if isinstance(evt.index, bool) or not isinstance(evt.index, int) or not 0 <= evt.index < len(items):
        raise gr.Error("That history item does not exist.", print_exception=False)
    item = items[evt.index]
    where = f"  \nSaved as {code_span(item['saved'])}" if item["saved"] else ""
    return (item["id"], f"{plain_markdown(item['caption'])}{where}", gr.Button(interactive=True),
            gr.Button(STAR_LABELS[bool(item.get("starred"))], interactive=True),
            gr.DownloadButton(value=item["path"], interactive=True))


def restore_in_tab(restorers: list[Restorer], path: str | None) -> list:
    """Restore a studio PNG in the tab that made it: that tab's controls and result, the others untouched."""
    if not path:
        raise pnginfo.NotAStudioPNGError("Choose an image first.")
    tab = pnginfo.read(path).get("tab")
    target = next((r for r in restorers if r.tab == tab), None)
    if target is None:
        raise pnginfo.NotAStudioPNGError(f"That image was made in a tab this studio does not have ({shown(tab)}).")
    values = target.fn(path)
    outputs = [gr.Tabs(selected=target.tab)]
    for restorer in restorers:
        outputs += list(values) if restorer is target else [gr.skip()] * len(restorer.outputs)
    return outputs


BROWSER_JS = (Path(__file__).with_name("browser.js")).read_text(encoding="utf-8")


def launch_kwargs() -> dict:
    """Arguments every launch shares (CSS, the page's script, limits, error display, the live preview route)."""
    return {"css": CSS, "js": BROWSER_JS, "max_file_size": serving.MAX_UPLOAD_BYTES, "show_error": True,
            "state_session_capacity": serving.SESSION_CAPACITY,
            "app_kwargs": {"routes": live.routes(LIVE_PREVIEWS)}}


def launch_on_free_port(demo: gr.Blocks) -> str:
    """Serve `demo` on 127.0.0.1 at a free port, as launch.py would, without blocking; returns its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    return f"http://127.0.0.1:{port}/"
