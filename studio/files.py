"""Safety at the edge, once: the one check that admits a file path arriving in a request, the one sanitiser
that makes file names from request data, and the app's own working folder for the files it makes.

A path from a request is opened only if it lies in Gradio's upload/cache folder or in this process's working
folder (files the app made). Everything else gets the same sentence, whether or not the file exists, so a
caller learns nothing about the server's disk.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from models import registry
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


def work_dir() -> Path:
    """This process's folder for the files the app makes (history copies, downloads, animations) and, unless
    GRADIO_TEMP_DIR names another, for Gradio's upload/cache folder; served directly, and removed when the
    process exits."""
    global _work_dir
    if _work_dir is None:
        _work_dir = Path(tempfile.mkdtemp(prefix="studio-")).resolve()
        atexit.register(shutil.rmtree, _work_dir, ignore_errors=True)
        gr.set_static_paths([_work_dir])
        os.environ.setdefault("GRADIO_TEMP_DIR", str(_work_dir / "gradio"))
    return _work_dir


def cache_dir() -> Path:
    """Gradio's upload/cache folder: the studio's own (see work_dir) unless GRADIO_TEMP_DIR names another,
    which must then be a folder of its own: everything in it is admitted and cleaned."""
    work_dir()
    folder = Path(get_upload_folder()).resolve()
    shared = {Path("/"), Path.home().resolve(), Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve()}
    if folder in shared or any(path.is_relative_to(folder) for path in shared):
        raise RuntimeError(f"GRADIO_TEMP_DIR ({folder}) must be a folder of its own, not a shared one: "
                           "the studio admits and deletes the files in it.")
    return folder


def admitted_roots() -> list[Path]:
    return [cache_dir(), work_dir()]


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
    """A model id as a file-name word: only registry ids are accepted (they are already slugs)."""
    if not registry.has(model_id):
        raise InvalidRequestError("That image names a model this studio does not have.")
    return slug(model_id)


def file_stem(*words: object) -> str:
    """A file-name stem from request words (None is skipped): each word sanitised, joined with '-'."""
    return "-".join(slug(word) for word in words if word is not None) or "studio"


def private_folder(kind: str) -> Path:
    """A fresh folder with an unguessable name under the working folder's `kind` folder, for one file that
    is served to one person (files there are reachable by anyone who knows the name)."""
    folder = work_dir() / kind / secrets.token_urlsafe(12)
    try:
        folder.mkdir(parents=True)
    except OSError as error:
        raise FileWriteError(f"Could not make a folder for the file: {reason_of(error)}.", reason_of(error)) from error
    return folder


def remove_old_files(root: Path, max_age_s: float, keep: set[str] = frozenset()) -> int:
    """Delete the files under `root` untouched (modified, or admitted as used) for `max_age_s`, but those
    in `keep`, and the folders this empties; returns how many files went."""
    removed, now = 0, time.time()
    for path in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
        try:
            if path.is_dir():
                if now - path.stat().st_mtime > max_age_s and not any(path.iterdir()):
                    path.rmdir()
            elif str(path) not in keep and now - path.lstat().st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def trim_to_size(root: Path, max_bytes: int, keep: set[str] = frozenset()) -> int:
    """Delete the least recently used files under `root` until the rest fit in `max_bytes` (files in `keep`
    are neither deleted nor counted); returns how many went. Bounds the disk a flood of uploads or results
    can take."""
    entries = []
    for path in root.rglob("*") if root.exists() else []:
        try:
            if path.is_file() and str(path) not in keep:
                stat = path.lstat()
                entries.append((stat.st_mtime, stat.st_size, path))
        except OSError:
            continue
    total, removed = sum(size for _, size, _ in entries), 0
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total, removed = total - size, removed + 1
    return removed
