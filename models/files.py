"""The one writer of files: every file the project writes (results, downloads, GIFs, checkpoints, exports)
goes to a temporary name in its own folder and is renamed into place, so a crash, a full disk or a kill
never leaves a truncated file under the real name; a failed write removes its partial file."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MAX_NUMBERED_NAMES = 10_000


class FileWriteError(OSError):
    """A file could not be written; the message is one sentence for a person, `reason` its short cause."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def reason_of(error: OSError) -> str:
    """Why a write failed, in a few words for a person."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable"
    return (error.strerror or str(error)).lower()


def write_atomically(path: Path | str, content: bytes | Callable[[BinaryIO], object], *,
                     overwrite: bool = True, durable: bool = True, make_folder: bool = True) -> Path:
    """Write `content` (bytes, or a function that writes to a binary file) to `path` through a temporary
    file in the same folder. With overwrite=False an existing `path` raises FileExistsError and is untouched.
    Any other failure raises FileWriteError with a readable reason, leaving no partial file behind.
    durable=False skips the flush to disk, for working files that do not outlive the process (the rename
    still keeps a partial file from ever having the real name). make_folder=False fails (FileWriteError) if the
    folder is missing rather than making it, for a file whose folder may be deleted meanwhile."""
    path = Path(path)
    temporary = None
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".part")
        with os.fdopen(handle, "wb") as file:
            if isinstance(content, bytes | bytearray):
                file.write(content)
            else:
                content(file)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_new(temporary, path)
            os.unlink(temporary)
        temporary = None
        return path
    except FileExistsError:
        raise
    except OSError as error:
        log.warning("could not write %s: %s", path, error)
        reason = reason_of(error)
        raise FileWriteError(f"Could not write {path.name}: {reason}.", reason) from error
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _link_new(temporary: str, path: Path) -> None:
    """Give the finished temporary file the name `path` only if no file has it (atomic where the filesystem
    has hard links; elsewhere the name is reserved first, then replaced)."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.replace(temporary, path)


def write_new_file(directory: Path, stem: str, suffix: str, content: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write `directory/stem+suffix`, or `stem-2+suffix`, ...: an existing file is never overwritten."""
    for n in range(1, MAX_NUMBERED_NAMES):
        try:
            return write_atomically(directory / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}", content,
                                    overwrite=False)
        except FileExistsError:
            continue
    raise FileWriteError(f"Could not write {stem}{suffix}: too many files of that name.", "too many files of that name")


SWAP_SETTLED_S = 60.0  # a folder moved aside this long ago belongs to no swap still running
ABANDONED_PARTIAL_S = 600.0  # a folder being written for a swap, untouched this long: its writer has died


def replaced_name(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.replaced"


def partial_name(folder: Path) -> Path:
    """The hidden folder beside `folder` where its replacement is written before `swap_in_folder`."""
    return folder.parent / f".{folder.name}.partial"


def restore_interrupted_swap(folder: Path) -> bool:
    """Put back the old `folder` that `swap_in_folder` had moved aside when a crash stopped it before the new one
    was in place (`folder` missing, its hidden `.replaced` copy present). True if it did."""
    aside = replaced_name(folder)
    if folder.exists() or not aside.is_dir():
        return False
    aside.rename(folder)
    log.warning("restored %s, which an interrupted replacement had moved aside", folder)
    return True


def settle_interrupted_swaps(parent: Path) -> None:
    """For every folder in `parent` that `swap_in_folder` moved aside over SWAP_SETTLED_S ago (so no export in
    another process is between its renames): put it back if its folder is missing (the swap crashed between
    them), else delete it (the swap finished, but not its clean-up). Replacements whose writing stopped over
    ABANDONED_PARTIAL_S ago (a process killed while it wrote them) are deleted. Failures are logged, not
    raised."""
    now = time.time()
    for partial in parent.glob(".*.partial"):
        try:
            if partial.is_dir() and now - partial.stat().st_mtime > ABANDONED_PARTIAL_S:
                shutil.rmtree(partial)
                log.info("removed %s, left by an export that did not finish", partial)
        except OSError as error:
            log.warning("could not remove %s: %s", partial, error)
    for aside in parent.glob(".*.replaced"):
        folder = parent / aside.name[1 : -len(".replaced")]
        try:
            if folder.parent != parent or not aside.is_dir() or now - aside.stat().st_ctime < SWAP_SETTLED_S:
                continue
            if not restore_interrupted_swap(folder):
                shutil.rmtree(aside)
        except OSError as error:
            log.warning("could not settle %s: %s", aside, error)


def swap_in_folder(new: Path, folder: Path) -> None:
    """Replace `folder` by the fully written folder `new` (same parent). Linux cannot swap two non-empty folders
    in one step, so the old one is first renamed aside to a hidden name; a crash between the two renames leaves
    it there, and `restore_interrupted_swap` (called here, and by the registry's scan through
    `settle_interrupted_swaps`) puts it back."""
    restore_interrupted_swap(folder)
    aside = replaced_name(folder)
    shutil.rmtree(aside, ignore_errors=True)
    if folder.exists():
        folder.rename(aside)
    new.rename(folder)
    shutil.rmtree(aside, ignore_errors=True)
