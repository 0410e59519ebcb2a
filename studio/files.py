"""Safety at the edge, once: the one check that admits a file path arriving in a request, the one sanitiser
that makes file names from request data, and the app's own working folder for the files it makes.

A path from a request is opened only if it lies in Gradio's upload/cache folder or in this process's working
folder (files the app made). Everything else gets the same sentence, whether or not the file exists, so a
caller learns nothing about the server's disk.
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from models import inpaint, registry
from models.errors import InvalidRequestError
from models.files import FileWriteError, reason_of

log = logging.getLogger(__name__)

NOT_UPLOADED = ("That file was not uploaded to the studio, or it was removed after a while unused: "
                "please upload it again.")
SLUG_LENGTH = 40


class NotUploadedError(InvalidRequestError):
    """A request named a file outside the folders the studio serves from."""

    def __init__(self) -> None:
        super().__init__(NOT_UPLOADED)


_work_dir: Path | None = None
APP_FILE_KINDS = ("history", "downloads", "animations")  # folders of the work dir for files the app makes


def work_dir() -> Path:
    """This process's folder for the files the app makes (history copies, downloads, animations) and, unless
    GRADIO_TEMP_DIR names another, for Gradio's upload/cache folder; served directly, and removed when the
    process exits."""
    global _work_dir
    if _work_dir is None:
        _work_dir = Path(tempfile.mkdtemp(prefix="studio-")).resolve()
        atexit.register(shutil.rmtree, _work_dir, ignore_errors=True)
        # Served as they are (inline, by their type): only the folders of files the app makes. Gradio's cache,
        # where anyone's uploads land, must not be one: an uploaded .html or .svg would run as the studio's page.
        gr.set_static_paths([_work_dir / kind for kind in APP_FILE_KINDS])
        os.environ.setdefault("GRADIO_TEMP_DIR", str(_work_dir / "gradio"))
    return _work_dir


def cache_dir() -> Path:
    """Gradio's upload/cache folder: the studio's own (see work_dir) unless GRADIO_TEMP_DIR names another,
    which must then be a folder of its own: everything in it is admitted and cleaned."""
    work_dir()
    return _checked_cache_dir(get_upload_folder())


@functools.cache
def _checked_cache_dir(name: str) -> Path:
    """The resolved folder, checked once per name (every admitted path asks for it)."""
    folder = Path(name).resolve()
    shared = {Path("/"), Path.home().resolve(), Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve()}
    if folder in shared or any(path.is_relative_to(folder) for path in shared):
        raise RuntimeError(f"GRADIO_TEMP_DIR ({folder}) must be a folder of its own, not a shared one: "
                           "the studio admits and deletes the files in it.")
    return folder


def admitted_roots() -> list[Path]:
    return [cache_dir(), work_dir()]


def admitted_folder(path: object, local: bool) -> Path:
    """A folder on this machine named in a request: only on a studio nobody else reaches (`local`: not on
    Spaces, behind --share or on a network address), where the person asking is the machine's user; refused
    everywhere else with the same sentence as a file outside the studio's folders."""
    try:
        resolved = Path(os.fspath(path)).expanduser().resolve(strict=True)
        admitted = local and resolved.is_dir()
    except (OSError, RuntimeError, TypeError, ValueError):
        admitted = False
    if not admitted:
        log.info("refused a request naming a folder")
        raise NotUploadedError() if not local else InvalidRequestError("That folder does not exist here.")
    return resolved


def admitted_path(path: object) -> Path:
    """The resolved path of a file a request named, if the studio may open it (an upload, a cached result or
    a file the app made); NotUploadedError otherwise. An admitted file is marked as used, so the cache
    cleaner keeps files that are still being worked with."""
    try:
        resolved = Path(os.fspath(path)).resolve(strict=True)
        admitted = resolved.is_file() and any(resolved.is_relative_to(root) for root in admitted_roots())
    except (OSError, RuntimeError, TypeError, ValueError):
        admitted = False
    if not admitted:
        log.info("refused a request for a file outside the studio's folders")
        raise NotUploadedError()
    try:
        os.utime(resolved)
    except OSError:
        pass
    return resolved


def slug(text: object, length: int = SLUG_LENGTH) -> str:
    """A short file-name word of [a-z0-9-] from any request value."""
    word = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:length].strip("-")
    return word or "x"


def model_slug(model_id: object) -> str:
    """A model id as a file-name word: only registry ids and inpainting methods' ids are accepted (they are
    already slugs)."""
    if not (registry.has(model_id) or inpaint.is_method(model_id)):
        raise InvalidRequestError("That image names a model this studio does not have.")
    return slug(model_id)


def file_stem(*words: object) -> str:
    """A file-name stem from request words (None is skipped): each word sanitised, joined with '-'."""
    return "-".join(slug(word) for word in words if word is not None) or "studio"


def private_folder(kind: str) -> Path:
    """A fresh folder with an unguessable name under the working folder's `kind` folder, for one file that
    is served to one person (files there are reachable by anyone who knows the name)."""
    if kind not in APP_FILE_KINDS:
        raise ValueError(f"unknown kind of working file {kind!r}")
    folder = work_dir() / kind / secrets.token_urlsafe(12)
    try:
        folder.mkdir(parents=True)
    except OSError as error:
        raise FileWriteError(f"Could not make a folder for the file: {reason_of(error)}.", reason_of(error)) from error
    return folder


def _bottom_up(root: Path):
    """Every file and folder under `root`, each folder after its contents. A folder removed meanwhile (by Gradio,
    a test's teardown, another sweep) is skipped: os.walk ignores what it cannot list, where a pathlib walk
    raises and the whole sweep would fail."""
    for folder, subfolders, names in os.walk(root, topdown=False):
        for name in [*names, *subfolders]:
            yield Path(folder) / name


def remove_files(root: Path, max_age_s: float, max_bytes: float = math.inf, keep: set[str] = frozenset()) -> int:
    """In one pass over `root`: delete the files untouched (modified, or admitted as used) for `max_age_s`,
    then the least recently used until the rest fit in `max_bytes` (this bounds the disk a flood of
    uploads or results can take), and the folders left empty; files in `keep` are neither deleted nor
    counted. Returns how many files went."""
    now, files_left, removed = time.time(), [], 0
    for path in _bottom_up(root):
        try:
            stat = path.lstat()
            if path.is_dir():
                if now - stat.st_mtime > max_age_s and not any(path.iterdir()):
                    path.rmdir()
            elif str(path) not in keep:
                if now - stat.st_mtime > max_age_s:
                    path.unlink()
                    removed += 1
                else:
                    files_left.append((stat.st_mtime, stat.st_size, path))
        except OSError:
            continue
    total = sum(size for _, size, _ in files_left)
    for _, size, path in sorted(files_left):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total, removed = total - size, removed + 1
    return removed
