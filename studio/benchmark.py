"""Benchmark: `python -m studio.benchmark [--calls 100]`.

Prints the model-only time of the latent sampler for 1 and 64 samples, and the p50/p95 latency of
the `sample` API endpoint called through gradio_client, next to a trivial endpoint that returns a
fixed image of the same size from the same server in the same run (the framework's own floor).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import time

import gradio as gr
import numpy as np
import torch
from gradio_client import Client

from models import sampling
from models.loading import load
from studio.app import build_app, launch_kwargs
from studio.images import grid_image

MODEL = "fmnist-gan"
SLIDERS = [0.0] * 10


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def time_model(n: int, repeats: int) -> list[float]:
    sampling.sample(MODEL, 0, n)  # load and warm up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        sampling.sample(MODEL, i, n)
        times.append(time.perf_counter() - start)
    return times


def time_calls(call, calls: int) -> list[float]:
    call(0)  # warm up
    times = []
    for i in range(1, calls + 1):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.benchmark", description=__doc__)
    parser.add_argument("--calls", type=int, default=100, help="API calls per endpoint")
    parser.add_argument("--repeats", type=int, default=50, help="model-only repetitions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    rows = []
    for n in (1, 64):
        t = time_model(n, args.repeats)
        rows.append((f"model only, {n} sample{'s' if n > 1 else ''}", statistics.median(t), percentile(t, 95)))

    fixed = grid_image(sampling.sample(MODEL, 0, 1))
    demo = build_app()
    with demo:
        floor_output = gr.Image(type="pil", format="png", visible=False)
        gr.Button(visible=False).click(lambda: fixed, None, floor_output, api_name="floor")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        floor = time_calls(lambda i: client.predict(api_name="/floor"), args.calls)
        api = time_calls(lambda i: client.predict(MODEL, i, 1, 1.0, *SLIDERS, api_name="/sample"), args.calls)
    finally:
        demo.close()
    rows.append(("API /sample, 1 sample", statistics.median(api), percentile(api, 95)))
    rows.append(("API floor: fixed image, same size", statistics.median(floor), percentile(floor, 95)))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {next(load(MODEL).parameters()).device}")
    print(f"{'what':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, p50, p95 in rows:
        print(f"{name:<40} {1000 * p50:>8.1f} {1000 * p95:>8.1f}")
    ratio = statistics.median(api) / statistics.median(floor)
    print(f"sample p50 / floor p50 = {ratio:.2f} (target <= 1.5); "
          f"64 samples p50 = {1000 * rows[1][1]:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
