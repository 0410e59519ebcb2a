"""An artist's upload (zip files and image files) made into a training folder the trainers read.

Class subfolders inside a zip make classes; a zip without subfolders is one class named after the zip;
loose images are one class. Class names are sanitised to short slugs and file names are made here
(`000001.png`), never taken from the upload. Every zip is checked from its directory before anything is
extracted (file count, uncompressed bytes, per-file bytes: the caps below, set in one place); entries with
absolute paths, `..`, symlinks, directories or non-image suffixes are never extracted. Every image goes
through the studio's safe decoding (models.image_input) and is written as an RGB PNG, reduced so its
shorter side is at most SHORT_SIDE, under `DEST/images/<class>/`: `Dataset.root` is that `images/`
folder, which `labelled_images` reads as one class per subfolder.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from models.errors import InvalidRequestError
from models.files import write_atomically
from models.image_input import ImageInputError, centre_square, check_header, open_image

log = logging.getLogger(__name__)

MAX_FILES = 2000  # image files in one upload, all zips and loose images together
MAX_FOLDER_ENTRIES = 20_000  # files a local folder's walk looks at, pictures or not
MAX_TOTAL_PIXELS = 400_000_000  # pixels decoded per upload in all: 2,000 pictures of 0.2 MP, or 16 of the 25 MP cap
MAX_UNCOMPRESSED_BYTES = 300 * 1024 * 1024  # all zips' declared uncompressed sizes together
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # one image file (a zip entry or a loose image)
SHORT_SIDE = 256  # pictures are reduced so their shorter side is at most this
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
CLASS_NAME_LENGTH = 32
SHOWN_NAME_LENGTH = 40
LOOSE_CLASS = "images"  # the class of images uploaded outside a zip
THUMBNAIL = 64
SHEET_THUMBNAILS = 32
SHEET_COLUMNS = 8
MIN_IMAGES = {"gan": 32, "vae": 32}  # generative families: images in all
MIN_CLASSES, MIN_PER_CLASS = 2, 5  # the classifier
FAMILIES = ("gan", "vae", "classifier")


class UploadError(InvalidRequestError):
    """An upload refused as a whole (a zip over the caps, too many files); the message is for a person."""


@dataclass
class Dataset:
    """A training folder made from an upload: `root` holds one subfolder per class (pass it as --data)."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (shown name, reason sentence)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def read(cls, root: Path | str) -> Dataset:
        """A dataset already on disk (e.g. after a server restart): counts from its class folders."""
        root = Path(root)
        folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return cls(root, {p.name: len(_pictures(p)) for p in folders})

    def contact_sheet(self) -> np.ndarray:
        """Up to SHEET_THUMBNAILS thumbnails, a few from each class in turn, in a grid: RGB uint8."""
        per_class = {name: _pictures(self.root / name) for name in self.counts}
        share = max(1, SHEET_THUMBNAILS // max(len(per_class), 1))
        picks = [path for paths in per_class.values() for path in paths[:share]][:SHEET_THUMBNAILS]
        columns = max(1, min(SHEET_COLUMNS, len(picks)))
        rows = max(1, math.ceil(len(picks) / columns))
        sheet = np.full((rows * THUMBNAIL, columns * THUMBNAIL, 3), 255, dtype=np.uint8)
        for i, path in enumerate(picks):
            with Image.open(path) as image:
                tile = centre_square(image, THUMBNAIL)
            y, x = divmod(i, columns)
            sheet[y * THUMBNAIL : (y + 1) * THUMBNAIL, x * THUMBNAIL : (x + 1) * THUMBNAIL] = tile
        return sheet

    def check(self, family: str, size: int | None = None) -> list[str]:
        """Warnings, as sentences, about data too thin for `family` ("gan", "vae", "classifier"); with `size`
        (the training patch), also about pictures smaller than it, which the GAN and VAE trainers leave out."""
        if family not in FAMILIES:
            raise InvalidRequestError(f"Unknown model family; choose one of {', '.join(FAMILIES)}.")
        warnings = []
        if self.total == 0:
            return ["No usable images were found in the upload."]
        if family in MIN_IMAGES and self.total < MIN_IMAGES[family]:
            warnings.append(f"Only {self.total} images: a {family.upper()} needs at least {MIN_IMAGES[family]} "
                            "to learn anything useful; add more pictures.")
        if family == "classifier":
            if len(self.counts) < MIN_CLASSES:
                warnings.append(f"A classifier needs at least {MIN_CLASSES} classes (one folder per class, or one "
                                f"zip per class); this upload has {len(self.counts)}.")
            thin = [name for name, count in self.counts.items() if count < MIN_PER_CLASS]
            if thin:
                warnings.append(f"Each class needs at least {MIN_PER_CLASS} images; too few in: {', '.join(thin)}.")
        if size and family in MIN_IMAGES:
            small = sum(1 for name in self.counts for path in _pictures(self.root / name) if _short_side(path) < size)
            if small:
                warnings.append(f"{small} of the {self.total} images are smaller than {size} pixels and will be "
                                "left out of training.")
        return warnings


def ingest(sources: list[Path], dest: Path) -> Dataset:
    """Write the images of `sources` (zip files and image files the app admitted, or a folder on a studio only
    this machine reaches: its subfolders are classes) under `dest/images/<class>/` and return the dataset. A
    zip or folder over the caps raises UploadError before anything is read or written; an unusable file is
    skipped and listed with its reason."""
    dest = Path(dest)
    root = dest / "images"
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already holds a dataset")
    sources = [Path(source) for source in sources]
    folders = [source for source in sources if source.is_dir()]
    zips = [source for source in sources if _is_zip(source) and source not in folders]
    loose = [source for source in sources if source not in zips and source not in folders]
    skipped: list[tuple[str, str]] = []
    plans = [_plan_zip(source, skipped) for source in zips]
    folder_files = [_plan_folder(folder) for folder in folders]
    _check_caps(plans, len(loose) + sum(len(files) for files in folder_files))

    counts: dict[str, int] = {}

    pixels_left = [MAX_TOTAL_PIXELS]

    def add(class_name: str, shown: str, read: Callable[[], bytes]) -> None:
        try:
            data = read()
            if len(data) > MAX_UPLOAD_BYTES:
                raise ImageInputError(_too_large_file())
            width, height = check_header(data)  # from the header: nothing decoded yet
            pixels = width * height
            if pixels > pixels_left[0]:
                raise ImageInputError(f"The upload's pictures hold more than {MAX_TOTAL_PIXELS // 1_000_000} "
                                      "megapixels in all; the rest were left out.")
            pixels_left[0] -= pixels
            picture = _reduced(open_image(data))
        except ImageInputError as error:
            skipped.append((shown, str(error)))
            return
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
            log.info("unreadable upload entry: %s", error)
            skipped.append((shown, "The file is damaged and cannot be read."))
            return
        counts[class_name] = counts.get(class_name, 0) + 1
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        write_atomically(root / class_name / f"{counts[class_name]:06d}.png", buffer.getvalue(), durable=False)

    has_loose = bool(loose) or any(raw is None for files in folder_files for _, raw in files)
    names: dict[str | None, str] = {
        **_class_names([raw for plan in plans if plan for _, raw in plan]
                       + [raw for files in folder_files for _, raw in files if raw is not None],
                       frozenset({LOOSE_CLASS}) if has_loose else frozenset()),
        None: LOOSE_CLASS}
    for source, plan in zip(zips, plans, strict=True):
        if plan is None:
            continue
        with zipfile.ZipFile(source) as archive:
            for info, raw in plan:
                add(names[raw], _shown(info.filename), lambda info=info, archive=archive: _read_entry(archive, info))
    for files in folder_files:
        for path, raw in files:
            add(names[raw], _shown(path.name), lambda path=path: _read_file(path))
    for index, source in enumerate(loose, 1):
        shown = _shown(source.name) or f"file {index}"
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((shown, _not_an_image()))
            continue
        try:
            size = source.stat().st_size
        except OSError:
            skipped.append((shown, "The file was not found."))
            continue
        if size > MAX_UPLOAD_BYTES:
            skipped.append((shown, _too_large_file()))
            continue
        add(LOOSE_CLASS, shown, lambda source=source: _read_file(source))
    log.info("ingested %d images in %d classes, %d skipped", sum(counts.values()), len(counts), len(skipped))
    return Dataset(root, dict(sorted(counts.items())), skipped)


def class_slug(text: str) -> str:
    """A class name from upload text: lowercase letters, digits, '-' and '_', at most CLASS_NAME_LENGTH long
    ("" when nothing is left)."""
    word = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_.")
    return word[:CLASS_NAME_LENGTH].strip("-_")


def _shown(name: str) -> str:
    """A short, harmless name for a skipped file: its last path part, safe characters only."""
    last = re.split(r"[\\/]", name.rstrip("/\\"))[-1]
    word = re.sub(r"[^A-Za-z0-9._ -]+", "_", last).strip(" ")
    return word if len(word) <= SHOWN_NAME_LENGTH else word[: SHOWN_NAME_LENGTH - 1] + "…"


def _not_an_image() -> str:
    return "Not an image file (PNG, JPEG, WebP, GIF, BMP or TIFF)."


def _too_large_file() -> str:
    return f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."


def _plan_folder(folder: Path) -> list[tuple[Path, str | None]]:
    """The pictures of a folder on this machine, each with its class as the folder names it (its first
    subfolder, or None for a picture directly in the folder: LOOSE_CLASS); hidden files and links are left out.
    More than MAX_FILES is refused."""
    found: list[tuple[Path, str | None]] = []
    visited = 0
    for top, dirs, names in os.walk(folder):  # lazily: a huge tree is refused before it is all listed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            visited += 1
            if visited > MAX_FOLDER_ENTRIES:
                raise UploadError(f"The folder holds more than {MAX_FOLDER_ENTRIES} files; choose the folder of "
                                  "your pictures itself.")
            path = Path(top) / name
            if name.startswith(".") or path.is_symlink() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            relative = path.relative_to(folder).parts
            found.append((path, relative[0] if len(relative) > 1 else None))
            if len(found) > MAX_FILES:
                raise UploadError(f"The folder holds more than {MAX_FILES} images; the studio takes up to "
                                  f"{MAX_FILES}.")
    return found


def _read_file(path: Path) -> bytes:
    """A file's bytes, never more than MAX_UPLOAD_BYTES + 1 whatever its size says."""
    with open(path, "rb") as file:
        return file.read(MAX_UPLOAD_BYTES + 1)


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is never extracted, or None if it is a regular file with a safe relative name."""
    name = info.filename
    parts = [part for part in re.split(r"[\\/]", name) if part not in ("", ".")]
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "An absolute path inside the zip; not extracted."
    if ".." in parts:
        return "A path leading outside the zip's folder ('..'); not extracted."
    if stat.S_ISLNK(info.external_attr >> 16):
        return "A symbolic link; not extracted."
    if info.flag_bits & 0x1:
        return "An encrypted file; not extracted."
    if PurePosixPath(name.replace("\\", "/")).suffix.lower() not in IMAGE_SUFFIXES:
        return _not_an_image()
    if info.file_size > MAX_UPLOAD_BYTES:
        return _too_large_file()
    return None


def _ignored(info: zipfile.ZipInfo) -> bool:
    """Directories and the hidden files archivers add (__MACOSX/, .DS_Store, ._name): left out silently."""
    parts = [part for part in re.split(r"[\\/]", info.filename) if part]
    return info.is_dir() or not parts or any(part.startswith(".") and part not in (".", "..") for part in parts) \
        or "__MACOSX" in parts


def _plan_zip(source: Path, skipped: list[tuple[str, str]]) -> list[tuple[zipfile.ZipInfo, str]] | None:
    """The entries of one zip to extract, each with its class as the upload names it (its first folder below
    the folders all entries share, or the zip's name), read from the zip's directory only; None (and a
    skipped line) if the file is not a readable zip."""
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        log.info("unreadable zip: %s", error)
        skipped.append((_shown(source.name), "Not a zip file the studio can read."))
        return None
    if len(infos) > MAX_FILES * 2:
        raise UploadError(f"{_shown(source.name)} holds {len(infos)} entries; the studio accepts up to "
                          f"{MAX_FILES} images per upload.")
    kept = []
    for info in infos:
        if _ignored(info):
            continue
        reason = _unsafe_reason(info)
        if reason:
            skipped.append((_shown(info.filename), reason))
        else:
            kept.append(info)
    folders = [PurePosixPath(info.filename.replace("\\", "/")).parent.parts for info in kept]
    common = _common_prefix(folders)
    return [(info, parts[len(common)] if len(parts) > len(common) else source.stem)
            for info, parts in zip(kept, folders, strict=True)]


def _common_prefix(folders: list[tuple[str, ...]]) -> tuple[str, ...]:
    if not folders:
        return ()
    prefix = folders[0]
    for parts in folders[1:]:
        n = 0
        while n < min(len(prefix), len(parts)) and prefix[n] == parts[n]:
            n += 1
        prefix = prefix[:n]
    return prefix


def _check_caps(plans: list[list[tuple[zipfile.ZipInfo, str]] | None], loose: int) -> None:
    """Refuse the whole upload, before extracting anything, if it declares too many files or bytes."""
    entries = [entry for plan in plans if plan for entry in plan]
    if len(entries) + loose > MAX_FILES:
        raise UploadError(f"The upload holds {len(entries) + loose} images; the studio accepts up to {MAX_FILES}.")
    declared = sum(info.file_size for info, _ in entries)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise UploadError(f"The upload unpacks to {declared / 2**20:.0f} MB; the studio accepts up to "
                          f"{MAX_UNCOMPRESSED_BYTES // 2**20} MB. Please send fewer or smaller pictures.")


def _class_names(raw_names: list[str], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """The upload's class names -> safe slugs, distinct: names with nothing left after sanitising become
    "class", and a slug already taken (or `reserved`) gets -2, -3, ..."""
    names: dict[str, str] = {}
    for raw in raw_names:
        if raw not in names:
            word = class_slug(raw) or "class"
            taken = set(names.values()) | reserved
            unique, number = word, 1
            while unique in taken:  # "Cats" and "cats" stay two classes: cats, cats-2
                number += 1
                unique = f"{word[:CLASS_NAME_LENGTH - 4]}-{number}"
            names[raw] = unique
    return names


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, never more than MAX_UPLOAD_BYTES + 1 whatever its directory declared."""
    with archive.open(info) as entry:
        return entry.read(MAX_UPLOAD_BYTES + 1)


def _reduced(picture: Image.Image) -> Image.Image:
    scale = SHORT_SIDE / min(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.LANCZOS)
    return picture


def _pictures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def _short_side(path: Path) -> int:
    with Image.open(path) as image:
        return min(image.size)
