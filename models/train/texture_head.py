"""Teach the shipped texture classifier new classes from a folder with one subfolder per class, in seconds.

Teachable-Machine style: the shipped network (`--backbone`, dtd10-texture) is a frozen feature extractor;
only a new pair of linear heads (the network's own: one on the average-pooled features, one on the
second-order ones) is trained, on the pooled features of `--views` random views of each image (a square
of 60 to 100% of the shorter side, flipped, turned, shown at VIEW_SIZE pixels), computed once.
`--finetune-last-block` also trains the network's last residual block (its batch statistics stay fixed).
`--held-out` (15%) of each class, drawn with `--seed`, is kept out of training; those images are
classified whole, as the Texture tab classifies, and their accuracy, per-class accuracy and confusion
matrix go to the last line of RUN_DIR/stats.jsonl and to the model card. The export is a whole texture
classifier (the backbone's weights, the new heads, the folder's class names), so every tab that
classifies textures serves it.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models import texture
from models.data.photos import labelled_images, load_rgb
from models.data.uploads import MIN_CLASSES, MIN_PER_CLASS
from models.device import select_device
from models.errors import InvalidRequestError
from models.loading import load
from models.nets.texture import TextureConfig, TextureEnsemble, TextureNet
from models.train.common import (
    Progress,
    RunState,
    add_progress_arguments,
    data_summary,
    descend,
    export_model,
    training_record,
)

log = logging.getLogger(__name__)
PHOTO_SIZE = 256  # pictures are read with at most this shorter side (the network sees 192)
VIEW_SIZE = 128  # pixels a side of a training view (the tab classifies at 192: views are a coarser scale jitter)
VIEW_FRACTION = (0.6, 1.0)  # a view is a square of this share of the shorter side
FEATURE_BATCH = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="a folder with one subfolder of images per class")
    parser.add_argument("--split", default="train1", help="the DTD split to train on (DTD layout only)")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--backbone", default="dtd10-texture", help="the shipped texture classifier to build on")
    parser.add_argument("--views", type=int, default=4, help="random views of each training image")
    parser.add_argument("--held-out", type=float, default=0.15, help="share of each class kept out of training")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--finetune-last-block", action="store_true", help="also train the last residual block")
    add_progress_arguments(parser, samples=False)


def load_classes(folder: Path, split: str) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The readable pictures of a class-folder dataset, their class indices and the class names; refuses a
    dataset with fewer than MIN_CLASSES classes or a class with fewer than MIN_PER_CLASS pictures."""
    if not Path(folder).is_dir():
        raise InvalidRequestError(f"The training folder {folder} does not exist.")
    entries, classes = labelled_images(folder, split)
    if len(classes) < MIN_CLASSES:
        raise InvalidRequestError(f"A classifier needs at least {MIN_CLASSES} classes, one subfolder of images "
                                  f"each; {folder.name} has {len(classes)}.")
    photos, labels = [], []
    for path, name in entries:
        try:
            photos.append(load_rgb(path, PHOTO_SIZE))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            log.warning("skipped %s: not a readable image (%s)", path, error)
            continue
        labels.append(classes.index(name))
    counts = np.bincount(np.array(labels, dtype=np.int64), minlength=len(classes))
    few = [f"{name} has {count}" for name, count in zip(classes, counts, strict=True) if count < MIN_PER_CLASS]
    if few:
        raise InvalidRequestError(f"Each class needs at least {MIN_PER_CLASS} images: {', '.join(few)}.")
    return photos, np.array(labels), classes


def held_out_split(labels: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices): `share` of each class (at least one image) held out."""
    train, held = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = max(1, round(share * len(members)))
        held += list(members[:count])
        train += list(members[count:])
    return np.array(sorted(train)), np.array(sorted(held))


def random_view(photo: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """A random square view [3, VIEW_SIZE, VIEW_SIZE] in [-1, 1]: 60-100% of the shorter side, flipped, turned."""
    h, w = photo.shape[:2]
    side = max(1, int(min(h, w) * rng.uniform(*VIEW_FRACTION)))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    view = torch.from_numpy(photo[y : y + side, x : x + side].copy()).permute(2, 0, 1).float()[None] / 127.5 - 1
    view = F.interpolate(view, size=(VIEW_SIZE, VIEW_SIZE), mode="area" if side > VIEW_SIZE else "bilinear")[0]
    view = torch.rot90(view, int(rng.integers(4)), dims=(1, 2))
    return view.flip(2) if rng.random() < 0.5 else view


def whole(photo: np.ndarray, device: torch.device) -> torch.Tensor:
    """A picture as the Texture tab shows it to the network: [1, 3, H, W] at the working size."""
    return texture.resized(texture.as_tensor(photo, device), texture.working_scale(*photo.shape[:2]))


def new_classifier(backbone_id: str, classes: list[str], device: torch.device) -> TextureNet:
    """A TextureNet with the backbone's weights and new heads for `classes` (an ensemble's backbone is its CNN)."""
    backbone = load(backbone_id, "cpu")
    backbone = backbone.cnn if isinstance(backbone, TextureEnsemble) else backbone
    config = TextureConfig(width=backbone.config.width, second_order_dim=backbone.config.second_order_dim,
                           num_classes=len(classes), class_names=tuple(classes))
    net = TextureNet(config)
    heads = ("average_head.", "second_order_head.")
    net.load_state_dict({k: v for k, v in backbone.state_dict().items() if not k.startswith(heads)}, strict=False)
    return net.to(device).eval().requires_grad_(False)


def pooled(net: TextureNet, maps: torch.Tensor) -> torch.Tensor:
    """The two pooled feature vectors the heads read, concatenated: [N, 8w + d(d+1)/2]."""
    return torch.cat([maps.mean(dim=(2, 3)), net.second_order(maps)], dim=1)


def logits(net: TextureNet, features: torch.Tensor, dropout: bool = False) -> torch.Tensor:
    """Both heads on pooled features, as TextureNet.forward adds them."""
    average, second = features.split([net.average_head.in_features, net.second_order_head.in_features], dim=1)
    if dropout:
        average, second = F.dropout(average, 0.3), F.dropout(second, 0.3)
    return net.average_head(average) + net.second_order_head(second)


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    photos, labels, classes = load_classes(args.data, args.split)
    train_index, held_index = held_out_split(labels, args.held_out, np.random.default_rng(args.seed))
    net = new_classifier(args.backbone, classes, device)
    last = net.features[-1] if args.finetune_last_block else torch.nn.Identity()
    trunk = net.features[:-1] if args.finetune_last_block else net.features

    with torch.inference_mode():  # computed once: the trunk is frozen
        views = torch.stack([random_view(photos[i], rng) for i in train_index for _ in range(args.views)])
        view_labels = torch.from_numpy(np.repeat(labels[train_index], args.views)).to(device)
        view_maps = torch.cat([trunk(chunk.to(device)) for chunk in views.split(FEATURE_BATCH)])
        held_maps = [trunk(whole(photos[i], device)) for i in held_index]
    view_maps, held_maps = view_maps.clone(), [m.clone() for m in held_maps]
    held_labels = labels[held_index]

    def features(maps: torch.Tensor) -> torch.Tensor:
        return pooled(net, last(maps))

    fixed_features = None if args.finetune_last_block else features(view_maps)
    net.average_head.requires_grad_(True)
    net.second_order_head.requires_grad_(True)
    trainable = [*net.average_head.parameters(), *net.second_order_head.parameters()]
    groups = [{"params": trainable}]
    if args.finetune_last_block:
        last.requires_grad_(True)
        groups.append({"params": list(last.parameters()), "lr": args.lr / 10})
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    run = RunState(args.run_dir, net=net, optimizer=optimizer, rng=rng)
    step = run.step
    progress = Progress(run, args.steps, "texture-head", log_every=args.log_every)
    batch = min(len(view_maps), 4 * FEATURE_BATCH)

    def predictions() -> np.ndarray:
        with torch.no_grad():
            return np.array([logits(net, features(m)).argmax(1).item() for m in held_maps])

    loss = torch.tensor(math.nan)
    while progress.running(step):
        picks = torch.from_numpy(rng.choice(len(view_maps), size=batch, replace=False)).to(device)
        inputs = fixed_features[picks] if fixed_features is not None else features(view_maps[picks])
        loss = F.cross_entropy(logits(net, inputs, dropout=True), view_labels[picks], label_smoothing=0.1)
        descend(optimizer, loss)
        step += 1
        if step % progress.log_every == 0 and progress.running(step):  # the last step's line comes below, in full
            progress.bar.update(step - progress.bar.n)
            progress.log(step, loss=loss, val_accuracy=float((predictions() == held_labels).mean()))
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    net.requires_grad_(False)
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(confusion, (held_labels, predictions()), 1)
    accuracy = float(np.trace(confusion) / confusion.sum())
    per_class = {name: round(float(confusion[k, k] / confusion[k].sum()), 4) for k, name in enumerate(classes)}
    progress.log(step, loss=loss, val_accuracy=round(accuracy, 4), per_class_accuracy=per_class,
                 confusion=confusion.tolist(), classes=classes, held_out_images=len(held_index))
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=texture.TASK,
        architecture="studio-texture",
        net=net.cpu().eval(),
        training=training_record(step, run.clock.elapsed, device, backbone=args.backbone, views=args.views,
                                 held_out=args.held_out, lr=args.lr, finetune_last_block=args.finetune_last_block),
        metrics={"held_out_accuracy": round(accuracy, 4),
                 **{f"accuracy_{name}": value for name, value in per_class.items()},
                 "confusion": confusion.tolist(),
                 "held_out": f"{args.held_out:.0%} of each class, {len(held_index)} images, classified whole"},
        training_data=(f"{args.data.name}: {len(photos)} images of {len(classes)} classes; "
                       f"features of the {args.backbone} network"),
        data=data_summary(args.data, classes, labels),
    )
