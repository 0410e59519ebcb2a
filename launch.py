"""Start the studio: `python launch.py [--host H] [--port P] [--share] [--device D] [--outputs DIR] [--models DIR]
[--allow-training]`.

Also the Hugging Face Spaces entry point (`app_file: launch.py`): Spaces sets GRADIO_SERVER_NAME
and GRADIO_SERVER_PORT, which become the defaults here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from models.device import DEVICE_CHOICES, DeviceUnavailableError, set_default_device
from studio.outputs import DEFAULT_OUTPUTS_DIR, on_spaces
from studio.serving import CACHE_MINUTES_LOCAL, CACHE_MINUTES_PUBLIC

log = logging.getLogger("studio")
SHARE_SERVER = ("api.gradio.app", 443)
NO_SHARE_MESSAGE = (
    "error: --share needs an internet connection to Gradio's share server, and none could be made; "
    "run without --share to use the studio on this machine."
)


def share_server_reachable(timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection(SHARE_SERVER, timeout=timeout_s):
            return True
    except OSError:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Launch the studio.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1; use 0.0.0.0 to serve your network)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (needs internet)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where the models run (default: CUDA, then MPS, then CPU)")
    parser.add_argument("--outputs", type=Path, default=None, metavar="DIR",
                        help=f"save every result here as a PNG with its parameters (default {DEFAULT_OUTPUTS_DIR}/; "
                             "off on Hugging Face Spaces)")
    parser.add_argument("--no-outputs", action="store_true", help="do not save results to disk")
    parser.add_argument("--cache-minutes", type=float, default=None, metavar="M",
                        help=f"delete served files unused for M minutes (default {CACHE_MINUTES_PUBLIC} with --share, "
                             f"on Spaces or on a non-loopback --host; {CACHE_MINUTES_LOCAL} otherwise)")
    parser.add_argument("--models", type=Path, default=Path("user-models"), metavar="DIR",
                        help="models trained in the Train tab go here and are served beside the shipped ones "
                             "(default user-models/)")
    parser.add_argument("--jobs", type=Path, default=Path("training-jobs"), metavar="DIR",
                        help="the Train tab's uploads, runs and logs (default training-jobs/)")
    parser.add_argument("--allow-training", action="store_true",
                        help="let visitors train on a public studio (--share, Spaces, a network address); "
                             "training is always on for a studio on this machine only")
    return parser.parse_args(argv)


def is_public(args: argparse.Namespace) -> bool:
    """Whether people other than this machine's user can reach the studio."""
    return args.share or on_spaces() or args.host not in ("127.0.0.1", "localhost", "::1")


def cache_minutes(args: argparse.Namespace) -> float:
    if args.cache_minutes is not None:
        return args.cache_minutes
    return CACHE_MINUTES_PUBLIC if is_public(args) else CACHE_MINUTES_LOCAL


def outputs_dir(args: argparse.Namespace) -> Path | None:
    """Where results are saved: --outputs, else outputs/ except on Spaces (shared, ephemeral disk); None: off."""
    if args.no_outputs:
        return None
    if args.outputs is not None:
        return args.outputs
    return None if on_spaces() else DEFAULT_OUTPUTS_DIR


def training_places(args: argparse.Namespace):
    """Where the Train tab keeps jobs and models, and whether visitors may train."""
    from studio.tabs.train import Places

    return Places(args.jobs.resolve(), args.models.resolve(), allowed=args.allow_training or not is_public(args),
                  local=not is_public(args))


def stop_serving(signum, frame) -> None:
    """SIGTERM ends the server like Ctrl+C does (Python's default would skip the clean-up at exit)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        device = set_default_device(args.device)
    except DeviceUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.share and not share_server_reachable():
        print(NO_SHARE_MESSAGE, file=sys.stderr)
        return 1
    log.info("models run on %s", device)
    saved_to = outputs_dir(args)
    log.info("results are saved to %s", saved_to.resolve() if saved_to else "nowhere (saving is off)")

    from models import registry
    from studio.app import build_app, launch_kwargs

    registry.set_user_models_dir(args.models.resolve())
    signal.signal(signal.SIGTERM, stop_serving)  # a terminated studio shuts down and removes its files too
    demo = build_app(saved_to, cache_minutes(args), training_places(args))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                prevent_thread_lock=True, **launch_kwargs())
    if args.share and not demo.share_url:
        demo.close()
        print(NO_SHARE_MESSAGE, file=sys.stderr)
        return 1
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
