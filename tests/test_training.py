"""Two-step smoke runs on tiny synthetic data write checkpoints that load and serve."""

from pathlib import Path

import numpy as np
import pytest
import torch

from models import registry
from models.loading import load
from models.nets import Classifier, ClusterGenerator, ClusterGeneratorConfig
from models.train.__main__ import main as train_main
from models.train.gan import ClassGroupedBatches, kmeans, lr_factor


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


def test_cgan_class_groups_smoke_run(tmp_path, synthetic_fashion_mnist):
    out = train_main(["cgan", "--class-groups", "--steps", "2", "--batch-size", "8",
                      "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    assert registry.read_checkpoint(out).training["steps"] == 2


def test_cluster_gan_smoke_run_ships_an_unconditional_generator(tmp_path, synthetic_fashion_mnist):
    out = train_main(["gan", "--clusters", "3", "--steps", "2", "--batch-size", "8",
                      "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.task == "unconditional-generation"
    assert checkpoint.architecture == "studio-cluster-gan-generator"
    assert len(checkpoint.config["cluster_weights"]) == 3
    assert sum(checkpoint.config["cluster_weights"]) == pytest.approx(1.0)
    generator = load(checkpoint, "cpu")
    images = generator(torch.randn(4, generator.config.z_dim))
    assert images.shape == (4, 1, 28, 28)
    assert "latent_directions" in checkpoint.extra_files


def test_kmeans_finds_well_separated_groups():
    rng = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = torch.arange(300) % 3
    points = centres[truth] + 0.5 * torch.randn(300, 2, generator=rng)
    found = kmeans(points, 3, seed=0)
    for group in range(3):
        assert len(set(found[truth == group].tolist())) == 1  # each group is one cluster...
    assert len(set(found.tolist())) == 3  # ...and the three are different


def test_class_grouped_batches_put_one_label_in_each_standard_deviation_group():
    labels = torch.tensor([0] * 90 + [1] * 10)
    rng = torch.Generator().manual_seed(0)
    uniform = ClassGroupedBatches(labels, 2, batch_size=16, group_size=4)
    batch_labels = uniform.labels(rng)
    assert torch.equal(batch_labels.view(4, 4), batch_labels[:4].repeat(4, 1))  # i and i + 4 share a label
    assert torch.equal(labels[uniform.indices(batch_labels, rng)], batch_labels)
    draws = torch.cat([uniform.labels(rng) for _ in range(500)]).float().mean()
    assert draws == pytest.approx(0.5, abs=0.05)
    proportional = ClassGroupedBatches(labels, 2, batch_size=16, group_size=4, proportional=True)
    assert torch.cat([proportional.labels(rng) for _ in range(500)]).float().mean() == pytest.approx(0.1, abs=0.03)
    with pytest.raises(SystemExit, match="multiple of 4"):
        ClassGroupedBatches(labels, 2, batch_size=10, group_size=4)


def test_cluster_generator_picks_clusters_in_proportion_and_keeps_them_under_truncation():
    weights = (0.1, 0.5, 0.15, 0.25)
    generator = ClusterGenerator(ClusterGeneratorConfig(z_dim=8, width=4, embedding_dim=4, cluster_weights=weights))
    z = torch.randn(40000, 8, generator=torch.Generator().manual_seed(0))
    clusters = generator.clusters(z)
    shares = torch.bincount(clusters, minlength=4).float() / len(z)
    assert torch.allclose(shares, torch.tensor(weights), atol=0.01)
    assert torch.equal(generator.clusters(0.3 * z), clusters)
    wanted = torch.multinomial(torch.tensor(weights), 40000, replacement=True,
                               generator=torch.Generator().manual_seed(1))
    drawn = generator.latents(wanted, torch.Generator().manual_seed(2))
    assert torch.equal(generator.clusters(drawn), wanted)
    assert torch.allclose(drawn.std(0), torch.ones(8), atol=0.03)  # drawn in proportion: z ~ N(0, I) again
    assert torch.allclose(drawn.mean(0), torch.zeros(8), atol=0.03)


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


def test_vae_smoke_run_writes_a_vae_and_resumes(tmp_path, synthetic_fashion_mnist):
    args = ["vae", "--epochs", "1", "--batch-size", "16", "--latent-dim", "16", "--beta", "0.5",
            "--data", str(synthetic_fashion_mnist), "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    train_main(args + ["--max-steps", "2"])
    out = train_main(args + ["--max-steps", "3"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.task == "variational-autoencoder" and checkpoint.training["steps"] == 3
    assert checkpoint.training["beta"] == 0.5
    net = load(checkpoint, "cpu")
    assert net.config.latent_dim == 16
    reconstruction = net(torch.zeros(2, 1, 28, 28))
    assert reconstruction.shape == (2, 1, 28, 28) and reconstruction.abs().max() <= 1


def test_a_resumed_one_cycle_schedule_continues_where_it_stopped():
    from models.train.common import one_cycle

    def optimizer():
        return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    fresh_optimizer = optimizer()
    fresh = one_cycle(fresh_optimizer, 1e-2, 100, 0)
    for _ in range(37):
        fresh_optimizer.step()
        fresh.step()
    resumed_optimizer = optimizer()
    resumed_optimizer.load_state_dict(fresh_optimizer.state_dict())
    resumed = one_cycle(resumed_optimizer, 1e-2, 100, 37)
    assert resumed.get_last_lr() == pytest.approx(fresh.get_last_lr())
    for o, schedule in ((fresh_optimizer, fresh), (resumed_optimizer, resumed)):
        o.step()
        schedule.step()
    assert resumed.get_last_lr() == pytest.approx(fresh.get_last_lr())


def test_inpaint_smoke_run_writes_a_loadable_network(tmp_path, synthetic_dtd):
    out = train_main(["inpaint", "--data", str(synthetic_dtd), "--steps", "2", "--batch-size", "2", "--crop", "32",
                      "--short-side", "80", "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.task == "inpainting" and checkpoint.training["photos"] == 16  # the train1 split only
    net = load(checkpoint, "cpu")
    filled = net(torch.zeros(1, 3, 32, 48), torch.ones(1, 1, 32, 48))
    assert filled.shape == (1, 3, 32, 48) and filled.abs().max() <= 1


def test_texture_smoke_run_learns_the_class_list_from_the_data(tmp_path, synthetic_dtd):
    out = train_main(["texture", "--data", str(synthetic_dtd), "--steps", "2", "--batch-size", "4", "--crop", "32",
                      "--width", "8", "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.config["class_names"] == ["banded", "bubbly", "chequered", "cracked"]
    assert 0 <= checkpoint.metrics["val1_accuracy"] <= 1
    net = load(checkpoint, "cpu")
    assert net(torch.zeros(2, 3, 40, 56)).shape == (2, 4)


@pytest.mark.parametrize("layout", ["dtd", "class-folders", "flat"])
def test_texgan_smoke_run_takes_any_picture_folder_and_resumes(tmp_path, synthetic_dtd, layout):
    from PIL import Image

    from models.nets.texgan import TexGenerator

    if layout == "dtd":
        data, classes = synthetic_dtd, ["banded", "bubbly", "chequered", "cracked"]
    else:
        data = tmp_path / "pictures"
        rng = np.random.default_rng(1)
        for i in range(4):
            folder = data / ("stone" if i % 2 else "wood") if layout == "class-folders" else data
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        classes = ["stone", "wood"] if layout == "class-folders" else []
    args = ["texgan", "--data", str(data), "--batch-size", "2", "--patch", "32", "--photo-size", "40", "--width", "8",
            "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    train_main(args + ["--steps", "1"])
    out = train_main(args + ["--steps", "2"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.task == "texture-generation" and checkpoint.training["steps"] == 2
    assert list(checkpoint.config["class_names"]) == classes
    net = load(checkpoint, "cpu")
    assert isinstance(net, TexGenerator)
    images = net(torch.randn(1, 16, 3, 5), torch.randn(1, 32), torch.tensor([net.config.num_classes]))
    assert images.shape == (1, 3, 48, 80) and images.abs().max() <= 1


def test_texgan_dcgan_baseline_smoke_run_writes_a_loadable_spatial_generator(tmp_path, synthetic_dtd):
    out = train_main(["texgan", "--arch", "dcgan", "--data", str(synthetic_dtd), "--steps", "2", "--batch-size", "2",
                      "--patch", "32", "--photo-size", "40", "--width", "8", "--run-dir", str(tmp_path / "run"),
                      "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.id == "dtd10-texgan-dcgan-baseline" and checkpoint.task == "texture-generation-baseline"
    images = load(checkpoint, "cpu")(torch.randn(1, 16, 5, 3))
    assert images.shape == (1, 3, 80, 48) and images.abs().max() <= 1


def test_texvae_smoke_run_writes_a_loadable_spatial_vae(tmp_path, synthetic_dtd):
    out = train_main(["texvae", "--data", str(synthetic_dtd), "--steps", "2", "--batch-size", "2", "--patch", "32",
                      "--photo-size", "40", "--width", "8", "--run-dir", str(tmp_path / "run"), "--device", "cpu"])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.id == "dtd10-texvae" and checkpoint.task == "texture-autoencoder"
    vae = load(checkpoint, "cpu")
    mean, _ = vae.encode(torch.zeros(1, 3, 48, 80))
    assert mean.shape == (1, 8, 12, 20) and vae.decode(mean).shape == (1, 3, 48, 80)


def test_texture_fisher_fuses_fold_chosen_cnns_with_fisher_vectors(tmp_path, synthetic_dtd):
    """Four holdout-fold CNNs (the synthetic split has four photos a class: four folds), then the fusion; the
    export classifies with the weighted sum of its members' log-probabilities."""
    from models import texture
    from models.nets.texture import TextureEnsemble

    def cnn(*extra: str) -> Path:
        return train_main(["texture", "--data", str(synthetic_dtd), "--steps", "2", "--batch-size", "4", "--crop",
                           "32", "--width", "4", "--device", "cpu", *extra])

    folds = [cnn("--holdout-fold", str(k), "--run-dir", str(tmp_path / f"fold{k}")) for k in range(4)]
    assert registry.read_checkpoint(folds[0]).training_data.endswith("12 photos of 4 classes (research use)")
    whole = cnn("--run-dir", str(tmp_path / "whole"))
    out = train_main(["texture-fisher", "--data", str(synthetic_dtd), "--cnn", str(whole), "--pca-dim", "8",
                      "--components", "4", "--run-dir", str(tmp_path / "fused"), "--fold-cnns", *map(str, folds)])
    checkpoint = registry.read_checkpoint(out)
    assert checkpoint.architecture == "studio-texture-fisher-ensemble"
    assert 0 <= checkpoint.metrics["train1_cv_accuracy_fused"] <= 1
    net = load(checkpoint, "cpu")
    assert isinstance(net, TextureEnsemble) and net.config.components == 4 and net.config.pca_dim == 8
    whole_net = load(registry.read_checkpoint(whole), "cpu")
    whole_weights = whole_net.state_dict()
    assert all(torch.equal(value, whole_weights[name]) for name, value in net.cnn.state_dict().items())

    image = np.random.default_rng(3).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    fused = texture.predict_probabilities(net, image)
    x = texture.resized(texture.as_tensor(image, torch.device("cpu")), texture.working_scale(80, 96))
    with torch.inference_mode():
        cnn_part = torch.log_softmax(whole_net(x), 1)[0]
        scores = net.fisher(torch.from_numpy(texture.dense_sift(image, texture.working_scale(80, 96)
                                                                / texture.PHOTO_SCALE)))
    w, t = net.config.cnn_weight, net.config.temperature
    expected = torch.softmax(w * cnn_part + (1 - w) * torch.log_softmax(scores / t, 0), 0).numpy()
    assert np.allclose(fused, expected, atol=1e-5) and abs(fused.sum() - 1) < 1e-5


def test_a_holdout_fold_that_does_not_exist_is_refused(tmp_path, synthetic_dtd):
    with pytest.raises(SystemExit, match="fold"):
        train_main(["texture", "--data", str(synthetic_dtd), "--steps", "1", "--holdout-fold", "4",
                    "--run-dir", str(tmp_path / "run"), "--device", "cpu"])


def test_the_fisher_head_scores_two_classes_and_never_picks_a_class_it_never_saw():
    from models.train.texture_fisher import fisher_vectors, fit_fisher_head, fit_svm

    rng = np.random.default_rng(0)
    photos = [rng.random((200, 16)).astype(np.float32) + (k % 2) for k in range(8)]  # class 1 is brighter
    labels = np.array([k % 2 for k in range(8)])
    head = fit_fisher_head(photos, pca_dim=4, components=2, num_classes=3)  # class 2: no photo
    fit_svm(head, fisher_vectors(head, photos), labels, c=100.0)
    with torch.inference_mode():
        scores = np.stack([head(torch.from_numpy(p)).numpy() for p in photos])
    assert (scores.argmax(1) == labels).all() and np.allclose(scores[:, 0], -scores[:, 1])
    assert (scores[:, 2] < -1000).all()


def test_the_fisher_head_svm_is_the_same_on_every_fit():
    """LinearSVC's dual solver shuffles the examples: unseeded, two fits differ in the last digits."""
    from models.nets.texture import FisherVectorHead
    from models.train.texture_fisher import fit_svm

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 2 * 4 * 8)).astype(np.float32)
    labels = np.arange(60) % 3
    weights = [fit_svm(FisherVectorHead(16, 8, 4, 3), vectors, labels, c=1.0).svm_weight.clone() for _ in range(4)]
    assert all(torch.equal(weights[0], w) for w in weights[1:])
