"""The outputs folder, the session history, restoring in the right tab, batching helpers and model cards."""

import os
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import launch
from models import conditional, sampling
from models.errors import InvalidRequestError
from models.files import write_new_file
from studio import files, pnginfo
from studio.app import restore_in_tab
from studio.outputs import MAX_HISTORY, OutputRecorder, describe, file_stem, png_bytes, toggle_star
from studio.tabs.png_info import shown_parameters
from studio.ui import Restorer, model_card_markdown, serve_batch


def studio_image(**params) -> Image.Image:
    return pnginfo.embed(Image.new("L", (8, 8), 128), {"tab": "latent", "model_id": "fmnist-gan", **params})


def test_results_are_saved_with_parameters_and_listed_newest_first(tmp_path):
    recorder = OutputRecorder(tmp_path / "outputs")
    history, warning = recorder.record(studio_image(seed=1), [], now=100.0)
    history, warning = recorder.record(studio_image(seed=2), history, now=105.0)
    assert warning is None
    saved = sorted((tmp_path / "outputs").glob("*.png"))
    assert len(saved) == 2 and {pnginfo.read(p)["seed"] for p in saved} == {1, 2}
    assert [pnginfo.read(item["path"])["seed"] for item in history] == [2, 1]
    assert "seed 2" in history[0]["caption"] and history[0]["saved"].endswith(".png")


def test_nothing_is_saved_when_saving_is_off_but_the_history_keeps_it(tmp_path):
    recorder = OutputRecorder(None)
    history, _ = recorder.record(studio_image(seed=3), [])
    assert len(history) == 1 and history[0]["saved"] is None
    assert pnginfo.read(history[0]["path"])["seed"] == 3


def test_images_without_parameters_are_not_recorded(tmp_path):
    recorder = OutputRecorder(tmp_path)
    assert recorder.record(Image.new("L", (8, 8)), [])[0] == []
    assert recorder.record(None, None)[0] == []
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_never_overwritten(tmp_path):
    first = write_new_file(tmp_path, "same", ".png", png_bytes(studio_image(seed=1)))
    second = write_new_file(tmp_path, "same", ".png", png_bytes(studio_image(seed=2)))
    assert first != second and pnginfo.read(first)["seed"] == 1 and pnginfo.read(second)["seed"] == 2


def test_an_unwritable_outputs_path_warns_and_keeps_the_image_in_the_history(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    history, warning = OutputRecorder(blocker / "outputs").record(studio_image(seed=4), [])
    assert "Could not save" in warning and pnginfo.read(history[0]["path"])["seed"] == 4


def test_history_is_capped_but_starred_items_stay(tmp_path):
    recorder = OutputRecorder(None)
    history, _ = recorder.record(studio_image(seed=0), [], now=0.0)
    history = toggle_star(history, history[0]["id"])
    for k in range(1, MAX_HISTORY + 5):
        history, _ = recorder.record(studio_image(seed=k), history, now=10.0 * k)
    assert len(history) == MAX_HISTORY and history[-1]["starred"] and pnginfo.read(history[-1]["path"])["seed"] == 0
    assert [pnginfo.read(item["path"])["seed"] for item in history[:2]] == [MAX_HISTORY + 4, MAX_HISTORY + 3]
    assert pnginfo.read(history[-2]["path"])["seed"] == 6  # seeds 1 to 5 were pushed out, the star stayed


def test_a_burst_records_only_its_settled_result_and_an_identical_result_is_not_recorded_twice(tmp_path):
    recorder = OutputRecorder(tmp_path)
    history, _ = recorder.record(studio_image(seed=1), [], now=100.0)  # a result of its own
    for step, at in enumerate((200.0, 200.3, 200.6, 200.9, 201.5)):  # a drag: steps 0.3-0.6 s apart
        history, _ = recorder.record(studio_image(seed=1, directions=[step / 10]), history, now=at)
    history, _ = recorder.record(studio_image(seed=1, directions=[0.4]), history, now=230.0)  # the same again
    assert [item["caption"] for item in history] == ["Latent sampling · fmnist-gan · seed 1 · PC1 +0.4",
                                                     "Latent sampling · fmnist-gan · seed 1"]
    assert sorted(str(pnginfo.read(p).get("directions")) for p in tmp_path.glob("*.png")) == ["None", "[0.4]"]
    assert all(Path(item["path"]).exists() for item in history)
    assert len(list((files.work_dir() / "history").rglob("*seed1*.png"))) >= 2


def test_a_forged_history_cannot_make_a_burst_delete_another_file_of_the_outputs_folder(tmp_path):
    """The history comes back from the browser: its newest item may claim any file of the outputs folder."""
    recorder = OutputRecorder(tmp_path)
    older = write_new_file(tmp_path, "someone-elses-work", ".png", b"not mine to delete")
    history, _ = recorder.record(studio_image(seed=1), [], now=100.0)
    others, _ = recorder.record(studio_image(seed=7), [], now=200.0)  # another page's result, a moment ago
    for victim in (older, Path(others[0]["saved"])):
        forged = [{**history[0], "saved": str(victim), "at": 200.0}]  # "written a moment ago, in this burst"
        replaced, _ = recorder.record(studio_image(seed=1, directions=[0.1]), forged, now=200.2)
        assert victim.exists() and len(replaced) == 1  # only the forged item was replaced
    assert older.read_bytes() == b"not mine to delete"


def test_a_burst_step_is_forgotten_only_once_the_result_after_it_is_written(tmp_path, monkeypatch):
    from studio import outputs

    recorder = OutputRecorder(tmp_path)
    history, _ = recorder.record(studio_image(seed=1), [], now=100.0)

    def disk_full(*args, **kwargs):
        raise outputs.FileWriteError("Could not write it: the disk is full.", "the disk is full")

    monkeypatch.setattr(outputs, "write_atomically", disk_full)
    with pytest.raises(outputs.FileWriteError):
        recorder.record(studio_image(seed=1, directions=[0.1]), history, now=100.2)
    assert Path(history[0]["path"]).exists() and Path(history[0]["saved"]).exists()  # still what it shows


def test_a_starred_copy_is_kept_in_use_while_its_session_makes_results(tmp_path):
    recorder = OutputRecorder(None)
    history, _ = recorder.record(studio_image(seed=1), [], now=100.0)
    history = toggle_star(history, history[0]["id"])
    history, _ = recorder.record(studio_image(seed=2), history, now=200.0)
    starred, plain = Path(history[1]["path"]), Path(history[0]["path"])
    hours_ago = Path(starred).stat().st_mtime - 5 * 3600
    for path in (starred, plain):
        os.utime(path, (hours_ago, hours_ago))
    recorder.record(studio_image(seed=3), history, now=300.0)
    assert starred.stat().st_mtime > hours_ago + 3600 and plain.stat().st_mtime == hours_ago
    assert files.remove_files(starred.parent.parent, 4 * 3600) >= 1 and starred.exists() and not plain.exists()


def test_captions_say_what_differs_from_the_defaults():
    latent = {"tab": "latent", "model_id": "fmnist-gan", "seed": 42, "psi": 0.8, "num_samples": 1,
              "directions": [2.0, 0.0, -1.5]}
    assert describe(latent) == "Latent sampling · fmnist-gan · seed 42 · ψ 0.8 · PC1 +2.0 · PC3 -1.5"
    assert describe({"tab": "conditional", "mode": "morph", "model_id": "fmnist-cgan", "class_a": "Sneaker",
                     "class_b": "Bag", "seed": 3, "steps": 16, "psi": 1.0}) == (
        "Class-conditional · morph · fmnist-cgan · Sneaker → Bag · seed 3")


def test_file_names_are_made_of_sanitised_words_and_a_registry_model_id():
    stem = file_stem({"tab": "../Conditional", "mode": "gen/erate", "model_id": "fmnist-cgan", "seed": "3/.."})
    assert stem.endswith("conditional-gen-erate-fmnist-cgan-seed3") and "/" not in stem and "." not in stem
    with pytest.raises(InvalidRequestError, match="model this studio does not have"):
        file_stem({"tab": "latent", "model_id": "/tmp/x/latent_abs", "seed": 1})


def test_outputs_default_to_outputs_but_are_off_on_spaces(monkeypatch, tmp_path):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert str(launch.outputs_dir(launch.parse_args([]))) == "outputs"
    assert launch.outputs_dir(launch.parse_args(["--outputs", str(tmp_path)])) == tmp_path
    assert launch.outputs_dir(launch.parse_args(["--no-outputs"])) is None
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert launch.outputs_dir(launch.parse_args([])) is None


def test_restore_goes_to_the_tab_that_made_the_image(tmp_path):
    calls = []
    restorers = [Restorer("latent", lambda path: calls.append(("latent", path)) or (1, 2), ["a", "b"]),
                 Restorer("vae", lambda path: calls.append(("vae", path)) or (3,), ["c"])]
    path = pnginfo.save_png(pnginfo.embed(Image.new("L", (4, 4)), {"tab": "vae"}), tmp_path / "v.png")
    outputs = restore_in_tab(restorers, str(path))
    assert calls == [("vae", str(path))]
    assert outputs[0].selected == "vae"
    assert outputs[1:3] == [gr.skip(), gr.skip()] and outputs[3] == 3
    foreign = pnginfo.save_png(pnginfo.embed(Image.new("L", (4, 4)), {"tab": "music"}), tmp_path / "m.png")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="does not have"):
        restore_in_tab(restorers, str(foreign))
    with pytest.raises(pnginfo.NotAStudioPNGError, match="Choose an image"):
        restore_in_tab(restorers, None)


def test_png_info_summarises_embedded_images():
    shown = shown_parameters({"seed": 3, "source": "x" * 500})
    assert shown["seed"] == 3 and shown["source"] == "<embedded image, 500 characters>"


def test_shared_forward_passes_give_each_request_its_own_pixels_or_error():
    requests = [{"model_id": "fmnist-gan", "seed": 5, "n": 2, "psi": 0.8, "direction_values": [1.0]},
                {"model_id": "fmnist-gan", "seed": -1},
                {"model_id": "fmnist-dcgan-baseline", "seed": 3, "n": 3},
                {"model_id": "fmnist-gan", "seed": 9}]
    results = sampling.sample_many(requests, device="cpu")
    assert isinstance(results[1], InvalidRequestError)
    for i in (0, 2, 3):
        assert np.array_equal(results[i], sampling.sample(**requests[i], device="cpu"))
    generated = conditional.generate_many([{"model_id": "fmnist-cgan", "label": "Bag", "seed": 1, "n": 3},
                                           {"model_id": "fmnist-cgan", "label": "Hat", "seed": 1},
                                           {"model_id": "fmnist-cgan", "label": 2, "seed": 4, "psi": 0.5}],
                                          device="cpu")
    assert isinstance(generated[1], InvalidRequestError)
    assert np.array_equal(generated[0], conditional.generate("fmnist-cgan", "Bag", 1, 3, device="cpu"))
    assert np.array_equal(generated[2], conditional.generate("fmnist-cgan", 2, 4, 1, 0.5, device="cpu"))


def test_a_batch_fails_only_when_every_request_failed():
    def bad():
        raise InvalidRequestError("seed is wrong")

    def serve(requests):
        return [r["x"] * 2 for r in requests]

    assert serve_batch([lambda: {"x": 1}, bad, lambda: {"x": 3}], serve, lambda r, a: a) == [2, None, 6]
    with pytest.raises(gr.Error, match="Invalid input"):
        serve_batch([lambda: {"x": float(None)}], serve, lambda r, a: a)
    with pytest.raises(gr.Error, match="seed is wrong"):
        serve_batch([bad, bad], serve, lambda r, a: a)

    def huge():  # math.isfinite(10**400) raises OverflowError, which no check expected: still one request's fault
        raise OverflowError("int too large to convert to float")

    assert serve_batch([lambda: {"x": 1}, huge, lambda: {"x": 3}], serve, lambda r, a: a) == [2, None, 6]


def test_whole_numbers_past_what_a_float_holds_are_refused_with_a_sentence():
    from studio.ui import whole_number

    assert whole_number(2**53, "Seed") == 2**53 and whole_number(7.0, "Seed") == 7 == whole_number(np.int64(7), "Seed")
    for value, words in ((10**400, "to 2\\^53"), (1e300, "to 2\\^53"), (10**5000, "about 5000 digits"),
                         ("3", "whole number"), (float("nan"), "whole number"), (True, "whole number"), (2.5, "whole")):
        with pytest.raises(InvalidRequestError, match=words):
            whole_number(value, "Seed")


def test_model_card_names_data_license_and_metrics():
    card = model_card_markdown("fmnist-vae")
    assert "Fashion-MNIST" in card and "MIT" in card and "reconstruction psnr db 24.88" in card
    assert "Unknown model id 'no-such-model'" in model_card_markdown("no-such-model")
