"""The colour texture generator through the studio's API, as a script would call it: latent sampling with
size and seamless tiling, class-conditional generation, one of each, class morphs, PNG restore, and a
generated texture sent to the texture classifier."""

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import sampling, texgen
from studio import pnginfo
from studio.images import cell_image
from studio.tabs import latent
from studio.ui import received_image

TEXGAN = "dtd10-texgan"
SLIDERS = [0.0] * 10


def seam_and_inner_steps(texture: np.ndarray) -> tuple[float, float]:
    """Mean absolute step from the last column (row) to the first, and between neighbours inside."""
    pixels = texture.astype(float)
    seam = (np.abs(pixels[:, -1] - pixels[:, 0]).mean() + np.abs(pixels[-1] - pixels[0]).mean()) / 2
    inner = (np.abs(np.diff(pixels, axis=1)).mean() + np.abs(np.diff(pixels, axis=0)).mean()) / 2
    return seam, inner


def test_the_latent_tab_offers_colour_models_and_samples_them_at_any_size(client):
    path = client.predict(TEXGAN, 9, 1, 1.0, *SLIDERS, 192, False, api_name="/sample")
    image = Image.open(path)
    assert image.mode == "RGB" and image.size == (192, 192)
    np.testing.assert_array_equal(np.asarray(image), texgen.generate(TEXGAN, texgen.ANY_CLASS, 9, 192)[0])
    params = pnginfo.read(path)
    assert (params["size"], params["seamless"], params["model_id"]) == (192, False, TEXGAN)
    assert "size" not in pnginfo.read(client.predict("fmnist-gan", 9, 1, 1.0, *SLIDERS, 192, True,
                                                     api_name="/sample"))  # grey models ignore it


def test_a_seamless_sample_tiles_and_its_png_restores_size_and_seamless(client):
    directions = [1.5, 0.0, -2.0, *[0.0] * 7]
    path = client.predict(TEXGAN, 21, 1, 0.8, *directions, 128, True, api_name="/sample")
    seam, inner = seam_and_inner_steps(np.asarray(Image.open(path)))
    assert seam <= 1.5 * inner  # the shipped model's measured ratio over 100 samples is in its card
    model, seed, n, psi, *values, image = client.predict(handle_file(path), api_name="/restore_latent")
    assert (model, seed, n, psi, values) == (TEXGAN, 21, 1, 0.8, [*directions, 128, True])
    np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(path)))


def test_the_tiled_preview_repeats_a_seamless_texture_and_hides_otherwise():
    seamless = latent.sample(TEXGAN, 3, 4, 1.0, *SLIDERS, 64, True)
    update = latent.tiled_preview(seamless)
    first = np.asarray(cell_image(seamless, 0))
    assert update["visible"] and update["value"].size == (128, 128)
    np.testing.assert_array_equal(np.asarray(update["value"]), np.tile(first, (2, 2, 1)))
    assert not latent.tiled_preview(latent.sample(TEXGAN, 3, 1, 1.0, *SLIDERS, 64, False))["visible"]
    strips = latent.preview_strips(TEXGAN, 3, 1.0, *SLIDERS)
    assert strips[0].mode == "RGB" and strips[0].size == (5 * 64 + 4 * 2, 64)


@pytest.mark.parametrize("args, message", [
    ((TEXGAN, 1, 1, 1.0, *SLIDERS, 100, False), "Size must be a multiple of 16 from 64 to 1024"),
    ((TEXGAN, 1, 8, 1.0, *SLIDERS, 1024, False), "at most 4 textures at once"),
])
def test_bad_texture_sizes_are_refused_clearly(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/sample")


def test_generate_uses_the_models_class_names_in_colour(client):
    path = client.predict(TEXGAN, "Cracked", 4, 5, 1.0, 64, False, api_name="/generate")
    image = Image.open(path)
    assert image.mode == "RGB" and image.size == (2 * 64 + 2, 2 * 64 + 2)
    assert pnginfo.read(path)["class"] == "cracked"
    expected = texgen.generate(TEXGAN, "cracked", 5, 64, n=4)
    np.testing.assert_array_equal(np.asarray(cell_image(image, 3)), expected[3])
    with pytest.raises(AppError, match="Unknown texture class 'Sneaker'. Classes: any, banded"):
        client.predict(TEXGAN, "Sneaker", 1, 5, 1.0, 64, False, api_name="/generate")


def test_one_of_each_and_morph_in_colour_restore_from_their_pngs(client):
    each = client.predict(TEXGAN, 2, 7, 1.0, 64, True, api_name="/one_of_each")
    grid = Image.open(each)
    assert grid.mode == "RGB" and pnginfo.read(each)["seamless"] is True
    np.testing.assert_array_equal(np.asarray(cell_image(grid, 2 * 2 + 1)),  # row "braided", seed 7 + 1
                                  texgen.generate(TEXGAN, "braided", 8, 64, seamless=True)[0])
    strip, gif = client.predict(TEXGAN, "bubbly", "cracked", 6, 7, 1.0, 64, False, api_name="/morph")
    with Image.open(gif) as animation:
        assert animation.n_frames == 6
    frames = texgen.morph(TEXGAN, "bubbly", "cracked", 7, 6, 64)
    np.testing.assert_array_equal(np.asarray(cell_image(Image.open(strip), 5)), frames[5])
    restored = client.predict(handle_file(strip), api_name="/restore_conditional")
    assert restored[0] == TEXGAN and list(restored[5:10]) == ["bubbly", "cracked", 6, 64, False]
    np.testing.assert_array_equal(np.asarray(Image.open(restored[-1])), np.asarray(Image.open(strip)))


def test_a_generated_texture_sent_to_the_texture_tab_is_classified(client, tmp_path):
    texture = Image.open(client.predict(TEXGAN, "chequered", 1, 3, 1.0, 256, False, api_name="/generate"))
    sent = pnginfo.save_png(received_image(texture), tmp_path / "sent.png")
    scores = client.predict("dtd10-texture", handle_file(str(sent)), api_name="/classify")
    assert scores["label"] in texgen.class_names(TEXGAN)
    assert scores["confidences"][0]["label"] == scores["label"] and 0 < scores["confidences"][0]["confidence"] <= 1


def test_choosing_a_model_shows_its_controls_and_its_directions_shares():
    texture_group, *labels = latent.model_controls(TEXGAN)
    shares = sampling.latent_directions(TEXGAN).explained_variance
    assert texture_group["visible"] and labels[0]["label"] == f"PC1 · {100 * float(shares[0]):.1f}%"
    grey_group, *grey_labels = latent.model_controls("fmnist-gan")
    assert not grey_group["visible"] and grey_labels[0]["label"] != labels[0]["label"]
