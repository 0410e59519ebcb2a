"""Train the photo inpainting network: gated-convolution U-Net, L1 + PatchGAN adversarial loss.

Data: random multi-scale crops of real photos with random thin, medium and thick brush-stroke
holes. `--data` (repeatable) names folders: one in the DTD layout contributes its `--dtd-split`
images only (the default, `../shared/data/dtd10`, gives its train1 split, so val1 stays held out
for evaluation); any other folder contributes every image under it (default: Debian's wallpaper
packages under /usr/share/backgrounds and /usr/share/wallpapers). The pictures of the held-out and tuning
wallpaper packages (`models.data.photos`: lomiri-wallpapers-16.04 for the evaluation, ukui-wallpapers for
choosing settings) are left out of every folder.

Loss of the generator: L1 inside the hole (weight `--hole-weight`) and outside it (weight 1) on
the raw output, plus `--adv-weight` times the hinge loss of a spectral-norm PatchGAN critic that
sees the composite (known pixels + filled hole) with the mask.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models import inpaint
from models.data.masks import MASK_KINDS, brush_mask
from models.data.photos import (
    DTD_DIR,
    HELD_OUT_WALLPAPER_PACKAGES,
    TUNING_WALLPAPER_PACKAGES,
    WALLPAPER_DIRS,
    dtd_split,
    image_files,
    load_rgb,
    package_images,
)
from models.device import select_device
from models.nets.inpaint import InpaintConfig, InpaintNet, PatchCritic
from models.train.common import RunState, descend, export_model, training_record
from models.train.gan import lr_factor

log = logging.getLogger(__name__)
TRAINING_DATA = ("DTD fold-1 train split of the ten DTD10 classes (400 photos, research use) and the "
                 "pictures of Debian's gnome-backgrounds, mate-backgrounds and plasma-workspace-wallpapers "
                 "packages (GPL / CC-BY-SA, see their copyright files)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, action="append", default=None,
                        help=f"photo folder, repeatable (default: {DTD_DIR} and {', '.join(map(str, WALLPAPER_DIRS))})")
    parser.add_argument("--dtd-split", default="train1", help="split read from DTD-layout folders")
    parser.add_argument("--short-side", type=int, default=320, help="photos are reduced to this shorter side")
    parser.add_argument("--crop", type=int, default=128, help="training crop size (multiple of 8)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall-clock time")
    parser.add_argument("--lr", type=float, default=5e-4, help="generator learning rate")
    parser.add_argument("--lr-d", type=float, default=2e-4, help="critic learning rate")
    parser.add_argument("--decay-from", type=float, default=0.5,
                        help="fraction of the run after which the learning rates decay linearly to zero")
    parser.add_argument("--hole-weight", type=float, default=6.0)
    parser.add_argument("--adv-weight", type=float, default=0.005, help="0 trains with L1 only")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--critic-width", type=int, default=32)
    parser.add_argument("--max-photos", type=int, default=None, help="use at most this many photos (smoke tests)")
    parser.add_argument("--model-id", default="photo-inpaint")


def training_photos(args: argparse.Namespace) -> list[np.ndarray]:
    paths = []
    for folder in args.data or [DTD_DIR, *WALLPAPER_DIRS]:
        folder = Path(folder)
        if (folder / "labels" / f"{args.dtd_split}.txt").is_file():
            paths += [path for path, _ in dtd_split(folder, args.dtd_split)]
        else:
            paths += image_files([folder])
    kept_out = {path.resolve() for package in HELD_OUT_WALLPAPER_PACKAGES + TUNING_WALLPAPER_PACKAGES
                for path in package_images(package)}
    if kept_out:
        before = len(paths)
        paths = [path for path in paths if path.resolve() not in kept_out]
        log.info("%d pictures of the held-out and tuning wallpaper packages left out", before - len(paths))
    paths = paths[: args.max_photos]
    if not paths:
        raise SystemExit("no training photos found; pass --data DIR")
    photos = [load_rgb(p, args.short_side) for p in tqdm(paths, desc="decoding photos", mininterval=10)]
    photos = [p for p in photos if min(p.shape[:2]) >= args.crop]
    log.info("%d photos of at least %d pixels a side", len(photos), args.crop)
    return photos


def random_batch(photos: list[np.ndarray], size: int, crop: int, rng: np.random.Generator):
    """(images [N, 3, crop, crop] in [-1, 1], masks [N, 1, crop, crop]): crops of 1 to 1.5 times `crop`
    resized to it, flips, brush holes."""
    images, masks = [], []
    for _ in range(size):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(rng.integers(crop, min(h, w, 3 * crop // 2) + 1))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        patch = torch.from_numpy(photo[y : y + side, x : x + side]).permute(2, 0, 1).float()[None]
        patch = F.interpolate(patch, size=(crop, crop), mode="area") if side != crop else patch
        if rng.random() < 0.5:
            patch = patch.flip(3)
        images.append(patch[0] / 127.5 - 1)
        kind = MASK_KINDS[rng.integers(len(MASK_KINDS))]
        masks.append(torch.from_numpy(brush_mask(crop, crop, kind, rng)).float()[None])
    return torch.stack(images), torch.stack(masks)


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    photos = training_photos(args)
    G = InpaintNet(InpaintConfig(width=args.width)).to(device)
    D = PatchCritic(args.critic_width).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
    run = RunState(args.run_dir, G=G, D=D, opt_g=opt_g, opt_d=opt_d, rng=rng)
    step, clock = run.step, run.clock
    budget_s = args.minutes * 60 if args.minutes is not None else float("inf")

    progress = tqdm(total=args.steps, initial=step, desc="inpaint", mininterval=10)
    while step < args.steps and clock.elapsed < budget_s:
        factor = lr_factor(max(step / args.steps, clock.elapsed / budget_s), args.decay_from)
        for optimizer, base_lr in ((opt_g, args.lr), (opt_d, args.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = base_lr * factor
        real, mask = (t.to(device) for t in random_batch(photos, args.batch_size, args.crop, rng))
        output = G(real, mask)
        composite = output * mask + real * (1 - mask)
        if args.adv_weight > 0:
            d_loss = F.relu(1 - D(real, mask)).mean() + F.relu(1 + D(composite.detach(), mask)).mean()
            descend(opt_d, d_loss)
        error = (output - real).abs()
        l1 = (args.hole_weight * error * mask + error * (1 - mask)).mean()
        g_loss = l1 - args.adv_weight * D(composite, mask).mean() if args.adv_weight > 0 else l1
        descend(opt_g, g_loss)
        step += 1
        progress.update(1)
        if step % 50 == 0:
            progress.set_postfix(l1=f"{l1.item():.4f}", refresh=False)
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=inpaint.TASK,
        architecture="studio-inpaint",
        net=G.cpu().eval(),
        training=training_record(step, clock.elapsed, device, batch_size=args.batch_size, crop=args.crop,
                                 photos=len(photos)),
        training_data=TRAINING_DATA,
    )
