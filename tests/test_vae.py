"""VAE interpolation with the shipped VAE: model layer and the running app."""

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from models import vae
from models.data.fashion_mnist import CLASS_NAMES
from models.errors import InvalidRequestError
from models.evaluate import classifier_outputs
from models.loading import load
from studio import pnginfo
from studio.images import cell_count, cell_image
from studio.tabs import vae as vae_tab
from studio.tabs.vae import EXAMPLES_DIR
from studio.ui import DTD_EXAMPLES_DIR

VAE = "fmnist-vae"
TEXTURE_VAE = "dtd10-texvae"
BANDED, BUBBLY = (str(DTD_EXAMPLES_DIR / name) for name in ("banded_0006.jpg", "bubbly_0044.jpg"))
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.png"))
BOOT, DRESS = (str(EXAMPLES_DIR / name) for name in ("test-00000-ankle-boot.png", "test-00013-dress.png"))


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def cells(path: str, mode: str = "L") -> np.ndarray:
    """The pictures of a grid or strip result, cut out where the image says its cells lie."""
    image = Image.open(path)
    image.load()
    return np.stack([np.asarray(cell_image(image, i).convert(mode)) for i in range(cell_count(image))])


def test_the_shipped_examples_cover_every_class():
    assert len(EXAMPLES) == 20
    for name in CLASS_NAMES:
        slug = name.lower().replace("/", "-").replace(" ", "-")
        assert sum(p.stem.endswith(slug) for p in EXAMPLES) == 2, name


def test_reconstructions_are_close_and_keep_their_class():
    images = np.stack([pixels(str(p)) for p in EXAMPLES])
    reconstructions = vae.reconstruct(VAE, images, device="cpu")
    as_model = lambda x: torch.from_numpy(x).float().div(127.5).sub(1).unsqueeze(1)  # noqa: E731
    assert vae.psnr(as_model(reconstructions), as_model(images)).mean() >= 19.0
    predicted = classifier_outputs(load("fmnist-classifier", "cpu"), as_model(reconstructions))[1]
    labels = classifier_outputs(load("fmnist-classifier", "cpu"), as_model(images))[1]
    assert (predicted == labels).mean() >= 0.8


def test_interpolation_runs_between_the_reconstructions():
    a, b = pixels(BOOT), pixels(DRESS)
    ends = vae.reconstruct(VAE, np.stack([a, b]), device="cpu")
    for path in vae.PATHS:
        frames = vae.interpolate(VAE, a, b, steps=7, path=path, device="cpu")
        assert frames.shape == (7, 28, 28)
        np.testing.assert_array_equal(frames[0], ends[0])
        np.testing.assert_array_equal(frames[-1], ends[1])
    lerp = vae.interpolate(VAE, a, b, 7, "linear", device="cpu")
    slerp = vae.interpolate(VAE, a, b, 7, "slerp", device="cpu")
    assert np.abs(lerp[3].astype(int) - slerp[3]).max() > 0


def test_slerp_follows_the_sphere():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = vae.slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0)
    np.testing.assert_allclose(path[2], [np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(vae.slerp(a, 2 * a, np.array([0.5])), [[1.5, 0.0]])  # parallel: linear


def test_walk_corners_are_the_decoded_corner_latents():
    corners = np.random.default_rng(0).standard_normal((4, load(VAE).config.latent_dim)).astype(np.float32)
    grid = vae.walk(VAE, corners, size=3, device="cpu")
    assert grid.shape == (3, 3, 28, 28)
    decoded = vae.decode(VAE, corners, device="cpu")
    for (r, c), k in zip([(0, 0), (0, 2), (2, 0), (2, 2)], range(4), strict=True):
        np.testing.assert_array_equal(grid[r, c], decoded[k])


@pytest.mark.parametrize("call, message", [
    (lambda: vae.interpolate(VAE, np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8), 1), "Steps"),
    (lambda: vae.interpolate(VAE, np.zeros((28, 28), np.uint8), np.zeros((28, 28), np.uint8), 4, "cubic"), "Path"),
    (lambda: vae.walk(VAE, np.zeros((4, 32), np.float32), 9), "Walk size"),
    (lambda: vae.decode(VAE, np.full((1, 32), np.nan, np.float32)), "finite"),
    (lambda: vae.encode(VAE, np.zeros((1, 32, 32), np.uint8)), "shape"),
])
def test_model_layer_refuses_bad_requests(call, message):
    with pytest.raises(InvalidRequestError, match=message):
        call()


def test_api_interpolate_returns_frames_from_a_to_b_and_a_gif(client):
    strip, gif = client.predict(VAE, handle_file(BOOT), handle_file(DRESS), 12, "slerp", True,
                                api_name="/interpolate")
    frames = cells(strip)
    expected = vae.interpolate(VAE, pixels(BOOT), pixels(DRESS), 12, "slerp", device="cpu")
    assert np.abs(frames.astype(int) - expected).max() <= 1
    ends = vae.reconstruct(VAE, np.stack([pixels(BOOT), pixels(DRESS)]), device="cpu")
    assert np.abs(frames[[0, -1]].astype(int) - ends).max() <= 1
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == 12 + 10  # ping-pong: forward and back
    params = pnginfo.read(gif)
    assert (params["steps"], params["path"], params["ping_pong"]) == (12, "slerp", True)
    assert pnginfo.read(strip)["mode"] == "interpolate"


def test_api_linear_and_slerp_differ(client):
    linear, _ = client.predict(VAE, handle_file(BOOT), handle_file(DRESS), 5, "linear", False, api_name="/interpolate")
    slerp, gif = client.predict(VAE, handle_file(BOOT), handle_file(DRESS), 5, "slerp", False, api_name="/interpolate")
    assert not np.array_equal(cells(linear)[2], cells(slerp)[2])
    with Image.open(gif) as animation:
        assert animation.n_frames == 5


def test_api_encode_returns_the_posterior_mean(client):
    preview, latent = client.predict(VAE, handle_file(DRESS), api_name="/encode")
    expected = vae.encode(VAE, pixels(DRESS)[None], device="cpu")[0]
    np.testing.assert_allclose(latent, expected, atol=1e-4)
    assert Image.open(preview).size[0] > 2 * 28  # model view and reconstruction, upscaled side by side


def test_api_walk_and_png_restore(client):
    path = client.predict(VAE, handle_file(BOOT), handle_file(DRESS), None, None, 4, 7, api_name="/walk")
    grid = cells(path)
    ends = vae.reconstruct(VAE, np.stack([pixels(BOOT), pixels(DRESS)]), device="cpu")
    assert np.abs(grid[[0, 3]].astype(int) - ends).max() <= 1
    params = pnginfo.read(path)
    assert (params["mode"], params["size"], params["seed"]) == ("walk", 4, 7)
    model, a, b, c, d, *_, walk_image = client.predict(handle_file(path), api_name="/restore_vae")
    assert model == VAE and c is None and d is None
    np.testing.assert_array_equal(pixels(a), pixels(BOOT))
    np.testing.assert_array_equal(pixels(walk_image), pixels(path))


def image_file(tmp_path, name: str, image: Image.Image, format: str = "PNG") -> str:
    path = tmp_path / name
    image.save(path, format=format)
    return str(path)


def test_uploads_in_any_colour_mode_are_converted(client, tmp_path):
    shirt = Image.new("RGBA", (120, 160), (0, 0, 0, 0))
    ImageDraw.Draw(shirt).rectangle((30, 10, 90, 150), fill=(200, 60, 20, 255))
    paths = [
        image_file(tmp_path, "rgba.png", shirt),
        image_file(tmp_path, "palette.png", shirt.convert("RGB").convert("P")),
        image_file(tmp_path, "sixteen.png", Image.fromarray(np.asarray(shirt.convert("L"), np.uint16) * 257)),
        image_file(tmp_path, "cmyk.jpg", shirt.convert("RGB").convert("CMYK"), "JPEG"),
    ]
    for path in paths:
        _, latent = client.predict(VAE, handle_file(path), api_name="/encode")
        assert len(latent) == load(VAE).config.latent_dim and np.isfinite(latent).all(), path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "notes.png", "not an image the studio can read"),
    (lambda d: image_file(d, "blank.png", Image.new("RGB", (64, 64), "white")), "empty"),
    (lambda d: image_file(d, "dot.png", Image.new("RGB", (1, 1))), "at least 8 pixels"),
    (lambda d: image_file(d, "huge.png", Image.new("L", (8000, 8000))), "up to 25 megapixels"),
])
def test_bad_uploads_get_a_clear_message_and_the_server_keeps_serving(client, tmp_path, make, message):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(AppError, match=message):
        client.predict(VAE, handle_file(str(make(tmp_path))), api_name="/encode")
    assert len(client.predict(VAE, handle_file(BOOT), api_name="/encode")[1]) > 0


def test_a_missing_slot_is_named(client):
    with pytest.raises(AppError, match="Slot B is empty"):
        client.predict(VAE, handle_file(BOOT), None, 8, "linear", False, api_name="/interpolate")
    with pytest.raises(AppError, match="Steps"):
        client.predict(VAE, handle_file(BOOT), handle_file(DRESS), 2.5, "linear", False, api_name="/interpolate")


def test_gif_comment_round_trip(tmp_path):
    from studio.images import write_gif

    path = write_gif(np.zeros((3, 28, 28), np.uint8), tmp_path / "x.gif",
                     comment=pnginfo.gif_comment({"tab": "vae", "steps": 3}))
    assert pnginfo.read(path)["steps"] == 3
    Image.new("L", (8, 8)).save(tmp_path / "plain.gif", comment=b"hello")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="no studio parameters"):
        pnginfo.read(tmp_path / "plain.gif")
    assert np.array_equal(pnginfo.decode_pixels(pnginfo.encode_pixels(pixels(BOOT))), pixels(BOOT))


def texture_views(*paths: str) -> np.ndarray:
    return np.stack([vae.from_picture(TEXTURE_VAE, Image.open(path)) for path in paths])


def test_the_texture_vae_sees_a_centred_colour_square_and_encodes_it_deterministically():
    views = texture_views(BANDED, BUBBLY)
    assert views.shape == (2, vae.TEXTURE_VAE_SIZE, vae.TEXTURE_VAE_SIZE, 3) and views.dtype == np.uint8
    np.testing.assert_array_equal(vae.from_picture(TEXTURE_VAE, Image.fromarray(views[0])), views[0])
    latents = vae.encode(TEXTURE_VAE, views, device="cpu")
    assert latents.shape == (2, vae.latent_size(TEXTURE_VAE)) and latents.dtype == np.float32
    np.testing.assert_array_equal(latents, vae.encode(TEXTURE_VAE, views, device="cpu"))
    reconstructions = vae.reconstruct(TEXTURE_VAE, views, device="cpu")
    assert reconstructions.shape == views.shape and reconstructions.dtype == np.uint8
    as_model = lambda x: torch.from_numpy(x).float().div(127.5).sub(1)  # noqa: E731
    assert vae.psnr(as_model(reconstructions), as_model(views)).mean() >= 18.0
    assert reconstructions.std() > 20  # colour texture, not a flat grey
    with pytest.raises(InvalidRequestError, match=r"shape \[N, 64, 64, 3\]"):
        vae.encode(TEXTURE_VAE, np.zeros((1, 28, 28), np.uint8))


def test_texture_interpolation_and_walk_run_in_colour_between_the_reconstructions():
    a, b = texture_views(BANDED, BUBBLY)
    ends = vae.reconstruct(TEXTURE_VAE, np.stack([a, b]), device="cpu")
    for path in vae.PATHS:
        frames = vae.interpolate(TEXTURE_VAE, a, b, steps=5, path=path, device="cpu")
        assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
        np.testing.assert_array_equal(frames[[0, -1]], ends)
        np.testing.assert_array_equal(frames, vae.interpolate(TEXTURE_VAE, a, b, 5, path, device="cpu"))
    corners = np.stack([*vae.encode(TEXTURE_VAE, np.stack([a, b]), device="cpu"),
                        vae.prior_latent(TEXTURE_VAE, 3), vae.prior_latent(TEXTURE_VAE, 4)])
    np.testing.assert_array_equal(corners[2], vae.prior_latent(TEXTURE_VAE, 3))
    grid = vae.walk(TEXTURE_VAE, corners, size=3, device="cpu")
    assert grid.shape == (3, 3, 64, 64, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[0, [0, 2]], ends)


def test_the_examples_gallery_follows_the_model():
    assert [path for path, _ in vae_tab.examples(VAE)] == [str(p) for p in EXAMPLES]
    photos = vae_tab.examples(TEXTURE_VAE)
    assert len(photos) == 10 and all(path.endswith(".jpg") for path, _ in photos)


def test_api_texture_vae_encode_interpolate_walk_and_restore(client):
    views = texture_views(BANDED, BUBBLY)
    preview, latent = client.predict(TEXTURE_VAE, handle_file(BANDED), api_name="/encode")
    np.testing.assert_allclose(latent, vae.encode(TEXTURE_VAE, views[:1], device="cpu")[0], atol=1e-4)
    assert Image.open(preview).mode == "RGB"
    strip, gif = client.predict(TEXTURE_VAE, handle_file(BANDED), handle_file(BUBBLY), 6, "slerp", False,
                                api_name="/interpolate")
    expected = vae.interpolate(TEXTURE_VAE, *views, 6, "slerp", device="cpu")
    assert np.abs(cells(strip, "RGB").astype(int) - expected).max() <= 1
    with Image.open(gif) as animation:
        assert animation.n_frames == 6
    path = client.predict(TEXTURE_VAE, handle_file(BANDED), handle_file(BUBBLY), None, None, 3, 7, api_name="/walk")
    grid = cells(path, "RGB")
    assert grid.shape == (9, 64, 64, 3)
    ends = vae.reconstruct(TEXTURE_VAE, views, device="cpu")
    assert np.abs(grid[[0, 2]].astype(int) - ends).max() <= 1
    model, a, *_, walk_image = client.predict(handle_file(path), api_name="/restore_vae")
    assert model == TEXTURE_VAE
    np.testing.assert_array_equal(np.asarray(Image.open(a).convert("RGB")), views[0])
    np.testing.assert_array_equal(np.asarray(Image.open(walk_image).convert("RGB")),
                                  np.asarray(Image.open(path).convert("RGB")))
