"""Inpainting with the shipped network, the VAE prior and OpenCV's classical methods: masks, the size strategy,
the evaluation, the running app."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageFilter

from models import classical_inpaint, inpaint
from models.data.masks import MASK_KINDS, brush_mask
from models.data.photos import HELD_OUT_WALLPAPER_PACKAGES, TUNING_WALLPAPER_PACKAGES, package_images
from models.errors import InvalidRequestError
from models.registry import ASSETS_DIR
from studio import pnginfo
from studio.outputs import file_stem
from studio.tabs.inpaint import (
    EMPTY_MASK_NOTICE,
    editor_image_and_mask,
    fitting_models,
    invert_mask,
    labelled_models,
    method_card,
)

MODEL = "photo-inpaint"
PATCHES = inpaint.patch_method_id(MODEL)  # the network guiding patch transfer
CLASSICAL = list(classical_inpaint.METHODS)
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


def test_inpaint_evaluation_scores_the_model_and_every_baseline(synthetic_dtd):
    from models.evaluate import MAX_HOLE_PSNR, inpaint_record, main

    scores = main(["inpaint", "--data", str(synthetic_dtd), "--size", "64", "--limit", "3", "--no-wallpapers",
                   "--fsr-best-every", "3"])
    assert set(scores) == {MODEL, PATCHES, *CLASSICAL, "mean-colour-fill"}
    for name, blocks in scores.items():
        # FSR best fills only every 3rd crop; the subset block has every method on those same crops
        assert list(blocks) == (["subset"] if name == "opencv-fsr-best" else [f"{synthetic_dtd.name} val1", "all",
                                                                               "subset"])
        for block in blocks.values():
            assert set(block) == {"hole_psnr_thin", "hole_psnr_medium", "hole_psnr_thick", "hole_psnr_mean",
                                  "detail_ratio"}
            assert all(0 < block[f"hole_psnr_{k}"] <= MAX_HOLE_PSNR for k in (*MASK_KINDS, "mean"))
            assert 0 < block["detail_ratio"] < 3
    record = inpaint_record(scores, MODEL)  # what --write puts in model.json
    assert record["hole_psnr_mean"] == round(scores[MODEL]["all"]["hole_psnr_mean"], 4) and "detail_ratio" in record
    assert set(record["baselines"]) == {*CLASSICAL, "mean-colour-fill"} and list(record["by_set"])[-1] == "subset"
    patched = record["with_patch_transfer"]
    assert patched["detail_ratio"] == round(scores[PATCHES]["all"]["detail_ratio"], 4) and "subset" in patched["by_set"]


def test_inpaint_evaluation_asks_for_the_held_out_wallpapers(synthetic_dtd, monkeypatch):
    import models.data.photos
    from models.evaluate import main

    monkeypatch.setattr(models.data.photos, "package_images", lambda package: [])
    with pytest.raises(SystemExit, match="apt-get install lomiri-wallpapers-16.04, or pass --no-wallpapers"):
        main(["inpaint", "--data", str(synthetic_dtd), "--size", "64", "--limit", "1"])


def test_wallpapers_give_three_crops_along_their_longer_side():
    from models.evaluate import wallpaper_crops

    wide = np.zeros((512, 910, 3), np.uint8)
    wide[..., 0] = np.arange(910) // 4  # the red channel says the column
    crops = wallpaper_crops(wide, 256)
    assert [c.shape for c in crops] == [(256, 256, 3)] * 3
    assert [int(c[0, 0, 0]) for c in crops] == [23 // 4, 327 // 4, 630 // 4]  # centred on 151, 455 and 758
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))  # the red channel says the row
    assert [int(c[0, 0, 0]) for c in wallpaper_crops(tall, 256)] == [23 // 4, 327 // 4, 630 // 4]
    assert [c.shape for c in wallpaper_crops(np.zeros((300, 300, 3), np.uint8), 256)] == [(256, 256, 3)] * 3


def test_the_detail_ratio_is_one_for_the_truth_and_lower_for_a_blur():
    from models.evaluate import detail_ratio, hole_psnr

    truth = pattern(96)
    hole = np.zeros((96, 96), bool)
    hole[30:60, 20:70] = True
    blurred = np.where(hole[..., None], np.asarray(Image.fromarray(truth).filter(ImageFilter.GaussianBlur(3))), truth)
    assert detail_ratio(truth, truth, hole) == pytest.approx(1)
    assert detail_ratio(blurred, truth, hole) < 0.8
    flat = np.full((96, 96, 3), 120, np.uint8)
    assert detail_ratio(pattern(96), flat, hole) is None  # a flat true hole has no detail to compare
    assert hole_psnr(truth, truth, hole) == pytest.approx(48.13, abs=0.01)  # capped: an error of one grey level


def pattern(size: int) -> np.ndarray:
    """A synthetic picture with stripes, a ramp and a wave, so fills have edges and texture to continue."""
    y, x = np.mgrid[:size, :size]
    return np.stack([(x * 9) % 256, 128 + 100 * np.sin(y / 4), (x + 2 * y) % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("method", CLASSICAL)
def test_classical_methods_fill_only_the_dilated_hole_without_seeing_it_and_repeat_exactly(method):
    truth = pattern(64)
    mask = np.zeros((64, 64), bool)
    mask[28:33, 10:50] = True
    mask[16:44, 30:34] = True
    grown = inpaint.dilate(mask, 2)
    result = inpaint.fill(method, truth, mask, dilation=2, feather=2)
    np.testing.assert_array_equal(result[~grown], truth[~grown])
    assert not np.array_equal(result[grown], truth[grown])
    filled = inpaint.fill(method, truth, mask)
    hidden = truth.copy()
    hidden[mask] = 0  # the hole's pixels are never seen, so what they were changes nothing: the same pixels again
    if classical_inpaint.METHODS[method].deterministic:
        in_another_thread = ThreadPoolExecutor(1).submit(inpaint.fill, method, truth, mask).result()
        np.testing.assert_array_equal(filled, in_another_thread)  # the same pixels from any server thread
        np.testing.assert_array_equal(filled, inpaint.fill(method, hidden, mask))
    assert hole_error(filled, truth, mask) < 0.8 * hole_error(hidden, truth, mask)


def test_slow_classical_methods_refuse_large_fills_and_unknown_ids_are_refused():
    image = np.zeros((1200, 1200, 3), np.uint8)
    hole = np.zeros((1200, 1200), bool)
    hole[100:1100, 100:1100:50] = True  # lines all over the picture: one region of over a megapixel
    with pytest.raises(InvalidRequestError, match="shift-map .* too slow for this: .* over its limit of 0.6"):
        inpaint.fill("opencv-shift-map", image, hole)
    with pytest.raises(InvalidRequestError, match="Unknown model id 'opencv-magic' for inpainting.*opencv-telea"):
        inpaint.fill("opencv-magic", image, hole)


def test_the_tab_lists_the_classical_methods_after_the_models():
    ids = [i for _, i in labelled_models()]
    offered = [m.id for m in classical_inpaint.METHODS.values() if m.in_tab]
    assert ids[0] == MODEL and ids[-len(offered):] == offered
    assert set(offered) == {"opencv-telea", "opencv-ns", "opencv-fsr-fast", "opencv-shift-map"}
    assert "opencv-fsr-best" not in ids  # too slow for the tab; the evaluation scores it
    assert "slow" in dict((i, label) for label, i in labelled_models())["opencv-shift-map"]
    assert "Size limit**: 0.6 megapixels" in method_card("opencv-shift-map")
    assert "Not repeatable" in method_card("opencv-shift-map") and "Not repeatable" not in method_card("opencv-telea")
    assert method_card(MODEL).startswith(f"**{MODEL}**")
    assert file_stem({"tab": "inpaint", "model_id": "opencv-telea"}).endswith("inpaint-opencv-telea")


@pytest.mark.parametrize("method", [*CLASSICAL, PATCHES])
def test_api_fills_with_each_method_and_restores_it(client, tmp_path, method):
    truth = pattern(64)
    hole = np.zeros((64, 64), bool)
    hole[20:34, 16:40] = True
    path = client.predict(handle_file(save(tmp_path, "image.png", truth)),
                          handle_file(save(tmp_path, "mask.png", hole.astype(np.uint8) * 255)),
                          method, 0, 0, api_name="/inpaint")
    result = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    if method == PATCHES or classical_inpaint.METHODS[method].deterministic:
        np.testing.assert_array_equal(result, inpaint.fill(method, truth, hole))
    else:  # shift-map: not repeatable, so only a real fill is asked for
        assert hole_error(result, truth, hole) < 0.8 * hole_error(classical_inpaint.blanked(truth, hole), truth, hole)
    restored_model, *_ = client.predict(handle_file(path), api_name="/restore_inpaint")
    assert restored_model == method


def test_api_refuses_an_unknown_method_clearly(client, tmp_path):
    image = handle_file(save(tmp_path, "image.png", photo(64)))
    hole = np.zeros((64, 64), np.uint8)
    hole[20:40, 20:40] = 255
    with pytest.raises(AppError, match="Unknown model id 'opencv-magic' for inpainting"):
        client.predict(image, handle_file(save(tmp_path, "mask.png", hole)), "opencv-magic", 0, 0,
                       api_name="/inpaint")


def test_patch_transfer_continues_a_periodic_texture_from_a_blurry_guide():
    """Given only a blur of the truth in the hole, patch transfer brings back the stripes: real pixels, in phase."""
    from models import patch_transfer
    from models.evaluate import detail_ratio, hole_psnr

    y, x = np.mgrid[:96, :96]
    truth = np.stack([(x % 12) * 20, (y % 8) * 30, ((x + y) % 16) * 15], axis=2).astype(np.uint8)  # periodic
    hole = np.zeros((96, 96), bool)
    hole[30:62, 24:70] = True
    blurred = np.asarray(Image.fromarray(truth).filter(ImageFilter.GaussianBlur(4)), np.float32)
    guide = np.where(hole[..., None], blurred, truth.astype(np.float32))
    result = patch_transfer.transfer(truth, hole, guide).round().astype(np.uint8)
    np.testing.assert_array_equal(result[~hole], truth[~hole])
    guide_image = guide.round().astype(np.uint8)
    assert hole_psnr(result, truth, hole) > hole_psnr(guide_image, truth, hole) + 5
    assert detail_ratio(result, truth, hole) > 0.8 > detail_ratio(guide_image, truth, hole)
    np.testing.assert_array_equal(result, patch_transfer.transfer(truth, hole, guide).round().astype(np.uint8))


def test_patch_transfer_without_a_wholly_known_patch_keeps_the_guide():
    from models import patch_transfer

    truth = pattern(32)
    hole = np.ones((32, 32), bool)
    hole[0, 0] = False
    guide = np.full((32, 32, 3), 7.0, np.float32)
    np.testing.assert_array_equal(patch_transfer.transfer(truth, hole, guide), guide)


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
def test_patch_transfer_fills_are_sharper_than_telea_and_the_network_and_touch_only_the_hole(mask_kind):
    """On a held-out DTD photo and a synthetic texture, with the hole blanked (so no fill can copy the truth): the
    detail ratio of the shipped method is above Telea's and the network's; outside pixels are bit-identical."""
    from models.evaluate import detail_ratio

    for truth in (photo(), pattern(256)):
        mask = brush_mask(256, 256, mask_kind, np.random.default_rng(3))
        grown = inpaint.dilate(mask, 2)
        hidden = classical_inpaint.blanked(truth, grown)
        result = inpaint.fill(PATCHES, hidden, mask, dilation=2)
        np.testing.assert_array_equal(result[~grown], truth[~grown])
        np.testing.assert_array_equal(result, inpaint.fill(PATCHES, hidden, mask, dilation=2))
        details = {m: detail_ratio(inpaint.fill(m, hidden, mask, dilation=2), truth, grown)
                   for m in ("opencv-telea", MODEL)}
        assert detail_ratio(result, truth, grown) > max(details.values()), details


def test_the_tab_offers_the_network_guiding_patch_transfer_after_the_network():
    ids = [i for _, i in labelled_models()]
    assert ids[:2] == [MODEL, PATCHES]
    assert method_card(PATCHES).startswith(f"**{PATCHES}**") and MODEL in method_card(PATCHES)
    assert inpaint.patch_method_network(PATCHES) == MODEL and inpaint.patch_method_network("nope-patches") is None
    assert file_stem({"tab": "inpaint", "model_id": PATCHES}).endswith(f"inpaint-{PATCHES}")


def test_package_images_reads_a_dpkg_file_list(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    pictures = tmp_path / "backgrounds"
    pictures.mkdir()
    for name in ("b.jpg", "a.PNG", "notes.xml"):
        (pictures / name).write_bytes(b"x")
    listed = ["/.", str(pictures), str(pictures / "b.jpg"), str(pictures / "a.PNG"), str(pictures / "notes.xml"),
              str(pictures / "removed.jpg")]
    (info / "some-wallpapers.list").write_text("\n".join(listed) + "\n")
    assert package_images("some-wallpapers", info) == [pictures / "a.PNG", pictures / "b.jpg"]
    assert package_images("not-installed", info) == []


def test_the_trainer_leaves_out_the_held_out_and_tuning_wallpapers(tmp_path, monkeypatch):
    import argparse

    import models.train.inpaint as trainer

    backgrounds, info = tmp_path / "backgrounds", tmp_path / "info"
    backgrounds.mkdir()
    info.mkdir()
    colours = {"kept.png": (255, 0, 0), "held-out.png": (0, 255, 0), "tuning.png": (0, 0, 255)}
    for name, colour in colours.items():
        Image.new("RGB", (40, 40), colour).save(backgrounds / name)
    (info / f"{HELD_OUT_WALLPAPER_PACKAGES[0]}.list").write_text(f"{backgrounds / 'held-out.png'}\n")
    (info / f"{TUNING_WALLPAPER_PACKAGES[0]}.list").write_text(f"{backgrounds / 'tuning.png'}\n")
    monkeypatch.setattr(trainer, "DTD_DIR", tmp_path / "no-dtd")
    monkeypatch.setattr(trainer, "WALLPAPER_DIRS", (backgrounds,))
    monkeypatch.setattr(trainer, "package_images", lambda package: package_images(package, info))
    args = argparse.Namespace(data=None, dtd_split="train1", max_photos=None, short_side=40, crop=32)
    assert [tuple(photo[0, 0]) for photo in trainer.training_photos(args)] == [(255, 0, 0)]


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


def test_a_hole_in_too_many_separate_parts_is_refused_before_any_fill():
    """Each part is a fill of its own: a sprinkle of dots kept the server busy for minutes (a texture VAE prior
    spends about 1.7 s on each)."""
    image = np.zeros((3000, 3000, 3), np.uint8)
    image[..., 0], image[..., 1] = np.arange(3000)[None] % 251, np.arange(3000)[:, None] % 241  # colour, not grey
    dots = np.zeros((3000, 3000), bool)
    dots[16::128, 16::128] = True  # 576 parts, too far apart to share a region
    with pytest.raises(InvalidRequestError, match="576 separate parts"):
        inpaint.fill("photo-inpaint", image, dots)
    image, dots = image[:1152, :1152], dots[:1152, :1152]  # 81 parts: dust spots, filled
    with pytest.raises(InvalidRequestError, match="16 separate parts"):
        inpaint.fill("dtd10-texvae", image[:512, :512], dots[:512, :512])
    for method in ("photo-inpaint", "opencv-telea"):  # a classical method takes any number: each part is instant
        filled = inpaint.fill(method, image, dots)
        assert (filled[~dots] == image[~dots]).all() and (filled[dots] != 0).any()
    assert inpaint.fill("dtd10-texvae", image[:256, :256], dots[:256, :256]).shape == (256, 256, 3)
