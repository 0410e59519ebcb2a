"""User models: the registry reads the user models folder beside assets/, trainers show their progress, stop on a
signal with a model exported, resume, and export models the tabs serve; the Teachable-Machine-style head."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models import registry, sampling, texgen, texture
from models.errors import InvalidRequestError
from models.loading import WeightFileError, load
from models.nets.texture import TextureConfig, TextureNet
from models.train.__main__ import main as train_main
from models.train.common import CARD_MARKER, export_model

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks train several times faster on one thread than on two busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def user_dir(tmp_path):
    """An empty user models folder the registry reads for this test."""
    before = registry.user_models_dir()
    folder = tmp_path / "user-models"
    folder.mkdir()
    registry.set_user_models_dir(folder)
    yield folder
    registry.set_user_models_dir(before)


def tiny_classifier(folder: Path, model_id: str) -> Path:
    net = TextureNet(TextureConfig(width=4, second_order_dim=4, num_classes=2, class_names=("a", "b")))
    return export_model(folder, model_id=model_id, task=texture.TASK, architecture="studio-texture", net=net.eval(),
                        training={"steps": 0})


@pytest.fixture(scope="module")
def pictures(two_class_pictures) -> Path:
    return two_class_pictures


def test_a_user_model_appears_after_refresh_and_goes_after_delete(user_dir):
    tiny_classifier(user_dir / "mine", "my-textures")
    assert not registry.has("my-textures")  # scanned before the export
    registry.refresh()
    checkpoint = registry.get("my-textures")
    assert checkpoint.user and not registry.get("dtd10-texture").user
    assert "my-textures" in [c.id for c in registry.checkpoints(texture.TASK)]
    assert (user_dir / "mine" / "README.md").read_text().startswith(CARD_MARKER)
    assert set(texture.classify("my-textures", np.zeros((32, 32, 3), np.uint8))) == {"a", "b"}

    tiny_classifier(user_dir / "imposter", "dtd10-texture")  # a shipped id: skipped
    registry.refresh()
    assert not registry.get("dtd10-texture").user

    for refused in ("dtd10-texture", "no-such-model", "../assets"):
        with pytest.raises(InvalidRequestError):
            registry.delete_user_model(refused)
    assert registry.delete_user_model("my-textures") == user_dir / "mine"
    assert not registry.has("my-textures") and not (user_dir / "mine").exists()
    registry.delete_user_model("imposter")  # by its folder name
    assert not (user_dir / "imposter").exists() and registry.has("dtd10-texture")


def test_a_damaged_user_model_is_skipped_at_scan_and_refused_with_a_sentence(user_dir, caplog):
    for name in ("torn", "no-weights", "changed", "good"):
        tiny_classifier(user_dir / name, name)
    entry = (user_dir / "torn" / "model.json").read_text()
    (user_dir / "torn" / "model.json").write_text(entry[: len(entry) // 2])
    (user_dir / "no-weights" / "weights.safetensors").unlink()
    weights = user_dir / "changed" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with caplog.at_level("WARNING", logger="models.registry"):
        registry.refresh()
        assert [c.id for c in registry.checkpoints() if c.user] == ["good"]
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == 3
    assert set(registry.skipped_user_models()) == {"torn", "no-weights", "changed"}
    for model_id, why in (("no-weights", "is missing"), ("changed", "does not match the sha256")):
        with pytest.raises(registry.UnknownModelError, match=f"damaged or half-written: its file.*{why}"):
            texture.classify(model_id, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(registry.UnknownModelError, match="'torn' cannot be loaded: .* model.json is unreadable"):
        registry.get("torn")  # its id cannot be read: known by its folder name
    registry.delete_user_model("torn")
    assert not (user_dir / "torn").exists()

    good = registry.get("good")  # damaged after the scan: loading says which file and why
    weights = user_dir / "good" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightFileError, match="is corrupt: sha256 is"):
        load(good, "cpu")



def test_a_user_model_whose_entry_does_not_fit_its_weights_is_refused_with_a_sentence(user_dir):
    folder = tiny_classifier(user_dir / "misfit", "misfit")
    entry = json.loads((folder / "model.json").read_text())
    entry["config"]["width"] = 8  # the weights were made for width 4; their sha256 still matches
    (folder / "model.json").write_text(json.dumps(entry))
    registry.refresh()
    with pytest.raises(WeightFileError, match="'misfit' cannot be built from its files"):
        load("misfit", "cpu")


def texgan_args(data: Path, run_dir: Path, export: Path, steps: int) -> list[str]:
    return ["texgan", "--data", str(data), "--patch", "32", "--photo-size", "40", "--batch-size", "8", "--width", "8",
            "--steps", str(steps), "--run-dir", str(run_dir), "--export", str(export), "--model-id", "my-texgan",
            "--device", "cpu", "--log-every", "5", "--sample-every", "10"]


def test_a_texgan_run_shows_its_progress_and_exports_a_model_the_texture_tabs_serve(pictures, tmp_path, user_dir):
    run_dir = tmp_path / "run"
    train_main(texgan_args(pictures, run_dir, user_dir / "my-texgan", 20))
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [5, 10, 15, 20]
    assert {"step", "total_steps", "elapsed_s", "eta_s", "loss_g", "loss_d"} <= set(lines[-1])
    assert lines[-1]["total_steps"] == 20 and lines[-1]["eta_s"] == 0
    with Image.open(run_dir / "samples.png") as grid:
        assert grid.mode == "RGB" and grid.width > 4 * 32
    card = (user_dir / "my-texgan" / "README.md").read_text()
    assert f"Folder `{pictures.name}`: 40 images." in card and "| stone | 20 |" in card and "Steps: 20" in card

    registry.refresh()
    assert registry.get("my-texgan").user and texgen.is_texture_model("my-texgan")
    assert texgen.class_names("my-texgan") == ["stone", "wood"]
    image = texgen.generate("my-texgan", "wood", seed=3, size=64, direction_values=[1.0, -1.0])
    assert image.shape == (1, 64, 64, 3) and image.dtype == np.uint8
    assert len(sampling.latent_directions("my-texgan")) == 10  # the latent tab's sliders


def test_sigterm_saves_and_exports_and_the_same_run_dir_resumes(pictures, tmp_path):
    run_dir, export = tmp_path / "run", tmp_path / "model"
    args = texgan_args(pictures, run_dir, export, 100000) + ["--log-every", "1", "--threads", "1"]
    process = subprocess.Popen([sys.executable, "-m", "models.train", *args], cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not (run_dir / "stats.jsonl").is_file() or not (run_dir / "stats.jsonl").read_text().strip():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, process.stderr.read().decode()[-2000:]
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    stopped = torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"]
    assert stopped >= 1 and registry.read_checkpoint(export).training["steps"] == stopped

    train_main(texgan_args(pictures, run_dir, export, stopped + 2) + ["--log-every", "1"])
    steps = [json.loads(line)["step"] for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert steps[-2:] == [stopped + 1, stopped + 2] and steps == sorted(steps)
    assert registry.read_checkpoint(export).training["steps"] == stopped + 2


def class_pictures(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """Three synthetic texture classes: red noise, green horizontal stripes, blue checks."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(synthetic_texture(name, rng)).save(root / name / f"{i}.png")
    return root


def synthetic_texture(name: str, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    period = rng.integers(6, 12)
    if name == "red-noise":
        pattern, colour = rng.random((size, size)), np.array([200, 60, 50])
    elif name == "green-stripes":
        pattern, colour = (y // period) % 2, np.array([60, 180, 70])
    else:
        pattern, colour = ((y // period) + (x // period)) % 2, np.array([50, 80, 200])
    image = colour * (0.5 + 0.5 * pattern[..., None]) + rng.normal(0, 12, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


CLASSES = ("red-noise", "green-stripes", "blue-checks")


def test_the_texture_head_learns_three_classes_and_the_texture_tab_serves_it(tmp_path, user_dir):
    data = class_pictures(tmp_path / "mine", dict.fromkeys(CLASSES, 30))
    run_dir = tmp_path / "run"
    train_main(["texture-head", "--data", str(data), "--model-id", "my-classes", "--export",
                str(user_dir / "my-classes"), "--run-dir", str(run_dir), "--steps", "60", "--device", "cpu"])
    last = json.loads((run_dir / "stats.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] >= 0.9 and last["step"] == 60
    assert set(last["per_class_accuracy"]) == set(CLASSES) and np.sum(last["confusion"]) == last["held_out_images"]
    assert last["held_out_images"] == 3 * round(0.15 * 30)
    card = (user_dir / "my-classes" / "README.md").read_text()
    assert "held_out_accuracy" in card and "Confusion matrix" in card and "| green-stripes | 30 |" in card

    registry.refresh()
    assert registry.get("my-classes").task == texture.TASK
    rng = np.random.default_rng(99)
    for name in CLASSES:
        assert next(iter(texture.classify("my-classes", synthetic_texture(name, rng, 96)))) == name
    assert texture.heatmap("my-classes", synthetic_texture("blue-checks", rng), "blue-checks").shape == (64, 64)


@pytest.mark.parametrize("counts, message", [({"only": 10}, "at least 2 classes"),
                                             ({"a": 10, "b": 4}, "at least 5 images: b has 4")])
def test_the_texture_head_refuses_too_little_data_with_a_sentence(tmp_path, counts, message):
    data = tmp_path / "data"
    for name, count in counts.items():
        (data / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((24, 24, 3), 20 * i, np.uint8)).save(data / name / f"{i}.png")
    with pytest.raises(InvalidRequestError, match=message):
        train_main(["texture-head", "--data", str(data), "--model-id", "x", "--run-dir", str(tmp_path / "run")])


def test_an_export_interrupted_between_its_two_renames_loses_no_model(user_dir, monkeypatch):
    """A re-export moves the old folder aside, then renames the new one in; a crash between the two left the
    model invisible. The registry's scan puts a settled aside back (a fresh one may be an export still running in
    another process), deletes one whose swap finished, and deleting a model deletes its aside too."""
    from models import files
    from models.files import replaced_name

    folder = tiny_classifier(user_dir / "mine", "my-textures")
    tiny_classifier(user_dir / "old-copy", "old-copy").rename(replaced_name(folder))  # a fresh aside
    registry.refresh()
    assert registry.has("my-textures") and replaced_name(folder).is_dir()  # left to the export that made it
    registry.delete_user_model("my-textures")
    assert not folder.exists() and not replaced_name(folder).exists()

    tiny_classifier(folder, "my-textures").rename(replaced_name(folder))  # where a crash left it
    registry.refresh()
    assert not registry.has("my-textures") and replaced_name(folder).is_dir()  # fresh: maybe an export running
    monkeypatch.setattr(files, "SWAP_SETTLED_S", 0.0)
    registry.refresh()
    assert registry.get("my-textures").directory == folder and not replaced_name(folder).exists()

    tiny_classifier(user_dir / "old-copy", "old-copy").rename(replaced_name(folder))  # a swap that finished
    registry.refresh()
    assert not replaced_name(folder).exists() and registry.has("my-textures") and not registry.has("old-copy")


def test_an_export_abandoned_halfway_is_cleared_once_it_has_lain_untouched(user_dir, monkeypatch):
    from models import files
    from models.files import partial_name

    folder = user_dir / "mine"
    tiny_classifier(user_dir / "half", "half").rename(partial_name(folder))  # a trainer killed as it exported
    registry.refresh()
    assert partial_name(folder).is_dir()  # fresh: maybe an export still writing it
    monkeypatch.setattr(files, "ABANDONED_PARTIAL_S", 0.0)
    registry.refresh()
    assert not partial_name(folder).exists() and not registry.has("half")


def test_a_scan_that_reads_a_model_as_an_export_replaces_it_does_not_call_it_damaged(user_dir, monkeypatch):
    """Old model.json read, then the folder swapped, then the new weights hashed: a mismatch that is no damage."""
    folder = tiny_classifier(user_dir / "mine", "my-textures")
    replacement = tiny_classifier(user_dir / ".next", "my-textures")  # a re-export, ready to be swapped in
    read = registry.read_checkpoint
    reads = []

    def swapped_after_reading(directory):
        entry = read(directory)
        reads.append(entry.weights.sha256)
        if len(reads) == 1:
            from models.files import swap_in_folder

            swap_in_folder(replacement, folder)
        return entry

    monkeypatch.setattr(registry, "read_checkpoint", swapped_after_reading)
    checkpoint = registry.read_user_checkpoint(folder)
    assert reads[0] != reads[1] and checkpoint.weights.sha256 == reads[1]
