import math

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

