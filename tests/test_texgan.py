"""The colour texture GAN's network: any size, seamless tiling, conditional and "any class" use."""

import pytest
import torch

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
        generator.set_seamless(True)
        seamless, seamless_rolled = generator(z_local, z_global, label), generator(rolled, z_global, label)
        generator.set_seamless(False)
        plain, plain_rolled = generator(z_local, z_global, label), generator(rolled, z_global, label)
    torch.testing.assert_close(torch.roll(seamless, shifts=(16, 32), dims=(2, 3)), seamless_rolled)
    assert (torch.roll(plain, shifts=(16, 32), dims=(2, 3)) - plain_rolled).abs().max() > 1e-3


def test_the_class_and_any_class_change_the_texture_and_the_critic_scores_patches(generator):
    config = generator.config
    z_local, z_global, _ = draw(config, (4, 4), 0)
    with torch.no_grad():
        images = [generator(z_local, z_global, torch.tensor([label])) for label in (0, 5, config.num_classes)]
    assert all((a - b).abs().mean() > 1e-4 for a, b in zip(images, images[1:], strict=False))
    logits = TexDiscriminator(config)(torch.cat(images), torch.tensor([0, 5, config.num_classes]))
    assert logits.shape == (3, 1, 4, 4)
