"""Train the colour texture GAN on any folder of pictures (default: the DTD10 train1 split).

The folder may be in the DTD layout (`--split` chooses the photos), have one subfolder per class, or
hold pictures of one kind. Photos are reduced to `--photo-size` on their shorter side (DTD10 ships at
256, so a sample of 256 pixels shows as much as a whole photo) and the networks see random
`--patch`-pixel crops, flipped at random. The generator pads circularly, as a seamless texture is
made, and draws one latent cell more than a patch: the critic sees a random patch of it, never a whole
period, so nothing tells it the texture repeats and there is no border to give position away. Loss:
hinge, with DiffAugment (colour, translation and
cutout on real and fake alike: Zhao et al. 2020) for a small dataset, plus `--aux-weight` times the
critic's auxiliary class loss (the critic learns it on real patches, the generator must satisfy it on
its own); the critic learns at `--lr-d`. A `--label-drop` share of
each batch is labelled "any class", so the generator also serves unconditional use. The generator
that ships is an exponential moving average of the trained one; its global latent's GANSpace
directions are computed at export. `--arch dcgan` trains the baseline it is measured against: a plain
DCGAN made spatial (transposed convolutions, BCE, Adam 2e-4 / beta1 0.5, no classes, no augmentation)
on the same patches.

While it trains, RUN_DIR/stats.jsonl gets a line of losses every `--log-every` steps and RUN_DIR/samples.png a
grid of the shipped generator's textures (the same latents each time) every `--sample-every` steps; SIGTERM
or SIGINT stop it, and the stopped run is saved and exported like a finished one. Under `torchrun --nproc-per-node
N` the generator and critic train with DistributedDataParallel, each process on its own random patches (see
`python -m models.train --help`).
"""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.data.photos import DTD_DIR, labelled_images, load_rgb
from models.errors import InvalidRequestError
from models.latent_directions import principal_directions
from models.nets.texgan import (
    TexDCGANConfig,
    TexDCGANDiscriminator,
    TexDCGANGenerator,
    TexDiscriminator,
    TexGANConfig,
    TexGenerator,
)
from models.train.common import (
    Progress,
    RunState,
    add_distributed_arguments,
    add_progress_arguments,
    data_summary,
    descend,
    export_model,
    is_main,
    record_batch,
    run_device,
    training_record,
    wrap,
)
from models.train.gan import update_ema

log = logging.getLogger(__name__)
TASK = "texture-generation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DTD_DIR,
                        help="a DTD-layout folder, a folder with a subfolder per class, or a folder of pictures")
    parser.add_argument("--split", default="train1", help="the DTD split to train on (DTD layout only)")
    parser.add_argument("--arch", choices=("studio", "dcgan"), default="studio")
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall-clock time")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="patches per step and process: under torchrun the global batch is this x processes")
    parser.add_argument("--patch", type=int, default=64, help="training crop, a multiple of 16")
    parser.add_argument("--photo-size", type=int, default=256, help="shorter side the photos are reduced to")
    parser.add_argument("--lr", type=float, default=2e-4, help="generator learning rate")
    parser.add_argument("--lr-d", type=float, default=4e-4, help="critic learning rate")
    parser.add_argument("--aux-weight", type=float, default=1.0, help="weight of the auxiliary class loss")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--label-drop", type=float, default=0.1, help="share of each batch labelled 'any class'")
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--model-id", default=None, help="default: dtd10-texgan, or dtd10-texgan-dcgan-baseline")
    add_progress_arguments(parser)
    add_distributed_arguments(parser)


def random_patches(photos: list[np.ndarray], labels: np.ndarray, count: int, patch: int,
                   rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random crops [N, 3, patch, patch] in [-1, 1], flipped at random, and their labels."""
    picks = rng.integers(len(photos), size=count)
    crops = []
    for i in picks:
        photo = photos[i]
        y, x = rng.integers(0, photo.shape[0] - patch + 1), rng.integers(0, photo.shape[1] - patch + 1)
        crop = photo[y : y + patch, x : x + patch]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        crops.append(crop[::-1] if rng.random() < 0.5 else crop)
    images = torch.from_numpy(np.stack(crops).copy()).permute(0, 3, 1, 2).float() / 127.5 - 1
    return images, torch.from_numpy(labels[picks])


def diff_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """DiffAugment's colour, translation (1/8 of the size) and cutout (half the size), differentiable."""
    n, _, h, w = images.shape

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(images.device)

    images = images + (uniform(n, 1, 1, 1) - 0.5)  # brightness
    mean = images.mean(dim=1, keepdim=True)
    images = (images - mean) * (uniform(n, 1, 1, 1) * 2) + mean  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * (uniform(n, 1, 1, 1) + 0.5) + mean  # contrast
    shift = (uniform(2, n) * (w // 4 + 1)).long() - w // 8
    rows = (torch.arange(h, device=images.device)[None, :] - shift[0][:, None]).clamp(0, h - 1)
    cols = (torch.arange(w, device=images.device)[None, :] - shift[1][:, None]).clamp(0, w - 1)
    images = images[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    centre = (uniform(2, n) * torch.tensor([[h], [w]], device=images.device)).long()
    ys, xs = torch.arange(h, device=images.device), torch.arange(w, device=images.device)
    inside_y = (ys[None, :] - centre[0][:, None]).abs() < h // 4
    inside_x = (xs[None, :] - centre[1][:, None]).abs() < w // 4
    return images * ~(inside_y[:, :, None] & inside_x[:, None, :])[:, None]


def latents(config: TexGANConfig, count: int, cells: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(spatial noise [N, z_local, cells, cells], global latent [N, z_global])."""
    return (torch.randn(count, config.z_local, cells, cells, generator=generator),
            torch.randn(count, config.z_global, generator=generator))


def class_loss(logits: torch.Tensor, labels: torch.Tensor, any_class: int) -> torch.Tensor:
    """Cross-entropy over the patches that have a class (those labelled "any class" have none to meet)."""
    known = labels != any_class
    if logits.shape[1] < 2 or not known.any():
        return logits.sum() * 0
    return F.cross_entropy(logits[known], labels[known])


def load_pictures(args: argparse.Namespace) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The training pictures (at least a patch on their shorter side), their class indices and the classes."""
    entries, classes = labelled_images(args.data, args.split)
    if not entries:
        raise SystemExit(f"no pictures found in {args.data}")
    photos = [load_rgb(path, args.photo_size)
              for path, _ in tqdm(entries, desc="photos", mininterval=10, disable=not is_main())]
    keep = [i for i, photo in enumerate(photos) if min(photo.shape[:2]) >= args.patch]
    if not keep:
        raise InvalidRequestError(f"None of the {len(photos)} pictures is at least {args.patch} pixels on its "
                                  "shorter side: choose a smaller size or larger pictures.")
    labels = np.array([classes.index(entries[i][1]) if classes else 0 for i in keep])
    return [photos[i] for i in keep], labels, classes


def train(args: argparse.Namespace) -> Path:
    if args.patch % 16:
        raise SystemExit("--patch must be a multiple of 16")
    device = run_device(args.device)
    torch.manual_seed(args.seed)
    rng, noise = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)  # rekeyed per rank
    photos, labels, classes = load_pictures(args)
    trainer = train_dcgan if args.arch == "dcgan" else train_studio
    G, step, elapsed, export = trainer(args, device, photos, labels, classes, rng, noise)
    if not is_main():  # rank 0 exports
        return args.export or args.run_dir / "model"
    summary = data_summary(args.data, classes, labels)
    data = (f"{args.data.name}: {len(photos)} pictures" + (f" of {len(classes)} classes" if classes else "")
            + (f" (the {args.split} split)" if (args.data / "labels").is_dir() else ""))
    return export_model(
        args.export or args.run_dir / "model",
        net=G,
        training=training_record(step, elapsed, device, batch_size=args.batch_size, patch=args.patch,
                                 photo_size=args.photo_size),
        training_data=data,
        data=summary,
        **export,
    )


def progress_of(args: argparse.Namespace, run: RunState, desc: str) -> Progress:
    """The run's progress: `--steps` and `--minutes` count the whole run, so a resumed run can be given more."""
    return Progress(run, args.steps, desc, minutes=args.minutes, log_every=args.log_every,
                    sample_every=args.sample_every)


SAMPLE_COUNT = 16  # textures in a sample grid
SAMPLE_SEED = 1234  # the grid's latents, drawn apart from the run's own random streams


@torch.no_grad()
def sample_grid(progress: Progress, G: torch.nn.Module, *inputs: torch.Tensor, **kwargs) -> None:
    """Write the generator's images of fixed inputs as RUN_DIR/samples.png (in eval mode, then back)."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    progress.samples(G(*(x.to(device) for x in inputs), **kwargs))
    G.train(was_training)


def train_studio(args, device, photos, labels, classes, rng, noise):
    """The studio texture GAN; returns (shipped generator, steps, seconds, export arguments)."""
    config = TexGANConfig(num_classes=max(len(classes), 1), class_names=tuple(classes), width=args.width)
    G, D = TexGenerator(config).to(device), TexDiscriminator(config).to(device)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.0, 0.99))
    run = RunState(args.run_dir, G=G, D=D, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d, rng=rng, noise=noise)
    G_train, D_train = wrap(G), wrap(D)  # DistributedDataParallel under torchrun; G, D themselves are saved
    step, cells = run.step, args.patch // G.cell + 1
    progress = progress_of(args, run, "texgan")
    fixed = latents(config, SAMPLE_COUNT, cells, torch.Generator().manual_seed(SAMPLE_SEED))
    fixed_labels = (torch.arange(SAMPLE_COUNT) % config.num_classes if classes
                    else torch.full((SAMPLE_COUNT,), config.num_classes))
    while progress.running(step):
        real, real_labels = random_patches(photos, labels, args.batch_size, args.patch, rng)
        if args.record_batches:
            record_batch(args.record_batches, step, real)
        drop = torch.rand(args.batch_size, generator=noise) < args.label_drop
        real_labels = torch.where(drop, config.num_classes, real_labels).to(device)
        fake_labels = real_labels[torch.randperm(args.batch_size, generator=noise)]
        z_local, z_global = latents(config, args.batch_size, cells, noise)
        y, x = torch.randint(0, G.cell + 1, (2,), generator=noise).tolist()
        fake = G_train(z_local.to(device), z_global.to(device), fake_labels, seamless=True)
        fake = fake[:, :, y : y + args.patch, x : x + args.patch]
        real_logits, real_classes = D_train(diff_augment(real.to(device), noise), real_labels)
        fake_logits, _ = D_train(diff_augment(fake.detach(), noise), fake_labels)
        d_loss = (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
                  + args.aux_weight * class_loss(real_classes, real_labels, config.num_classes))
        descend(opt_d, d_loss)
        fake_logits, fake_classes = D_train(diff_augment(fake, noise), fake_labels)
        g_loss = -fake_logits.mean() + args.aux_weight * class_loss(fake_classes, fake_labels, config.num_classes)
        descend(opt_g, g_loss)
        update_ema(G_ema, G, args.ema)
        step += 1
        progress.update(step, loss_d=d_loss, loss_g=g_loss)
        if progress.samples_due(step):
            sample_grid(progress, G_ema, *fixed, fixed_labels, seamless=True)
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    sample_grid(progress, G_ema, *fixed, fixed_labels, seamless=True)
    shipped = G_ema.cpu().eval()
    return shipped, step, run.clock.elapsed, {
        "model_id": args.model_id or "dtd10-texgan", "task": TASK, "architecture": "studio-texgan-generator",
        "extra_tensors": {"latent_directions": principal_directions(shipped, config.z_global)}}


def train_dcgan(args, device, photos, labels, classes, rng, noise):
    """The plain DCGAN baseline (unconditional); returns what train_studio does."""
    config = TexDCGANConfig(width=args.width)
    G, D = TexDCGANGenerator(config).to(device), TexDCGANDiscriminator(config).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    run = RunState(args.run_dir, G=G, D=D, opt_g=opt_g, opt_d=opt_d, rng=rng, noise=noise)
    G_train, D_train = wrap(G), wrap(D)
    step, cells = run.step, args.patch // G.cell
    progress = progress_of(args, run, "texgan dcgan")
    fixed = torch.randn(SAMPLE_COUNT, config.z_local, cells, cells,
                        generator=torch.Generator().manual_seed(SAMPLE_SEED))
    while progress.running(step):
        real, _ = random_patches(photos, labels, args.batch_size, args.patch, rng)
        if args.record_batches:
            record_batch(args.record_batches, step, real)
        fake = G_train(torch.randn(args.batch_size, config.z_local, cells, cells, generator=noise).to(device))
        real_logits, fake_logits = D_train(real.to(device)), D_train(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        descend(opt_d, d_loss)
        fake_logits = D_train(fake)
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        descend(opt_g, g_loss)
        step += 1
        progress.update(step, loss_d=d_loss, loss_g=g_loss)
        if progress.samples_due(step):
            sample_grid(progress, G, fixed)
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    sample_grid(progress, G, fixed)
    return G.cpu().eval(), step, run.clock.elapsed, {
        "model_id": args.model_id or "dtd10-texgan-dcgan-baseline", "task": "texture-generation-baseline",
        "architecture": "texgan-dcgan-generator"}
