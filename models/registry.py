"""The registry of named checkpoints.

A checkpoint is a folder `assets/<id>/` holding `model.json` (the registry entry: task, architecture
and its config, weight files with their sha256, training data, license, measured metrics), the
safetensors weights, and a model card `README.md`. The registry is data: this module only reads it.

Beside the shipped `assets/`, models a user trained are read from the user models folder (`--models DIR`,
default `user-models/`), one folder per model in the same layout. A user model is checked when the folder
is scanned (its entry readable, its files present and matching their sha256): a damaged or half-written
one is left out with one log line, and asking for it says why. `refresh()` rescans, so an export or a
deletion shows at once.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from threading import Lock

from models.errors import InvalidRequestError, shown
from models.files import replaced_name, settle_interrupted_swaps

log = logging.getLogger(__name__)
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
ENTRY_FILE = "model.json"
USER_MODELS_DIR_DEFAULT = Path("user-models")  # relative to the project folder, beside assets/


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class WeightFile:
    file: str
    sha256: str


@dataclass(frozen=True)
class Checkpoint:
    id: str
    task: str
    architecture: str
    config: dict
    weights: WeightFile
    directory: Path
    extra_files: dict[str, WeightFile] = field(default_factory=dict)
    training_data: str = ""
    license: str = ""
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    card: str = "README.md"
    user: bool = False  # exported by a user (the user models folder), not shipped in assets/

    def path(self, file: WeightFile) -> Path:
        return self.directory / file.file

    @property
    def card_path(self) -> Path:
        return self.directory / self.card


def read_checkpoint(directory: Path | str) -> Checkpoint:
    """Read the registry entry stored in `directory/model.json`."""
    directory = Path(directory)
    entry = json.loads((directory / ENTRY_FILE).read_text())
    return Checkpoint(
        id=entry["id"],
        task=entry["task"],
        architecture=entry["architecture"],
        config=entry["config"],
        weights=WeightFile(**entry["weights"]),
        directory=directory,
        extra_files={name: WeightFile(**f) for name, f in entry.get("extra_files", {}).items()},
        training_data=entry.get("training_data", ""),
        license=entry.get("license", ""),
        metrics=entry.get("metrics", {}),
        training=entry.get("training", {}),
        card=entry.get("card", "README.md"),
    )


class CorruptModelError(ValueError):
    """A user model folder whose model.json is unreadable or incomplete, or whose weights are missing or
    do not match their sha256 (a half-written or damaged export)."""


_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256: a scan hashes a file once


def verify_files(checkpoint: Checkpoint) -> None:
    """Raise CorruptModelError unless every weight file of `checkpoint` exists and matches its sha256 (a file
    unchanged since it was last hashed, same size and time, is not read again)."""
    from models.loading import sha256_of  # models.loading imports this module

    for file in (checkpoint.weights, *checkpoint.extra_files.values()):
        path = checkpoint.path(file)
        try:
            if not path.is_file():
                raise CorruptModelError(f"its file {file.file} is missing")
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime_ns)
            if key not in _verified:
                _verified[key] = sha256_of(path)
        except OSError as error:
            raise CorruptModelError(f"its file {file.file} cannot be read ({type(error).__name__})") from error
        if _verified[key] != file.sha256:
            raise CorruptModelError(f"its file {file.file} does not match the sha256 in {ENTRY_FILE}")


def read_user_checkpoint(directory: Path) -> Checkpoint:
    """A user model folder's entry, its files verified; CorruptModelError says in a few words what is wrong. A
    mismatch is looked at twice: an export may have swapped in a new folder between the reading of its entry
    and the hashing of its weights (old entry, new weights)."""
    try:
        verify_files(checkpoint := _user_entry(directory))
    except CorruptModelError:
        verify_files(checkpoint := _user_entry(directory))
    return replace(checkpoint, user=True)


def _user_entry(directory: Path) -> Checkpoint:
    try:
        checkpoint = read_checkpoint(directory)
    except FileNotFoundError as error:
        raise CorruptModelError(f"it has no {ENTRY_FILE}") from error
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptModelError(f"its {ENTRY_FILE} is unreadable or incomplete ({type(error).__name__})") from error
    if not isinstance(checkpoint.id, str) or not checkpoint.id or not isinstance(checkpoint.config, dict):
        raise CorruptModelError(f"its {ENTRY_FILE} has no valid id or config")
    return checkpoint


@dataclass(frozen=True)
class _Scan:
    models: dict[str, Checkpoint]
    skipped: dict[str, str]  # user model (id, or folder name when the id is unreadable) -> why it was skipped


_user_dir: Path | None = (ASSETS_DIR.parent / USER_MODELS_DIR_DEFAULT).resolve()
_scanned: dict[tuple[Path, Path | None], _Scan] = {}  # by (assets folder, user models folder)
_scan_lock = Lock()
_refresh_hooks: list[Callable[[], None]] = []


def set_user_models_dir(path: Path | str | None) -> None:
    """Read user models from `path` (relative to the working directory) from now on; None turns them off."""
    global _user_dir
    _user_dir = None if path is None else Path(path).resolve()
    refresh()


def user_models_dir() -> Path | None:
    """The folder user models are read from and exported to, or None when user models are off."""
    return _user_dir


def on_refresh(hook: Callable[[], None]) -> None:
    """Call `hook` after each refresh (caches of loaded models use it to forget what is gone)."""
    _refresh_hooks.append(hook)


def refresh() -> None:
    """Forget the scanned folders, so a model exported or deleted a moment ago shows (or goes) at once."""
    with _scan_lock:
        _scanned.clear()
    for hook in _refresh_hooks:
        hook()


def _scan_folders(assets_dir: Path, user_dir: Path | None) -> _Scan:
    shipped = {c.id: c for c in (read_checkpoint(p.parent) for p in sorted(assets_dir.glob(f"*/{ENTRY_FILE}")))}
    models, skipped = dict(shipped), {}
    if user_dir is not None and user_dir.is_dir():
        settle_interrupted_swaps(user_dir)
    folders = sorted(p for p in user_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if user_dir is not None and user_dir.is_dir() else []
    for folder in folders:
        try:
            checkpoint = read_user_checkpoint(folder)
        except CorruptModelError as error:
            key = _entry_id(folder) or folder.name
            skipped[key] = f"the user model in {folder} is damaged or half-written: {error}"
            log.warning("user model skipped: %s", skipped[key])
            continue
        if checkpoint.id in models:
            where = ("a shipped model" if checkpoint.id in shipped
                     else f"the user model in {models[checkpoint.id].directory}")
            skipped[folder.name] = f"the user model in {folder} has the id {checkpoint.id!r} of {where}"
            log.warning("user model skipped: %s", skipped[folder.name])
            continue
        models[checkpoint.id] = checkpoint
    return _Scan(models, skipped)


def _entry_id(folder: Path) -> str | None:
    """The id a (possibly damaged) model.json names, if it can be read at all."""
    try:
        entry_id = json.loads((folder / ENTRY_FILE).read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return entry_id if isinstance(entry_id, str) and entry_id else None


def _scan() -> _Scan:
    key = (ASSETS_DIR, _user_dir)
    with _scan_lock:
        if key not in _scanned:
            _scanned[key] = _scan_folders(*key)
        return _scanned[key]


def checkpoints(task: str | None = None) -> list[Checkpoint]:
    """All registered checkpoints (shipped, then user models), or those of one task."""
    return [c for c in _scan().models.values() if task is None or c.task == task]


def has(model_id: object) -> bool:
    """Whether `model_id` (any value a request may carry) is a registered checkpoint's id."""
    return isinstance(model_id, str) and model_id in _scan().models


def skipped_user_models() -> dict[str, str]:
    """User models left out of the registry: {id (or folder name): the sentence saying why}."""
    return dict(_scan().skipped)


def get(model_id: str) -> Checkpoint:
    scan = _scan()
    if isinstance(model_id, str) and model_id in scan.models:
        return scan.models[model_id]
    if isinstance(model_id, str) and model_id in scan.skipped:
        raise UnknownModelError(f"Model {shown(model_id)} cannot be loaded: {scan.skipped[model_id]}. "
                                "Export it again or delete it.")
    known = ", ".join(sorted(scan.models)) or "none"
    raise UnknownModelError(f"Unknown model id {shown(model_id)}. Known models: {known}.")


def delete_user_model(model_id: str) -> Path:
    """Remove a user model's folder (a damaged one too, by the id or folder name it was skipped under) and
    refresh; returns the folder removed. Shipped models and anything outside the user folder are refused."""
    scan, user_dir = _scan(), _user_dir
    if not isinstance(model_id, str) or user_dir is None:
        raise InvalidRequestError(f"There is no user model {shown(model_id)} to delete.")
    checkpoint = scan.models.get(model_id)
    if checkpoint is not None and not checkpoint.user:
        raise InvalidRequestError(f"Model {shown(model_id)} ships with the studio and cannot be deleted.")
    if checkpoint is not None:
        folder = checkpoint.directory
    elif model_id in scan.skipped:
        folder = next((p for p in user_dir.iterdir() if p.is_dir() and model_id in (_entry_id(p), p.name)), None)
    else:
        folder = None
    if folder is None or folder.resolve().parent != user_dir or not folder.is_dir() or folder.is_symlink():
        raise InvalidRequestError(f"There is no user model {shown(model_id)} in {user_dir} to delete.")
    shutil.rmtree(folder)
    shutil.rmtree(replaced_name(folder), ignore_errors=True)  # an older copy an interrupted export left aside
    log.info("deleted the user model %s (%s)", model_id, folder)
    refresh()
    return folder
