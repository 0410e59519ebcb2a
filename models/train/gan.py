"""Train an unconditional GAN on Fashion-MNIST.

`--arch studio` (default): the studio GAN, hinge loss with a spectral-norm discriminator and an
exponential moving average of the generator weights (the EMA generator is what ships).
`--arch dcgan`: the plain DCGAN baseline (BCE loss, Adam 2e-4 / beta1 0.5, no EMA).
`--minutes` caps the wall-clock time so both can be compared for the same budget.
"""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.data import fashion_mnist
from models.device import select_device
from models.latent_directions import principal_directions
from models.nets import DCGANConfig, DCGANDiscriminator, DCGANGenerator, Generator, GeneratorConfig
from models.nets.gan import Discriminator, DiscriminatorConfig
from models.train.common import Clock, export_model, load_checkpoint, save_checkpoint, training_record

log = logging.getLogger(__name__)
TASK = "unconditional-generation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=("studio", "dcgan"), default="studio")
    parser.add_argument("--steps", type=int, default=20000, help="stop after this many generator steps")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall-clock time")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--width", type=int, default=None, help="channel width (default: 32 studio, 64 dcgan)")
    parser.add_argument("--z-dim", type=int, default=None, help="latent size (default: 64 studio, 100 dcgan)")
    parser.add_argument("--ema", type=float, default=0.999, help="generator EMA decay (studio only)")
    parser.add_argument("--model-id", default=None, help="default: fmnist-gan or fmnist-dcgan-baseline")


def build_networks(args: argparse.Namespace):
    if args.arch == "studio":
        g_config = GeneratorConfig(z_dim=args.z_dim or 64, width=args.width or 32)
        return g_config, Generator(g_config), Discriminator(DiscriminatorConfig(width=args.width or 32))
    g_config = DCGANConfig(z_dim=args.z_dim or 100, width=args.width or 64)
    return g_config, DCGANGenerator(g_config), DCGANDiscriminator(g_config)


def dcgan_init(module: torch.nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        torch.nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, torch.nn.BatchNorm2d):
        torch.nn.init.normal_(module.weight, 1.0, 0.02)
        torch.nn.init.zeros_(module.bias)


def discriminator_loss(arch: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if arch == "studio":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(arch: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if arch == "studio":
        return -fake_logits.mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), net.buffers()):
        e.copy_(b)


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    generator_rng = torch.Generator().manual_seed(args.seed)
    images, _ = fashion_mnist.load_split("train", args.data)
    data = fashion_mnist.to_model_range(images)

    g_config, G, D = build_networks(args)
    if args.arch == "dcgan":
        G.apply(dcgan_init)
        D.apply(dcgan_init)
        betas = (0.5, 0.999)
    else:
        betas = (0.0, 0.9)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if args.arch == "studio" else None
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=betas)
    step, elapsed = 0, 0.0
    state = load_checkpoint(args.run_dir)
    if state:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        if G_ema is not None:
            G_ema.load_state_dict(state["G_ema"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        generator_rng.set_state(state["rng"])
        step, elapsed = state["step"], state["elapsed"]
    clock = Clock(elapsed)
    last_save = clock.elapsed
    budget_s = args.minutes * 60 if args.minutes is not None else float("inf")

    def checkpoint() -> None:
        save_checkpoint(args.run_dir, {
            "G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict() if G_ema else None,
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": generator_rng.get_state(),
            "step": step, "elapsed": clock.elapsed, "arch": args.arch,
        })

    progress = tqdm(total=args.steps, initial=step, desc=f"gan[{args.arch}]", mininterval=10)
    G.train()
    D.train()
    while step < args.steps and clock.elapsed < budget_s:
        idx = torch.randint(0, len(data), (args.batch_size,), generator=generator_rng)
        real = data[idx].to(device)
        z = torch.randn(args.batch_size, g_config.z_dim, generator=generator_rng).to(device)
        fake = G(z)
        d_loss = discriminator_loss(args.arch, D(real), D(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = generator_loss(args.arch, D(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if G_ema is not None:
            update_ema(G_ema, G, args.ema if step > 500 else 0.0)
        step += 1
        progress.update(1)
        if step % 50 == 0:
            progress.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}", refresh=False)
        if clock.elapsed - last_save > args.checkpoint_minutes * 60:
            checkpoint()
            last_save = clock.elapsed
            log.info("step %d, %.0f s: checkpoint saved", step, clock.elapsed)
    progress.close()
    checkpoint()
    shipped = (G_ema if G_ema is not None else G).eval()
    model_id = args.model_id or ("fmnist-gan" if args.arch == "studio" else "fmnist-dcgan-baseline")
    return export_model(
        args.export or args.run_dir / "model",
        model_id=model_id,
        task=TASK,
        architecture="studio-gan-generator" if args.arch == "studio" else "dcgan-generator",
        net=shipped.cpu(),
        training=training_record(step, clock.elapsed, device, batch_size=args.batch_size),
        extra_tensors={"latent_directions": principal_directions(shipped, g_config.z_dim)},
    )
