"""Train the colour texture VAE on any folder of pictures (default: the DTD10 train1 split).

Random `--patch`-pixel crops of the pictures (reduced to `--photo-size` on their shorter side),
flipped at random. Loss: L1 reconstruction, plus a perceptual term (L1 between the feature maps of
the shipped texture classifier, `--perceptual-model`, at 1/2, 1/4 and 1/8 scale) that keeps texture
where a pixel loss alone averages it into a blur, plus `--beta` times the KL divergence per pixel.
RUN_DIR/stats.jsonl and RUN_DIR/samples.png (fixed patches over their reconstructions) show the run as the
texture GAN's do, and SIGTERM or SIGINT stop it with a saved, exported model. Under `torchrun --nproc-per-node N`
the VAE trains with DistributedDataParallel, each process on its own random patches (`python -m models.train --help`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.data.photos import DTD_DIR
from models.loading import load
from models.nets.texvae import TexVAE, TexVAEConfig, kl_divergence
from models.train.common import (
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
from models.train.texgan import SAMPLE_COUNT, SAMPLE_SEED, load_pictures, progress_of, random_patches

log = logging.getLogger(__name__)
TASK = "texture-autoencoder"
PERCEPTUAL_LAYERS = (2, 4, 6)  # outputs of the classifier's feature stack used: 1/2, 1/4 and 1/8 scale


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DTD_DIR,
                        help="a DTD-layout folder, a folder with a subfolder per class, or a folder of pictures")
    parser.add_argument("--split", default="train1", help="the DTD split to train on (DTD layout only)")
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall-clock time")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="patches per step and process: under torchrun the global batch is this x processes")
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--photo-size", type=int, default=256, help="shorter side the photos are reduced to")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--latent-channels", type=int, default=8)
    parser.add_argument("--downsamples", type=int, default=2, help="a latent cell is 2**this pixels")
    parser.add_argument("--beta", type=float, default=0.01, help="weight of the KL divergence per pixel")
    parser.add_argument("--perceptual", type=float, default=1.0, help="weight of the perceptual term")
    parser.add_argument("--perceptual-model", default="dtd10-texture", help="texture classifier for that term")
    parser.add_argument("--model-id", default="dtd10-texvae")
    add_progress_arguments(parser)
    add_distributed_arguments(parser)


def feature_maps(net: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The classifier's feature maps at PERCEPTUAL_LAYERS."""
    maps = []
    for index, layer in enumerate(net.features):
        images = layer(images)
        if index in PERCEPTUAL_LAYERS:
            maps.append(images)
        if index >= max(PERCEPTUAL_LAYERS):
            break
    return maps


def train(args: argparse.Namespace) -> Path:
    if args.patch % 2**args.downsamples:
        raise SystemExit(f"--patch must be a multiple of {2**args.downsamples}")
    device = run_device(args.device)
    torch.manual_seed(args.seed)
    rng, noise = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    photos, labels, classes = load_pictures(args)
    config = TexVAEConfig(width=args.width, latent_channels=args.latent_channels, downsamples=args.downsamples)
    vae = TexVAE(config).to(device)
    judge = load(args.perceptual_model, device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=args.lr)
    run = RunState(args.run_dir, vae=vae, optimizer=optimizer, rng=rng, noise=noise)  # rng, noise: rekeyed per rank
    vae_train = wrap(vae)  # DistributedDataParallel under torchrun; `vae` itself is saved and exported
    step = run.step
    progress = progress_of(args, run, "texvae")
    fixed, _ = random_patches(photos, labels, SAMPLE_COUNT // 2, args.patch, np.random.default_rng(SAMPLE_SEED))
    while progress.running(step):
        images, _ = random_patches(photos, labels, args.batch_size, args.patch, rng)
        if args.record_batches:
            record_batch(args.record_batches, step, images)
        images = images.to(device)
        reconstruction, mean, log_variance = vae_train(images)
        perceptual = sum(F.l1_loss(a, b) for a, b in zip(feature_maps(judge, reconstruction),
                                                          feature_maps(judge, images), strict=True))
        kl = kl_divergence(mean, log_variance).mean() / images[0].numel()
        loss = F.l1_loss(reconstruction, images) + args.perceptual * perceptual + args.beta * kl
        descend(optimizer, loss)
        step += 1
        progress.update(step, loss=loss, kl=kl, perceptual=perceptual)
        if progress.samples_due(step):
            reconstruction_grid(progress, vae, fixed)
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    reconstruction_grid(progress, vae, fixed)
    if not is_main():  # rank 0 exports
        return args.export or args.run_dir / "model"
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id,
        task=TASK,
        architecture="studio-texvae",
        net=vae.cpu().eval(),
        training=training_record(step, run.clock.elapsed, device, batch_size=args.batch_size, patch=args.patch,
                                 photo_size=args.photo_size, beta=args.beta, perceptual=args.perceptual),
        training_data=f"{args.data.name}: {len(photos)} pictures",
        data=data_summary(args.data, classes, labels),
    )


@torch.no_grad()
def reconstruction_grid(progress, vae: TexVAE, patches: torch.Tensor) -> None:
    """RUN_DIR/samples.png: the fixed patches in the top row, their reconstructions (the mean latent) below."""
    was_training = vae.training
    vae.eval()
    mean, _ = vae.encode(patches.to(next(vae.parameters()).device))
    progress.samples(torch.cat([patches, vae.decode(mean).cpu()]), columns=len(patches))
    vae.train(was_training)
