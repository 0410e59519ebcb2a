"""Measure the studio's models with its own Fashion-MNIST classifier.

    python -m models.evaluate classifier [--model fmnist-classifier]
    python -m models.evaluate gan --model fmnist-gan --model fmnist-dcgan-baseline [--samples 10000]
    python -m models.evaluate cgan [--model fmnist-cgan] [--per-class 1000]
    python -m models.evaluate vae [--model fmnist-vae]
    python -m models.evaluate inpaint [--model photo-inpaint] [--data ../shared/data/dtd10] [--pictures DIR]
                                      [--fsr-best-every 8] [--no-wallpapers] [--tuning]
    python -m models.evaluate texture [--model dtd10-texture] [--data ../shared/data/dtd10]
    python -m models.evaluate texture-map [--collages 50] [--window 0.2] [--data ../shared/data/dtd10]
    python -m models.evaluate texgan --model dtd10-texgan --model dtd10-texgan-dcgan-baseline
    python -m models.evaluate texvae --texture-size 64

For generators it reports (a) the Frechet distance between the classifier's penultimate features
of generated samples and of the test set, next to the same distance for real training images vs
the test set (the floor), and (b) the entropy of the histogram of predicted classes (mode coverage;
log 10 = 2.303 is perfect). For class-conditional generators it reports, per class, the share of
samples the classifier assigns to the requested class, and the Frechet distance over all classes.
For VAEs it reports, on the 10,000 test images, the mean reconstruction PSNR, the negative ELBO in
nats per image (Bernoulli likelihood of the intensities in [0, 1], KL to N(0, I); averaged over
`--elbo-samples` posterior draws), and the classifier's accuracy on the reconstructions next to
its accuracy on the originals. For inpainting it fills thin, medium and thick brush-stroke holes
(one of each per crop, seeded) in 256x256 crops of held-out photos: the centre crops of DTD val1 and
three crops of each picture of the lomiri-wallpapers-16.04 package (neither seen in training;
`--no-wallpapers`: DTD only; `--tuning`: a tuning set instead), and reports for the models and, in
the same run, OpenCV's five classical methods and a fill with the mean colour of the known pixels,
all given the crop with the hole blanked: the PSNR inside the hole (capped at 48.13 dB, an error of
one grey level, so exact copies of periodic patterns do not dominate the mean) and the detail ratio
(the fill's mean Sobel gradient over the hole over the photo's; fills of flat true holes skipped),
per set, over all, and on the subset that the slow FSR best fills (`--fsr-best-every`). For texture
classifiers it reports the accuracy on a held-out DTD split (val1) with the confusion matrix, and, in
the same run, two classical baselines trained on the training split (train1) only, their settings chosen
by stratified 5-fold cross-validation on it: uniform LBP histograms at 3 radii plus an HSV colour
histogram, classified by an RBF SVM; and improved Fisher vectors of dense OpenCV SIFT (PCA, diagonal
GMM) classified by a linear SVM (scikit-learn); with their cross-validated accuracy. For the texture map it
makes seeded 2x2 collages of held-out photos of four different classes and reports the share of
quarters the map labels by their class, next to the classifier's share on each quarter alone. For
texture generators it reports, through the texture classifier, how often class-conditional samples
are classified as the class asked for (also relative to the classifier's accuracy on real crops of
the same size), the Frechet distance of pooled features to held-out crops (baselines: this only),
and the seam ratio of 100 seamless samples (wrap-around steps over inner steps; 1 is seamless; also
over the inner steps at latent-cell boundaries only, the wrap edge's own phase). For
texture VAEs it reports the PSNR of reconstructions of one seeded crop per held-out photo, and their
detail (mean gradient magnitude) over the originals'.
`--write` records the numbers in each checkpoint's model.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from models import registry, vae
from models.data import fashion_mnist
from models.data.photos import DTD_DIR
from models.files import write_atomically
from models.loading import load
from models.train.texture_fisher import choose_c, fisher_vectors, fit_fisher_head, fit_svm, stratified_folds

CLASSIFIER_ID = "fmnist-classifier"
log = logging.getLogger(__name__)


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


@torch.inference_mode()
def evaluate_vae(model_ids: list[str], data: Path, classifier_id: str, elbo_samples: int, seed: int) -> dict:
    images, labels = fashion_mnist.load_split("test", data)
    originals = fashion_mnist.to_model_range(images)
    classifier = load(classifier_id)
    results = {}
    for model_id in model_ids:
        net = load(model_id)
        device = next(net.parameters()).device
        rng = torch.Generator().manual_seed(seed)
        psnrs, nelbos, reconstructions = [], [], []
        for chunk in originals.split(1000):
            x = chunk.to(device)
            reconstruction = net(x).cpu()
            reconstructions.append(reconstruction)
            psnrs.append(vae.psnr(reconstruction, chunk))
            draws = [sum(vae.negative_elbo_terms(net, x, torch.randn(len(x), net.config.latent_dim,
                                                                     generator=rng).to(device))).cpu()
                     for _ in range(elbo_samples)]
            nelbos.append(torch.stack(draws).mean(0))
        _, predicted = classifier_outputs(classifier, torch.cat(reconstructions))
        _, predicted_originals = classifier_outputs(classifier, originals)
        results[model_id] = {
            "reconstruction_psnr_db": float(torch.cat(psnrs).mean()),
            "negative_elbo_nats": float(torch.cat(nelbos).mean()),
            "classifier_accuracy_on_reconstructions": float((predicted == labels).mean()),
            "classifier_accuracy_on_originals": float((predicted_originals == labels).mean()),
        }
    return results


MAX_HOLE_PSNR = 10 * math.log10(255**2)  # 48.13 dB: a mean squared error of one grey level
FLAT_GRADIENT = 2.0  # grey levels per pixel: a true hole with less mean gradient has no detail to compare
SLOW_METHOD = "opencv-fsr-best"  # too slow for every fill: scored on every `--fsr-best-every`th crop only
ALL, SUBSET = "all", "subset"


def hole_psnr(prediction: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """PSNR in dB over the hole's pixels (all channels) of uint8 images, capped at MAX_HOLE_PSNR (48.13 dB, an
    error of one grey level): an exemplar method that copies a synthetic periodic pattern exactly would otherwise
    score 100 dB and dominate the mean."""
    error = prediction[hole].astype(np.float64) - truth[hole].astype(np.float64)
    return min(float(10 * np.log10(255**2 / max(np.mean(error**2), 1e-10))), MAX_HOLE_PSNR)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of an RGB uint8 image's grey (0.299 R + 0.587 G + 0.114 B), in grey levels per
    pixel (the 3x3 Sobel responses divided by 8, so a ramp of one level a pixel gives 1). float32 [H, W]."""
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    dx, dy = (cv2.Sobel(grey, cv2.CV_32F, x, 1 - x, ksize=3) / 8 for x in (1, 0))
    return np.hypot(dx, dy)


def detail_ratio(fill: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float | None:
    """The fill's mean gradient magnitude over the hole's pixels (computed on the whole image, so steps at the
    hole's edge count) over the truth's on the same pixels: 1 keeps the detail, below 1 is blurred, above 1 adds
    edges the photo has not (seams, noise). None when the true hole is flat (mean gradient under FLAT_GRADIENT
    grey levels per pixel): there is no detail to keep, and the ratio would divide by almost nothing."""
    truth_detail = float(gradient_magnitude(truth)[hole].mean())
    if truth_detail < FLAT_GRADIENT:
        return None
    return float(gradient_magnitude(fill)[hole].mean()) / truth_detail


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def wallpaper_crops(image: np.ndarray, size: int) -> list[np.ndarray]:
    """Three `size`-pixel squares of a picture: centred across its shorter side, and along its longer side on the
    centres of its first, middle and last thirds (moved inside the picture where a third is narrower)."""
    h, w = image.shape[:2]
    crops = []
    for third in range(3):
        along = (2 * third + 1) * max(h, w) // 6 - size // 2
        top, left = (h - size) // 2, along
        if h > w:
            top, left = along, (w - size) // 2
        top, left = min(max(top, 0), h - size), min(max(left, 0), w - size)
        crops.append(image[top : top + size, left : left + size])
    return crops


def inpaint_sets(data: Path, split: str, size: int, limit: int | None, wallpapers: bool,
                 tuning_split: str | None) -> dict[str, list[np.ndarray]]:
    """Name -> the `size` x `size` crops to fill. Held out: the centre crops of the DTD `split` photos and three
    crops (`wallpaper_crops`) of each picture of HELD_OUT_WALLPAPER_PACKAGES, reduced to twice `size` on its
    shorter side. With `tuning_split`: every 10th photo of that DTD split and TUNING_WALLPAPER_PACKAGES instead.
    `limit`: the first N photos or pictures of each set."""
    from models.data.photos import (
        HELD_OUT_WALLPAPER_PACKAGES,
        TUNING_WALLPAPER_PACKAGES,
        dtd_split,
        load_rgb,
        package_images,
    )

    entries = dtd_split(data, split) if tuning_split is None else dtd_split(data, tuning_split)[::10]
    name = f"{data.name} {split}" if tuning_split is None else f"{data.name} {tuning_split} every 10th"
    sets = {name: [centre_crop(load_rgb(path, size), size) for path, _ in entries[:limit]]}
    for package in (HELD_OUT_WALLPAPER_PACKAGES if tuning_split is None else TUNING_WALLPAPER_PACKAGES):
        if not wallpapers:
            break
        paths = package_images(package)
        if not paths:
            raise SystemExit(f"The wallpapers of {package} are not installed: apt-get install {package}, "
                             "or pass --no-wallpapers to score the DTD photos only.")
        sets[package] = [crop for path in paths[:limit] for crop in wallpaper_crops(load_rgb(path, 2 * size), size)]
    return sets


def _scores(fills: list[tuple[str, float, float | None]]) -> dict:
    """Hole PSNR by mask kind and overall, and the detail ratio (over the fills with one), of (kind, psnr, detail)."""
    from models.data.masks import MASK_KINDS

    details = [detail for _, _, detail in fills if detail is not None]
    return {**{f"hole_psnr_{kind}": float(np.mean([p for k, p, _ in fills if k == kind])) for kind in MASK_KINDS},
            "hole_psnr_mean": float(np.mean([p for _, p, _ in fills])),
            "detail_ratio": float(np.mean(details)) if details else None}


def _report(results: dict, reference: dict[str, list[tuple[str, float, float | None]]]) -> str:
    """A table per block (its fills by a method that fills every crop in `reference`): hole PSNR and detail."""
    from models.data.masks import MASK_KINDS

    lines = []
    for block, fills in reference.items():
        detailed = sum(detail is not None for _, _, detail in fills)
        lines += ["", f"{block}: {len(fills) // len(MASK_KINDS)} crops, {len(fills)} fills; detail ratio over the "
                      f"{detailed} fills whose true hole is not flat (mean gradient >= {FLAT_GRADIENT:g} grey levels "
                      "per pixel)",
                  f"  {'method':<20} {'thin':>7} {'medium':>7} {'thick':>7} {'mean':>7} {'detail':>7}"]
        for method, blocks in results.items():
            if block in blocks:
                values = [blocks[block][f"hole_psnr_{k}"] for k in ("thin", "medium", "thick", "mean")]
                detail = blocks[block]["detail_ratio"]
                lines.append(f"  {method:<20} " + " ".join(f"{v:7.2f}" for v in values)
                             + (f" {detail:7.3f}" if detail is not None else "       -"))
    return "\n".join(lines)


def evaluate_inpaint(model_ids: list[str], sets: dict[str, list[np.ndarray]], seed: int, slow_every: int,
                     pictures: Path | None) -> dict:
    """Every method fills a thin, a medium and a thick brush hole (seeded by crop and kind) in each crop of each
    set, given the crop with the hole blanked: the models, OpenCV's five classical methods (through
    `models.inpaint.fill`, as the studio runs them) and the mean colour of the known pixels. FSR best fills
    only every `slow_every`th crop of each set (0: none); the "subset" block scores every method on exactly those.
    Method -> block (each set, "all", "subset") -> hole PSNR by mask kind and mean (capped, `hole_psnr`) and the
    detail ratio (`detail_ratio`, None if every true hole was flat)."""
    from models import classical_inpaint, inpaint
    from models.data.masks import MASK_KINDS, brush_mask

    def mean_fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        filled = image.copy()
        filled[hole] = image[~hole].mean(axis=0).round().astype(np.uint8)
        return filled

    methods = {m: partial(inpaint.fill, m) for m in [*model_ids, *classical_inpaint.METHODS]}
    methods["mean-colour-fill"] = mean_fill
    fills = {name: {} for name in methods}  # method -> block -> [(kind, psnr, detail)]
    examples = []
    for set_name, crops in sets.items():
        for i, truth in enumerate(crops):
            subset = slow_every > 0 and i % slow_every == 0
            blocks = [set_name, ALL] + [SUBSET] * subset
            for k, kind in enumerate(MASK_KINDS):
                hole = brush_mask(*truth.shape[:2], kind, np.random.default_rng([seed, i, k]))
                masked = classical_inpaint.blanked(truth, hole)
                outputs = {name: method(masked, hole) for name, method in methods.items()
                           if name != SLOW_METHOD or subset}
                for name, output in outputs.items():
                    score = (kind, hole_psnr(output, truth, hole), detail_ratio(output, truth, hole))
                    for block in [SUBSET] if name == SLOW_METHOD else blocks:
                        fills[name].setdefault(block, []).append(score)
                if pictures is not None and i % 100 == 0 and k == (i // 100) % len(MASK_KINDS):
                    columns = [masked, *(outputs[m] for m in ("opencv-telea", "opencv-fsr-fast", "opencv-shift-map")),
                               *(outputs[m] for m in model_ids), truth]
                    examples.append(np.concatenate(columns, 1))
    if pictures is not None and examples:
        picture = Image.fromarray(np.concatenate(examples, 0))
        write_atomically(pictures / "before-after.jpg", lambda file: picture.save(file, format="JPEG", quality=80))
    order = [*sets, ALL, SUBSET]
    results = {name: {block: _scores(by_block[block]) for block in order if block in by_block}
               for name, by_block in fills.items()}
    # the mean-colour fill fills every crop, and whether a true hole is flat is the same for every method
    if slow_every > 0:
        log.info("FSR best fills every %dth crop of each set only; block %r scores every method on those crops.",
                 slow_every, SUBSET)
    log.info(_report(results, {block: fills["mean-colour-fill"][block] for block in results["mean-colour-fill"]}))
    return results


def inpaint_record(results: dict, model_id: str) -> dict:
    """What `--write` records for a model: its numbers over all sets (the model card shows these), its numbers by
    block (each set, the FSR best subset), the same two for the model guiding patch transfer (if scored), and every
    other method's by block, rounded to 4 decimals."""
    def rounded(scores: dict) -> dict:
        return {key: None if value is None else round(value, 4) for key, value in scores.items()}

    from models.inpaint import patch_method_id

    def record(blocks: dict) -> dict:
        return {**rounded(blocks[ALL]), "by_set": {block: rounded(v) for block, v in blocks.items() if block != ALL}}

    patched = patch_method_id(model_id)
    return {**record(results[model_id]),
            **({"with_patch_transfer": record(results[patched])} if patched in results else {}),
            "baselines": {name: {block: rounded(v) for block, v in blocks.items()}
                          for name, blocks in results.items() if name not in (model_id, patched)}}


LBP_SETTINGS = ((8, 1), (16, 2), (24, 3))  # (points, radius): Ojala et al.'s multiresolution uniform LBP
LBP_SHORT_SIDE = 128  # the LBP sees the photo at half the DTD10 size: radii 1-3 there are 2-6 pixels of it
SVM_C_GRID = 2.0 ** np.arange(-1, 12)  # 0.5 ... 2048, factors of 2
SVM_GAMMA_GRID = 2.0 ** np.arange(-15, 4)  # 3e-5 ... 8, factors of 2: wide enough for every normalisation
FISHER_PCA_DIMS = 64
FISHER_COMPONENTS = 64  # Gaussians of the GMM: a Fisher vector has 2 x 64 x 64 = 8,192 dimensions
LBP_BASELINE, FISHER_BASELINE = "lbp-hsv-svm baseline", "fisher-sift-svm baseline"


def uniform_lbp_histogram(gray: np.ndarray, radius: int, points: int = 8) -> np.ndarray:
    """Rotation-invariant uniform LBP (P + 2 bins, as skimage's "uniform") of a float image, normalised."""
    h, w = gray.shape
    margin = radius + 1  # bilinear sampling reaches one pixel past the radius
    centre = gray[margin : h - margin, margin : w - margin]
    bits = []
    for p in range(points):
        dy, dx = -radius * np.sin(2 * np.pi * p / points), radius * np.cos(2 * np.pi * p / points)
        y0, x0 = int(np.floor(dy)), int(np.floor(dx))
        fy, fx = dy - y0, dx - x0

        def shifted(oy: int, ox: int) -> np.ndarray:
            return gray[margin + oy : h - margin + oy, margin + ox : w - margin + ox]

        sample = ((1 - fy) * (1 - fx) * shifted(y0, x0) + (1 - fy) * fx * shifted(y0, x0 + 1)
                  + fy * (1 - fx) * shifted(y0 + 1, x0) + fy * fx * shifted(y0 + 1, x0 + 1))
        bits.append(sample >= centre - 1e-9)
    bits = np.stack(bits).astype(np.int8)
    transitions = np.abs(np.diff(np.concatenate([bits, bits[:1]]), axis=0)).sum(0)
    codes = np.where(transitions <= 2, bits.sum(0), points + 1)
    return np.bincount(codes.ravel(), minlength=points + 2) / codes.size


def lbp_hsv_features(image: np.ndarray) -> np.ndarray:
    """Uniform LBP histograms at LBP_SETTINGS of the photo's grey at LBP_SHORT_SIDE pixels, and an 8x4x4 HSV
    histogram of the photo as given: each block sums to 1 (10 + 18 + 26 + 128 values)."""
    picture = Image.fromarray(image)
    grey = picture.convert("L")
    scale = LBP_SHORT_SIDE / min(grey.size)
    if scale < 1:
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.Resampling.BILINEAR)
    grey = np.asarray(grey, np.float64)
    hsv = np.asarray(picture.convert("HSV")).reshape(-1, 3) // np.array([32, 64, 64])
    colour = np.bincount(hsv[:, 0] * 16 + hsv[:, 1] * 4 + hsv[:, 2], minlength=128) / len(hsv)
    return np.concatenate([*(uniform_lbp_histogram(grey, r, p) for p, r in LBP_SETTINGS), colour])


def fit_lbp_hsv_svm(features: np.ndarray, labels: np.ndarray) -> tuple[object, dict]:
    """An RBF SVM on `lbp_hsv_features` with the normalisation (standardised; square root of each histogram,
    i.e. the Hellinger map, which makes each block unit L2; or both), C and gamma chosen by stratified
    k-fold cross-validation on these (training) images only. (fitted model, {cv_accuracy, chosen settings})."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC

    normalisations = {"standardised": StandardScaler(), "sqrt": FunctionTransformer(np.sqrt),
                      "sqrt+standardised": make_pipeline(FunctionTransformer(np.sqrt), StandardScaler())}
    search = GridSearchCV(Pipeline([("normalise", "passthrough"), ("svc", SVC(kernel="rbf"))]),
                          {"normalise": list(normalisations.values()), "svc__C": SVM_C_GRID,
                           "svc__gamma": SVM_GAMMA_GRID}, cv=stratified_folds(labels))
    search.fit(features, labels)
    chosen = search.best_params_
    name = next(k for k, v in normalisations.items() if v is chosen["normalise"])
    return search.best_estimator_, {"cv_accuracy": float(search.best_score_), "cv_folds": search.n_splits_,
                                    "normalisation": name, "C": float(chosen["svc__C"]),
                                    "gamma": float(chosen["svc__gamma"])}


def texture_baselines(train: list[np.ndarray], labels: np.ndarray, held_out: list[np.ndarray]) -> dict:
    """The two classical baselines, fitted and tuned on `train` (RGB uint8 photos) and `labels` only, then
    applied to `held_out` (whose labels they never see): name -> (predicted classes, {cv_accuracy, chosen
    settings})."""
    from models import texture

    results = {}
    svm, chosen = fit_lbp_hsv_svm(np.stack([lbp_hsv_features(image) for image in train]), labels)
    results[LBP_BASELINE] = svm.predict(np.stack([lbp_hsv_features(image) for image in held_out])), chosen
    train_sift = [texture.dense_sift(image) for image in train]
    head = fit_fisher_head(train_sift, FISHER_PCA_DIMS, FISHER_COMPONENTS, int(labels.max()) + 1)
    vectors = fisher_vectors(head, train_sift)
    c, cv_accuracy = choose_c(vectors, labels)
    fit_svm(head, vectors, labels, c)
    with torch.inference_mode():
        held_out_scores = np.stack([head(torch.from_numpy(texture.dense_sift(image))).numpy() for image in held_out])
    results[FISHER_BASELINE] = held_out_scores.argmax(1), {
        "cv_accuracy": cv_accuracy, "cv_folds": len(stratified_folds(labels)), "C": c,
        "pca_dims": head.gmm_means.shape[1], "gmm_components": head.gmm_means.shape[0]}
    return results


def evaluate_texture(model_ids: list[str], data: Path, train_split: str, split: str) -> dict:
    """Texture classifiers on the held-out `split`, and in the same run the two classical baselines trained
    and tuned (cross-validation) on `train_split` only: accuracy, recall per class, confusion matrix, and for
    the baselines their cross-validated train accuracy and the settings it chose."""
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise SystemExit("the texture baselines need scikit-learn: pip install -e '.[test]'") from error
    from models import texture
    from models.data.photos import dtd_classes, dtd_split, load_rgb

    classes = dtd_classes(data)
    train = [(load_rgb(p, 256), classes.index(c)) for p, c in dtd_split(data, train_split)]
    held_out = [(load_rgb(p, 256), classes.index(c)) for p, c in dtd_split(data, split)]
    truth = np.array([label for _, label in held_out])
    results = {}
    for model_id in model_ids:
        net, names = load(model_id), texture.class_names(model_id)
        predicted_names = [names[texture.predict_probabilities(net, image).argmax()] for image, _ in held_out]
        predicted = np.array([classes.index(n) if n in classes else -1 for n in predicted_names])
        results[model_id] = _accuracy_and_confusion(predicted, truth, classes, split)
    start = time.perf_counter()
    baselines = texture_baselines([image for image, _ in train], np.array([label for _, label in train]),
                                  [image for image, _ in held_out])
    log.info("baselines fitted, tuned and applied in %.0f s", time.perf_counter() - start)
    for name, (predicted, chosen) in baselines.items():
        results[name] = {f"{train_split}_" + key if key.startswith("cv_") else key: value
                         for key, value in chosen.items()} | _accuracy_and_confusion(predicted, truth, classes, split)
    return results


def square_photo(path: Path, size: int) -> np.ndarray:
    """The centre square of a photo, resized to `size` pixels a side, RGB uint8."""
    with Image.open(path) as image:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        square = image.convert("RGB").crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BICUBIC))


def evaluate_texture_map(model_ids: list[str], data: Path, split: str, collages: int, window: float,
                         seed: int) -> dict:
    """Texture maps of 2x2 collages of held-out photos of four different classes (centre crops of 256
    pixels, so each quarter is a DTD-sized photo), with a window of `window` times the collage's side: the
    share of quarters whose most frequent label is their class, and the classifier's share on the quarters
    alone for comparison."""
    from models import texture
    from models.data.photos import dtd_split

    by_class: dict[str, list[Path]] = {}
    for path, name in dtd_split(data, split):
        by_class.setdefault(name, []).append(path)
    if len(by_class) < 4:
        raise SystemExit(f"a collage needs four classes; {data} has {len(by_class)} in {split}")
    rng = np.random.default_rng(seed)
    picks = [[(name, by_class[name][rng.integers(len(by_class[name]))])
              for name in rng.choice(sorted(by_class), 4, replace=False)] for _ in range(collages)]
    results = {}
    for model_id in model_ids:
        names = texture.class_names(model_id)
        mapped, alone = [], []
        for pick in picks:
            quarters = [square_photo(path, 256) for _, path in pick]
            collage = np.vstack([np.hstack(quarters[:2]), np.hstack(quarters[2:])])
            labels, _ = texture.texture_map(model_id, collage, window=int(window * 512))
            for i, (name, _) in enumerate(pick):
                row, col = divmod(i, 2)
                quarter = labels[row * 256 : (row + 1) * 256, col * 256 : (col + 1) * 256]
                mapped.append(names[np.bincount(quarter.ravel()).argmax()] == name)
                alone.append(next(iter(texture.classify(model_id, quarters[i]))) == name)
        results[model_id] = {"collage_quarters_mapped_right": float(np.mean(mapped)),
                             "collage_quarters_classified_right_alone": float(np.mean(alone))}
    return results


@torch.inference_mode()
def texture_features(net: torch.nn.Module, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(pooled features [N, D] float64, predicted classes [N]) of the texture classifier for RGB uint8
    images, each seen at the classifier's working scale."""
    from models import texture

    device = next(net.parameters()).device
    feats, preds = [], []
    for image in images:
        x = texture.resized(texture.as_tensor(image, device), texture.working_scale(*image.shape[:2]))
        feats.append(net.features(x).mean(dim=(2, 3))[0].double().cpu())
        preds.append(int(net(x).argmax()))
    return torch.stack(feats).numpy(), np.array(preds)


def seam_ratio(images: list[np.ndarray], period: int = 1) -> float:
    """Mean absolute step across the wrap-around edges (last row to first, last column to first) over the
    mean step between neighbouring rows and columns inside: about 1 for images that tile seamlessly. With
    `period` > 1 the inner steps are only those at the same phase as the wrap-around edge (every `period`
    rows and columns: a generator's latent-cell boundaries), so a block pattern does not count as a seam."""
    edges, inner = [], []
    for image in images:
        pixels = image.astype(np.float64)
        edges += [np.abs(pixels[-1] - pixels[0]).mean(), np.abs(pixels[:, -1] - pixels[:, 0]).mean()]
        rows, cols = np.abs(np.diff(pixels, axis=0)), np.abs(np.diff(pixels, axis=1))
        inner += [rows[period - 1 :: period].mean(), cols[:, period - 1 :: period].mean()]
    return float(np.mean(edges) / np.mean(inner))


def evaluate_texgan(model_ids: list[str], data: Path, split: str, per_class: int, size: int, seed: int,
                    classifier_id: str) -> dict:
    """Texture generators against held-out photos, through the texture classifier: class accuracy of
    samples relative to the classifier's accuracy on real crops, Frechet distance of pooled features, and
    the seam ratio of seamless samples. Baselines (unconditional) get the Frechet distance only."""
    from models import texgen
    from models.data.photos import dtd_split, load_rgb

    net = load(classifier_id)
    names = list(net.config.class_names)
    photos = dtd_split(data, split)
    real = [centre_crop(load_rgb(path, size), size) for path, _ in photos]
    real_feats, real_preds = texture_features(net, real)
    truth = np.array([names.index(name) for _, name in photos])
    real_accuracy = float((real_preds == truth).mean())
    results = {"real crops": {f"{split}_accuracy_at_{size}": real_accuracy}}
    for model_id in model_ids:
        checkpoint = registry.get(model_id)
        if checkpoint.task == texgen.TASK:
            classes = [name for name in texgen.class_names(model_id) if name in names]
            samples = [(name, image) for name in classes
                       for image in texgen.generate(model_id, name, seed, size, n=per_class)]
            feats, preds = texture_features(net, [image for _, image in samples])
            accuracy = float(np.mean([names[p] == name for p, (name, _) in zip(preds, samples, strict=True)]))
            tiles = [texgen.generate(model_id, texgen.ANY_CLASS, seed + i, size, seamless=True)[0] for i in range(100)]
            relative = accuracy / real_accuracy if real_accuracy else float("nan")
            results[model_id] = {"class_accuracy": accuracy, "class_accuracy_over_real": relative,
                                 "frechet_distance": frechet_distance(feats, real_feats),
                                 "seam_ratio": seam_ratio(tiles),
                                 "seam_ratio_at_cell_boundaries": seam_ratio(tiles, load(model_id).cell)}
        else:
            generator = load(model_id)
            device = next(generator.parameters()).device
            noise = torch.Generator().manual_seed(seed)
            cells = size // generator.cell
            with torch.inference_mode():
                images = [generator(torch.randn(1, generator.config.z_local, cells, cells, generator=noise)
                                    .to(device))[0] for _ in range(per_class * len(names))]
            pixels = [texgen.to_rgb_uint8(image) for image in images]
            results[model_id] = {"frechet_distance": frechet_distance(texture_features(net, pixels)[0], real_feats)}
    return results


@torch.inference_mode()
def evaluate_texvae(model_ids: list[str], data: Path, split: str, size: int, seed: int) -> dict:
    """Texture VAEs on one seeded `size`-pixel crop of each held-out photo (at 256 on its shorter side):
    PSNR of the reconstruction (from the posterior mean) and its detail (mean gradient magnitude) over the
    original's."""
    from models.data.photos import dtd_split, load_rgb
    from models.nets.texvae import detail

    rng = np.random.default_rng(seed)
    crops = []
    for path, _ in dtd_split(data, split):
        photo = load_rgb(path, 256)
        y, x = rng.integers(0, photo.shape[0] - size + 1), rng.integers(0, photo.shape[1] - size + 1)
        crops.append(photo[y : y + size, x : x + size])
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1
    results = {}
    for model_id in model_ids:
        vae = load(model_id)
        device = next(vae.parameters()).device
        reconstructions = torch.cat([vae.decode(vae.encode(chunk.to(device))[0]).cpu() for chunk in images.split(50)])
        mse = ((reconstructions - images) / 2).pow(2).flatten(1).mean(1)
        results[model_id] = {"psnr": float((10 * torch.log10(1 / mse)).mean()),
                             "detail_ratio": float((detail(reconstructions) / detail(images)).mean())}
    return results


def _accuracy_and_confusion(predicted: np.ndarray, truth: np.ndarray, classes: list[str], split: str) -> dict:
    """Accuracy, recall per class, and the confusion matrix (rows: true class, columns: predicted; a
    prediction outside the data's classes counts in no column)."""
    confusion = np.zeros((len(classes), len(classes)), int)
    known = predicted >= 0
    np.add.at(confusion, (truth[known], predicted[known]), 1)
    return {f"{split}_accuracy": float((predicted == truth).mean()),
            **{f"recall_{name}": float(confusion[k, k] / max(confusion[k].sum(), 1)) for k, name in enumerate(classes)},
            "confusion": confusion.tolist()}


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
    write_atomically(path, (json.dumps(entry, indent=2) + "\n").encode())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("classifier", "gan", "cgan", "vae", "inpaint", "texture", "texture-map",
                                         "texgan", "texvae"))
    parser.add_argument("--model", action="append", dest="models", help="checkpoint id (repeatable)")
    parser.add_argument("--samples", type=int, default=10000, help="gan: samples per model")
    parser.add_argument("--per-class", type=int, default=1000, help="cgan: samples per class")
    parser.add_argument("--elbo-samples", type=int, default=4, help="vae: posterior draws per image for the ELBO")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", default=CLASSIFIER_ID)
    parser.add_argument("--data", type=Path, default=None,
                        help="Fashion-MNIST folder; for inpaint a DTD-layout folder (default ../shared/data/dtd10)")
    parser.add_argument("--split", default="val1", help="inpaint, texture: DTD split of held-out photos")
    parser.add_argument("--train-split", default="train1",
                        help="texture: split the baseline trains on; inpaint --tuning: every 10th photo of it")
    parser.add_argument("--size", type=int, default=256, help="inpaint: side of the centre crop scored")
    parser.add_argument("--limit", type=int, default=None, help="inpaint: score only the first N photos of each set")
    parser.add_argument("--pictures", type=Path, default=None, help="inpaint: write before/after pictures here")
    parser.add_argument("--fsr-best-every", type=int, default=8,
                        help="inpaint: OpenCV's FSR best (slow) fills every Nth crop of each set only (0: none)")
    parser.add_argument("--no-wallpapers", action="store_true",
                        help="inpaint: score the DTD photos only, without the held-out wallpaper package")
    parser.add_argument("--tuning", action="store_true",
                        help="inpaint: score the tuning set (every 10th --train-split photo, ukui-wallpapers) "
                             "instead of the held-out photos, for choosing settings")
    parser.add_argument("--collages", type=int, default=50, help="texture-map: 2x2 collages of held-out photos")
    parser.add_argument("--window", type=float, default=0.2, help="texture-map: window, fraction of the side")
    parser.add_argument("--texture-per-class", type=int, default=30, help="texgan: samples per class")
    parser.add_argument("--texture-size", type=int, default=256, help="texgan: pixels a side of samples and crops")
    parser.add_argument("--write", action="store_true", help="record the metrics in model.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.data is None:
        photo_kinds = ("inpaint", "texture", "texture-map", "texgan", "texvae")
        args.data = DTD_DIR if args.kind in photo_kinds else fashion_mnist.DEFAULT_DIR
    if args.kind == "classifier":
        results = evaluate_classifier((args.models or [args.classifier])[0], args.data)
    elif args.kind == "gan":
        model_ids = args.models or [c.id for c in registry.checkpoints("unconditional-generation")]
        results = evaluate_gan(model_ids, args.samples, args.seed, args.data, args.classifier)
    elif args.kind == "cgan":
        model_ids = args.models or [c.id for c in registry.checkpoints("class-conditional-generation")]
        results = evaluate_cgan(model_ids, args.per_class, args.seed, args.data, args.classifier)
    elif args.kind == "vae":
        model_ids = args.models or [c.id for c in registry.checkpoints(vae.TASK)]
        results = evaluate_vae(model_ids, args.data, args.classifier, args.elbo_samples, args.seed)
    elif args.kind == "inpaint":
        from models import inpaint
        networks = [c.id for c in registry.checkpoints(inpaint.TASK)]
        model_ids = args.models or networks + [inpaint.patch_method_id(n) for n in networks]
        if args.tuning and args.write:
            raise SystemExit("--tuning scores the tuning set, whose numbers do not belong in model.json: "
                             "drop --write.")
        sets = inpaint_sets(args.data, args.split, args.size, args.limit, not args.no_wallpapers,
                            args.train_split if args.tuning else None)
        results = evaluate_inpaint(model_ids, sets, args.seed, args.fsr_best_every, args.pictures)
        settings = {"photos": " + ".join(f"{name} ({len(crops)} crops)" for name, crops in sets.items()),
                    "crop": args.size, "hole_psnr_cap_db": round(MAX_HOLE_PSNR, 2),
                    "fsr_best_every": args.fsr_best_every}
        for model_id in model_ids if args.write else []:
            if registry.has(model_id):
                write_metrics(model_id, inpaint_record(results, model_id) | settings)
        return results
    elif args.kind == "texture":
        model_ids = args.models or [c.id for c in registry.checkpoints("texture-classification")]
        results = evaluate_texture(model_ids, args.data, args.train_split, args.split)
    elif args.kind == "texgan":
        model_ids = args.models or [c.id for c in registry.checkpoints("texture-generation")
                                    + registry.checkpoints("texture-generation-baseline")]
        results = evaluate_texgan(model_ids, args.data, args.split, args.texture_per_class, args.texture_size,
                                  args.seed, "dtd10-texture")
    elif args.kind == "texvae":
        model_ids = args.models or [c.id for c in registry.checkpoints("texture-autoencoder")]
        results = evaluate_texvae(model_ids, args.data, args.split, args.texture_size, args.seed)
    else:
        model_ids = args.models or [c.id for c in registry.checkpoints("texture-classification")]
        results = evaluate_texture_map(model_ids, args.data, args.split, args.collages, args.window, args.seed)
    settings = {"gan": {"samples": args.samples}, "cgan": {"samples_per_class": args.per_class},
                "vae": {"elbo_samples": args.elbo_samples, "likelihood": "bernoulli"},
                "texture": {"photos": f"{args.data.name} {args.split}"},
                "texture-map": {"collages": f"{args.collages} of {args.data.name} {args.split}",
                                "map_window": args.window},
                "texgan": {"photos": f"{args.data.name} {args.split}", "samples_per_class": args.texture_per_class,
                           "size": args.texture_size},
                "texvae": {"photos": f"{args.data.name} {args.split}", "crop": args.texture_size}}.get(args.kind, {})
    if settings and args.kind not in ("texture", "texture-map", "texgan", "texvae"):
        settings["classifier"] = args.classifier
    registered = {c.id for c in registry.checkpoints()}
    baselines = {}  # texture: the classical baselines are recorded with each model they were measured beside
    if args.kind == "texture":
        baselines = {"baselines": {name: _rounded(metrics) | {"trained_on": f"{args.data.name} {args.train_split}"}
                                   for name, metrics in results.items() if name in (LBP_BASELINE, FISHER_BASELINE)}}
    for name, metrics in results.items():
        print(name)
        for metric, value in metrics.items():
            if isinstance(value, list):
                print(f"  {metric} (rows: true class, columns: predicted)")
                print("\n".join("    " + " ".join(f"{v:3d}" for v in row) for row in value))
            else:
                print(f"  {metric:<40} {value:.4f}" if isinstance(value, float) else f"  {metric:<40} {value}")
        if args.write and name in registered:
            write_metrics(name, _rounded(metrics) | settings | baselines)
    return results


def _rounded(metrics: dict) -> dict:
    """Floats to 4 decimals, except hyper-parameters chosen from a grid (C, gamma), which are kept exact."""
    return {k: round(v, 4) if isinstance(v, float) and k not in ("C", "gamma") else v for k, v in metrics.items()}


if __name__ == "__main__":
    main()
