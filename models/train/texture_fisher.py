"""Fuse a trained texture CNN with Fisher vectors of dense SIFT into one texture classifier.

The CNN (`--cnn`, a model folder or id, trained on the whole `--train-split`) and a Fisher-vector head
(dense RootSIFT, PCA, a diagonal GMM, a linear SVM; fitted here with scikit-learn) are fused by a
weighted sum of log-probabilities (`TextureEnsemble`). Every choice is made by stratified k-fold
cross-validation on `--train-split` alone:

1. the SVM's C, on Fisher vectors whose PCA and GMM are fitted to the whole split;
2. the fusion (the CNN's weight and the SVM scores' temperature), on out-of-fold predictions: for fold
   k, the Fisher-vector head is fitted again on the other folds, and the CNN's probabilities come from
   `--fold-cnns`, CNNs trained with `python -m models.train texture --holdout-fold k` (same recipe, the
   other folds only).

Then the head is fitted on the whole split and exported with the CNN's weights as one model. The
held-out split is never read.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models import registry, texture
from models.data.photos import DTD_DIR, dtd_classes
from models.loading import load
from models.nets.texture import FisherVectorHead, TextureEnsemble, TextureEnsembleConfig
from models.train.common import export_model, training_record
from models.train.texture import load_split

log = logging.getLogger(__name__)
CV_FOLDS = 5
GMM_DESCRIPTORS = 50_000  # the PCA and GMM are fitted to this many descriptors, sampled evenly over the photos
LINEAR_C_GRID = 10.0 ** np.arange(-2, 1.5, 0.5)  # 0.01 ... 10
CNN_WEIGHTS = np.round(np.arange(0, 1.01, 0.1), 2)
TEMPERATURES = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
UNSEEN_CLASS_SCORE = -1e4  # the SVM score of a class no training photo showed: never chosen (finite, so 0 x it is 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DTD_DIR, help="folder in the DTD layout")
    parser.add_argument("--train-split", default="train1")
    parser.add_argument("--cnn", default="dtd10-texture", help="texture CNN trained on the whole split (id or folder)")
    parser.add_argument("--fold-cnns", type=Path, nargs="+", required=True,
                        help=f"{CV_FOLDS} model folders: the CNN trained with --holdout-fold 0, 1, ...")
    parser.add_argument("--pca-dim", type=int, default=64)
    parser.add_argument("--components", type=int, default=128, help="Gaussians of the GMM")
    parser.add_argument("--model-id", default="dtd10-texture-ensemble")


def stratified_folds(labels: np.ndarray, folds: int = CV_FOLDS, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded stratified k-fold over `labels`: [(training indices, held-out indices)], fewer folds if a class
    has fewer members. The same folds for the baselines' tuning, the CNNs' --holdout-fold and the fusion."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(min(folds, int(np.bincount(labels).min())), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def fit_fisher_head(descriptors: list[np.ndarray], pca_dim: int, components: int, num_classes: int,
                    seed: int = 0) -> FisherVectorHead:
    """A Fisher-vector head whose PCA and diagonal GMM are fitted to GMM_DESCRIPTORS of these photos'
    descriptors (its SVM still zero: see `fit_svm`)."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    per_photo = max(1, GMM_DESCRIPTORS // len(descriptors))
    sample = np.concatenate([d[rng.choice(len(d), min(per_photo, len(d)), replace=False)] for d in descriptors])
    pca = PCA(min(pca_dim, *sample.shape), random_state=seed).fit(sample)
    reduced = pca.transform(sample)
    gmm = GaussianMixture(min(components, len(reduced)), covariance_type="diag", reg_covar=1e-4, max_iter=100,
                          random_state=seed).fit(reduced)
    head = FisherVectorHead(sample.shape[1], pca.n_components_, gmm.n_components, num_classes)
    for name, value in {"pca_mean": pca.mean_, "pca_components": pca.components_, "gmm_weights": gmm.weights_,
                        "gmm_means": gmm.means_, "gmm_variances": gmm.covariances_}.items():
        getattr(head, name).copy_(torch.from_numpy(np.asarray(value, np.float32)))
    return head


@torch.inference_mode()
def fisher_vectors(head: FisherVectorHead, descriptors: list[np.ndarray]) -> np.ndarray:
    return np.stack([head.encode(torch.from_numpy(d)).numpy() for d in descriptors])


def fit_svm(head: FisherVectorHead, vectors: np.ndarray, labels: np.ndarray, c: float,
            seed: int = 0) -> FisherVectorHead:
    """Fit the head's one-vs-rest linear SVM to Fisher vectors of its own encoding (seeded: its dual solver
    visits the examples in a random order, so an unseeded fit differs from run to run in the last digits)."""
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, max_iter=10_000, random_state=seed).fit(vectors, labels)
    weight, bias = svm.coef_, svm.intercept_
    if len(svm.classes_) == 2:  # one decision function, positive for the second class: a score for each
        weight, bias = np.concatenate([-weight, weight]), np.concatenate([-bias, bias])
    head.svm_weight.zero_()
    head.svm_bias.fill_(UNSEEN_CLASS_SCORE)
    head.svm_weight[svm.classes_] = torch.from_numpy(weight.astype(np.float32))
    head.svm_bias[svm.classes_] = torch.from_numpy(bias.astype(np.float32))
    return head


def choose_c(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(C, its cross-validated accuracy) of a linear SVM over LINEAR_C_GRID."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import LinearSVC

    search = GridSearchCV(LinearSVC(max_iter=10_000, random_state=seed), {"C": LINEAR_C_GRID},
                          cv=stratified_folds(labels))
    search.fit(vectors, labels)
    return float(search.best_params_["C"]), float(search.best_score_)


def choose_fusion(cnn_log_probabilities: np.ndarray, svm_scores: np.ndarray, labels: np.ndarray) -> dict:
    """The CNN weight and temperature whose fused out-of-fold predictions are most often right (ties: the
    first in grid order), with the accuracies of both members alone and fused."""
    from scipy.special import log_softmax

    def accuracy(predictions: np.ndarray) -> float:
        return float((predictions.argmax(1) == labels).mean())

    scored = [(accuracy(w * cnn_log_probabilities + (1 - w) * log_softmax(svm_scores / t, axis=1)), float(w), t)
              for w, t in itertools.product(CNN_WEIGHTS, TEMPERATURES)]
    best, weight, temperature = max(scored, key=lambda s: s[0])
    return {"cnn_weight": weight, "temperature": temperature, "cv_accuracy_fused": best,
            "cv_accuracy_cnn": accuracy(cnn_log_probabilities), "cv_accuracy_fisher": accuracy(svm_scores)}


def cnn_of(source: str | Path) -> torch.nn.Module:
    """A texture CNN from a model folder or a registered id."""
    return load(registry.read_checkpoint(Path(source)) if Path(source).is_dir() else str(source), "cpu")


@torch.inference_mode()
def train(args: argparse.Namespace) -> Path:
    start = time.perf_counter()
    classes = dtd_classes(args.data)
    photos, labels = load_split(args.data, args.train_split, classes)
    folds = stratified_folds(labels)
    if len(args.fold_cnns) != len(folds):
        raise SystemExit(f"--fold-cnns needs {len(folds)} model folders, one per fold; got {len(args.fold_cnns)}")
    descriptors = [texture.dense_sift(photo) for photo in tqdm(photos, desc="dense SIFT", mininterval=10)]

    head = fit_fisher_head(descriptors, args.pca_dim, args.components, len(classes), args.seed)
    vectors = fisher_vectors(head, descriptors)
    c, cv_accuracy = choose_c(vectors, labels, args.seed)
    log.info("linear SVM: C = %g, %d-fold CV accuracy %.4f", c, len(folds), cv_accuracy)

    cnn_log_probabilities = np.zeros((len(photos), len(classes)))
    svm_scores = np.zeros((len(photos), len(classes)))
    for k, ((inside, held), folder) in enumerate(zip(folds, args.fold_cnns, strict=True)):
        fold_cnn = cnn_of(folder)
        probabilities = np.array([texture.predict_probabilities(fold_cnn, photos[i]) for i in held], np.float64)
        cnn_log_probabilities[held] = np.log(np.maximum(probabilities, 1e-30))  # finite: 0 x it must be 0
        fold_head = fit_fisher_head([descriptors[i] for i in inside], args.pca_dim, args.components, len(classes),
                                    args.seed)
        fit_svm(fold_head, fisher_vectors(fold_head, [descriptors[i] for i in inside]), labels[inside], c, args.seed)
        svm_scores[held] = [fold_head(torch.from_numpy(descriptors[i])).numpy() for i in held]
        log.info("fold %d: CNN %.3f, Fisher vectors %.3f", k,
                 (cnn_log_probabilities[held].argmax(1) == labels[held]).mean(),
                 (svm_scores[held].argmax(1) == labels[held]).mean())
    fusion = choose_fusion(cnn_log_probabilities, svm_scores, labels)
    log.info("fusion chosen by CV: %s", fusion)
    weight, temperature = fusion.pop("cnn_weight"), fusion.pop("temperature")

    fit_svm(head, vectors, labels, c, args.seed)
    cnn = cnn_of(args.cnn)
    config = TextureEnsembleConfig(**{**vars(cnn.config), "class_names": tuple(classes), "num_classes": len(classes),
                                      "pca_dim": head.gmm_means.shape[1], "components": head.gmm_means.shape[0],
                                      "cnn_weight": weight, "temperature": temperature})
    ensemble = TextureEnsemble(config)
    ensemble.cnn.load_state_dict(cnn.state_dict())
    ensemble.fisher.load_state_dict(head.state_dict())
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=texture.TASK,
        architecture="studio-texture-fisher-ensemble",
        net=ensemble.eval(),
        training=training_record(0, time.perf_counter() - start, torch.device("cpu"), cv_folds=len(folds), svm_c=c,
                                 cnn_weight=weight, temperature=temperature),
        metrics={f"{args.train_split}_{name}": round(value, 4) for name, value in fusion.items()}
        | {f"{args.train_split}_cv_accuracy_fisher_whole_split_gmm": round(cv_accuracy, 4)},
        training_data=(f"{args.data.name}: DTD (Cimpoi et al. 2014) {args.train_split} split, "
                       f"{len(photos)} photos of {len(classes)} classes (research use)"),
    )
