"""Inpainting with the shipped network and the VAE prior: masks, the size strategy, the running app."""

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import inpaint
from models.data.masks import MASK_KINDS, brush_mask
from models.errors import InvalidRequestError
from models.registry import ASSETS_DIR
from studio import pnginfo
from studio.tabs.inpaint import EMPTY_MASK_NOTICE, editor_image_and_mask, fitting_models, invert_mask

MODEL = "photo-inpaint"
PHOTO = ASSETS_DIR / "examples" / "dtd" / "cracked_0048.jpg"  # DTD val1: never seen in training


def photo(size: int | None = 256) -> np.ndarray:
    image = Image.open(PHOTO).convert("RGB")
    return np.asarray(image if size is None else image.resize((size, size), Image.Resampling.LANCZOS)).copy()


def hole_error(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    return float(np.abs(result[hole].astype(float) - truth[hole]).mean())


def test_brush_masks_grow_with_their_kind_and_repeat_with_their_seed():
    coverage = {kind: np.mean([brush_mask(256, 256, kind, np.random.default_rng(s)).mean() for s in range(20)])
                for kind in MASK_KINDS}
    assert 0 < coverage["thin"] < coverage["medium"] < coverage["thick"] <= 0.5
    np.testing.assert_array_equal(brush_mask(64, 96, "thin", np.random.default_rng(3)),
                                  brush_mask(64, 96, "thin", np.random.default_rng(3)))


def test_the_network_fills_the_hole_better_than_the_mean_colour_and_leaves_the_rest_alone():
    truth = photo()
    errors = []
    for seed in range(6):
        hole = brush_mask(256, 256, MASK_KINDS[seed % 3], np.random.default_rng(seed))
        result = inpaint.inpaint(MODEL, truth, hole, device="cpu")
        np.testing.assert_array_equal(result[~hole], truth[~hole])
        mean_fill = truth.copy()
        mean_fill[hole] = truth[~hole].mean(axis=0)
        errors.append((hole_error(result, truth, hole), hole_error(mean_fill, truth, hole)))
    model_error, mean_error = np.mean(errors, axis=0)
    assert model_error < 0.95 * mean_error


def test_dilation_and_feathering_never_touch_pixels_outside_the_grown_hole():
    truth = photo(128)
    mask = np.zeros((128, 128), bool)
    mask[40:60, 50:90] = True
    result = inpaint.inpaint(MODEL, truth, mask, dilation=5, feather=6, device="cpu")
    grown = inpaint.dilate(mask, 5)
    assert grown[35:65, 45:95].all() and not grown[:34].any()
    np.testing.assert_array_equal(result[~grown], truth[~grown])
    weights = inpaint.blend_weights(grown, 6)
    assert weights[~grown].max() == 0 and weights[50, 70] > 0.99 and 0 < weights[35, 70] < 0.8


def test_distant_holes_in_a_large_image_are_filled_in_separate_crops():
    hole = np.zeros((1536, 2048), bool)
    hole[100:130, 100:140] = True
    hole[1400:1450, 1900:1950] = True
    boxes = inpaint.hole_regions(hole)
    assert len(boxes) == 2
    for top, left, bottom, right in boxes:
        assert (bottom - top) * (right - left) < 300 * 300
    covered = np.zeros_like(hole)
    for top, left, bottom, right in boxes:
        covered[top:bottom, left:right] = True
    assert covered[hole].all()


@pytest.mark.parametrize("mask, message", [
    (np.ones((64, 64), bool), "covers 100% of the image"),
    (np.zeros((32, 64), bool), "mask is 64x32 pixels but the image is 64x64"),
])
def test_unusable_masks_are_refused(mask, message):
    with pytest.raises(InvalidRequestError, match=message):
        inpaint.inpaint(MODEL, photo(64), mask)


def test_an_empty_mask_returns_the_image_unchanged():
    truth = photo(64)
    np.testing.assert_array_equal(inpaint.inpaint(MODEL, truth, np.zeros((64, 64), bool)), truth)


def test_the_vae_prior_fills_a_fashion_mnist_image_from_what_is_left():
    shoe = np.asarray(Image.open(ASSETS_DIR / "examples" / "fashion-mnist" / "test-00009-sneaker.png"))
    large = np.repeat(np.asarray(Image.fromarray(shoe).resize((224, 224), Image.Resampling.NEAREST))[..., None], 3, 2)
    hole = np.zeros((224, 224), bool)
    hole[:, 112:] = True  # the right half of the shoe is gone
    result = inpaint.fill("fmnist-vae", large, hole)
    np.testing.assert_array_equal(result[~hole], large[~hole])
    blank = large.copy()
    blank[hole] = large[~hole].mean()
    assert hole_error(result, large, hole) < 0.8 * hole_error(blank, large, hole)


def test_editor_layers_become_the_mask():
    background = Image.fromarray(photo(64))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 46, 136, 178), (10, 20, 30, 40))
    image, mask = editor_image_and_mask({"background": background, "layers": [layer], "composite": background})
    assert image.shape == (64, 64, 3) and mask.sum() == 20 * 20 and mask[25, 15]
    with pytest.raises(InvalidRequestError, match="Upload, paste or send an image first"):
        editor_image_and_mask({"background": None, "layers": [], "composite": None})


def test_invert_mask_paints_everything_that_was_not_painted():
    background = Image.fromarray(photo(64))
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 46, 136, 178), (10, 20, 30, 40))
    inverted = invert_mask({"background": background, "layers": [layer], "composite": background})
    _, mask = editor_image_and_mask(inverted)
    assert mask.sum() == 64 * 64 - 20 * 20 and not mask[25, 15] and mask[0, 0]
    _, again = editor_image_and_mask(invert_mask(inverted))
    assert again.sum() == 20 * 20 and again[25, 15]


def save(tmp_path, name: str, array: np.ndarray, mode: str | None = None) -> str:
    path = tmp_path / name
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return str(path)


@pytest.mark.parametrize("size", [(64, 64), (512, 384), (2048, 1536)])
def test_api_round_trips_any_size_and_changes_only_the_hole(client, tmp_path, size):
    width, height = size
    truth = np.asarray(Image.open(PHOTO).convert("RGB").resize(size, Image.Resampling.LANCZOS)).copy()
    hole = np.zeros((height, width), bool)
    hole[height // 3 : height // 3 + max(8, height // 10), width // 4 : width // 2] = True
    path = client.predict(handle_file(save(tmp_path, "image.png", truth)),
                          handle_file(save(tmp_path, "mask.png", hole.astype(np.uint8) * 255)),
                          MODEL, 0, 0, api_name="/inpaint")
    result = np.asarray(Image.open(path).convert("RGB"))
    assert result.shape == truth.shape
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    blanked = truth.copy()
    blanked[hole] = 0
    assert hole_error(result, blanked, hole) > 10  # the hole was filled, not left blank
    params = pnginfo.read(path)
    assert (params["width"], params["height"], params["hole_pixels"]) == (width, height, int(hole.sum()))


def test_api_masks_may_be_transparent_layers(client, tmp_path):
    truth = photo(96)
    layer = np.zeros((96, 96, 4), np.uint8)
    layer[30:50, 30:60] = (255, 0, 0, 200)
    path = client.predict(handle_file(save(tmp_path, "image.png", truth)), handle_file(save(tmp_path, "m.png", layer)),
                          MODEL, 0, 0, api_name="/inpaint")
    result = np.asarray(Image.open(path).convert("RGB"))
    outside = np.ones((96, 96), bool)
    outside[30:50, 30:60] = False
    np.testing.assert_array_equal(result[outside], truth[outside])
    assert not np.array_equal(result[30:50, 30:60], truth[30:50, 30:60])


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_api_accepts_images_in_any_colour_mode(client, tmp_path, mode):
    truth = photo(64)
    if mode == "I;16":
        image_path = save(tmp_path, "grey16.png", np.asarray(Image.fromarray(truth).convert("L"), np.uint16) * 257)
    elif mode == "CMYK":
        image_path = str(tmp_path / "cmyk.jpg")
        Image.fromarray(truth).convert("CMYK").save(image_path)
    else:
        image_path = save(tmp_path, f"{mode}.png", truth, mode)
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 20:40] = 255
    path = client.predict(handle_file(image_path), handle_file(save(tmp_path, "mask.png", hole)), MODEL, 0, 0,
                          api_name="/inpaint")
    assert Image.open(path).size == (64, 64)


@pytest.mark.parametrize("mask_shape, message", [
    ((32, 32), "they must be the same size"),
    ((64, 64), "covers 100%"),
])
def test_api_bad_masks_get_a_clear_message_and_the_server_keeps_serving(client, tmp_path, mask_shape, message):
    image = handle_file(save(tmp_path, "image.png", photo(64)))
    mask = handle_file(save(tmp_path, "mask.png", np.full(mask_shape, 255, np.uint8)))
    with pytest.raises(AppError, match=message):
        client.predict(image, mask, MODEL, 0, 0, api_name="/inpaint")
    empty = handle_file(save(tmp_path, "empty.png", np.zeros((64, 64), np.uint8)))
    unchanged = client.predict(image, empty, MODEL, 0, 0, api_name="/inpaint")
    np.testing.assert_array_equal(np.asarray(Image.open(unchanged).convert("RGB")), photo(64))
    assert "image is returned unchanged" in EMPTY_MASK_NOTICE


def test_api_refuses_huge_images_before_decoding(client, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("RGB", (8000, 8000)).save(huge)
    with pytest.raises(AppError, match="up to 25 megapixels"):
        client.predict(handle_file(str(huge)), handle_file(str(huge)), MODEL, 0, 0, api_name="/inpaint")


def test_inpaint_evaluation_scores_the_model_and_both_baselines(synthetic_dtd):
    from models.evaluate import main

    scores = main(["inpaint", "--data", str(synthetic_dtd), "--size", "64", "--limit", "2"])
    assert set(scores) == {"photo-inpaint", "opencv-telea", "mean-colour-fill"}
    for method in scores.values():
        assert set(method) == {"hole_psnr_thin", "hole_psnr_medium", "hole_psnr_thick", "hole_psnr_mean"}
        assert all(0 < v < 60 for v in method.values())


def test_the_priors_offered_fit_the_picture():
    shoe = np.asarray(Image.open(ASSETS_DIR / "examples" / "fashion-mnist" / "test-00009-sneaker.png").convert("RGB"))
    assert inpaint.fitting_priors(shoe) == ["fmnist-vae"]
    assert inpaint.fitting_priors(photo()) == ["dtd10-texvae"]
    grey_photo = np.repeat(np.asarray(Image.open(PHOTO).convert("L"))[..., None], 3, axis=2)
    assert inpaint.fitting_priors(np.tile(grey_photo, (3, 3, 1))) == ["dtd10-texvae"]  # grey but large: a photo
    hole = np.zeros((256, 256), bool)
    hole[100:140, 100:140] = True
    with pytest.raises(InvalidRequestError, match="does not fit this picture.*dtd10-texvae"):
        inpaint.fill("fmnist-vae", photo(), hole)
    ids = [i for _, i in fitting_models({"background": Image.fromarray(shoe)}, "dtd10-texvae").choices]
    assert "fmnist-vae" in ids and "dtd10-texvae" not in ids and MODEL in ids


def test_the_texture_prior_fills_only_the_hole_of_a_colour_photo():
    truth = photo(128)
    hole = np.zeros((128, 128), bool)
    hole[40:64, 50:90] = True
    result = inpaint.fill("dtd10-texvae", truth, hole, device="cpu")
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    np.testing.assert_array_equal(result, inpaint.fill("dtd10-texvae", truth, hole, device="cpu"))
    blanked = truth.copy()
    blanked[hole] = 0
    assert hole_error(result, truth, hole) < 0.5 * hole_error(blanked, truth, hole)


def test_api_refuses_a_prior_that_does_not_fit(client, tmp_path):
    image = handle_file(save(tmp_path, "image.png", photo(64)))
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 20:40] = 255
    with pytest.raises(AppError, match="does not fit this picture"):
        client.predict(image, handle_file(save(tmp_path, "mask.png", hole)), "fmnist-vae", 0, 0, api_name="/inpaint")
