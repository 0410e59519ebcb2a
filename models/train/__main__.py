"""`python -m models.train KIND [options]`, KIND one of classifier, gan, cgan, vae, inpaint, texture, texture-fisher,
texgan, texvae, texture-head.

SIGTERM or SIGINT stop the texture trainers (texgan, texvae, texture-head) with their checkpoint saved and their
model exported (exit status 0); the same --run-dir resumes.

texgan and texvae also run as several processes with DistributedDataParallel, one per GPU (NCCL; gloo on the CPU):
`torchrun --nproc-per-node N -m models.train texgan ...`, and on several machines `torchrun --nnodes M
--node-rank I --nproc-per-node N --master-addr HOST --master-port PORT -m models.train texgan ...` (the same
command on each machine, I = 0..M-1, HOST the address of machine 0). Each process draws its own batches of
--batch-size, so the global batch is --batch-size x processes; rank 0 alone writes the checkpoint, stats, samples
and export (RUN_DIR on machine 0; --data is read on every machine), every rank resumes from it, and a SIGTERM
to any rank stops them all."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

import torch

from models.device import DEVICE_CHOICES
from models.errors import InvalidRequestError
from models.train import classifier, gan, inpaint, texgan, texture, texture_fisher, texture_head, texvae, vae
from models.train.common import STOP_SIGNALS, distributed

TRAINERS = {"classifier": classifier, "gan": gan, "cgan": gan, "vae": vae, "inpaint": inpaint, "texture": texture,
            "texture-fisher": texture_fisher,
            "texgan": texgan, "texvae": texvae, "texture-head": texture_head}
DISTRIBUTED = ("texgan", "texvae")  # the trainers that run under torchrun (DistributedDataParallel)


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
    if args.threads:
        torch.set_num_threads(args.threads)
    with distributed(args.device, supported=args.kind in DISTRIBUTED) as process:  # one process: no-op
        rank = f"rank {process.rank} " if process.world > 1 else ""
        logging.basicConfig(level=logging.INFO if process.rank == 0 else logging.WARNING,
                            format=f"%(asctime)s {rank}%(name)s: %(message)s")
        handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        try:
            return TRAINERS[args.kind].train(args)
        finally:  # a trainer's Progress keeps its stop handlers through the export (see Progress.close)
            if threading.current_thread() is threading.main_thread():
                for number, handler in handlers.items():
                    signal.signal(number, handler)


if __name__ == "__main__":
    try:
        main()
    except InvalidRequestError as error:  # unusable training data: the sentence, not a traceback
        raise SystemExit(str(error)) from None
