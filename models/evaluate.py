"""Measure the studio's models with its own Fashion-MNIST classifier.

    python -m models.evaluate classifier [--model fmnist-classifier]
    python -m models.evaluate gan --model fmnist-gan --model fmnist-dcgan-baseline [--samples 10000]
    python -m models.evaluate cgan [--model fmnist-cgan] [--per-class 1000]

For generators it reports (a) the Frechet distance between the classifier's penultimate features
of generated samples and of the test set, next to the same distance for real training images vs
the test set (the floor), and (b) the entropy of the histogram of predicted classes (mode coverage;
log 10 = 2.303 is perfect). For class-conditional generators it reports, per class, the share of
samples the classifier assigns to the requested class, and the Frechet distance over all classes.
`--write` records the numbers in each checkpoint's model.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from models import registry
from models.data import fashion_mnist
from models.loading import load

CLASSIFIER_ID = "fmnist-classifier"


@torch.inference_mode()
def classifier_outputs(classifier: torch.nn.Module, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, D] float64, predicted classes [N]) for images in [-1, 1]."""
    device = next(classifier.parameters()).device
    feats, preds = [], []
    for chunk in images.split(1000):
        f = classifier.features(chunk.to(device))
        feats.append(f.double().cpu())
        preds.append(classifier.head(f).argmax(1).cpu())
    return torch.cat(feats).numpy(), torch.cat(preds).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets [N, D]."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigvals, eigvecs = np.linalg.eigh(cov_a)
    sqrt_a = (eigvecs * np.sqrt(np.clip(eigvals, 0, None))) @ eigvecs.T
    cross = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def class_entropy(predictions: np.ndarray, num_classes: int = 10) -> float:
    """Entropy (nats) of the predicted-class histogram; log(num_classes) when every class is equally common."""
    p = np.bincount(predictions, minlength=num_classes) / len(predictions)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


@torch.inference_mode()
def generate(model_id: str, count: int, seed: int, label: int | None = None) -> torch.Tensor:
    """`count` images in [-1, 1] from an unconditional generator, or of class `label` from a conditional one."""
    generator = load(model_id)
    device = next(generator.parameters()).device
    z = torch.randn(count, generator.config.z_dim, generator=torch.Generator().manual_seed(seed))
    if label is None:
        return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(500)])
    return torch.cat([generator(chunk.to(device), torch.full((len(chunk),), label, device=device)).cpu()
                      for chunk in z.split(500)])


def real_features(classifier: torch.nn.Module, data: Path) -> np.ndarray:
    images, _ = fashion_mnist.load_split("test", data)
    return classifier_outputs(classifier, fashion_mnist.to_model_range(images))[0]


def evaluate_gan(model_ids: list[str], samples: int, seed: int, data: Path, classifier_id: str) -> dict:
    classifier = load(classifier_id)
    test_feats = real_features(classifier, data)
    train_images, _ = fashion_mnist.load_split("train", data)
    pick = np.random.default_rng(seed).choice(len(train_images), samples, replace=False)
    train_feats, train_preds = classifier_outputs(classifier, fashion_mnist.to_model_range(train_images[pick]))
    results = {
        "train-vs-test (floor)": {
            "frechet_distance": frechet_distance(train_feats, test_feats),
            "class_entropy": class_entropy(train_preds),
        }
    }
    for model_id in model_ids:
        feats, preds = classifier_outputs(classifier, generate(model_id, samples, seed))
        results[model_id] = {
            "frechet_distance": frechet_distance(feats, test_feats),
            "class_entropy": class_entropy(preds),
        }
    return results


def evaluate_cgan(model_ids: list[str], per_class: int, seed: int, data: Path, classifier_id: str) -> dict:
    classifier = load(classifier_id)
    test_feats = real_features(classifier, data)
    results = {}
    for model_id in model_ids:
        num_classes = load(model_id).config.num_classes
        feats, accuracies = [], {}
        for label in range(num_classes):
            f, preds = classifier_outputs(classifier, generate(model_id, per_class, seed + label, label))
            feats.append(f)
            accuracies[f"accuracy_{fashion_mnist.CLASS_NAMES[label]}"] = float((preds == label).mean())
        mean_accuracy = float(np.mean(list(accuracies.values())))
        results[model_id] = {"frechet_distance": frechet_distance(np.concatenate(feats), test_feats),
                             "mean_class_accuracy": mean_accuracy,
                             "min_class_accuracy": min(accuracies.values()), **accuracies}
    return results


def evaluate_classifier(model_id: str, data: Path) -> dict:
    images, labels = fashion_mnist.load_split("test", data)
    _, preds = classifier_outputs(load(model_id), fashion_mnist.to_model_range(images))
    per_class = {f"accuracy_{name}": float((preds[labels == k] == k).mean())
                 for k, name in enumerate(fashion_mnist.CLASS_NAMES) if (labels == k).any()}
    return {model_id: {"test_accuracy": float((preds == labels).mean()), **per_class}}


def write_metrics(model_id: str, metrics: dict) -> None:
    path = registry.get(model_id).directory / registry.ENTRY_FILE
    entry = json.loads(path.read_text())
    entry["metrics"].update(metrics)
    path.write_text(json.dumps(entry, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("classifier", "gan", "cgan"))
    parser.add_argument("--model", action="append", dest="models", help="checkpoint id (repeatable)")
    parser.add_argument("--samples", type=int, default=10000, help="gan: samples per model")
    parser.add_argument("--per-class", type=int, default=1000, help="cgan: samples per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", default=CLASSIFIER_ID)
    parser.add_argument("--data", type=Path, default=fashion_mnist.DEFAULT_DIR)
    parser.add_argument("--write", action="store_true", help="record the metrics in model.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.kind == "classifier":
        results = evaluate_classifier((args.models or [args.classifier])[0], args.data)
    elif args.kind == "gan":
        model_ids = args.models or [c.id for c in registry.checkpoints("unconditional-generation")]
        results = evaluate_gan(model_ids, args.samples, args.seed, args.data, args.classifier)
    else:
        model_ids = args.models or [c.id for c in registry.checkpoints("class-conditional-generation")]
        results = evaluate_cgan(model_ids, args.per_class, args.seed, args.data, args.classifier)
    settings = {"gan": {"samples": args.samples}, "cgan": {"samples_per_class": args.per_class}}.get(args.kind, {})
    if settings:
        settings["classifier"] = args.classifier
    registered = {c.id for c in registry.checkpoints()}
    for name, metrics in results.items():
        print(name)
        for metric, value in metrics.items():
            print(f"  {metric:<32} {value:.4f}")
        if args.write and name in registered:
            write_metrics(name, {k: round(v, 4) for k, v in metrics.items()} | settings)
    return results


if __name__ == "__main__":
    main()
