"""Benchmark: `python -m studio.benchmark [--calls 100] [--repeats 50]`.

Prints model-only times (latent sampler for 1 and 64 samples; class-conditional generator for 1 and
64 samples and a 16-step morph), then the p50/p95 latency of the API endpoints called through
gradio_client, next to a trivial endpoint that returns a fixed image of the same size from the
same server in the same run (the framework's own floor).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import gradio as gr
import numpy as np
import torch
from gradio_client import Client

from models import conditional, sampling
from models.loading import load
from studio.app import build_app, launch_on_free_port
from studio.images import grid_image

GAN, CGAN = "fmnist-gan", "fmnist-cgan"
SLIDERS = [0.0] * 10


def timings(call: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """(p50, p95) seconds of `call(i)` over `repeats` calls after one warm-up call."""
    call(0)
    times = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="API calls per endpoint")
    parser.add_argument("--repeats", type=int, default=50, help="model-only repetitions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    model_rows = {
        "sample, 1 sample": lambda i: sampling.sample(GAN, i, 1),
        "sample, 64 samples": lambda i: sampling.sample(GAN, i, 64),
        "generate, 1 sample": lambda i: conditional.generate(CGAN, i % 10, i, 1),
        "generate, 64 samples": lambda i: conditional.generate(CGAN, i % 10, i, 64),
        "morph, 16 steps": lambda i: conditional.morph(CGAN, i % 10, (i + 1) % 10, i, 16),
    }
    rows = [(f"model only: {name}", *timings(call, args.repeats)) for name, call in model_rows.items()]

    fixed = grid_image(sampling.sample(GAN, 0, 1))
    demo = build_app()
    with demo:
        floor_output = gr.Image(type="pil", format="png", visible=False)
        gr.Button(visible=False).click(lambda: fixed, None, floor_output, api_name="floor")
    url = launch_on_free_port(demo)
    try:
        client = Client(url, verbose=False)
        api_rows = {
            "API floor: fixed image, same size": lambda i: client.predict(api_name="/floor"),
            "API /sample, 1 sample": lambda i: client.predict(GAN, i, 1, 1.0, *SLIDERS, api_name="/sample"),
            "API /generate, 1 sample": lambda i: client.predict(CGAN, i % 10, 1, i, 1.0, api_name="/generate"),
            "API /generate, 64 samples": lambda i: client.predict(CGAN, i % 10, 64, i, 1.0, api_name="/generate"),
            "API /morph, 16 steps": lambda i: client.predict(CGAN, i % 10, (i + 1) % 10, 16, i, 1.0,
                                                             api_name="/morph"),
        }
        rows += [(name, *timings(call, args.calls)) for name, call in api_rows.items()]
    finally:
        demo.close()

    device = next(load(GAN).parameters()).device
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"{'what':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, p50, p95 in rows:
        print(f"{name:<40} {1000 * p50:>8.1f} {1000 * p95:>8.1f}")
    by_name = {name: p50 for name, p50, _ in rows}
    ratio = by_name["API /sample, 1 sample"] / by_name["API floor: fixed image, same size"]
    print(f"sample p50 / floor p50 = {ratio:.2f} (target <= 1.5); model-only 64 samples p50 = "
          f"{1000 * by_name['model only: sample, 64 samples']:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
