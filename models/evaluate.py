"""Measure the studio's models with its own Fashion-MNIST classifier.

    python -m models.evaluate classifier [--model fmnist-classifier]
    python -m models.evaluate gan --model fmnist-gan --model fmnist-dcgan-baseline [--samples 10000]

For generators it reports (a) the Frechet distance between the classifier's penultimate features
of generated samples and of the test set, next to the same distance for real training images vs
the test set (the floor), and (b) the entropy of the histogram of predicted classes (mode coverage;
log 10 = 2.303 is perfect). `--write` records the numbers in each checkpoint's model.json.
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

log = logging.getLogger(__name__)
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
def generate(model_id: str, count: int, seed: int) -> torch.Tensor:
    generator = load(model_id)
    device = next(generator.parameters()).device
    z = torch.randn(count, generator.config.z_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(500)])


def evaluate_gan(model_ids: list[str], samples: int, seed: int, data: Path, classifier_id: str) -> dict:
    classifier = load(classifier_id)
    test_images, _ = fashion_mnist.load_split("test", data)
    train_images, _ = fashion_mnist.load_split("train", data)
    test_feats, test_preds = classifier_outputs(classifier, fashion_mnist.to_model_range(test_images))
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


def evaluate_classifier(model_id: str, data: Path) -> dict:
    images, labels = fashion_mnist.load_split("test", data)
    _, preds = classifier_outputs(load(model_id), fashion_mnist.to_model_range(images))
    return {model_id: {"test_accuracy": float((preds == labels).mean())}}


def write_metrics(model_id: str, metrics: dict) -> None:
    path = registry.get(model_id).directory / registry.ENTRY_FILE
    entry = json.loads(path.read_text())
    entry["metrics"].update(metrics)
    path.write_text(json.dumps(entry, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("classifier", "gan"))
    parser.add_argument("--model", action="append", dest="models", help="checkpoint id (repeatable)")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", default=CLASSIFIER_ID)
    parser.add_argument("--data", type=Path, default=fashion_mnist.DEFAULT_DIR)
    parser.add_argument("--write", action="store_true", help="record the metrics in model.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.kind == "classifier":
        results = evaluate_classifier((args.models or [args.classifier])[0], args.data)
    else:
        model_ids = args.models or [c.id for c in registry.checkpoints("unconditional-generation")]
        results = evaluate_gan(model_ids, args.samples, args.seed, args.data, args.classifier)
    width = max(len(k) for k in results)
    for name, metrics in results.items():
        print(f"{name:<{width}}  " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if args.write and name in {c.id for c in registry.checkpoints()}:
            write_metrics(name, {k: round(v, 4) for k, v in metrics.items()}
                          | ({"samples": args.samples, "classifier": args.classifier} if args.kind == "gan" else {}))
    return results


if __name__ == "__main__":
    main()
