"""Serving: files the server must refuse, batched endpoints under concurrent calls, cancelling long work."""

import concurrent.futures
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import sampling, texture
from studio import pnginfo
from studio.images import grid_image

REPO = Path(__file__).resolve().parent.parent


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.mark.parametrize("route", ["gradio_api/file=", "gradio_api/file/", "file="])
@pytest.mark.parametrize("path", [
    "/etc/passwd",
    str(REPO / "launch.py"),
    str(REPO / "assets" / "fmnist-gan" / "model.json"),
    "launch.py",
    "../../../../etc/passwd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/tmp/gradio/../../etc/passwd",
])
def test_no_file_outside_the_apps_own_folders_can_be_fetched(app_url, route, path):
    status, body = http_get(app_url + route + path)
    assert status in (403, 404) and b"root:" not in body and b"argparse" not in body


def test_a_file_the_app_made_is_served(app_url, server_paths_client):
    """The positive control of the test above: results are fetched through the same route."""
    result = server_paths_client.predict("fmnist-gan", 3, 1, 1.0, *[0.0] * 10, api_name="/sample")
    cached = Path(result["path"])
    status, body = http_get(f"{app_url}gradio_api/file={cached}")
    assert status == 200 and body.startswith(b"\x89PNG")


def call_api(app_url: str, endpoint: str, data: list) -> str:
    """Call an endpoint over plain HTTP with a hand-written payload; returns the event stream's text."""
    request = urllib.request.Request(f"{app_url}gradio_api/call/{endpoint}", data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{app_url}gradio_api/call/{endpoint}/{event_id}", timeout=60) as response:
        return response.read().decode()


@pytest.mark.parametrize("path", ["/etc/passwd", str(REPO / "assets" / "examples" / "dtd" / "cracked_0048.jpg")])
def test_an_api_call_cannot_make_the_server_read_a_file_of_its_own(app_url, path):
    file_data = {"path": path, "meta": {"_type": "gradio.FileData"}}
    for endpoint, data in (("classify", ["dtd10-texture", file_data]), ("png_info", [file_data])):
        stream = call_api(app_url, endpoint, data)
        assert "event: error" in stream and "root:" not in stream and "confidences" not in stream


def test_a_hand_written_payload_naming_a_file_the_app_made_is_served(app_url, server_paths_client):
    """The positive control of the test above: the same payload shape works for the app's own files."""
    made = server_paths_client.predict("fmnist-gan", 4, 1, 1.0, *[0.0] * 10, api_name="/sample")["path"]
    stream = call_api(app_url, "classify", ["dtd10-texture", {"path": made, "meta": {"_type": "gradio.FileData"}}])
    assert "event: complete" in stream and "confidences" in stream


def test_concurrent_sample_calls_are_batched_and_each_gets_its_own_image(app_url):
    seeds = list(range(20, 32))

    def call(seed):
        return Client(app_url, verbose=False).predict("fmnist-gan", seed, 2, 0.9, *[0.0] * 10, api_name="/sample")

    with concurrent.futures.ThreadPoolExecutor(len(seeds)) as pool:
        paths = list(pool.map(call, seeds))
    for seed, path in zip(seeds, paths, strict=True):
        expected = grid_image(sampling.sample("fmnist-gan", seed, 2, 0.9, device="cpu"))
        assert np.array_equal(np.asarray(Image.open(path).convert("L")), np.asarray(expected))
        assert pnginfo.read(path)["seed"] == seed


def test_png_info_reads_the_parameters_of_a_studio_png(client):
    made = client.predict("fmnist-cgan", "Bag", 2, 5, 0.7, api_name="/generate")
    summary, params = client.predict(handle_file(made), api_name="/png_info")
    assert "Class-conditional" in summary and params["class"] == "Bag" and params["seed"] == 5


def test_cancelling_a_texture_map_stops_the_work(client, monkeypatch, caplog):
    """Gradio cannot stop a running thread; the work checks between windows and stops once its session
    asked to cancel (the UI's Cancel button, or the /cancel endpoint from the same client)."""
    windows_done = []
    real_predict = texture.predict_probabilities

    def slow_predict(*args, **kwargs):
        time.sleep(0.05)
        windows_done.append(1)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(texture, "predict_probabilities", slow_predict)
    caplog.set_level(logging.INFO, logger="studio.ui")
    photo = handle_file(str(REPO / "assets" / "examples" / "dtd" / "cracked_0048.jpg"))
    job = client.submit("dtd10-texture", photo, 12, api_name="/texture_map")  # 352 windows: about 18 s
    deadline = time.monotonic() + 60
    while len(windows_done) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    client.predict(api_name="/cancel")
    while "cancelled" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "classifying windows: cancelled" in caplog.text
    stopped_at = len(windows_done)
    time.sleep(1.0)
    assert len(windows_done) == stopped_at < 352
    with pytest.raises(AppError, match="cancelled"):
        job.result()
    assert client.predict("fmnist-gan", 1, 1, 1.0, *[0.0] * 10, api_name="/sample")  # still serving
