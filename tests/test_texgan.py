"""The colour texture family: the GAN's network (any size, seamless tiling, conditional and "any class"
use), its model layer, and the evaluations of the GAN and the VAE."""

import re
import shutil

import numpy as np
import pytest
import torch

from models import texgen
from models.errors import InvalidRequestError
from models.nets.texgan import ModulatedConv, TexDiscriminator, TexGANConfig, TexGenerator


@pytest.fixture(scope="module")
def generator() -> TexGenerator:
    """A small generator whose styles matter (they start at zero effect, before training)."""
    torch.manual_seed(0)
    net = TexGenerator(TexGANConfig(width=8)).eval()
    for module in net.modules():
        if isinstance(module, ModulatedConv):
            torch.nn.init.normal_(module.affine.weight, std=0.1)
    return net


def draw(config: TexGANConfig, cells: tuple[int, int], label: int, seed: int = 0):
    noise = torch.Generator().manual_seed(seed)
    return (torch.randn(1, config.z_local, *cells, generator=noise), torch.randn(1, config.z_global, generator=noise),
            torch.tensor([label]))


@pytest.mark.parametrize("cells", [(4, 4), (3, 7), (16, 16)])
def test_any_grid_of_latent_cells_makes_an_image_sixteen_times_its_size(generator, cells):
    with torch.no_grad():
        images = generator(*draw(generator.config, cells, 3))
    assert images.shape == (1, 3, 16 * cells[0], 16 * cells[1]) and images.abs().max() <= 1


def test_seamless_output_is_a_torus_and_the_trained_padding_is_not(generator):
    """Rolling the latent grid by a cell rolls a seamless image by 16 pixels, wrapping round: its last
    column continues into its first exactly as its neighbours do. Zero padding breaks this at the edges."""
    z_local, z_global, label = draw(generator.config, (4, 6), 2)
    rolled = torch.roll(z_local, shifts=(1, 2), dims=(2, 3))
    with torch.no_grad():
        seamless = generator(z_local, z_global, label, seamless=True)
        seamless_rolled = generator(rolled, z_global, label, seamless=True)
        plain, plain_rolled = generator(z_local, z_global, label), generator(rolled, z_global, label)
    torch.testing.assert_close(torch.roll(seamless, shifts=(16, 32), dims=(2, 3)), seamless_rolled)
    assert (torch.roll(plain, shifts=(16, 32), dims=(2, 3)) - plain_rolled).abs().max() > 1e-3


def test_the_class_and_any_class_change_the_texture_and_the_critic_scores_patches(generator):
    config = generator.config
    z_local, z_global, _ = draw(config, (4, 4), 0)
    with torch.no_grad():
        images = [generator(z_local, z_global, torch.tensor([label])) for label in (0, 5, config.num_classes)]
    assert all((a - b).abs().mean() > 1e-4 for a, b in zip(images, images[1:], strict=False))
    logits, classes = TexDiscriminator(config)(torch.cat(images), torch.tensor([0, 5, config.num_classes]))
    assert logits.shape == (3, 1, 4, 4) and classes.shape == (3, config.num_classes)


@pytest.fixture(scope="module")
def tiny_texgan(tmp_path_factory, synthetic_dtd):
    """A texture generator, its DCGAN baseline and a texture VAE, each trained for one step on the synthetic
DTD folder, registered with the texture classifier alone."""
    from models import registry
    from models.train.__main__ import main as train_main

    assets = tmp_path_factory.mktemp("assets")
    shutil.copytree(registry.get("dtd10-texture").directory, assets / "dtd10-texture")  # the evaluation's judge
    for arch, model_id in (("studio", "tiny-texgan"), ("dcgan", "tiny-texgan-dcgan")):
        train_main(["texgan", "--arch", arch, "--data", str(synthetic_dtd), "--steps", "1", "--batch-size", "2",
                    "--patch", "32", "--photo-size", "40", "--width", "8", "--device", "cpu", "--model-id", model_id,
                    "--run-dir", str(assets / f"run-{arch}"), "--export", str(assets / model_id)])
    train_main(["texvae", "--data", str(synthetic_dtd), "--steps", "1", "--batch-size", "2", "--patch", "32",
                "--photo-size", "40", "--width", "8", "--device", "cpu", "--model-id", "tiny-texvae",
                "--run-dir", str(assets / "run-vae"), "--export", str(assets / "tiny-texvae")])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "ASSETS_DIR", assets)
        yield "tiny-texgan"


def test_textures_are_rgb_at_any_multiple_of_sixteen_and_repeat_with_their_seed(tiny_texgan):
    for size in (64, 96, 160):
        image = texgen.generate(tiny_texgan, "bubbly", seed=5, size=size, device="cpu")[0]
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
    grid = texgen.generate(tiny_texgan, "Bubbly", seed=4, size=160, n=3, device="cpu")
    np.testing.assert_array_equal(grid[1], image)  # picture i of a grid is seed + i alone
    other = grid[2]
    assert np.abs(other.astype(int) - image).max() > 0
    seamless = texgen.generate(tiny_texgan, "bubbly", seed=5, size=160, seamless=True, device="cpu")[0]
    assert np.abs(seamless.astype(int) - image).max() > 0
    assert texgen.class_names(tiny_texgan) == ["banded", "bubbly", "chequered", "cracked"]
    assert texgen.class_index(tiny_texgan, texgen.ANY_CLASS) == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 100}, "multiple of 16 from 64 to 1024"),
    ({"size": 2048}, "multiple of 16 from 64 to 1024"),
    ({"size": 1024, "n": 5}, "At 1024 pixels a side the studio makes at most 4 textures at once"),
    ({"class_name": "plaid"}, "Unknown texture class 'plaid'. Classes: any, banded"),
    ({"seed": -1}, "Seed must be a whole number"),
    ({"psi": 3.0}, "Truncation psi"),
    ({"direction_values": [9.0]}, "Direction values must lie from -5.0 to 5.0"),
])
def test_bad_texture_requests_say_what_is_wrong(tiny_texgan, kwargs, message):
    with pytest.raises(InvalidRequestError, match=re.escape(message)):
        texgen.generate(tiny_texgan, **{"class_name": "banded", "seed": 1, "size": 64, **kwargs})


def test_texgan_evaluation_reports_class_accuracy_distance_and_seams(tiny_texgan, synthetic_dtd):
    from models.evaluate import main, seam_ratio

    scores = main(["texgan", "--data", str(synthetic_dtd), "--model", tiny_texgan, "--model", "tiny-texgan-dcgan",
                   "--texture-per-class", "2", "--texture-size", "64"])
    assert set(scores) == {"real crops", tiny_texgan, "tiny-texgan-dcgan"}
    studio = scores[tiny_texgan]
    assert 0 <= studio["class_accuracy"] <= 1 and studio["frechet_distance"] >= 0 and studio["seam_ratio"] > 0
    assert set(scores["tiny-texgan-dcgan"]) == {"frechet_distance"}
    stripes = np.tile(np.arange(0, 250, 10, dtype=np.uint8)[None, :, None], (25, 1, 3))  # a ramp: a hard seam
    assert seam_ratio([stripes]) > 5 and seam_ratio([np.roll(stripes, 12, axis=1)]) < 1  # the seam moved inside
    assert abs(seam_ratio([np.tile(np.array([0, 200], np.uint8), (8, 4))[..., None]]) - 1) < 1e-9
    blocks = np.kron(np.arange(16, dtype=np.uint8).reshape(4, 4) * 10, np.ones((4, 4), np.uint8))[..., None]
    assert seam_ratio([blocks], period=4) < seam_ratio([blocks])  # the wrap edge is a block edge like the others


def test_texvae_evaluation_reports_psnr_and_detail(tiny_texgan, synthetic_dtd):
    from models.evaluate import main

    scores = main(["texvae", "--data", str(synthetic_dtd), "--model", "tiny-texvae", "--texture-size", "32"])
    assert 0 < scores["tiny-texvae"]["psnr"] < 60 and 0 <= scores["tiny-texvae"]["detail_ratio"] < 5


def test_one_of_each_morph_and_previews_are_colour_and_keep_the_seed(tiny_texgan):
    each = texgen.one_of_each(tiny_texgan, seed=3, n=2, size=64, device="cpu")
    assert each.shape == (4, 2, 64, 64, 3) and each.dtype == np.uint8
    np.testing.assert_array_equal(each[1, 1], texgen.generate(tiny_texgan, "bubbly", 4, 64, device="cpu")[0])
    frames = texgen.morph(tiny_texgan, "banded", "cracked", seed=3, steps=5, size=64, device="cpu")
    assert frames.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(frames[0], each[0, 0])  # the ends are the two classes at that seed
    np.testing.assert_array_equal(frames[-1], each[3, 0])
    previews = texgen.direction_previews(tiny_texgan, seed=3, psi=1.0, direction_values=[0.0, 1.5])
    assert previews.shape == (2, 5, texgen.PREVIEW_SIZE, texgen.PREVIEW_SIZE, 3)
    as_made = [texgen.generate(tiny_texgan, texgen.ANY_CLASS, 3, texgen.PREVIEW_SIZE, seamless=True,
                               direction_values=values, device="cpu")[0] for values in ([0.0, 1.5], [0.0, 0.0])]
    for row, texture in enumerate(as_made):  # each row's middle is the texture as it stands (made in one batch)
        assert np.abs(previews[row, 2].astype(int) - texture).max() <= 1
    assert texgen.is_texture_model(tiny_texgan) and not texgen.is_texture_model("fmnist-gan")
