"""Benchmark: `python -m studio.benchmark [--calls 100] [--repeats 50]`.

Prints model-only times (latent sampler for 1 and 64 samples; class-conditional generator for 1 and
64 samples and a 16-step morph; VAE encode of one image and a 16-step interpolation; inpainting of
a 512x512 photo with a medium brush mask and of a 2048x1536 photo with a small one, pre- and
post-processing included, by the network alone and by the network guiding patch transfer; texture
classification of a 512x512 photo; a 256x256 and a 1024x1024 texture from the texture GAN; a 16-step
interpolation of the texture VAE at 64x64), then the p50/p95 latency of the API endpoints called
through gradio_client, next to a trivial endpoint that returns a fixed image of the same size from
the same server in the same run (the framework's own floor). Last, 16 clients call /sample at once,
batched as the studio serves it and through an unbatched copy of the same function: requests per
second and per-call latency.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio_client import Client, handle_file
from PIL import Image

from models import conditional, inpaint, sampling, texgen, texture, vae
from models.data.masks import brush_mask
from models.loading import load
from models.registry import ASSETS_DIR
from studio.app import build_app, launch_on_free_port
from studio.images import grid_image
from studio.tabs import latent
from studio.ui import dtd_examples

GAN, CGAN, VAE, INPAINT, TEXTURE = "fmnist-gan", "fmnist-cgan", "fmnist-vae", "photo-inpaint", "dtd10-texture"
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="API calls per endpoint")
    parser.add_argument("--repeats", type=int, default=50, help="model-only repetitions")
    parser.add_argument("--photo-calls", type=int, default=20,
                        help="API calls and model repetitions for the inpainting and texture rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

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

    fixed = grid_image(sampling.sample(GAN, 0, 1))
    demo = build_app()
    with demo:
        floor_output = gr.Image(type="pil", format="png", visible=False)
        gr.Button(visible=False).click(lambda: fixed, None, floor_output, api_name="floor")
        sample_inputs = [gr.Textbox(visible=False), *[gr.Number(visible=False) for _ in range(3 + len(SLIDERS))],
                         gr.Number(latent.DEFAULT_SIZE, visible=False), gr.Checkbox(visible=False)]
        gr.Button(visible=False).click(latent.sample, sample_inputs, gr.Image(type="pil", format="png", visible=False),
                                       api_name="sample_unbatched")
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


if __name__ == "__main__":
    main()
