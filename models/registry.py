"""The registry of named checkpoints.

A checkpoint is a folder `assets/<id>/` holding `model.json` (the registry entry: task, architecture
and its config, weight files with their sha256, training data, license, measured metrics), the
safetensors weights, and a model card `README.md`. The registry is data: this module only reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from models.errors import shown

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
ENTRY_FILE = "model.json"


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


@cache
def _scan(assets_dir: Path) -> dict[str, Checkpoint]:
    entries = (read_checkpoint(p.parent) for p in sorted(assets_dir.glob(f"*/{ENTRY_FILE}")))
    return {c.id: c for c in entries}


def checkpoints(task: str | None = None) -> list[Checkpoint]:
    """All registered checkpoints, or those of one task."""
    return [c for c in _scan(ASSETS_DIR).values() if task is None or c.task == task]


def has(model_id: object) -> bool:
    """Whether `model_id` (any value a request may carry) is a registered checkpoint's id."""
    return isinstance(model_id, str) and model_id in _scan(ASSETS_DIR)


def get(model_id: str) -> Checkpoint:
    if not has(model_id):
        known = ", ".join(sorted(_scan(ASSETS_DIR))) or "none"
        raise UnknownModelError(f"Unknown model id {shown(model_id)}. Known models: {known}.")
    return _scan(ASSETS_DIR)[model_id]
