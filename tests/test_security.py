"""Attacks on a running studio, as a share link or a Space would see them: files read or written outside the
studio's folders, a flooded queue, unbounded sessions and files, broken saves, decompression bombs and
malformed values. Each test holds the payloads of one point of the security review."""

from __future__ import annotations

import datetime
import io
import itertools
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import launch
from models import conditional, registry
from models.errors import InvalidRequestError
from models.files import FileWriteError, write_atomically
from studio import files, outputs, pnginfo, serving
from studio.ui import AdmitsFiles

REPO = Path(__file__).resolve().parent.parent


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def join(app_url: str, fn_index: int, data: list, session: str, headers: dict | None = None) -> tuple[int, dict]:
    """Put one event in the queue the way the browser does (any endpoint, private ones included)."""
    return post(f"{app_url}gradio_api/queue/join", {"data": data, "fn_index": fn_index, "session_hash": session,
                                                    "event_data": None, "trigger_id": None}, headers)


def call_fn(app_url: str, fn_index: int, data: list, session: str | None = None) -> dict:
    """Run an event to its end; returns Gradio's final message (success, output or error)."""
    session = session or uuid.uuid4().hex
    status, answer = join(app_url, fn_index, data, session)
    assert status == 200, answer
    with urllib.request.urlopen(f"{app_url}gradio_api/queue/data?session_hash={session}", timeout=120) as stream:
        for line in stream:
            if line.startswith(b"data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == answer["event_id"]:
                    return message
    raise AssertionError("the event never completed")


def default_input(component) -> object:
    return component.value() if callable(component.value) else component.value


def file_payload(component, path: str, meta: bool = False) -> dict:
    """A payload naming `path` for a component that takes files (no "meta": Gradio's own check is skipped)."""
    file = {"path": path, **({"meta": {"_type": "gradio.FileData"}} if meta else {})}
    if component.get_block_name() == "imageeditor":
        return {"background": file, "layers": [file], "composite": file}
    return file


def file_endpoints(demo) -> list[tuple[int, object]]:
    """Every event (named, undocumented or private) with an input that takes files."""
    return [(index, fn) for index, fn in demo.fns.items() if any(isinstance(c, AdmitsFiles) for c in fn.inputs)]


def outside_image(tmp_path: Path) -> Path:
    """A private image outside every folder the studio serves from."""
    path = tmp_path / "private.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path)
    return path


# 1. Reading files the server was never given

def test_every_file_taking_input_admits_its_files(studio_app):
    demo, _ = studio_app
    endpoints = file_endpoints(demo)
    names = {fn.api_name for _, fn in endpoints}
    assert {"classify", "inpaint", "png_info", "restore_latent", "restore_inpaint", "encode"} <= names
    assert len(endpoints) >= 40  # the private chains (save, record, send-to, previews) included


def test_no_endpoint_opens_a_file_outside_the_studios_folders(studio_app, tmp_path, capfd):
    """The meta-less payload (and the one with Gradio's marker), at every file-taking endpoint: an image that
    exists and one that does not get the same refusal, with no pixels, size or existence revealed, and the
    server prints no traceback for the caller's mistake."""
    demo, app_url = studio_app
    private = outside_image(tmp_path)
    capfd.readouterr()
    for index, fn in file_endpoints(demo):
        answers = []
        for path, meta in itertools.product((str(private), str(tmp_path / "missing.png"), "/etc/passwd",
                                             "../../../etc/passwd"), (False, True)):
            data = [file_payload(c, path, meta) if isinstance(c, AdmitsFiles) else default_input(c) for c in fn.inputs]
            message = call_fn(app_url, index, data)
            assert message["success"] is False, (fn.name, path, message)
            answers.append(message["output"]["error"])
        assert answers == [files.NOT_UPLOADED] * 8, (fn.name, answers)
    assert "Traceback" not in capfd.readouterr().err


def test_malformed_values_get_a_sentence_not_a_traceback(studio_app, capfd):
    demo, app_url = studio_app
    capfd.readouterr()
    top_choices = next(i for i, fn in demo.fns.items() if fn.name == "top_choices")
    classify = next(i for i, fn in demo.fns.items() if fn.api_name == "classify")
    for index, data in ((top_choices, [{"label": ["x"], "confidences": "nope"}, None]), (classify, ["dtd10-texture"]),
                        (classify, ["dtd10-texture", {"path": 3, "meta": {"_type": "gradio.FileData"}}])):
        message = call_fn(app_url, index, data)
        assert message["success"] is False and len(message["output"]["error"]) < 200, message
    assert "Traceback" not in capfd.readouterr().err


def test_gradios_own_range_checks_answer_with_a_short_sentence_and_no_traceback(client, capfd):
    capfd.readouterr()
    for psi in (3.0, 1e300):
        with pytest.raises(Exception, match="maximum") as raised:
            client.predict("fmnist-gan", 1, 1, psi, *[0.0] * 10, api_name="/sample")
        assert len(str(raised.value)) < 300, str(raised.value)
    assert "Traceback" not in capfd.readouterr().err


def test_a_file_the_app_made_is_still_admitted(server_paths_client, studio_app):
    """The positive control: the same hand-written payload naming a result the app made is classified."""
    demo, app_url = studio_app
    made = server_paths_client.predict("fmnist-gan", 4, 1, 1.0, *[0.0] * 10, api_name="/sample")["path"]
    index = next(i for i, fn in demo.fns.items() if fn.api_name == "classify")
    message = call_fn(app_url, index, ["dtd10-texture", {"path": made}])
    assert message["success"] is True and "confidences" in json.dumps(message["output"]), message


def test_a_studio_with_a_file_input_that_skips_the_check_is_refused_at_build():
    from studio.app import check_file_inputs
    from studio.ui import StudioImage

    with gr.Blocks() as checked:
        gr.Button().click(lambda image: image, StudioImage(), gr.Textbox())
    check_file_inputs(checked)
    for unchecked_input in (gr.Image, gr.File, gr.ImageEditor, gr.Gallery):
        with gr.Blocks() as unchecked:
            gr.Button().click(lambda value: value, unchecked_input(), gr.Textbox())
        with pytest.raises(TypeError, match="does not admit them"):
            check_file_inputs(unchecked)


def test_the_admitting_function_resolves_links_and_parent_steps(tmp_path):
    secret = outside_image(tmp_path)
    link = files.private_folder("downloads") / "link.png"
    link.symlink_to(secret)
    for path in (link, files.work_dir() / ".." / secret.relative_to("/"), secret, tmp_path, None, 3, "\0"):
        with pytest.raises(files.NotUploadedError):
            files.admitted_path(path)
    inside = write_atomically(files.private_folder("downloads") / "ok.png", b"x")
    assert files.admitted_path(str(inside)) == inside.resolve()


def test_an_uploaded_page_or_drawing_is_never_served_as_the_studios_own(app_url, server_paths_client):
    """Anyone may upload a file; served inline as HTML or SVG from the studio's address, its script would run as
    the studio's page (and read what the studio keeps in the browser)."""
    for name, body in (("evil.html", b"<script>document.title='owned'</script>"),
                       ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')):
        uploaded = httpx.post(f"{app_url}gradio_api/upload", files={"files": (name, body)}, timeout=30).json()[0]
        served = httpx.get(f"{app_url}gradio_api/file={uploaded}", timeout=30)
        assert served.status_code == 200 and served.headers["content-type"] == "application/octet-stream", name
        assert served.headers["content-disposition"].startswith("attachment"), name
    made = server_paths_client.predict("fmnist-gan", 6, 1, 1.0, *[0.0] * 10, api_name="/sample")["path"]
    shown = httpx.get(f"{app_url}gradio_api/file={made}", timeout=30)
    assert shown.headers["content-type"] == "image/png" and not shown.headers.get("content-disposition",
                                                                                  "").startswith("attachment")


def test_request_text_shown_on_the_page_makes_no_markup(client, tmp_path):
    """Error toasts are rendered as HTML and PNG info's summary as Markdown: a caller's words stay words."""
    from markdown_it import MarkdownIt

    with pytest.raises(Exception) as raised:
        client.predict("<a href=//evil.example>Fix it</a>", 1, 1, 1.0, *[0.0] * 10, api_name="/sample")
    assert "&lt;a href" in str(raised.value) and "<a" not in str(raised.value)
    png = crafted_png(tmp_path, {"tab": "latent", "seed": 1,
                                 "model_id": "[CLICK](https://evil.example) ![px](https://evil.example/t.png) <b>"})
    summary = client.predict(handle_file(str(png)), api_name="/png_info")[0]
    rendered = MarkdownIt("commonmark").render(summary)
    assert "<a" not in rendered and "<img" not in rendered and "[CLICK](https://evil.example)" in rendered


# 2. Writing files where the caller chooses

def upload(app_url: str, path: Path) -> str:
    """Upload a file as the browser does; returns its path in Gradio's upload folder."""
    with open(path, "rb") as file:
        response = httpx.post(f"{app_url}gradio_api/upload", files={"files": (path.name, file, "image/png")})
    response.raise_for_status()
    return response.json()[0]


def crafted_png(tmp_path: Path, params: dict, name: str = "crafted.png") -> Path:
    path = tmp_path / name
    pnginfo.save_png(pnginfo.embed(Image.new("L", (28, 28), 99), params), path)
    return path


@pytest.mark.parametrize("params", [
    {"tab": "latent", "model_id": "/tmp/studio-attack/latent_abs", "seed": 1, "num_samples": 1},
    {"tab": "vae", "model_id": "../../../tmp/studio-attack/vae", "mode": "walk"},
    {"tab": "conditional", "model_id": ["fmnist-cgan"], "mode": "generate", "seed": 1},
])
def test_a_crafted_png_writes_nothing_outside_the_studios_folders(studio_app, outputs_dir, tmp_path, params):
    """Sent to every tab's save event and to the history recorder: refused, and no file appears anywhere."""
    demo, app_url = studio_app
    attack_dir = Path("/tmp/studio-attack")
    uploaded = upload(app_url, crafted_png(tmp_path, params))
    before = set(outputs_dir.iterdir())
    savers = [(i, fn) for i, fn in demo.fns.items() if fn.name in ("finish", "<lambda>")
              and any(isinstance(c, AdmitsFiles) for c in fn.inputs)]
    assert len([fn for _, fn in savers if fn.name == "finish"]) >= 5
    for index, fn in savers:
        data = [file_payload(c, uploaded, meta=True) if isinstance(c, AdmitsFiles) else default_input(c)
                for c in fn.inputs]
        call_fn(app_url, index, data)
    assert not attack_dir.exists() and set(outputs_dir.iterdir()) == before
    assert not list(REPO.glob("**/latent_abs*")) and not list(Path("/tmp").glob("*latent_abs*"))


def test_request_words_become_slugs_inside_a_fixed_folder(tmp_path):
    from studio.ui import save_for_download

    image = pnginfo.embed(Image.new("L", (28, 28)), {"tab": "../../etc", "mode": "a/b\\c", "model_id": "fmnist-gan",
                                                     "seed": "../1"})
    saved = Path(save_for_download(image))
    assert saved.resolve().is_relative_to(files.work_dir() / "downloads")
    assert saved.name.endswith("-etc-a-b-c-fmnist-gan-seed-1.png") and pnginfo.read(saved)["seed"] == "../1"
    assert files.slug("Ünïcode/../..\0") == "n-code" and files.slug("///") == "x" and len(files.slug("a" * 99)) == 40


# 3. A flooded queue

def test_a_client_that_floods_the_queue_is_told_the_studio_is_busy_and_others_still_get_in(studio_app, monkeypatch):
    demo, app_url = studio_app
    release = threading.Event()
    real = conditional.one_of_each

    def blocked(*args, **kwargs):
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(conditional, "one_of_each", blocked)
    index = next(i for i, fn in demo.fns.items() if fn.api_name == "one_of_each")
    flood, other = {"X-Forwarded-For": "10.9.9.1"}, {"X-Forwarded-For": "10.9.9.2"}
    try:
        data = ["fmnist-cgan", 2, 0, 1.0, 128, False]
        answers = [join(app_url, index, data, uuid.uuid4().hex, flood) for _ in range(30)]
        accepted = sum(status == 200 for status, _ in answers)
        refused = [answer for status, answer in answers if status == 503]
        # two run at once, MAX_WAITING_PER_CLIENT more wait, the rest are refused with the studio's sentence
        assert accepted == 2 + serving.MAX_WAITING_PER_CLIENT and len(refused) == 30 - accepted
        assert refused[0]["detail"] == serving.BUSY_MESSAGE
        assert join(app_url, index, data, uuid.uuid4().hex, other)[0] == 200
    finally:
        release.set()


def test_a_payload_naming_a_web_address_or_no_file_is_refused_without_fetching(studio_app):
    demo, app_url = studio_app
    index = next(i for i, fn in demo.fns.items() if fn.api_name == "classify")
    for payload in ({"path": "https://example.com/x.png", "meta": {"_type": "gradio.FileData"}},
                    {"url": "https://example.com/x.png"}, {"path": None, "url": "file:///etc/passwd"}):
        message = call_fn(app_url, index, ["dtd10-texture", payload])
        assert message["output"]["error"] == files.NOT_UPLOADED, message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, the studio refuses
def test_inline_images_and_editor_blobs_are_held_to_the_limits():
    from gradio.components.image_editor import AcceptBlobs

    from studio import ui

    with pytest.raises(InvalidRequestError, match="larger than 10 MB"):
        ui.admit_payload({"path": None, "url": "data:image/png;base64," + "A" * 15_000_000}, images=True)
    editor = ui.EditorInput()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="PNG")
    png = buffer.getvalue()

    def blob(kind="layer", index=1, edit_id="edit", data=png):
        return AcceptBlobs(data={"type": kind, "index": index, "id": edit_id, "file": b""}, files=[("blob", data)])

    editor.accept_blobs(blob())
    assert editor.blob_storage["edit"].layers[1] == png
    bomb = io.BytesIO()
    Image.new("1", (6000, 6000)).save(bomb, format="PNG")
    for bad, expected in ((blob(index=20_000_000), "damaged"), (blob(kind="script"), "damaged"),
                          (blob(edit_id="x" * 1000), "damaged"), (blob(data=bomb.getvalue()), "megapixels"),
                          (blob(data=b"x" * (ui.MAX_UPLOAD_BYTES + 1)), "larger than")):
        with pytest.raises(gr.Error, match=expected):
            editor.accept_blobs(bad)
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), np.uint8)).save(big, format="PNG")
    for k in range(ui.EDITOR_BLOBS_MB * 1_000_000 // len(big.getvalue()) + 5):
        editor.accept_blobs(blob(kind="background", index=None, edit_id=f"edit-{k}", data=big.getvalue()))
    assert ui._blob_bytes(editor.blob_storage) <= ui.EDITOR_BLOBS_MB * 1_000_000 and "edit" not in editor.blob_storage


def test_cancel_requests_are_bounded():
    from studio import ui

    class Request:
        def __init__(self, session):
            self.session_hash = session

    with pytest.raises(gr.Error, match="not one of the studio's"):
        ui.request_cancel(Request("x" * 1_000_000))
    for k in range(ui.MAX_CANCEL_REQUESTS + 10):
        ui.request_cancel(Request(f"s{k}"))
    assert len(ui._cancel_times) == ui.MAX_CANCEL_REQUESTS and "s0" not in ui._cancel_times


def test_a_shared_folder_is_refused_as_gradios_cache(monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", tempfile.gettempdir())
    with pytest.raises(RuntimeError, match="folder of its own"):
        files.cache_dir()


def test_clients_are_told_apart_by_address_and_by_a_proxys_forwarded_address():
    class Request:
        def __init__(self, peer, forwarded=None):
            self.client = type("Client", (), {"host": peer})()
            self.headers = {"x-forwarded-for": forwarded} if forwarded else {}

    assert serving.client_key(Request("8.8.8.8")) == "8.8.8.8"
    assert serving.client_key(Request("8.8.8.8", "1.2.3.4")) == "8.8.8.8"  # not a proxy: not believed
    assert serving.client_key(Request("127.0.0.1", "1.2.3.4")) == "1.2.3.4"
    # a client's own X-Forwarded-For comes first; the proxy appends the address it saw
    assert serving.client_key(Request("10.0.0.1", "0.0.0.0, 9.9.9.9")) == "9.9.9.9"


# 4. Memory and disk that stay bounded

def test_idle_api_sessions_are_dropped_and_page_sessions_kept(studio_app):
    demo, app_url = studio_app
    index = next(i for i, fn in demo.fns.items() if fn.api_name == "one_of_each")
    page, script = f"page-{uuid.uuid4().hex}", f"script-{uuid.uuid4().hex}"
    for session in (page, script):
        assert call_fn(app_url, index, ["fmnist-cgan", 1, 0, 1.0, 128, False], session)["success"]
    serving._browser_sessions.add(page)
    later = datetime.datetime.now() + datetime.timedelta(seconds=serving.API_SESSION_IDLE_S + 1)
    assert serving.drop_idle_sessions(demo, now=later) >= 1
    assert page in demo.state_holder.session_data and script not in demo.state_holder.session_data


def test_a_history_the_browser_sends_back_is_checked_like_any_request(tmp_path):
    """The history lives in the browser's storage: a forged one cannot make the server open or list files."""
    real, _ = outputs.OutputRecorder(tmp_path).record(
        pnginfo.embed(Image.new("L", (28, 28)), {"tab": "latent", "model_id": "fmnist-gan", "seed": 9}), [])
    forged = [{**real[0], "path": "/etc/passwd"}, {**real[0], "path": str(outside_image(tmp_path))},
              {**real[0], "starred": "yes"}, {**real[0], "saved": "/etc/passwd"}, "junk", real[0]]
    kept = outputs.trusted_history(forged, tmp_path)
    assert [item["path"] for item in kept] == [real[0]["path"]] * 2
    assert kept[0]["saved"] is None and kept[1]["saved"] == real[0]["saved"]
    assert outputs.trusted_history({"not": "a list"}, tmp_path) == []


def test_session_state_holds_paths_and_parameters_not_pixels(tmp_path):
    history, _ = outputs.OutputRecorder(None).record(
        pnginfo.embed(Image.new("L", (448, 448)), {"tab": "latent", "model_id": "fmnist-gan", "seed": 1}), [])
    assert len(json.dumps(history)) < 400 and all(isinstance(v, str | float | bool | None) for v in history[0].values())


def test_unused_cached_files_and_old_working_files_are_deleted_but_not_the_pages_own(studio_app,
                                                                                     server_paths_client):
    demo, _ = studio_app
    served = Path(server_paths_client.predict("fmnist-gan", 6, 1, 1.0, *[0.0] * 10, api_name="/sample")["path"])
    example = Path(next(iter(next(b for b in demo.blocks.values() if getattr(b, "keep_in_cache", None)).keep_in_cache)))
    long_ago = time.time() - serving.CACHE_MINUTES_LOCAL * 60 - 1
    for path in (served, example):
        os.utime(path, (long_ago, long_ago))
    assert serving.remove_unused_cache_files(demo, serving.CACHE_MINUTES_LOCAL) >= 1
    assert not served.exists() and example.exists()
    old = write_atomically(files.private_folder("downloads") / "old.png", b"x")
    new = write_atomically(files.private_folder("downloads") / "new.png", b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert files.remove_files(files.work_dir() / "downloads", 3600) >= 1 and not old.exists() and new.exists()


def test_folders_are_trimmed_to_their_size_least_recently_used_first(tmp_path):
    paths = [write_atomically(tmp_path / f"{k}.bin", b"x" * 1000) for k in range(5)]
    for k, path in enumerate(paths):
        os.utime(path, (1000 + k, 1000 + k))
    assert files.remove_files(tmp_path, math.inf, 2500, keep={str(paths[0])}) == 2  # the kept file is not counted
    assert [p.exists() for p in paths] == [True, False, False, True, True]


def test_a_sweep_goes_on_when_a_folder_vanishes_under_it(tmp_path, monkeypatch):
    """Gradio (or another sweep) may remove a cache folder while this one walks the tree."""
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "file.bin").write_bytes(b"x")
    old = write_atomically(tmp_path / "kept" / "old.bin", b"x")
    os.utime(old, (1000, 1000))
    listing = os.scandir

    def vanishing(path="."):
        if isinstance(path, str | os.PathLike) and Path(path).name == "gone":  # (rmtree lists by descriptor)
            shutil.rmtree(path)
        return listing(path)

    monkeypatch.setattr(os, "scandir", vanishing)
    assert files.remove_files(tmp_path, 3600) == 1 and not old.exists()


def test_history_items_pushed_out_take_their_copies_with_them():
    recorder = outputs.OutputRecorder(None)
    image = pnginfo.embed(Image.new("L", (28, 28)), {"tab": "latent", "model_id": "fmnist-gan", "seed": 1})
    history, _ = recorder.record(image, [], now=1.0)
    first = Path(history[0]["path"])
    for k in range(outputs.MAX_HISTORY):
        history, _ = recorder.record(pnginfo.embed(image.copy(), {"tab": "latent", "model_id": "fmnist-gan",
                                                                  "seed": k + 2}), history, now=10.0 * (k + 1))
    assert len(history) == outputs.MAX_HISTORY and all(Path(item["path"]).exists() for item in history)
    assert not first.exists()


def test_a_file_in_use_is_kept(studio_app, tmp_path):
    demo, app_url = studio_app
    uploaded = Path(upload(app_url, outside_image(tmp_path)))
    long_ago = time.time() - serving.CACHE_MINUTES_LOCAL * 60 - 1
    os.utime(uploaded, (long_ago, long_ago))
    files.admitted_path(uploaded)  # what every input does with it
    serving.remove_unused_cache_files(demo, serving.CACHE_MINUTES_LOCAL)
    assert uploaded.exists()


def test_the_working_folder_and_its_cache_are_removed_when_the_studio_exits():
    code = "from studio import files; print(files.work_dir(), files.cache_dir())"
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    folder, cache = (Path(p) for p in subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                     check=True, cwd=REPO, env=env).stdout.split())
    assert folder.name.startswith("studio-") and cache.is_relative_to(folder) and not folder.exists()


def test_a_terminated_studio_cleans_up_like_a_stopped_one(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        launch.stop_serving(15, None)


# 5. Saves that never leave broken files

def test_a_failing_write_leaves_no_partial_file_and_says_why(tmp_path):
    def full_disk(file):
        file.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(FileWriteError, match="the disk is full"):
        write_atomically(tmp_path / "out.png", full_disk)
    assert list(tmp_path.iterdir()) == []


def test_a_full_outputs_disk_warns_and_leaves_nothing(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def failing_fsync(fd):
        if str(tmp_path) in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    image = pnginfo.embed(Image.new("L", (28, 28)), {"tab": "latent", "model_id": "fmnist-gan", "seed": 2})
    history, warning = outputs.OutputRecorder(tmp_path).record(image, [])
    assert "disk is full" in warning and "Errno" not in warning and pnginfo.read(history[0]["path"])["seed"] == 2
    assert list(tmp_path.iterdir()) == []


def test_a_save_killed_midway_leaves_no_file_under_the_real_name(tmp_path):
    target = tmp_path / "big.png"
    code = ("import sys, time; from models.files import write_atomically\n"
            "def slow(f):\n    f.write(b'x' * 4_000_000); f.flush(); print('writing', flush=True); time.sleep(60)\n"
            f"write_atomically({str(target)!r}, slow)")
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert not target.exists() and [p.name.endswith(".part") for p in tmp_path.iterdir()] == [True]


# 6. One pixel cap on every decoding path

@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, the studio refuses
@pytest.mark.parametrize("side", [7000, 9000])  # 49 megapixels (under Pillow's own error) and 81
def test_restore_and_png_info_refuse_images_over_the_cap_from_the_header(client, tmp_path, side):
    bomb = tmp_path / "bomb.png"
    pnginfo.save_png(pnginfo.embed(Image.new("1", (side, side)), {"tab": "inpaint", "model_id": "photo-inpaint",
                                                                   "dilation": 4, "feather": 4}), bomb)
    assert bomb.stat().st_size < 1_000_000
    for endpoint in ("/png_info", "/restore_inpaint"):
        with pytest.raises(Exception, match="accepts up to 25 megapixels"):
            client.predict(handle_file(str(bomb)), api_name=endpoint)


def text_bomb_png(path: Path, chunks: int, chunk_bytes: int = 1_000_000) -> Path:
    """A small PNG whose zTXt chunks inflate to `chunks` MB of text (66 kB on disk for 63 MB)."""
    info = PngInfo()
    for k in range(chunks):
        info.add_text(f"note{k}", "x" * chunk_bytes, zip=True)
    Image.new("RGB", (64, 64), (20, 120, 200)).save(path, pnginfo=info)
    return path


def gif_with_comment(path: Path, comment_bytes: int) -> Path:
    frames = [Image.new("P", (32, 32), k) for k in range(3)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], comment=b"x" * comment_bytes)
    return path


def test_files_that_cost_far_more_to_read_than_their_size_are_refused_quickly(client, tmp_path):
    """Inflating text chunks, a GIF comment Pillow joins in quadratic time, parsers for formats the studio does not
    take: each refused before it costs seconds or hundreds of MB."""
    from models import image_input

    text_bomb = text_bomb_png(tmp_path / "text.png", 8)
    long_comment = gif_with_comment(tmp_path / "comment.gif", 300_000)
    icon = tmp_path / "icon.png"  # an ICO file by its bytes
    Image.new("RGB", (64, 64), (200, 30, 30)).save(icon, format="ICO")
    cases = ((text_bomb, *["more text \\(metadata\\) than the studio reads"] * 2),
             (long_comment, *["comment is over 256 kB"] * 2),
             (icon, "not an image the studio can read", "not a readable image"))
    for path, refusal, png_info_refusal in cases:
        started = time.perf_counter()
        with pytest.raises(InvalidRequestError, match=refusal):
            image_input.open_image(path)
        with pytest.raises(Exception, match=png_info_refusal):
            client.predict(handle_file(str(path)), api_name="/png_info")
        assert time.perf_counter() - started < 5
    assert image_input.gif_comment_bytes(gif_with_comment(tmp_path / "short.gif", 1000).read_bytes()) == 1000
    assert image_input.open_image(tmp_path / "short.gif").size == (32, 32)


def test_parameters_text_is_bounded_before_it_is_parsed():
    many = '{"tab": "latent", "x": [' + ",".join(["[]"] * 5000) + "]}"  # 10 kB of text, 5001 lists
    for text in (many, '{"tab": "latent", "source": "' + "A" * 2_000_001 + '"}'):
        with pytest.raises(pnginfo.NotAStudioPNGError, match="damaged"):
            pnginfo.parse(text)
    assert pnginfo.parse('{"tab": "vae", "directions": [[1, 2], [3]], "source": "' + "A" * 500_000 + '"}')


def test_an_input_is_held_to_a_pixel_budget_for_all_its_images_together():
    """An editor payload may name its 25-megapixel background as every layer: each would be decoded to RGBA."""
    from studio.ui import MAX_PAYLOAD_PIXELS, admit_payload

    picture = files.private_folder("downloads") / "large.png"
    Image.new("1", (5000, 5000)).save(picture)  # 25 megapixels in a few kB
    one = {"path": str(picture), "url": None}
    assert len(admit_payload({"background": one, "layers": [one], "composite": one}, images=True)) == 3
    with pytest.raises(InvalidRequestError, match=f"more than {MAX_PAYLOAD_PIXELS // 1_000_000} megapixels"):
        admit_payload({"background": one, "layers": [one] * 4, "composite": one}, images=True)
    # the same pictures sent as blobs, the browser's usual way
    from gradio.components.image_editor import EditorDataBlobs

    from studio.ui import EditorInput, MetaOptionalEditorData

    with gr.Blocks():
        editor = EditorInput()
    data = picture.read_bytes()
    editor.blob_storage["edit-1"] = EditorDataBlobs(background=data, layers=[data] * 3, composite=data)
    with pytest.raises(InvalidRequestError, match="megapixels in all"):
        editor.open_admitted(MetaOptionalEditorData(id="edit-1"), [])


def test_what_a_result_carries_on_is_only_the_studios_own_text_and_pictures_it_could_make():
    from studio.tabs import latent
    from studio.ui import received_image

    image = pnginfo.embed(Image.new("RGB", (64, 64)), {"tab": "latent", "model_id": "dtd10-texgan", "seamless": True})
    image.info["note"] = "x" * 100_000
    assert set(received_image(image).info) == {pnginfo.PNG_TEXT_KEY}
    assert latent.tiled_preview(image)["visible"] is True
    huge = pnginfo.embed(Image.new("RGB", (2048, 2048)), {"tab": "latent", "seamless": True})
    assert latent.tiled_preview(huge)["visible"] is False  # no generator makes one; tiled it would be 16 MP
    broken = Image.new("RGB", (64, 64))
    broken.info[pnginfo.PNG_TEXT_KEY] = "{bad"
    with pytest.raises(gr.Error, match="damaged"):
        latent.tiled_preview(broken)


# 7. Clean answers to caller mistakes

def test_caller_mistakes_get_one_clean_sentence_and_one_log_line(client, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    deep = crafted_png(tmp_path, {"tab": "latent"}, "deep.png")
    image = Image.open(deep)
    image.info[pnginfo.PNG_TEXT_KEY] = "[" * 100_000 + "]" * 100_000
    pnginfo.save_png(image, deep)
    wrong_types = crafted_png(tmp_path, {"tab": "inpaint", "model_id": "photo-inpaint", "dilation": "abc",
                                         "feather": [1]})
    crafted = {name: crafted_png(tmp_path, {"tab": "latent"}, f"{name}.png") for name in ("dict-tab", "long", "wide")}
    for name, text in (("dict-tab", '{"tab": {"a": 1}}'), ("long", '{"tab": "latent", "seed": 1' + "0" * 5000 + "}"),
                       ("wide", '{"tab": "latent", "seed": 18446744073709551616}')):
        image = Image.open(crafted[name])
        image.info[pnginfo.PNG_TEXT_KEY] = text
        pnginfo.save_png(image, crafted[name])
    empty_pixels = crafted_png(tmp_path, {"tab": "vae", "mode": "interpolate", "model_id": "fmnist-vae",
                                          "image_a": "0x5:", "image_b": "0x5:"}, "empty.png")
    cases = [
        (lambda: client.predict("fmnist-gan", 10**400, 1, 1.0, *[0.0] * 10, api_name="/sample"), "Seed must be"),
        (lambda: client.predict("fmnist-cgan", "\u00b2", "Bag", 8, 1, 1.0, api_name="/morph"), "Unknown class"),
        (lambda: client.predict("fmnist-cgan", "9" * 5000, "Bag", 8, 1, 1.0, api_name="/morph"), "Unknown class"),
        (lambda: client.predict(handle_file(str(empty_pixels)), api_name="/restore_vae"), "damaged"),
        *[(lambda path=path: client.predict(handle_file(str(path)), api_name="/png_info"), "damaged")
          for path in crafted.values()],
        (lambda: client.predict(handle_file(str(deep)), api_name="/png_info"), "parameters are damaged"),
        (lambda: client.predict(["fmnist-gan"], 1, 1, 1.0, *[0.0] * 10, api_name="/sample"), "Unknown model id"),
        (lambda: client.predict(["dtd10-texture"], handle_file(str(outside_image(tmp_path))), api_name="/classify"),
         "Unknown model id"),
        (lambda: client.predict("fmnist-gan", 1e308, 1, 1.0, *[0.0] * 10, api_name="/sample"), "Seed must be"),
        (lambda: client.predict(handle_file(str(wrong_types)), api_name="/restore_inpaint"), "damaged"),
    ]
    for call, expected in cases:
        caplog.clear()
        with pytest.raises(Exception) as raised:
            call()
        text = str(raised.value)
        assert expected in text and "Invalid input: 'Invalid" not in text and len(text) < 300, text
        assert "unhashable" not in text and "recursion" not in text
        assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert registry.checkpoints()  # the studio still serves
    assert client.predict("fmnist-gan", 1, 1, 1.0, *[0.0] * 10, api_name="/sample")
