"""Two-step smoke runs on tiny synthetic data write checkpoints that load and serve."""

import numpy as np
import pytest
import torch

from models import registry
from models.loading import load
from models.nets import Classifier
from models.train.__main__ import main as train_main
from models.train.gan import lr_factor


@pytest.mark.parametrize("arch, critic", [("studio", "spectral"), ("studio", "batch"), ("studio", "r1"),
                                          ("dcgan", "spectral")])
def test_gan_smoke_run_writes_a_loadable_checkpoint(tmp_path, synthetic_fashion_mnist, arch, critic):
    out = train_main(["gan", "--arch", arch, "--critic", critic, "--steps", "2", "--batch-size", "8",
                      "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.training["steps"] == 2
    generator = load(checkpoint, "cpu")
    images = generator(torch.randn(2, generator.config.z_dim))
    assert images.shape == (2, 1, 28, 28)
    assert images.abs().max() <= 1
    assert "latent_directions" in checkpoint.extra_files
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


def test_cgan_smoke_run_writes_a_conditional_generator(tmp_path, synthetic_fashion_mnist):
    out = train_main(["cgan", "--steps", "2", "--batch-size", "8", "--data", str(synthetic_fashion_mnist),
                      "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.task == "class-conditional-generation"
    generator = load(checkpoint, "cpu")
    images = generator(torch.randn(3, generator.config.z_dim), torch.tensor([0, 5, 9]))
    assert images.shape == (3, 1, 28, 28)


def test_learning_rate_is_constant_then_decays_to_zero():
    assert lr_factor(0.3, decay_from=0.5) == 1.0
    assert lr_factor(0.75, decay_from=0.5) == pytest.approx(0.5)
    assert lr_factor(1.0, decay_from=0.5) == 0.0
    assert lr_factor(0.99, decay_from=1.0) == 1.0


def test_gan_resumes_from_its_checkpoint(tmp_path, synthetic_fashion_mnist):
    args = ["gan", "--batch-size", "8", "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"),
            "--device", "cpu"]
    train_main(args + ["--steps", "2"])
    out = train_main(args + ["--steps", "3"])
    assert registry.read_checkpoint(out).training["steps"] == 3


def test_classifier_smoke_run(tmp_path, synthetic_fashion_mnist):
    out = train_main(["classifier", "--epochs", "1", "--max-steps", "2", "--batch-size", "16",
                      "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    net = load(checkpoint, "cpu")
    assert isinstance(net, Classifier)
    assert 0.0 <= checkpoint.metrics["test_accuracy"] <= 1.0
    assert np.isfinite(checkpoint.metrics["test_accuracy"])
