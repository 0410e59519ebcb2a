import math
import shutil
from pathlib import Path

import numpy as np

from models.evaluate import class_entropy, frechet_distance


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    feats = np.random.default_rng(0).normal(size=(2000, 8))
    assert abs(frechet_distance(feats, feats)) < 1e-6
    shifted = feats + 3.0
    assert math.isclose(frechet_distance(feats, shifted), 8 * 9.0, rel_tol=1e-6)


def test_frechet_distance_sees_a_change_of_spread():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20000, 4)), 2 * rng.normal(size=(20000, 4))
    # Gaussians N(0, I) and N(0, 4I): trace terms 4 + 16 - 2 * 2 * 4 = 4.
    assert math.isclose(frechet_distance(a, b), 4.0, rel_tol=0.05)


def test_class_entropy_is_log10_for_uniform_and_zero_for_one_class():
    assert math.isclose(class_entropy(np.arange(1000) % 10), math.log(10))
    assert class_entropy(np.zeros(100, dtype=int)) == 0.0


def test_evaluate_commands_score_the_shipped_models_on_any_data_folder(synthetic_fashion_mnist, capsys):
    from models.evaluate import main

    gan = main(["gan", "--model", "fmnist-gan", "--samples", "100", "--data", str(synthetic_fashion_mnist)])
    assert set(gan) == {"train-vs-test (floor)", "fmnist-gan"}
    assert gan["fmnist-gan"]["frechet_distance"] > 0
    assert 0 <= gan["fmnist-gan"]["class_entropy"] <= math.log(10)
    cgan = main(["cgan", "--per-class", "20", "--data", str(synthetic_fashion_mnist)])
    accuracies = [v for k, v in cgan["fmnist-cgan"].items() if k.startswith("accuracy_")]
    assert len(accuracies) == 10
    assert cgan["fmnist-cgan"]["mean_class_accuracy"] == np.mean(accuracies)
    assert "mean_class_accuracy" in capsys.readouterr().out


def test_vae_evaluation_scores_reconstructions(synthetic_fashion_mnist):
    from models.evaluate import main

    scores = main(["vae", "--model", "fmnist-vae", "--elbo-samples", "2", "--data", str(synthetic_fashion_mnist)])
    metrics = scores["fmnist-vae"]
    assert 0 < metrics["reconstruction_psnr_db"] < 40
    assert metrics["negative_elbo_nats"] > 0  # a Bernoulli likelihood of 784 pixels is at most 1
    assert 0 <= metrics["classifier_accuracy_on_reconstructions"] <= 1



def _relabelled_copy(root: Path, target: Path, permutation: np.ndarray) -> Path:
    """A copy of a DTD-layout folder whose val1 photos are filed under permuted classes (train1 unchanged)."""
    shutil.copytree(root / "images", target / "images")
    shutil.copytree(root / "labels", target / "labels")
    entries = (root / "labels" / "val1.txt").read_text().split()
    moved = []
    for entry, source in zip(entries, np.array(entries)[permutation], strict=True):
        name = f"{entry.split('/')[0]}/moved_{Path(source).name}"
        shutil.copy(root / "images" / source, target / "images" / name)
        moved.append(name)
    (target / "labels" / "val1.txt").write_text("\n".join(moved) + "\n")
    return target


def test_texture_baselines_run_end_to_end_and_choose_their_settings_on_train_only(synthetic_dtd, tmp_path, capsys):
    from models.evaluate import FISHER_BASELINE, LBP_BASELINE, evaluate_texture

    scores = evaluate_texture([], synthetic_dtd, "train1", "val1")
    assert set(scores) == {LBP_BASELINE, FISHER_BASELINE}
    for metrics in scores.values():
        assert 0 <= metrics["train1_cv_accuracy"] <= 1 and 0 <= metrics["val1_accuracy"] <= 1
        assert len([k for k in metrics if k.startswith("recall_")]) == 4
        assert np.sum(metrics["confusion"]) == 16
        assert metrics["train1_cv_folds"] == 4  # four train photos per class
    assert scores[LBP_BASELINE]["normalisation"] in ("standardised", "sqrt", "sqrt+standardised")
    # the same photos with their val1 labels shuffled: what is chosen, and how it scores on train1, is unchanged
    permutation = np.random.default_rng(0).permutation(16)
    shuffled = evaluate_texture([], _relabelled_copy(synthetic_dtd, tmp_path / "dtd", permutation), "train1", "val1")
    settings = ("train1_cv_accuracy", "normalisation", "C", "gamma")
    for name in scores:
        assert {k: v for k, v in scores[name].items() if k in settings} == \
               {k: v for k, v in shuffled[name].items() if k in settings}


def test_fisher_vectors_are_power_and_l2_normalised_and_fitted_to_train_descriptors():
    from models.texture import dense_sift
    from models.train.texture_fisher import fisher_vectors, fit_fisher_head

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 72, 3), dtype=np.uint8) for _ in range(6)]
    descriptors = [dense_sift(image) for image in images]
    assert descriptors[0].shape[1] == 128 and np.allclose((descriptors[0] ** 2).sum(1), 1, atol=1e-4)  # RootSIFT
    head = fit_fisher_head(descriptors, pca_dim=16, components=8, num_classes=3)
    fisher = fisher_vectors(head, descriptors[:1])[0]
    assert fisher.shape == (2 * 16 * 8,)
    assert math.isclose(np.linalg.norm(fisher), 1, rel_tol=1e-5)
