"""Start the studio: `python launch.py [--host H] [--port P] [--share] [--device D] [--outputs DIR]`.

Also the Hugging Face Spaces entry point (`app_file: launch.py`): Spaces sets GRADIO_SERVER_NAME
and GRADIO_SERVER_PORT, which become the defaults here.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from models.device import DEVICE_CHOICES, DeviceUnavailableError, set_default_device
from studio.outputs import DEFAULT_OUTPUTS_DIR, on_spaces

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
    return parser.parse_args(argv)


def outputs_dir(args: argparse.Namespace) -> Path | None:
    """Where results are saved: --outputs, else outputs/ except on Spaces (shared, ephemeral disk); None: off."""
    if args.no_outputs:
        return None
    if args.outputs is not None:
        return args.outputs
    return None if on_spaces() else DEFAULT_OUTPUTS_DIR


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

    from studio.app import build_app, launch_kwargs

    demo = build_app(saved_to)
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
