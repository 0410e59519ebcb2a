"""Class-conditional generation with the shipped cGAN: model layer and the running app."""

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import conditional
from models.data.fashion_mnist import CLASS_NAMES
from models.errors import InvalidRequestError
from models.evaluate import classifier_outputs
from models.loading import load
from studio import pnginfo
from studio.images import cell_count, cell_image, grid_image
from studio.tabs import conditional as tab

CGAN = "fmnist-cgan"


def predicted_classes(pixels: np.ndarray) -> np.ndarray:
    images = torch.from_numpy(pixels).float().div(127.5).sub(1).unsqueeze(1)
    return classifier_outputs(load("fmnist-classifier", "cpu"), images)[1]


def cells(path: str) -> np.ndarray:
    """The pictures of a grid or strip result, cut out where the image says its cells lie."""
    image = Image.open(path)
    image.load()
    return np.stack([np.asarray(cell_image(image, i).convert("L")) for i in range(cell_count(image))])


@pytest.mark.parametrize("label, index", [("Sneaker", 7), ("ankle boot", 9), (3, 3), ("4", 4)])
def test_classes_by_name_or_index(label, index):
    assert conditional.class_index(label) == index


@pytest.mark.parametrize("label", ["Hat", -1, 10, 2.5, None])
def test_unknown_classes_are_refused(label):
    with pytest.raises(InvalidRequestError, match="class|Class"):
        conditional.class_index(label)


def test_generated_images_are_classified_as_their_class():
    for index in range(10):
        pixels = conditional.generate(CGAN, index, seed=0, n=32, device="cpu")
        assert (predicted_classes(pixels) == index).mean() >= 0.6, CLASS_NAMES[index]


def test_the_latent_still_matters_within_a_class():
    pixels = conditional.generate(CGAN, "Dress", seed=0, n=16, device="cpu").astype(float)
    assert pixels.std(axis=0).mean() > 10  # a collapsed generator draws one dress for every seed


def test_one_of_each_keeps_the_latent_and_changes_the_class():
    rows = conditional.one_of_each(CGAN, seed=5, n=2, device="cpu")
    assert rows.shape == (10, 2, 28, 28)
    single = conditional.generate(CGAN, 8, seed=6, n=1, device="cpu")[0]
    assert np.abs(rows[8, 1].astype(int) - single).max() <= 1
    assert (predicted_classes(rows[:, 0]) == np.arange(10)).mean() >= 0.7


def test_morph_runs_from_class_a_to_class_b():
    frames = conditional.morph(CGAN, "Sneaker", "Ankle boot", seed=3, steps=9, device="cpu")
    assert frames.shape == (9, 28, 28)
    np.testing.assert_array_equal(frames[0], conditional.generate(CGAN, "Sneaker", seed=3, device="cpu")[0])
    np.testing.assert_array_equal(frames[-1], conditional.generate(CGAN, "Ankle boot", seed=3, device="cpu")[0])
    with pytest.raises(InvalidRequestError, match="Steps"):
        conditional.morph(CGAN, 0, 1, seed=0, steps=1)


def test_api_generate_returns_n_images_of_the_class_deterministically(client):
    first = client.predict("fmnist-cgan", "Trouser", 16, 77, 1.0, api_name="/generate")
    second = client.predict("fmnist-cgan", "Trouser", 16, 77, 1.0, api_name="/generate")
    np.testing.assert_array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))
    images = cells(first)
    assert (predicted_classes(images) == 1).mean() >= 0.75
    assert pnginfo.read(first)["class"] == "Trouser"


def test_api_morph_returns_a_strip_and_a_valid_gif(client):
    strip, gif = client.predict("fmnist-cgan", "T-shirt/top", "Dress", 16, 4, 1.0, api_name="/morph")
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == 16
        assert animation.info.get("loop") == 0
    frames = cells(strip)
    assert frames.shape == (16, 28, 28)
    np.testing.assert_array_equal(frames, conditional.morph("fmnist-cgan", 0, 3, seed=4, steps=16, device="cpu"))


def test_api_one_of_each_and_png_restore(client):
    path = client.predict("fmnist-cgan", 3, 12, 0.8, api_name="/one_of_each")
    assert pnginfo.read(path)["mode"] == "one_of_each"
    model, class_name, n, seed, psi, *_, image = client.predict(handle_file(path), api_name="/restore_conditional")
    assert (model, n, seed, psi) == ("fmnist-cgan", 3, 12, 0.8)
    np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(path)))


@pytest.mark.parametrize("args, message", [
    (("fmnist-cgan", "Hat", 4, 0, 1.0), "Unknown class 'Hat'"),
    (("fmnist-cgan", "11", 4, 0, 1.0), "Class index must be 0 to 9"),
    (("fmnist-cgan", "Bag", 4, 2.5, 1.0), "Seed must be a whole number"),
    (("fmnist-cgan", "Bag", 65, 0, 1.0), "greater than maximum value 64"),
    (("fmnist-gan", "Bag", 4, 0, 1.0), "not class-conditional-generation"),
])
def test_generate_bad_input_is_refused_and_the_server_keeps_serving(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/generate")
    assert client.predict("fmnist-cgan", "Bag", 1, 0, 1.0, api_name="/generate")


@pytest.mark.parametrize("args, message", [
    (("fmnist-cgan", "Bag", "Coat", 1, 0, 1.0), "less than minimum value 2"),
    (("fmnist-cgan", "Bag", "Coat", 4.5, 0, 1.0), "Steps must be a whole number"),
    (("fmnist-cgan", "Bag", "Scarf", 4, 0, 1.0), "Unknown class 'Scarf'"),
])
def test_morph_bad_input_is_refused(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/morph")


def click(x: int, y: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": [x, y], "value": None, "selected": True})


def test_a_clicked_morph_frame_is_the_result_and_restores_as_that_frame(tmp_path):
    strip = tab.morph("fmnist-cgan", "Sneaker", "Ankle boot", 16, 4, 1.0)[0]
    *_, frame = tab.pick(strip, click(2 * 30 + 5, 5))  # the third frame
    assert pnginfo.image_params(frame)["frame"] == 3 and frame.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(frame), np.asarray(cell_image(strip, 2)))
    path = pnginfo.save_png(frame, tmp_path / "frame.png")
    *_, restored = tab.restore(str(path))
    np.testing.assert_array_equal(np.asarray(restored), np.asarray(frame))


def test_a_grid_whose_cells_do_not_match_its_parameters_is_refused():
    grid = pnginfo.embed(grid_image(np.zeros((64, 28, 28), np.uint8)), {
        "tab": "conditional", "mode": "one_of_each", "model_id": "fmnist-cgan", "num_samples": 1, "seed": 0,
        "psi": 1.0})
    with pytest.raises(gr.Error, match="damaged"):
        tab.pick(grid, click(7 * 30 + 5, 7 * 30 + 5))
