"""The sample pictures in the texture family's model cards, made from the shipped weights.

    python -m models.card_samples texgan [--model dtd10-texgan] [--out assets/dtd10-texgan]
    python -m models.card_samples texvae [--model dtd10-texvae] [--out assets/dtd10-texvae] [--data DIR]

texgan writes `classes.png` (a row per class, seeds 0 to 5, 128 pixels), `tiled.png` (a seamless
192-pixel texture of each of three classes, each tiled 3x3) and `morph.png` (bubbly to cracked in 8
steps). texvae writes `samples.png`: held-out DTD val1 photos (first row), their reconstructions
(second) and the interpolation from the first photo to the second in 10 steps (third).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from models import texgen, vae
from models.data.photos import DTD_DIR, dtd_split
from models.files import write_atomically

GAP = 4  # pixels between pictures


def rows_image(rows: list[list[np.ndarray]]) -> Image.Image:
    """RGB pictures of one size in rows, on white, GAP pixels apart."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(row) for row in rows)
    canvas = np.full((len(rows) * (h + GAP) - GAP, cols * (w + GAP) - GAP, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            canvas[r * (h + GAP) : r * (h + GAP) + h, c * (w + GAP) : c * (w + GAP) + w] = picture
    return Image.fromarray(canvas)


def save(image: Image.Image, path: Path) -> None:
    write_atomically(path, lambda file: image.save(file, format="PNG"))


def texgan_pictures(model_id: str, out: Path) -> None:
    names = texgen.class_names(model_id)
    save(rows_image([list(texgen.generate(model_id, name, 0, 128, n=6)) for name in names]), out / "classes.png")
    tiled = [np.tile(texgen.generate(model_id, name, 1, 192, seamless=True)[0], (3, 3, 1))
             for name in names[:3]]
    save(rows_image([tiled]), out / "tiled.png")
    ends = [name for name in ("bubbly", "cracked") if name in names] or names[:2]
    save(rows_image([list(texgen.morph(model_id, ends[0], ends[-1], 2, 8, 128))]), out / "morph.png")


def texvae_pictures(model_id: str, out: Path, data: Path) -> None:
    photos = dtd_split(data, "val1")[::40][:8]  # one photo of each of the first classes
    originals = np.stack([vae.from_picture(model_id, Image.open(path)) for path, _ in photos])
    frames = vae.interpolate(model_id, originals[0], originals[1], 10)
    save(rows_image([list(originals), list(vae.reconstruct(model_id, originals)), list(frames)]), out / "samples.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.card_samples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("texgan", "texvae"))
    parser.add_argument("--model", default=None, help="default: dtd10-texgan or dtd10-texvae")
    parser.add_argument("--out", type=Path, default=None, help="default: the model's folder in assets/")
    parser.add_argument("--data", type=Path, default=DTD_DIR, help="texvae: a DTD-layout folder")
    args = parser.parse_args(argv)
    model_id = args.model or f"dtd10-{args.kind}"
    out = args.out or Path(__file__).resolve().parent.parent / "assets" / model_id
    if args.kind == "texgan":
        texgan_pictures(model_id, out)
    else:
        texvae_pictures(model_id, out, args.data)


if __name__ == "__main__":
    main()
