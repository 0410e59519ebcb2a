"""Train a GAN on Fashion-MNIST: `gan` (unconditional) or `cgan` (conditioned on the 10 classes).

`--arch studio` (default): the studio generator, an exponential moving average of its weights
with batch-norm statistics recomputed for the averaged weights (that EMA generator is what ships),
and a choice of critic (`--critic`): batch norm with the BCE loss (the shipped models), spectral
norm with the hinge loss, or no normalisation with an R1 penalty. For `cgan` the critic has a
projection head and an auxiliary class head; `--class-groups` draws batches so that each of its
minibatch standard-deviation groups holds one class. `gan --clusters K` trains the same way on K
k-means clusters of the images instead of classes (no labels) and ships an unconditional
`ClusterGenerator` (the shipped `fmnist-gan`). `--arch dcgan` (`gan` only): the plain DCGAN
baseline (BCE loss, Adam 2e-4 / beta1 0.5, no EMA). `--minutes` caps the wall-clock time so runs
can be compared for the same budget; `--decay-from` decays the learning rates linearly to zero over
the end of the run.
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
from models.nets.cgan import (
    ClusterGenerator,
    ClusterGeneratorConfig,
    ConditionalGenerator,
    ConditionalGeneratorConfig,
    ProjectionDiscriminator,
)
from models.nets.gan import MINIBATCH_STD_GROUP, Discriminator, DiscriminatorConfig
from models.train.common import RunState, add_fashion_mnist_argument, descend, export_model, training_record

log = logging.getLogger(__name__)
R1_INTERVAL = 4  # lazy regularisation: the penalty every 4th step, scaled by 4
TASKS = {"gan": "unconditional-generation", "cgan": "class-conditional-generation"}
DEFAULT_IDS = {("gan", "studio"): "fmnist-gan", ("gan", "dcgan"): "fmnist-dcgan-baseline",
               ("cgan", "studio"): "fmnist-cgan"}
ARCHITECTURE_NAMES = {("gan", "studio"): "studio-gan-generator", ("gan", "dcgan"): "dcgan-generator",
                      ("cgan", "studio"): "studio-cgan-generator"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fashion_mnist_argument(parser)
    parser.add_argument("--arch", choices=("studio", "dcgan"), default="studio")
    parser.add_argument("--steps", type=int, default=20000, help="stop after this many generator steps")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall-clock time")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4, help="generator learning rate")
    parser.add_argument("--decay-from", type=float, default=1.0,
                        help="fraction of the run (steps or minutes, whichever ends first) after which the "
                             "learning rates decay linearly to zero; 1 keeps them constant")
    parser.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate (default: --lr)")
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 for both networks")
    parser.add_argument("--beta2", type=float, default=0.999, help="Adam beta2 for both networks")
    parser.add_argument("--width", type=int, default=None,
                        help="generator width (default: 32 studio, 64 dcgan); the studio critic gets twice this")
    parser.add_argument("--z-dim", type=int, default=None, help="latent size (default: 64 studio, 100 dcgan)")
    parser.add_argument("--critic", choices=("batch", "spectral", "r1"), default="batch",
                        help="studio discriminator: batch norm + BCE, spectral norm + hinge loss, or R1 penalty + BCE")
    parser.add_argument("--r1-gamma", type=float, default=0.1, help="R1 penalty weight (--critic r1)")
    parser.add_argument("--aux-weight", type=float, default=1.0,
                        help="cgan and gan --clusters: weight of the critic's auxiliary class (cluster) loss "
                             "(0 turns it off)")
    parser.add_argument("--clusters", type=int, default=0,
                        help="gan --arch studio: train as a conditional GAN on this many k-means clusters of the "
                             "images (no labels used) and ship a generator whose z picks the cluster; implies "
                             "--class-groups (0: a plain unconditional GAN)")
    parser.add_argument("--class-groups", action="store_true",
                        help="cgan: the critic's standard-deviation groups each hold one class, so it sees "
                             "diversity within a class rather than across classes")
    parser.add_argument("--ema", type=float, default=0.999, help="generator EMA decay (studio only)")
    parser.add_argument("--model-id", default=None, help="default: fmnist-gan, fmnist-dcgan-baseline or fmnist-cgan")


def build_networks(args: argparse.Namespace, cluster_weights: tuple[float, ...] = ()):
    """(generator config, generator, discriminator) for the run's kind and architecture."""
    if args.arch == "dcgan":
        if args.kind == "cgan":
            raise SystemExit("cgan trains only --arch studio")
        g_config = DCGANConfig(z_dim=args.z_dim or 100, width=args.width or 64)
        return g_config, DCGANGenerator(g_config), DCGANDiscriminator(g_config)
    width = args.width or 32
    d_config = DiscriminatorConfig(width=2 * width, norm="none" if args.critic == "r1" else args.critic)
    if args.kind == "cgan":
        g_config = ConditionalGeneratorConfig(z_dim=args.z_dim or 64, width=width)
        return g_config, ConditionalGenerator(g_config), ProjectionDiscriminator(d_config)
    if cluster_weights:
        g_config = ClusterGeneratorConfig(z_dim=args.z_dim or 64, width=width, cluster_weights=cluster_weights)
        return g_config, ClusterGenerator(g_config), ProjectionDiscriminator(d_config, len(cluster_weights))
    g_config = GeneratorConfig(z_dim=args.z_dim or 64, width=width)
    return g_config, Generator(g_config), Discriminator(d_config)


def dcgan_init(module: torch.nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        torch.nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, torch.nn.BatchNorm2d):
        torch.nn.init.normal_(module.weight, 1.0, 0.02)
        torch.nn.init.zeros_(module.bias)


def discriminator_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # BCE on logits


def generator_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()  # non-saturating BCE


@torch.no_grad()
def recalibrate_batchnorm(generator: torch.nn.Module, z_dim: int, num_classes: int | None, batches: int = 64,
                          batch_size: int = 256, seed: int = 0) -> None:
    """Recompute batch-norm statistics for the EMA weights ("standing statistics"): the running
    averages collected by the live generator do not match the averaged weights."""
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    generator.train()
    for _ in range(batches):
        z = torch.randn(batch_size, z_dim, generator=rng).to(device)
        if num_classes:
            generator(z, torch.randint(0, num_classes, (batch_size,), generator=rng).to(device))
        else:
            generator(z)
    for m in norms:
        m.momentum = 0.1
    generator.eval()


def r1_penalty(D: torch.nn.Module, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Squared gradient norm of D at real images (Mescheder et al., 2018)."""
    real = real.detach().requires_grad_(True)
    logits = D(real, labels) if labels is not None else D(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class ClassGroupedBatches:
    """Batches whose minibatch-standard-deviation groups each share one class: sample i and i + n/g
    (g = the group size) get the same label, matching how `MinibatchStdDev` groups a batch."""

    def __init__(self, labels: torch.Tensor, num_classes: int, batch_size: int, group_size: int,
                 proportional: bool = False):
        if batch_size % group_size:
            raise SystemExit(f"--batch-size must be a multiple of {group_size} with --class-groups")
        self.slots, self.group_size = batch_size // group_size, group_size
        members = [torch.nonzero(labels == k).squeeze(1) for k in range(num_classes)]
        self.counts = torch.tensor([len(m) for m in members])
        self.proportional = proportional  # draw labels in proportion to their counts, else uniformly
        self.table = torch.zeros(num_classes, int(self.counts.max()), dtype=torch.long)
        for k, m in enumerate(members):
            self.table[k, : len(m)] = m

    def labels(self, rng: torch.Generator) -> torch.Tensor:
        if self.proportional:
            slots = torch.multinomial(self.counts.double(), self.slots, replacement=True, generator=rng)
        else:
            slots = torch.randint(0, len(self.counts), (self.slots,), generator=rng)
        return slots.repeat(self.group_size)

    def indices(self, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """A random training image of each label."""
        picks = (torch.rand(len(labels), generator=rng) * self.counts[labels]).long()
        return self.table[labels, picks]


def kmeans(points: torch.Tensor, k: int, seed: int, iterations: int = 30) -> torch.Tensor:
    """Cluster index of each row of `points` (k-means++ start, then Lloyd iterations)."""
    rng = torch.Generator().manual_seed(seed)
    centres = points[torch.randint(0, len(points), (1,), generator=rng)]
    for _ in range(k - 1):
        nearest = torch.cdist(points, centres).min(1).values
        centres = torch.cat([centres, points[torch.multinomial(nearest.double() ** 2, 1, generator=rng)]])
    for _ in range(iterations):
        assignment = torch.cdist(points, centres).argmin(1)
        for c in range(k):
            members = points[assignment == c]
            if len(members):
                centres[c] = members.mean(0)
    return torch.cdist(points, centres).argmin(1)


def lr_factor(progress_fraction: float, decay_from: float) -> float:
    """Constant learning rate, then a linear decay to zero over the last part of the run."""
    if decay_from >= 1 or progress_fraction <= decay_from:
        return 1.0
    return max(0.0, (1 - progress_fraction) / (1 - decay_from))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), net.buffers(), strict=True):
        e.copy_(b)


def draw_fakes(G: torch.nn.Module, z_dim: int, num_classes: int, grouped: ClassGroupedBatches | None,
               clustered: bool, batch_size: int, rng: torch.Generator,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch of generated images and their labels (None for a plain unconditional generator)."""
    if clustered:
        fake_y = grouped.labels(rng)
        return G(G.latents(fake_y, rng).to(device)), fake_y.to(device)
    z = torch.randn(batch_size, z_dim, generator=rng).to(device)
    if not num_classes:
        return G(z), None
    fake_y = grouped.labels(rng) if grouped is not None else torch.randint(0, num_classes, (batch_size,), generator=rng)
    return G(z, fake_y.to(device)), fake_y.to(device)


def train(args: argparse.Namespace) -> Path:
    device = select_device(args.device)
    torch.manual_seed(args.seed)
    generator_rng = torch.Generator().manual_seed(args.seed)
    clustered = args.kind == "gan" and args.arch == "studio" and args.clusters > 0
    conditional = args.kind == "cgan" or clustered
    loss = "hinge" if args.arch == "studio" and args.critic == "spectral" else "bce"
    images, labels = fashion_mnist.load_split("train", args.data)
    data, labels = fashion_mnist.to_model_range(images), torch.from_numpy(labels)
    cluster_weights = ()
    if clustered:
        labels = kmeans(data.flatten(1), args.clusters, args.seed)  # the dataset's labels are not used
        counts = torch.bincount(labels, minlength=args.clusters)
        cluster_weights = tuple((counts / counts.sum()).tolist())
        log.info("k-means clusters: %s images", counts.tolist())

    g_config, G, D = build_networks(args, cluster_weights)
    if args.arch == "dcgan":
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if args.arch == "studio" else None
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d or args.lr, betas=(args.beta1, args.beta2))
    run = RunState(args.run_dir, G=G, D=D, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d, rng=generator_rng)
    step, clock = run.step, run.clock
    budget_s = args.minutes * 60 if args.minutes is not None else float("inf")

    num_classes = args.clusters if clustered else g_config.num_classes if conditional else 0
    grouped = ClassGroupedBatches(labels, num_classes, args.batch_size, MINIBATCH_STD_GROUP,
                                  proportional=clustered) if clustered or (conditional and args.class_groups) else None
    progress = tqdm(total=args.steps, initial=step, desc=f"{args.kind}[{args.arch}]", mininterval=10)
    G.train()
    D.train()
    while step < args.steps and clock.elapsed < budget_s:
        progress_fraction = max(step / args.steps, clock.elapsed / budget_s)
        for optimizer, base_lr in ((opt_g, args.lr), (opt_d, args.lr_d or args.lr)):
            for group in optimizer.param_groups:
                group["lr"] = base_lr * lr_factor(progress_fraction, args.decay_from)
        if grouped is not None:
            idx = grouped.indices(grouped.labels(generator_rng), generator_rng)
        else:
            idx = torch.randint(0, len(data), (args.batch_size,), generator=generator_rng)
        real = data[idx].to(device)
        fake, fake_y = draw_fakes(G, g_config.z_dim, num_classes, grouped, clustered, args.batch_size,
                                  generator_rng, device)
        if conditional:
            real_y = labels[idx].to(device)
            real_logits, real_classes = D.logits_and_classes(real, real_y)
            fake_logits = D(fake.detach(), fake_y)
            aux_d = F.cross_entropy(real_classes, real_y)
        else:
            real_logits, fake_logits = D(real), D(fake.detach())
            aux_d = torch.zeros((), device=device)
        d_loss = discriminator_loss(loss, real_logits, fake_logits) + args.aux_weight * aux_d
        if args.arch == "studio" and args.critic == "r1" and step % R1_INTERVAL == 0:
            d_loss = d_loss + args.r1_gamma / 2 * R1_INTERVAL * r1_penalty(D, real, real_y if conditional else None)
        descend(opt_d, d_loss)
        if conditional:
            fake_logits, fake_classes = D.logits_and_classes(fake, fake_y)
            g_loss = generator_loss(loss, fake_logits) + args.aux_weight * F.cross_entropy(fake_classes, fake_y)
        else:
            g_loss = generator_loss(loss, D(fake))
        descend(opt_g, g_loss)
        if G_ema is not None:
            update_ema(G_ema, G, args.ema if step > 500 else 0.0)
        step += 1
        progress.update(1)
        if step % 50 == 0:
            progress.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}", refresh=False)
        run.save_every(args.checkpoint_minutes, step)
    progress.close()
    run.save(step)
    if G_ema is not None:
        recalibrate_batchnorm(G_ema, g_config.z_dim, g_config.num_classes if args.kind == "cgan" else None)
    shipped = (G_ema if G_ema is not None else G).eval()
    key = (args.kind, args.arch)
    return export_model(
        args.export or args.run_dir / "model",
        model_id=args.model_id or DEFAULT_IDS[key],
        task=TASKS[args.kind],
        architecture="studio-cluster-gan-generator" if clustered else ARCHITECTURE_NAMES[key],
        net=shipped.cpu(),
        training=training_record(step, clock.elapsed, device, batch_size=args.batch_size),
        extra_tensors=None if args.kind == "cgan" else
        {"latent_directions": principal_directions(shipped, g_config.z_dim)},
    )
