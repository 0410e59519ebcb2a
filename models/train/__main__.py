"""`python -m models.train {classifier,gan,cgan,vae,inpaint,texture,texgan,texvae} [options]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from models.device import DEVICE_CHOICES
from models.train import classifier, gan, inpaint, texgan, texture, texvae, vae

TRAINERS = {"classifier": classifier, "gan": gan, "cgan": gan, "vae": vae, "inpaint": inpaint, "texture": texture,
            "texgan": texgan, "texvae": texvae}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__)
    sub = parser.add_subparsers(dest="kind", required=True)
    for name, module in TRAINERS.items():
        p = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0],
                           description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--run-dir", type=Path, default=Path("runs") / name,
                       help="training state (checkpoint.pt); an existing one is resumed")
        p.add_argument("--export", type=Path, default=None,
                       help="where to write the shippable model (default: RUN_DIR/model)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        p.add_argument("--checkpoint-minutes", type=float, default=3.0)
        module.add_arguments(p)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    return TRAINERS[args.kind].train(args)


if __name__ == "__main__":
    main()
