"""Benchmark: `python -m studio.benchmark [--calls 100] [--repeats 50]`.

Prints model-only times (latent sampler for 1 and 64 samples; class-conditional generator for 1 and
64 samples and a 16-step morph; VAE encode of one image and a 16-step interpolation; inpainting of
a 512x512 photo with a medium brush mask and of a 2048x1536 photo with a small one, pre- and
post-processing included, by the network alone and by the network guiding patch transfer; texture
classification of a 512x512 photo; a 256x256 and a 1024x1024 texture from the texture GAN; a 16-step
interpolation of the texture VAE at 64x64), then the p50/p95 latency of the API endpoints called
through gradio_client, next to a trivial endpoint that returns a fixed image of the same size from
the same server in the same run (the framework's own floor). Then 16 clients call /sample at once,
batched as the studio serves it and through an unbatched copy of the same function: requests per
second and per-call latency. Last, live previews (studio.live): the pictures a second one dragging client
gets from the preview route (keeping two requests in flight, as the page does), with a simulated 50 ms
round trip, and for each of 16 clients dragging at once; the release-to-final latency (/sample through
Gradio's queue) and the largest pixel difference between a preview and the final image of the same values.
`--live-only` measures the live rows alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import http.client
import io
import json
import logging
import multiprocessing
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio_client import Client, handle_file
from PIL import Image

from models import conditional, inpaint, jobs, sampling, texgen, texture, vae
from models.data.masks import brush_mask
from models.loading import load
from models.registry import ASSETS_DIR
from studio.app import build_app, launch_on_free_port
from studio.images import grid_image
from studio.tabs import latent
from studio.ui import dtd_examples

GAN, CGAN, VAE, INPAINT = "fmnist-gan", "fmnist-cgan", "fmnist-vae", "photo-inpaint"
TEXTURE = "dtd10-texture-ensemble"  # the Texture tab's default classifier
TEXGAN, TEXVAE = "dtd10-texgan", "dtd10-texvae"
INPAINT_PATCHES = inpaint.patch_method_id(INPAINT)
VAE_EXAMPLES = sorted((ASSETS_DIR / "examples" / "fashion-mnist").glob("*.png"))
PHOTO = ASSETS_DIR / "examples" / "dtd" / "cracked_0048.jpg"


def photo_and_mask(width: int, height: int, mask_box: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The example photo at width x height and a medium brush mask over all of it, or over a
    `mask_box`-pixel square in its middle (a small mask)."""
    image = np.asarray(Image.open(PHOTO).convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    if mask_box is None:
        return image, brush_mask(height, width, "medium", np.random.default_rng(0))
    mask = np.zeros((height, width), bool)
    top, left = (height - mask_box) // 2, (width - mask_box) // 2
    mask[top : top + mask_box, left : left + mask_box] = brush_mask(mask_box, mask_box, "medium",
                                                                    np.random.default_rng(0))
    return image, mask


def saved(array: np.ndarray, directory: Path, name: str) -> str:
    path = directory / name
    Image.fromarray(array.astype(np.uint8) * (255 if array.dtype == bool else 1)).save(path)
    return str(path)
SLIDERS = [0.0] * 10
CONCURRENT_CLIENTS = 16


def timings(call: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """(p50, p95) seconds of `call(i)` over `repeats` calls after one warm-up call."""
    call(0)
    times = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def concurrent_timings(url: str, endpoint: str, clients: int, calls_each: int) -> tuple[float, float, float]:
    """(p50, p95 seconds per call, calls per second) with `clients` separate clients calling at once."""
    connections = [Client(url, verbose=False) for _ in range(clients)]

    def run(k: int) -> list[float]:
        times = []
        for i in range(calls_each):
            start = time.perf_counter()
            connections[k].predict(GAN, k * calls_each + i, 1, 1.0, *SLIDERS, api_name=endpoint)
            times.append(time.perf_counter() - start)
        return times

    run(0)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        times = [t for per_client in pool.map(run, range(clients)) for t in per_client]
    throughput = len(times) / (time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), throughput


LIVE_SECONDS = 3.0  # each live-preview measurement drags this long
LIVE_IN_FLIGHT = 2  # previews a page keeps in flight (browser.js)
SIMULATED_RTT_S = 0.05


def latent_preview(i: int, model_id: str = GAN, size: int = latent.DEFAULT_SIZE) -> dict:
    """The latent tab's preview request at the i-th position of a drag of PC1 from -5 to +5 and back."""
    value = round(-5 + abs((i % 200) - 100) / 10, 1)
    return {"model_id": model_id, "seed": 42, "num_samples": 1, "psi": 1.0,
            "directions": [value] + SLIDERS[1:], "size": size, "seamless": False}


def sample_arguments(params: dict) -> list:
    """/sample's arguments for a latent preview request."""
    return [params["model_id"], params["seed"], params["num_samples"], params["psi"], *params["directions"],
            params["size"], params["seamless"]]


def preview_png(url: str, tab: str, params: dict, connection: http.client.HTTPConnection | None = None,
                client: int = 0) -> bytes:
    """A preview as client number `client` (each its own address, as a proxy on this machine would say), over
    `connection` if given (kept open, as a browser keeps it)."""
    own = connection is None
    connection = connection or http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=30)
    try:
        connection.request("POST", f"/studio/live/{tab}", body=json.dumps(params).encode(),
                           headers={"Content-Type": "application/json",
                                    "X-Forwarded-For": f"10.0.{client // 256}.{client % 256}"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"preview answered {response.status}: {body[:200]!r}")
        return body
    finally:
        if own:
            connection.close()


def dragging_client(url: str, make_params: Callable[[int], dict], client: int, delay_s: float, start: float) -> int:
    """One client dragging for LIVE_SECONDS from `start` (time.time()) with LIVE_IN_FLIGHT previews in flight (a
    connection each); `delay_s` is added before and after each request (half a simulated round trip each).
    Returns the previews it got."""
    time.sleep(max(0.0, start - time.time()))
    stop = time.perf_counter() + LIVE_SECONDS

    def lane(first: int) -> int:
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=30)
        done = 0
        while time.perf_counter() < stop:
            time.sleep(delay_s)
            preview_png(url, "latent", make_params(first + LIVE_IN_FLIGHT * done), connection, client)
            time.sleep(delay_s)
            done += 1
        connection.close()
        return done

    with concurrent.futures.ThreadPoolExecutor(LIVE_IN_FLIGHT) as pool:
        return sum(pool.map(lane, range(LIVE_IN_FLIGHT)))


def previews_per_second(url: str, make_params: Callable[[int], dict], clients: int,
                        delay_s: float = 0.0) -> list[float]:
    """Pictures a second each of `clients` dragging clients gets, all dragging at once; each client is a process
    of its own, as each browser is (in the server's process, clients would compete with it for the interpreter)."""
    start = time.time() + 1.0  # every client is ready before the drags begin
    with concurrent.futures.ProcessPoolExecutor(clients, mp_context=multiprocessing.get_context("fork")) as pool:
        counts = pool.map(dragging_client, [url] * clients, [make_params] * clients, range(clients),
                          [delay_s] * clients, [start] * clients)
        return [count / LIVE_SECONDS for count in counts]


def live_rows(url: str, client: Client, calls: int) -> list[str]:
    """The live-preview measurements, as printed lines."""
    one = previews_per_second(url, latent_preview, 1)[0]
    texture = previews_per_second(url, functools.partial(latent_preview, model_id=TEXGAN, size=128), 1)[0]
    far = previews_per_second(url, latent_preview, 1, SIMULATED_RTT_S / 2)[0]
    crowd = previews_per_second(url, latent_preview, CONCURRENT_CLIENTS)
    final_p50, final_p95 = timings(
        lambda i: client.predict(*sample_arguments(latent_preview(i)), api_name="/sample"), calls)
    floor_p50, floor_p95 = timings(lambda i: client.predict(api_name="/floor"), calls)
    worst = 0
    for i in range(0, 200, 10):
        params = latent_preview(i)
        preview = np.asarray(Image.open(io.BytesIO(preview_png(url, "latent", params))), dtype=int)
        final = np.asarray(Image.open(client.predict(*sample_arguments(params), api_name="/sample")), dtype=int)
        worst = max(worst, int(np.abs(preview - final).max()))
    return [f"live previews, 1 client, {GAN}: {one:.0f} a second (target >= 30)",
            f"live previews, 1 client, {TEXGAN} at 128x128: {texture:.0f} a second (target >= 30)",
            f"live previews, 1 client, simulated {1000 * SIMULATED_RTT_S:.0f} ms round trip: {far:.0f} a second "
            "(target >= 15)",
            f"live previews, {CONCURRENT_CLIENTS} clients at once: each {min(crowd):.0f} to {max(crowd):.0f} a second "
            "(target >= 10)",
            f"release to final image (/sample through Gradio's queue): p50 {1000 * final_p50:.0f} ms, p95 "
            f"{1000 * final_p95:.0f} ms (target <= 150); Gradio's floor (a fixed image through the queue): p50 "
            f"{1000 * floor_p50:.0f} ms, p95 {1000 * floor_p95:.0f} ms",
            f"largest difference of a pixel, preview against final, over 20 drag positions: {worst}/255 "
            "(target <= 2)"]


TRAINING_PICTURES = 40  # pictures of a GAN job (two classes)


def synthetic_pictures(folder: Path, classes: int, per_class: int, side: int) -> Path:
    """A folder of class subfolders of noisy striped colour pictures, `side` pixels a side."""
    rng = np.random.default_rng(0)
    for k in range(classes):
        (folder / f"class-{k}").mkdir(parents=True)
        colour = rng.uniform(30, 220, 3)
        for i in range(per_class):
            stripes = (np.sin(np.arange(side) * rng.uniform(0.2, 0.8)) * 40)[None, :, None]
            pixels = np.clip(colour + stripes + rng.normal(0, 12, (side, side, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"class-{k}" / f"{i}.png")
    return folder


def finished_job(job_id: str, root: Path, timeout_s: float = 600) -> jobs.Job:
    deadline = time.monotonic() + timeout_s
    while (job := jobs.status(job_id, root / "jobs")).status == "running":
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not finish in {timeout_s:.0f} s")
        time.sleep(0.2)
    return job


def gan_job_rows(root: Path, size: int, minutes: float = 1.0) -> tuple[float, float]:
    """(seconds from Start to the first sample grid, steps a second) of a GAN job at `size` pixels."""
    data = synthetic_pictures(root / f"gan-{size}", 2, TRAINING_PICTURES // 2, size + size // 2)
    started = time.monotonic()
    job = jobs.start(data, "gan", size, minutes, root / "jobs", root / "models")
    first_grid = None
    while (job := jobs.status(job.id, root / "jobs")).status == "running":
        if first_grid is None and job.samples is not None:
            first_grid = time.monotonic() - started
        time.sleep(0.2)
    records = [r for r in job.losses if r.get("elapsed_s")]
    steps_per_s = (records[-1]["step"] - records[0]["step"]) / (records[-1]["elapsed_s"] - records[0]["elapsed_s"])
    return first_grid if first_grid is not None else float("nan"), steps_per_s


def training_rows() -> list[str]:
    """The Train tab's jobs, measured as printed lines."""
    root = Path(tempfile.mkdtemp(prefix="studio-benchmark-training-"))
    try:
        lines = []
        for size in (32, 64):
            first_grid, steps_per_s = gan_job_rows(root, size)
            lines.append(f"training a GAN at {size}x{size}: first sample grid {first_grid:.1f} s after Start, "
                         f"{steps_per_s:.1f} steps a second")
        data = synthetic_pictures(root / "classifier", 3, 30, 96)
        started = time.monotonic()
        job = finished_job(jobs.start(data, "classifier", 32, 1, root / "jobs", root / "models").id, root)
        accuracy = job.losses[-1].get("val_accuracy") if job.losses else None
        lines.append(f"training a classifier, 3 classes of 30 pictures: {time.monotonic() - started:.1f} s from "
                     f"Start to the exported model (held-out accuracy {accuracy})")
        return lines
    finally:
        shutil.rmtree(root, ignore_errors=True)


def benchmark_app() -> gr.Blocks:
    """The studio with two endpoints of the benchmark's own: /floor answers a fixed image of a sample's size
    (the framework's floor) and /sample_unbatched is /sample without Gradio's batching."""
    fixed = grid_image(sampling.sample(GAN, 0, 1))
    demo = build_app()
    with demo:
        floor_output = gr.Image(type="pil", format="png", visible=False)
        gr.Button(visible=False).click(lambda: fixed, None, floor_output, api_name="floor")
        sample_inputs = [gr.Textbox(visible=False), *[gr.Number(visible=False) for _ in range(3 + len(SLIDERS))],
                         gr.Number(latent.DEFAULT_SIZE, visible=False), gr.Checkbox(visible=False)]
        gr.Button(visible=False).click(latent.sample, sample_inputs, gr.Image(type="pil", format="png", visible=False),
                                       api_name="sample_unbatched")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="API calls per endpoint")
    parser.add_argument("--repeats", type=int, default=50, help="model-only repetitions")
    parser.add_argument("--photo-calls", type=int, default=20,
                        help="API calls and model repetitions for the inpainting and texture rows")
    parser.add_argument("--live-only", action="store_true", help="measure the live-preview rows alone")
    parser.add_argument("--training-only", action="store_true", help="measure the Train tab's jobs alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.training_only:
        print("\n".join(training_rows()))
        return
    if args.live_only:
        demo = benchmark_app()
        url = launch_on_free_port(demo)
        try:
            lines = live_rows(url, Client(url, verbose=False), args.calls)
        finally:
            demo.close()
        print("\n".join(lines))
        return

    examples = np.stack([np.asarray(Image.open(p)) for p in VAE_EXAMPLES])
    textures = [vae.from_picture(TEXVAE, Image.open(path)) for path, _ in dtd_examples()]
    model_rows = {
        "sample, 1 sample": lambda i: sampling.sample(GAN, i, 1),
        "sample, 64 samples": lambda i: sampling.sample(GAN, i, 64),
        "generate, 1 sample": lambda i: conditional.generate(CGAN, i % 10, i, 1),
        "generate, 64 samples": lambda i: conditional.generate(CGAN, i % 10, i, 64),
        "morph, 16 steps": lambda i: conditional.morph(CGAN, i % 10, (i + 1) % 10, i, 16),
        "encode, 1 image": lambda i: vae.encode(VAE, examples[i % 20][None]),
        "interpolate, 16 steps": lambda i: vae.interpolate(VAE, examples[i % 20], examples[(i + 1) % 20], 16, "slerp"),
        "texture 256x256": lambda i: texgen.generate(TEXGAN, texgen.ANY_CLASS, i, 256),
        "texture VAE interpolate, 16 steps at 64x64": lambda i: vae.interpolate(
            TEXVAE, textures[i % len(textures)], textures[(i + 1) % len(textures)], 16),
    }
    rows = [(f"model only: {name}", *timings(call, args.repeats)) for name, call in model_rows.items()]
    medium, small = photo_and_mask(512, 512), photo_and_mask(2048, 1536, mask_box=256)
    texture_image = medium[0]
    photo_rows = {
        "inpaint 512x512, medium mask": lambda i: inpaint.inpaint(INPAINT, *medium),
        "inpaint 2048x1536, small mask": lambda i: inpaint.inpaint(INPAINT, *small),
        "inpaint with patch transfer 512x512, medium mask": lambda i: inpaint.fill(INPAINT_PATCHES, *medium),
        "inpaint with patch transfer 2048x1536, small mask": lambda i: inpaint.fill(INPAINT_PATCHES, *small),
        "classify texture, 512x512": lambda i: texture.classify(TEXTURE, texture_image),
        "texture 1024x1024": lambda i: texgen.generate(TEXGAN, texgen.ANY_CLASS, i, 1024),
    }
    rows += [(f"model only: {name}", *timings(call, args.photo_calls)) for name, call in photo_rows.items()]

    demo = benchmark_app()
    url = launch_on_free_port(demo)
    files = Path(tempfile.mkdtemp(prefix="studio-benchmark-"))
    try:
        client = Client(url, verbose=False)
        example_files = [handle_file(str(p)) for p in VAE_EXAMPLES]
        medium_files = [handle_file(saved(a, files, f"medium-{k}.png")) for k, a in enumerate(medium)]
        small_files = [handle_file(saved(a, files, f"small-{k}.png")) for k, a in enumerate(small)]
        texture_file = handle_file(saved(texture_image, files, "texture.png"))
        api_rows = {
            "API floor: fixed image, same size": lambda i: client.predict(api_name="/floor"),
            "API /sample, 1 sample": lambda i: client.predict(GAN, i, 1, 1.0, *SLIDERS, api_name="/sample"),
            "API /generate, 1 sample": lambda i: client.predict(CGAN, i % 10, 1, i, 1.0, api_name="/generate"),
            "API /generate, 64 samples": lambda i: client.predict(CGAN, i % 10, 64, i, 1.0, api_name="/generate"),
            "API /morph, 16 steps": lambda i: client.predict(CGAN, i % 10, (i + 1) % 10, 16, i, 1.0,
                                                             api_name="/morph"),
            "API /encode, 1 image": lambda i: client.predict(VAE, example_files[i % 20], api_name="/encode"),
            "API /interpolate, 16 steps": lambda i: client.predict(
                VAE, example_files[i % 20], example_files[(i + 1) % 20], 16, "slerp", True, api_name="/interpolate"),
        }
        rows += [(name, *timings(call, args.calls)) for name, call in api_rows.items()]
        photo_api_rows = {
            "API /inpaint 512x512, medium mask": lambda i: client.predict(*medium_files, INPAINT, 0, 0,
                                                                          api_name="/inpaint"),
            "API /inpaint 2048x1536, small mask": lambda i: client.predict(*small_files, INPAINT, 0, 0,
                                                                           api_name="/inpaint"),
            "API /classify 512x512": lambda i: client.predict(TEXTURE, texture_file, api_name="/classify"),
        }
        rows += [(name, *timings(call, args.photo_calls)) for name, call in photo_api_rows.items()]
        calls_each = max(1, args.calls // CONCURRENT_CLIENTS)
        concurrent_rows = [(f"API {endpoint}, {CONCURRENT_CLIENTS} clients at once",
                            *concurrent_timings(url, endpoint, CONCURRENT_CLIENTS, calls_each))
                           for endpoint in ("/sample", "/sample_unbatched")]
        live_lines = live_rows(url, client, args.calls)
    finally:
        demo.close()
        shutil.rmtree(files)

    device = next(load(GAN).parameters()).device
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"{'what':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for name, p50, p95 in rows:
        print(f"{name:<48} {1000 * p50:>8.1f} {1000 * p95:>8.1f}")
    print(f"{'concurrent':<48} {'p50 ms':>8} {'p95 ms':>8} {'calls/s':>8}")
    for name, p50, p95, throughput in concurrent_rows:
        print(f"{name:<48} {1000 * p50:>8.1f} {1000 * p95:>8.1f} {throughput:>8.1f}")
    by_name = {name: p50 for name, p50, _ in rows}
    ratio = by_name["API /sample, 1 sample"] / by_name["API floor: fixed image, same size"]
    print(f"sample p50 / floor p50 = {ratio:.2f} (target <= 1.5); model-only 64 samples p50 = "
          f"{1000 * by_name['model only: sample, 64 samples']:.1f} ms (target < 100 ms)")
    print(f"inpaint p50: 512x512 {1000 * by_name['model only: inpaint 512x512, medium mask']:.0f} ms (target <= 500), "
          f"2048x1536 {1000 * by_name['model only: inpaint 2048x1536, small mask']:.0f} ms (target <= 1500); "
          f"texture 512x512 {1000 * by_name['model only: classify texture, 512x512']:.1f} ms (target <= 50)")
    print("inpaint with patch transfer p50: 512x512 "
          f"{1000 * by_name['model only: inpaint with patch transfer 512x512, medium mask']:.0f} ms (target <= 1000), "
          f"2048x1536 {1000 * by_name['model only: inpaint with patch transfer 2048x1536, small mask']:.0f} ms "
          "(target <= 1500)")
    print(f"texture GAN p50: 256x256 {1000 * by_name['model only: texture 256x256']:.0f} ms (target <= 100), "
          f"1024x1024 {1000 * by_name['model only: texture 1024x1024']:.0f} ms (target <= 1500); texture VAE "
          f"16-step interpolation {1000 * by_name['model only: texture VAE interpolate, 16 steps at 64x64']:.0f} ms "
          "(target <= 100)")
    print("\n".join(live_lines))
    print("\n".join(training_rows()))


if __name__ == "__main__":
    main()
