"""The sample pictures in the texture family's model cards, made from the shipped weights.

    python -m models.card_samples texgan [--model dtd10-texgan] [--out assets/dtd10-texgan]
    python -m models.card_samples texvae [--model dtd10-texvae] [--out assets/dtd10-texvae] [--data DIR]
    python -m models.card_samples inpaint [--model photo-inpaint] [--out assets/photo-inpaint]

texgan writes `classes.png` (a row per class, seeds 0 to 5, 128 pixels), `tiled.png` (a seamless
192-pixel texture of each of three classes, each tiled 3x3) and `morph.png` (bubbly to cracked in 8
steps). texvae writes `samples.png`: held-out DTD val1 photos (first row), their reconstructions
(second) and the interpolation from the first photo to the second in 10 steps (third).
inpaint writes `large-objects.jpg`: three held-out photos (Debian's lomiri-wallpapers-16.04, shorter side
1024 pixels) with an object painted out (LARGE_OBJECTS), filled by OpenCV Telea, OpenCV FSR fast, the
network and the network guiding patch transfer; each example is a row of the whole pictures and a row of
the hole's surroundings at full resolution.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models import classical_inpaint, inpaint, texgen, vae
from models.data.photos import DTD_DIR, dtd_split, load_rgb
from models.files import write_atomically

GAP = 4  # pixels between pictures
WALLPAPERS = Path("/usr/share/backgrounds")
# Held-out photos and the object painted out of each: a polygon in fractions of the width and height.
LARGE_OBJECTS = {
    "Bridge_by_Sander_Klootwijk.jpg": [(0.19, 1.0), (0.61, 0.62), (0.72, 0.68), (0.34, 1.0)],  # a beam over the shore
    "friends_by_Aitzol_Berasategi.jpg": [(0.46, 0.44), (0.68, 0.44), (0.69, 0.62), (0.5, 0.67), (0.45, 0.6)],  # a dog
    "sunset_by_Aitzol_Berasategi.jpg": [(0.61, 0.64), (0.94, 0.63), (0.94, 0.8), (0.85, 0.82), (0.85, 1.0),
                                        (0.7, 1.0), (0.7, 0.82), (0.61, 0.79)],  # a stone table on the hilltop
}
LARGE_OBJECT_SIDE = 1024  # shorter side of the photos
LARGE_OBJECT_METHODS = ("opencv-telea", "opencv-fsr-fast")
FIGURE_WIDTH = 360  # pixels of each picture in the figure
ZOOM_MARGIN = 32  # pixels of the photo around the hole in the full-resolution row


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


def polygon_mask(height: int, width: int, polygon: list[tuple[float, float]]) -> np.ndarray:
    """A bool [height, width] mask, True inside `polygon` (x, y in fractions of the width and height)."""
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).polygon([(x * width, y * height) for x, y in polygon], fill=255)
    return np.asarray(canvas) > 127


def _fitted(picture: np.ndarray, height: int) -> np.ndarray:
    image = Image.fromarray(picture)
    return np.asarray(image.resize((FIGURE_WIDTH, height), Image.Resampling.LANCZOS))


def inpaint_pictures(model_id: str, out: Path) -> None:
    methods = (*LARGE_OBJECT_METHODS, model_id, inpaint.patch_method_id(model_id))
    rows = []
    for name, polygon in LARGE_OBJECTS.items():
        photo = load_rgb(WALLPAPERS / name, LARGE_OBJECT_SIDE)
        hole = polygon_mask(*photo.shape[:2], polygon)
        pictures = [classical_inpaint.blanked(photo, hole)] + [inpaint.fill(m, photo, hole) for m in methods]
        rows.append([_fitted(p, round(FIGURE_WIDTH * photo.shape[0] / photo.shape[1])) for p in pictures])
        hole_rows, hole_cols = np.nonzero(hole)
        top, bottom = max(hole_rows.min() - ZOOM_MARGIN, 0), min(hole_rows.max() + ZOOM_MARGIN, photo.shape[0])
        left, right = max(hole_cols.min() - ZOOM_MARGIN, 0), min(hole_cols.max() + ZOOM_MARGIN, photo.shape[1])
        zoom_height = round(FIGURE_WIDTH * (bottom - top) / (right - left))
        rows.append([_fitted(p[top:bottom, left:right], zoom_height) for p in pictures])
    figure = np.concatenate([np.asarray(rows_image([row])) for row in rows], 0)
    write_atomically(out / "large-objects.jpg", lambda file: Image.fromarray(figure).save(file, format="JPEG",
                                                                                          quality=85))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.card_samples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("texgan", "texvae", "inpaint"))
    parser.add_argument("--model", default=None, help="default: dtd10-texgan, dtd10-texvae or photo-inpaint")
    parser.add_argument("--out", type=Path, default=None, help="default: the model's folder in assets/")
    parser.add_argument("--data", type=Path, default=DTD_DIR, help="texvae: a DTD-layout folder")
    args = parser.parse_args(argv)
    model_id = args.model or ("photo-inpaint" if args.kind == "inpaint" else f"dtd10-{args.kind}")
    out = args.out or Path(__file__).resolve().parent.parent / "assets" / model_id
    if args.kind == "texgan":
        texgan_pictures(model_id, out)
    elif args.kind == "inpaint":
        inpaint_pictures(model_id, out)
    else:
        texvae_pictures(model_id, out, args.data)


if __name__ == "__main__":
    main()
