"""The Train tab through the running app (gradio_client): an upload becomes a GAN the latent tab serves and a
classifier the Texture tab serves; Stop then Resume continues from the checkpoint, Delete run removes the run and
keeps its model; a public studio refuses."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from models import registry
from studio.app import build_app, launch_on_free_port
from studio.tabs.train import Places

CLASS_COLOURS = {"red": (200, 40, 30), "green": (30, 170, 60), "blue": (40, 60, 200)}


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def class_zip(path: Path, per_class: int, classes: dict[str, tuple[int, int, int]] = CLASS_COLOURS) -> Path:
    """A zip with a folder per class: 48x48 pictures of the class's colour in noisy stripes."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for name, colour in classes.items():
            for i in range(per_class):
                stripes = (np.sin(np.arange(48) * rng.uniform(0.2, 0.8)) * 40)[None, :, None]
                pixels = np.clip(np.array(colour)[None, None] + stripes + rng.normal(0, 12, (48, 48, 3)), 0, 255)
                archive.writestr(f"my pictures/{name}/{i}.png", png(pixels.astype(np.uint8)))
    return path


@pytest.fixture(scope="module")
def training_app(tmp_path_factory):
    """The studio with training on, its jobs and models in temporary folders."""
    root = tmp_path_factory.mktemp("training")
    before = registry.user_models_dir()
    registry.set_user_models_dir(root / "models")
    demo = build_app(None, training=Places(root / "jobs", root / "models", allowed=True))
    url = launch_on_free_port(demo)
    yield Client(url, verbose=False), root, url
    demo.close()
    registry.set_user_models_dir(before)


def wait_for_status(client: Client, job_id: str, wanted: set[str], timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.predict(job_id, api_name="/train_status")
        if status["status"] in wanted:
            return status
        time.sleep(1)
    pytest.fail(f"the job never became {wanted}: {status}")


def test_a_gan_trained_from_a_zip_is_served_by_the_latent_tab(training_app, tmp_path):
    client, _, _ = training_app
    upload = class_zip(tmp_path / "pictures.zip", 14)
    started = client.predict([handle_file(str(upload))], "gan", 32, 0.4, api_name="/train_start")
    assert started["status"] == "running" and started["model_id"].startswith("user-gan-")
    finished = wait_for_status(client, started["job_id"], {"finished", "failed", "stopped"})
    assert finished["status"] == "finished" and finished["exported"], finished
    assert finished["step"] > 0 and "loss_g" in finished["last"]
    registry.refresh()
    sample = client.predict(finished["model_id"], 3, 1, 1.0, *[0.0] * 10, 64, False, api_name="/sample")
    picture = np.asarray(Image.open(sample).convert("RGB"))
    assert picture.shape == (64, 64, 3) and picture.std() > 1  # a picture, not a blank


def test_a_classifier_on_three_classes_scores_90_percent_held_out_and_classifies(training_app, tmp_path):
    client, _, _ = training_app
    upload = class_zip(tmp_path / "colours.zip", 30)
    started = client.predict([handle_file(str(upload))], "classifier", 32, 1, api_name="/train_start")
    finished = wait_for_status(client, started["job_id"], {"finished", "failed", "stopped"})
    assert finished["status"] == "finished" and finished["exported"], finished
    assert finished["last"]["val_accuracy"] >= 0.9, finished["last"]
    registry.refresh()
    picture = tmp_path / "green.png"
    picture.write_bytes(png(np.full((64, 64, 3), CLASS_COLOURS["green"], np.uint8)))
    top = client.predict(finished["model_id"], handle_file(str(picture)), api_name="/classify")
    assert top["label"] == "green", top


def test_stop_then_resume_continues_from_the_checkpoint_and_delete_removes_the_run(training_app, tmp_path):
    client, root, _ = training_app
    upload = class_zip(tmp_path / "pictures.zip", 14)
    started = client.predict([handle_file(str(upload))], "gan", 32, 5, api_name="/train_start")
    deadline = time.monotonic() + 120
    while client.predict(started["job_id"], api_name="/train_status")["step"] < 10:
        assert time.monotonic() < deadline, "the job never reached step 10"
        time.sleep(1)
    refused = pytest.raises(Exception, match="already running")
    with refused:  # one job at a time
        client.predict([handle_file(str(upload))], "vae", 32, 1, api_name="/train_start")
    client.predict(started["job_id"], api_name="/train_stop")
    stopped = wait_for_status(client, started["job_id"], {"stopped", "failed", "finished"})
    assert stopped["status"] == "stopped" and stopped["exported"], stopped  # a stopped run is a model too
    resumed = client.predict(started["job_id"], 0.15, api_name="/train_resume")
    assert resumed["status"] == "running"
    finished = wait_for_status(client, started["job_id"], {"finished", "failed", "stopped"})
    assert finished["status"] == "finished", finished
    assert finished["step"] > stopped["step"]  # it went on from where it stopped, not from 0
    assert client.predict(started["job_id"], api_name="/train_delete") == {"job_id": started["job_id"],
                                                                            "deleted": True}
    with pytest.raises(Exception, match="no training job"):
        client.predict(started["job_id"], api_name="/train_status")
    assert (root / "models" / finished["model_id"] / "model.json").is_file()  # the model stays


def test_on_a_public_studio_a_page_sees_and_acts_on_its_own_jobs_and_models_only(tmp_path, monkeypatch):
    from models import jobs
    from studio.tabs import train

    public, local = (train.Places(tmp_path / "jobs", tmp_path / "models", allowed=True, local=flag)
                     for flag in (False, True))
    mine = jobs.Job(id="gan-20261130-231500-0123456789abcdef", family="gan", status="finished",
                    model_id="user-gan-mine", exported=True)
    theirs = jobs.Job(id="gan-20261130-231501-fedcba9876543210", family="gan", status="running",
                      model_id="user-gan-theirs")
    known = {job.id: job for job in (mine, theirs)}
    monkeypatch.setattr(jobs, "status", lambda job_id, root: known[job_id])
    monkeypatch.setattr(jobs, "model_id_of", lambda job_id, root: known[job_id].model_id)
    monkeypatch.setattr(jobs, "running_job", lambda root: theirs)
    monkeypatch.setattr(jobs, "jobs", lambda root: [theirs, mine])
    monkeypatch.setattr(registry, "checkpoints", lambda task=None: [
        type("C", (), {"id": model_id, "user": True})() for model_id in ("user-gan-mine", "user-gan-theirs")])
    assert train.shown_job(public, None, [mine.id]) is mine
    assert train.shown_job(public, theirs.id, [mine.id]) is mine  # another's id in the session is not shown
    assert train.shown_job(public, None, []) is None
    assert train.shown_job(local, None, []) is theirs  # one person's studio: the running job
    assert train.user_model_choices(public, [mine.id]) == ["user-gan-mine"]
    assert train.user_model_choices(local, []) == ["user-gan-mine", "user-gan-theirs"]
    with pytest.raises(Exception, match="no job to stop, resume or delete"):
        train.own_job(public, theirs.id, [mine.id])


def test_a_public_studio_refuses_to_train(tmp_path):
    demo = build_app(None, training=Places(tmp_path / "jobs", tmp_path / "models", allowed=False))
    url = launch_on_free_port(demo)
    try:
        client = Client(url, verbose=False)
        upload = class_zip(tmp_path / "pictures.zip", 2)
        with pytest.raises(Exception, match="Training is off on this public studio"):
            client.predict([handle_file(str(upload))], "gan", 32, 1, api_name="/train_start")
        assert not (tmp_path / "jobs").exists()  # nothing was even unpacked
    finally:
        demo.close()


def test_in_the_browser_a_zip_becomes_a_model_the_latent_tab_uses(training_app, tmp_path):
    """The whole flow with real clicks: upload a zip, train briefly, choose the model in the latent tab."""
    from playwright.sync_api import expect, sync_playwright

    client, root, url = training_app
    upload = class_zip(tmp_path / "pictures.zip", 14)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Train").click()
        page.locator("input[type=file][accept*='.zip']").set_input_files(str(upload))
        expect(page.get_by_text("42 pictures")).to_be_visible()
        expect(page.get_by_alt_text("Thumbnails of the uploaded pictures")).to_be_visible()
        minutes = page.get_by_label("number input for Minutes to train")
        minutes.fill("0.5")
        minutes.press("Enter")
        page.get_by_role("button", name="Start training").click()
        expect(page.locator(".train-progress")).to_contain_text("Training", timeout=60_000)
        expect(page.locator(".train-progress")).to_contain_text("Finished", timeout=180_000)
        model_id = page.locator(".train-progress code").inner_text()
        assert model_id.startswith("user-gan-")
        page.get_by_role("tab", name="Latent sampling").click()
        model = page.locator("#live-latent-model_id input")
        model.click()
        page.get_by_role("option", name=model_id, exact=True).click()
        sample = page.locator("#live-latent-result img")
        expect(sample).to_have_attribute("src", re.compile(r"\S"))
        wait = time.monotonic() + 60
        while json.loads(Image.open(io.BytesIO(page.request.get(sample.get_attribute("src")).body()))
                         .info.get("studio-parameters", "{}")).get("model_id") != model_id:
            assert time.monotonic() < wait, "the latent tab never made an image with the trained model"
            page.wait_for_timeout(500)

        page.get_by_role("tab", name="Train").click()
        run = next(folder for folder in (root / "jobs").glob("gan-*")
                   if json.loads((folder / "job.json").read_text())["model_id"] == model_id)
        delete_run = page.get_by_role("button", name="Delete run")
        page.once("dialog", lambda dialog: dialog.dismiss())
        delete_run.click()
        page.wait_for_timeout(1500)
        assert run.is_dir()  # answered No
        page.once("dialog", lambda dialog: dialog.accept())
        delete_run.click()
        expect(page.locator(".train-progress")).to_contain_text("No training yet")
        expect(delete_run).to_be_disabled()
        assert not run.exists() and (root / "models" / model_id / "model.json").is_file()
        browser.close()


def test_a_finished_classifier_shows_its_held_out_confusion_matrix():
    from models import jobs
    from studio.tabs.train import progress_html

    last = {"step": 300, "val_accuracy": 0.8333, "classes": ["red", "<b>"], "confusion": [[3, 0], [1, 2]],
            "per_class_accuracy": {"red": 1.0, "<b>": 0.6667}, "held_out_images": 6}
    job = jobs.Job(id="classifier-1", family="classifier", status="finished", model_id="user-classifier-1",
                   step=300, fraction=1.0, losses=[last], exported=True)
    shown = progress_html(job)
    assert "Finished" in shown and "user-classifier-1" in shown and "6 pictures): 83% right" in shown
    assert "<td>3</td><td>0</td><td>100%</td>" in shown and "<td>1</td><td>2</td><td>67%</td>" in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown  # class names from an upload are text, not markup


def test_a_poll_resends_the_plot_and_samples_only_when_they_changed(tmp_path):
    import os

    import gradio as gr

    from models import jobs
    from studio.tabs.train import polled_view

    samples = tmp_path / "samples.png"
    Image.new("RGB", (16, 16), "red").save(samples)
    job = jobs.Job(id="texgan-1", family="texgan", status="running", model_id="user-texgan-1", step=10,
                   losses=[{"step": 10, "loss_d": 1.0, "loss_g": 2.0}], samples=samples)
    def skipped(value) -> bool:
        return isinstance(value, dict) and value == gr.skip()

    first = polled_view(job, None)
    assert first[2] is not None and first[3] is not None and first[-1] is not None
    again = polled_view(job, first[-1])
    assert skipped(again[2]) and skipped(again[3]) and again[1] == first[1]  # progress is always sent
    os.utime(samples, ns=(os.stat(samples).st_atime_ns, os.stat(samples).st_mtime_ns + 10**9))
    assert not skipped(polled_view(job, first[-1])[3])  # the trainer wrote a new grid
    job.losses.append({"step": 20, "loss_d": 0.9, "loss_g": 1.8})
    assert len(polled_view(job, first[-1])[2]) == 4  # a new loss record: the plot is drawn again, with it
    assert polled_view(None, first[-1])[2] is None  # no job: the plot is cleared
