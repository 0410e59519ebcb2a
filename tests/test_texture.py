"""Texture classification with the shipped network: model layer, baseline features, the running app."""

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import texture
from models.errors import InvalidRequestError
from models.evaluate import lbp_hsv_features, uniform_lbp_histogram
from studio.tabs.texture import EXAMPLES_DIR

MODEL = "dtd10-texture-ensemble"  # the Texture tab's default: the CNN fused with Fisher vectors of dense SIFT
CNN = "dtd10-texture"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jpg"))


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def label_of(path) -> str:
    return path.stem.rsplit("_", 1)[0]


@pytest.mark.parametrize("model", [MODEL, CNN])
def test_api_classifies_most_shipped_examples_as_their_labels(client, model):
    assert len(EXAMPLES) == 20 and {label_of(p) for p in EXAMPLES} == set(texture.class_names(model))
    results = [client.predict(model, handle_file(str(p)), api_name="/classify") for p in EXAMPLES]
    assert np.mean([r["label"] == label_of(p) for r, p in zip(results, EXAMPLES, strict=True)]) >= 0.6
    for result in results:
        assert abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-4


def test_probabilities_sum_to_one_and_come_most_probable_first():
    scores = texture.classify(MODEL, rgb(EXAMPLES[0]), device="cpu")
    assert len(scores) == 10 and abs(sum(scores.values()) - 1) < 1e-5
    assert list(scores.values()) == sorted(scores.values(), reverse=True)


def test_heatmap_and_texture_map_have_the_image_size():
    image = np.asarray(Image.open(EXAMPLES[3]).convert("RGB").resize((300, 200)))
    heat = texture.heatmap(MODEL, image, "braided", device="cpu")
    assert heat.shape == (200, 300) and heat.min() == 0 and abs(heat.max() - 1) < 1e-6
    labels, confidence = texture.texture_map(MODEL, image, window=64, device="cpu")
    assert labels.shape == confidence.shape == (200, 300)
    assert 0 < confidence.min() and confidence.max() <= 1


def test_a_texture_map_finds_two_textures_side_by_side():
    left = rgb(EXAMPLES_DIR / "chequered_0044.jpg")[:256, :256]
    right = rgb(EXAMPLES_DIR / "cobwebbed_0044.jpg")[:256, :256]
    labels, _ = texture.texture_map(MODEL, np.concatenate([left, right], axis=1), window=96, device="cpu")
    names = texture.class_names(MODEL)
    left_class = np.bincount(labels[:, :160].ravel()).argmax()
    right_class = np.bincount(labels[:, 352:].ravel()).argmax()
    assert left_class != right_class
    assert names[left_class] == "chequered" or names[right_class] == "cobwebbed"


def square_crop(path, size: int = 256) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size)))


def test_a_texture_map_of_a_collage_labels_its_quarters_like_the_classifier():
    """Four shipped examples of different classes in a 2x2 collage, mapped with a 20% window: the quarters'
    majority labels are their classes (3 of 4 at least). Windows seen at the collage's own scale got 0 here."""
    classes = ["chequered", "braided", "cobwebbed", "crystalline"]
    quarters = [square_crop(next(p for p in EXAMPLES if label_of(p) == name)) for name in classes]
    collage = np.vstack([np.hstack(quarters[:2]), np.hstack(quarters[2:])])
    labels, _ = texture.texture_map(MODEL, collage, window=int(0.2 * 512), device="cpu")
    names = texture.class_names(MODEL)
    found = [names[np.bincount(labels[r * 256:(r + 1) * 256, c * 256:(c + 1) * 256].ravel()).argmax()]
             for r in (0, 1) for c in (0, 1)]
    assert sum(f == c for f, c in zip(found, classes, strict=True)) >= 3, found


def test_windows_cover_the_image():
    boxes = texture.window_boxes(100, 250, 64)
    covered = np.zeros((100, 250), bool)
    for y, x in boxes:
        covered[y : y + 64, x : x + 64] = True
    assert covered.all()


@pytest.mark.parametrize("call, message", [
    (lambda: texture.heatmap(MODEL, np.zeros((64, 64, 3), np.uint8), "fluffy"), "Unknown texture class"),
    (lambda: texture.texture_map(MODEL, np.zeros((64, 64, 3), np.uint8), window=8), "window"),
    (lambda: texture.texture_map(MODEL, np.zeros((2000, 2000, 3), np.uint8), window=20), "at most 400"),
    (lambda: texture.classify(MODEL, np.zeros((64, 64), np.uint8)), "RGB uint8"),
])
def test_model_layer_refuses_bad_requests(call, message):
    with pytest.raises(InvalidRequestError, match=message):
        call()


def test_lbp_codes_of_flat_and_striped_images():
    flat = uniform_lbp_histogram(np.full((20, 20), 7.0), radius=1)
    assert flat[8] == 1.0  # every neighbour >= the centre: the all-ones uniform pattern
    stripes = np.tile(np.array([0.0, 0.0, 9.0, 9.0]), (20, 5))
    assert uniform_lbp_histogram(stripes, radius=1)[8] < 1.0
    assert lbp_hsv_features(rgb(EXAMPLES[0])).shape == (10 + 18 + 26 + 128,)  # uniform LBP at P = 8, 16, 24, and HSV


def test_api_classify_returns_label_and_confidences(client):
    result = client.predict(MODEL, handle_file(str(EXAMPLES_DIR / "chequered_0044.jpg")), api_name="/classify")
    confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert result["label"] == max(confidences, key=confidences.get)
    assert abs(sum(texture.classify(MODEL, rgb(EXAMPLES_DIR / "chequered_0044.jpg")).values()) - 1) < 1e-5


def test_api_heatmap_and_texture_map_have_the_image_size(client, tmp_path):
    path = tmp_path / "wide.png"
    Image.open(EXAMPLES[5]).convert("RGB").resize((320, 180)).save(path)
    heat = client.predict(MODEL, handle_file(str(path)), "bubbly", api_name="/heatmap")
    assert Image.open(heat).size == (320, 180)
    annotated = client.predict(MODEL, handle_file(str(path)), 50, api_name="/texture_map")
    assert Image.open(annotated["image"]).size == (320, 180)
    for annotation in annotated["annotations"]:
        assert Image.open(annotation["image"]).size == (320, 180)


def test_a_large_picture_is_mapped_on_a_grid_of_votes_and_drawn_reduced(client, tmp_path):
    """Per-pixel votes and colour masks of a 25-megapixel picture took GBs of the server's memory."""
    import tracemalloc

    photo = Image.open(EXAMPLES[5]).convert("RGB").resize((2400, 2400))
    tracemalloc.start()
    labels, confidence = texture.texture_map("dtd10-texture", np.asarray(photo), window=600, device="cpu")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert labels.shape == confidence.shape == (2400, 2400)
    assert peak < 120e6, peak  # votes per pixel alone would be 10 x 2400 x 2400 x 4 bytes = 230 MB
    assert (labels[:8, :8] == labels[0, 0]).all()  # a grid cell is one label

    path = write(tmp_path, "large.jpg", photo.resize((3000, 2000)))
    annotated = client.predict("dtd10-texture", handle_file(path), 25, api_name="/texture_map")
    assert Image.open(annotated["image"]).size == (2048, 1365)
    assert all(Image.open(a["image"]).size == (2048, 1365) for a in annotated["annotations"])
    heat = client.predict("dtd10-texture", handle_file(path), "bubbly", api_name="/heatmap")
    assert Image.open(heat).size == (2048, 1365)


def write(tmp_path, name: str, image: Image.Image, **kwargs) -> str:
    path = tmp_path / name
    image.save(path, **kwargs)
    return str(path)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_api_converts_any_colour_mode(client, tmp_path, mode):
    image = Image.open(EXAMPLES[8]).convert("RGB")
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
    else:
        converted = image.convert(mode)
    path = write(tmp_path, f"x.{'jpg' if mode == 'CMYK' else 'png'}", converted)
    result = client.predict(MODEL, handle_file(path), api_name="/classify")
    assert abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-4


@pytest.mark.parametrize("make, message", [
    (lambda d: write(d, "notes.png", Image.new("L", (4, 4))) and (d / "notes.png").write_text("hello")
     and str(d / "notes.png"), "not an image the studio can read"),
    (lambda d: write(d, "dot.png", Image.new("RGB", (1, 1))), "at least 8 pixels"),
    (lambda d: write(d, "huge.png", Image.new("L", (8000, 8000))), "up to 25 megapixels"),
])
def test_api_bad_images_get_a_clear_message_and_the_server_keeps_serving(client, tmp_path, make, message):
    with pytest.raises(AppError, match=message):
        client.predict(MODEL, handle_file(make(tmp_path)), api_name="/classify")
    assert client.predict(MODEL, handle_file(str(EXAMPLES[0])), api_name="/classify")["label"]


def test_texture_evaluation_scores_the_model_and_the_lbp_baseline(synthetic_dtd):
    from models.evaluate import main

    scores = main(["texture", "--data", str(synthetic_dtd)])
    assert set(scores) == {MODEL, CNN, "lbp-hsv-svm baseline", "fisher-sift-svm baseline"}
    for method in scores.values():
        assert 0 <= method["val1_accuracy"] <= 1
        assert np.asarray(method["confusion"]).shape == (4, 4) and np.sum(method["confusion"]) <= 16


def test_texture_map_evaluation_scores_collages_of_four_classes(synthetic_dtd):
    from models.evaluate import main

    scores = main(["texture-map", "--data", str(synthetic_dtd), "--collages", "2", "--model", MODEL])[MODEL]
    assert set(scores) == {"collage_quarters_mapped_right", "collage_quarters_classified_right_alone"}
    assert all(value in (0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1) for value in scores.values())


def test_fisher_vectors_match_the_textbook_formula():
    """The head's encoding against Perronnin et al.'s improved Fisher vector written out directly, with the
    posteriors from scikit-learn's own GMM fitted to the same sample."""
    from sklearn.mixture import GaussianMixture

    from models.train.texture_fisher import fit_fisher_head

    rng = np.random.default_rng(0)
    photos = [rng.random((300, 16)).astype(np.float32) ** (1 + k % 3) for k in range(6)]
    head = fit_fisher_head(photos, pca_dim=5, components=3, num_classes=2)
    x = (photos[0] - head.pca_mean.numpy()) @ head.pca_components.numpy().T
    gmm = GaussianMixture(3, covariance_type="diag")
    gmm.weights_, gmm.means_ = head.gmm_weights.double().numpy(), head.gmm_means.double().numpy()
    gmm.covariances_ = head.gmm_variances.double().numpy()
    gmm.precisions_cholesky_ = 1 / np.sqrt(gmm.covariances_)
    posteriors = gmm.predict_proba(x.astype(np.float64))
    z = (x[:, None, :] - gmm.means_[None]) / np.sqrt(gmm.covariances_)[None]
    first = np.einsum("nk,nkd->kd", posteriors, z) / (len(x) * np.sqrt(gmm.weights_)[:, None])
    second = np.einsum("nk,nkd->kd", posteriors, z**2 - 1) / (len(x) * np.sqrt(2 * gmm.weights_)[:, None])
    expected = np.concatenate([first.ravel(), second.ravel()])
    expected = np.sign(expected) * np.sqrt(np.abs(expected))
    encoded = head.encode(torch.from_numpy(photos[0])).numpy()
    assert encoded.shape == (30,) and np.allclose(encoded, expected / np.linalg.norm(expected), atol=1e-5)


def test_dense_sift_enlarges_small_pictures_to_hold_every_descriptor_size():
    descriptors = texture.dense_sift(np.zeros((12, 20, 3), np.uint8))
    assert descriptors.shape[1] == 128 and len(descriptors) >= len(texture.SIFT_BINS)
    assert np.isfinite(descriptors).all()


def test_a_sliver_is_classified_without_enlarging_its_long_side():
    """An 8x20000 picture: the CNN's and the descriptors' short side is enlarged alone, so the descriptors stay
    as few as for a picture of the working size's long side (enlarging the whole sliver gave 80,000 of them)."""
    sliver = np.random.default_rng(0).integers(0, 256, (8, 20_000, 3), dtype=np.uint8)
    scale = texture.working_scale(8, 20_000)
    assert len(texture.dense_sift(sliver, scale / texture.PHOTO_SCALE)) < 1000
    assert abs(sum(texture.classify(MODEL, sliver, device="cpu").values()) - 1) < 1e-5
