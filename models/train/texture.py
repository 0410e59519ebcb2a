"""Train the texture classifier from scratch on a DTD-layout folder (default: ../shared/data/dtd10).

Protocol: train on `--train-split` (train1), choose settings on `--val-split` (val1), report val1
accuracy. Little data, so many random views per image: multi-scale crops (a square of 50 to 100%
of the shorter side, resized to `--crop`), flips, 90-degree rotations and colour jitter. The class
list is read from the data (`labels/classes.txt` or the folders under `images/`), so the full
47-class DTD or any folder in that layout trains with the same command.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models import texture
from models.data.photos import DTD_DIR, dtd_classes, dtd_split, load_rgb
from models.device import select_device
from models.nets.texture import TextureConfig, TextureNet
from models.train.common import RunState, descend, export_model, one_cycle, training_record

log = logging.getLogger(__name__)
PHOTO_SIZE = 256  # photos are reduced to this shorter side (DTD10 ships at 256)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DTD_DIR, help="folder in the DTD layout")
    parser.add_argument("--train-split", default="train1")
    parser.add_argument("--val-split", default="val1")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--model-id", default="dtd10-texture")
    parser.add_argument("--holdout-fold", type=int, default=None,
                        help="train on the other folds of the train split's stratified 5-fold split and validate on "
                             "this one (the CNNs that texture-fisher chooses its fusion with)")


def random_views(photos: list[np.ndarray], labels: np.ndarray, size: int, crop: int, rng: np.random.Generator):
    """A batch of random views: (images [N, 3, crop, crop] in [-1, 1], labels [N])."""
    picks = rng.integers(len(photos), size=size)
    views = []
    for i in picks:
        photo = photos[i]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        view = torch.from_numpy(photo[y : y + side, x : x + side]).permute(2, 0, 1).float()[None] / 255
        view = F.interpolate(view, size=(crop, crop), mode="area")[0]
        view = torch.rot90(view, int(rng.integers(4)), dims=(1, 2))
        if rng.random() < 0.5:
            view = view.flip(2)
        brightness, contrast, saturation = rng.uniform(0.75, 1.25, 3)
        grey = view.mean(dim=0, keepdim=True)
        view = (grey + saturation * (view - grey)) * brightness
        view = (view - view.mean()) * contrast + view.mean()
        views.append(view.clamp(0, 1) * 2 - 1)
    return torch.stack(views), torch.from_numpy(labels[picks])


def load_split(root: Path, split: str, classes: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    entries = dtd_split(root, split)
    photos = [load_rgb(path, PHOTO_SIZE) for path, _ in tqdm(entries, desc=split, mininterval=10)]
    return photos, np.array([classes.index(name) for _, name in entries])


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    classes = dtd_classes(args.data)
    train_photos, train_labels = load_split(args.data, args.train_split, classes)
    if args.holdout_fold is None:
        val_photos, val_labels = load_split(args.data, args.val_split, classes)
    else:
        from models.train.texture_fisher import stratified_folds

        folds = stratified_folds(train_labels)
        if not 0 <= args.holdout_fold < len(folds):
            raise SystemExit(f"--holdout-fold must be 0 to {len(folds) - 1}: the split has {len(folds)} folds")
        inside, held = folds[args.holdout_fold]
        args.val_split = f"{args.train_split}-fold{args.holdout_fold}"
        val_photos, val_labels = [train_photos[i] for i in held], train_labels[held]
        train_photos, train_labels = [train_photos[i] for i in inside], train_labels[inside]
    net = TextureNet(TextureConfig(width=args.width, num_classes=len(classes), class_names=tuple(classes))).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    run = RunState(args.run_dir, net=net, optimizer=optimizer, rng=rng)
    step = run.step
    schedule = one_cycle(optimizer, args.lr, args.steps, step)

    def val_accuracy() -> float:
        net.eval()
        predicted = [texture.predict_probabilities(net, photo).argmax() for photo in val_photos]
        net.train()
        return float((np.array(predicted) == val_labels).mean())

    progress = tqdm(total=args.steps, initial=step, desc="texture", mininterval=10)
    net.train()
    while step < args.steps:
        images, labels = random_views(train_photos, train_labels, args.batch_size, args.crop, rng)
        loss = F.cross_entropy(net(images.to(device)), labels.to(device), label_smoothing=0.1)
        descend(optimizer, loss, schedule)
        step += 1
        progress.update(1)
        if step % 20 == 0:
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        run.save_every(args.checkpoint_minutes, step)
        if step % 500 == 0 or step == args.steps:
            log.info("step %d: %s accuracy %.4f", step, args.val_split, val_accuracy())
    progress.close()
    run.save(step)
    accuracy = val_accuracy()
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=texture.TASK,
        architecture="studio-texture",
        net=net.cpu().eval(),
        training=training_record(step, run.clock.elapsed, device, batch_size=args.batch_size, crop=args.crop),
        metrics={f"{args.val_split}_accuracy": round(accuracy, 4)},
        training_data=(f"{args.data.name}: DTD (Cimpoi et al. 2014) {args.train_split} split, "
                       f"{len(train_photos)} photos of {len(classes)} classes (research use)"),
    )
