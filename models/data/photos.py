"""Real photographs for training and evaluation: the DTD layout and any folder of image files.

DTD (`images/<class>/<name>.jpg`, `labels/{train,val,test}<fold>.txt`, one relative path per
line) is read split by split, so the ten-class subset in `../shared/data/dtd10`, the full 47-class
DTD or any folder laid out the same way works. Other folders (e.g. Debian's wallpaper packages) are
searched recursively; a KDE wallpaper folder (`<name>/contents/...`) ships one picture at several
resolutions plus a screenshot, and only its largest file is kept.

Two wallpaper packages are kept out of training, found by their dpkg file lists (`package_images`):
HELD_OUT_WALLPAPER_PACKAGES for the inpainting evaluation, TUNING_WALLPAPER_PACKAGES for choosing settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DTD_DIR = REPO_ROOT.parent / "shared" / "data" / "dtd10"
WALLPAPER_DIRS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
DPKG_INFO_DIR = Path("/var/lib/dpkg/info")
HELD_OUT_WALLPAPER_PACKAGES = ("lomiri-wallpapers-16.04",)  # evaluation only: never trained on
TUNING_WALLPAPER_PACKAGES = ("ukui-wallpapers",)  # for choosing settings: neither trained on nor in the evaluation


def labelled_images(root: Path | str, split: str) -> tuple[list[tuple[Path, str]], list[str]]:
    """(image path, class name) of a training folder, and its class names: a DTD layout (`images/`,
    `labels/<split>.txt`; that split), else one class per subfolder, else one unnamed class ("")."""
    root = Path(root)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return dtd_split(root, split), dtd_classes(root)
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    entries = [(path, folder.name) for folder in folders for path in image_files([folder])]
    if entries:
        return entries, sorted({name for _, name in entries})
    return [(path, "") for path in image_files([root])], []


def dtd_split(root: Path | str, split: str) -> list[tuple[Path, str]]:
    """(image path, class name) of a DTD split file such as `train1` or `val1`."""
    root = Path(root)
    listing = root / "labels" / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found: --data must be a folder in the DTD layout "
                                "(images/<class>/..., labels/<split>.txt).")
    entries = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return [(root / "images" / entry, entry.split("/")[0]) for entry in entries]


def dtd_classes(root: Path | str) -> list[str]:
    """Class names of a DTD-layout folder: `labels/classes.txt` if present, else the folders under `images/`."""
    root = Path(root)
    listing = root / "labels" / "classes.txt"
    if listing.is_file():
        return [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return sorted(p.name for p in (root / "images").iterdir() if p.is_dir())


def image_files(folders: Iterable[Path | str]) -> list[Path]:
    """Image files under `folders` (recursive, sorted), one per KDE wallpaper folder."""
    found: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            log.warning("%s is not a folder; skipped", folder)
            continue
        found += [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    largest: dict[Path, Path] = {}
    plain = []
    for path in found:
        if "contents" in path.parts:
            wallpaper = Path(*path.parts[: path.parts.index("contents")])
            best = largest.get(wallpaper)
            if best is None or _pixels(path) > _pixels(best):
                largest[wallpaper] = path
        else:
            plain.append(path)
    return sorted(plain + list(largest.values()))


def package_images(package: str, info_dir: Path | str = DPKG_INFO_DIR) -> list[Path]:
    """The image files a Debian package installed (its dpkg file list, `<info_dir>/<package>.list`), sorted;
    none if the package is not installed."""
    listing = Path(info_dir) / f"{package}.list"
    if not listing.is_file():
        return []
    paths = {Path(line.strip()) for line in listing.read_text().splitlines() if line.strip()}
    return sorted(path for path in paths if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def _pixels(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height


def load_rgb(path: Path, short_side: int) -> np.ndarray:
    """Decode an image as RGB uint8 [H, W, 3], reduced so its shorter side is at most `short_side`."""
    with Image.open(path) as image:
        image.draft("RGB", (image.width * short_side // min(image.size), image.height * short_side // min(image.size)))
        rgb = image.convert("RGB")
    scale = short_side / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
    return np.asarray(rgb).copy()
