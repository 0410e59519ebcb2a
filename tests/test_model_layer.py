"""Registry, weight verification, device selection, and deterministic sampling with the shipped weights."""

import shutil

import numpy as np
import pytest
import torch

from models import conditional, registry, sampling
from models import device as device_module
from models.loading import WeightFileError, load

GAN = "fmnist-gan"


def test_registry_lists_shipped_checkpoints_with_their_facts():
    ids = {c.id for c in registry.checkpoints()}
    assert {GAN, "fmnist-dcgan-baseline", "fmnist-classifier"} <= ids
    gan = registry.get(GAN)
    assert gan.task == sampling.TASK
    assert len(gan.weights.sha256) == 64
    assert gan.license and gan.training_data and gan.card_path.is_file()
    assert {"frechet_distance", "class_entropy"} <= set(gan.metrics)
    assert [c.id for c in registry.checkpoints("classification-fashion-mnist")] == ["fmnist-classifier"]


def test_shipped_weights_are_small():
    for checkpoint in registry.checkpoints():
        assert checkpoint.path(checkpoint.weights).stat().st_size < 25 * 2**20


def test_unknown_id_names_the_known_ones():
    with pytest.raises(registry.UnknownModelError, match="Known models: .*fmnist-gan"):
        registry.get("no-such-model")


def test_load_is_cached_in_eval_mode():
    net = load(GAN, "cpu")
    assert net is load(GAN, "cpu")
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def copy_checkpoint(tmp_path):
    shutil.copytree(registry.get(GAN).directory, tmp_path / "copy")
    return registry.read_checkpoint(tmp_path / "copy")


def test_corrupt_weights_are_refused_with_file_and_expected_hash(tmp_path):
    checkpoint = copy_checkpoint(tmp_path)
    path = checkpoint.path(checkpoint.weights)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightFileError) as error:
        load(checkpoint, "cpu")
    assert str(path) in str(error.value) and checkpoint.weights.sha256 in str(error.value)


def test_missing_weights_name_the_file(tmp_path):
    checkpoint = copy_checkpoint(tmp_path)
    checkpoint.path(checkpoint.weights).unlink()
    with pytest.raises(WeightFileError, match="missing"):
        load(checkpoint, "cpu")


def test_device_selection_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device_module.select_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_module.select_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device_module.select_device("auto").type == "cpu"
    with pytest.raises(device_module.DeviceUnavailableError, match="CUDA"):
        device_module.select_device("cuda")
    with pytest.raises(ValueError):
        device_module.select_device("tpu")


def test_same_seed_same_pixels_and_valid_range():
    a = sampling.sample(GAN, seed=7, n=3, psi=0.8, direction_values=[1.5, -2.0], device="cpu")
    b = sampling.sample(GAN, seed=7, n=3, psi=0.8, direction_values=[1.5, -2.0], device="cpu")
    assert a.shape == (3, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.max() > 128 and a.min() < 64  # real images, not a flat field
    assert not np.array_equal(a[0], a[1])


def test_grid_images_are_exactly_the_single_samples_of_consecutive_seeds():
    grid = sampling.sample(GAN, seed=100, n=40, device="cpu")
    for i in (0, 5, 17, 39):
        np.testing.assert_array_equal(grid[i], sampling.sample(GAN, seed=100 + i, n=1, device="cpu")[0])


def test_batched_requests_get_exactly_the_pixels_they_get_alone():
    """Without fixed-size forward passes, 2 of these 12 GAN requests differed in a pixel or two when batched."""
    requests = [{"model_id": GAN, "seed": seed, "n": 2, "psi": 0.9} for seed in range(20, 32)]
    for together, request in zip(sampling.sample_many(requests, device="cpu"), requests, strict=True):
        np.testing.assert_array_equal(together, sampling.sample(**request, device="cpu"))
    requests = [{"model_id": "fmnist-cgan", "label": seed % 10, "seed": seed, "n": 2, "psi": 0.9}
                for seed in range(20, 32)]
    for together, request in zip(conditional.generate_many(requests, device="cpu"), requests, strict=True):
        np.testing.assert_array_equal(together, conditional.generate(**request, device="cpu"))


def test_psi_zero_collapses_every_seed_to_the_mean_image():
    out = sampling.sample(GAN, seed=0, n=4, psi=0.0, device="cpu")
    assert all(np.array_equal(out[0], out[i]) for i in range(1, 4))


def test_direction_previews_show_each_direction_at_its_offsets():
    values = [0.0, 1.5] + [0.0] * 8
    rows = sampling.direction_previews("fmnist-gan", 42, 0.9, values)
    assert rows.shape == (10, len(sampling.PREVIEW_OFFSETS), 28, 28)
    centre = sampling.PREVIEW_OFFSETS.index(0.0)
    current = sampling.sample("fmnist-gan", 42, 1, 0.9, values)[0]
    np.testing.assert_array_equal(rows[0, centre], current)  # PC1 at 0: the current sample (PC2 at 1.5)
    np.testing.assert_array_equal(rows[1, -1], sampling.sample("fmnist-gan", 42, 1, 0.9, [0.0, 4.0] + [0.0] * 8)[0])
    assert all(np.abs(rows[k, 0].astype(int) - rows[k, -1]).max() > 0 for k in range(10))


def test_directions_are_unit_vectors_that_change_the_image():
    directions = sampling.latent_directions(GAN)
    assert len(directions) >= 8
    torch.testing.assert_close(directions.directions.norm(dim=1), torch.ones(len(directions)))
    assert (directions.explained_variance[:-1] >= directions.explained_variance[1:]).all()
    base = sampling.sample(GAN, seed=3, device="cpu")
    moved = sampling.sample(GAN, seed=3, direction_values=[3.0], device="cpu")
    assert np.abs(base.astype(int) - moved).mean() > 2


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1}, "Seed"),
    ({"seed": 2**32}, "Seed"),
    ({"seed": 0, "n": 65}, "Number of samples"),
    ({"seed": 0, "n": 0}, "Number of samples"),
    ({"seed": 0, "psi": 3.0}, "psi"),
    ({"seed": 0, "direction_values": [6.0]}, "standard deviations"),
    ({"seed": 0, "direction_values": [0.0] * 50}, "latent directions"),
])
def test_bad_requests_raise_readable_errors(kwargs, message):
    with pytest.raises(sampling.InvalidRequestError, match=message):
        sampling.sample(GAN, **kwargs)


def test_classifier_is_not_a_sampler():
    with pytest.raises(sampling.InvalidRequestError, match="not unconditional-generation"):
        sampling.sample("fmnist-classifier", seed=0)


def test_a_model_first_loaded_in_inference_mode_can_still_take_part_in_autograd():
    from models import loading

    loading._cache.clear()
    with torch.inference_mode():
        net = loading.load("fmnist-vae", "cpu")
    z = torch.zeros(1, net.config.latent_dim, requires_grad=True)
    net.decode(z).sum().backward()
    assert z.grad is not None
