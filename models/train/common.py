"""What every training run shares: seeding, time budget, resumable checkpoints, export."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from models.loading import sha256_of

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"
PROJECT_LICENSE = "MIT"
FASHION_MNIST_DATA = (
    "Fashion-MNIST train split (60,000 28x28 grayscale images, MIT license), "
    "from the Debian package dataset-fashion-mnist"
)


class Clock:
    """Wall-clock time of a run, carried across resumes so a budget counts the whole run."""

    def __init__(self, already_elapsed: float = 0.0):
        self._start = time.monotonic() - already_elapsed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start


def save_checkpoint(run_dir: Path, state: dict) -> None:
    """Write the training state atomically so an interrupted save never corrupts the last one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, run_dir / CHECKPOINT_FILE)


def load_checkpoint(run_dir: Path) -> dict | None:
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return None
    log.info("resuming from %s", path)
    return torch.load(path, map_location="cpu", weights_only=False)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads"


def training_record(steps: int, wall_time_s: float, device: torch.device, **extra) -> dict:
    return {
        "command": "python -m models.train " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "hardware": hardware() if device.type == "cpu" else str(device),
        "steps": steps,
        "wall_time_s": round(wall_time_s, 1),
        **extra,
    }


def export_model(
    out_dir: Path,
    *,
    model_id: str,
    task: str,
    architecture: str,
    net: nn.Module,
    training: dict,
    extra_tensors: dict[str, dict[str, torch.Tensor]] | None = None,
    metrics: dict | None = None,
    training_data: str = FASHION_MNIST_DATA,
) -> Path:
    """Write weights.safetensors (+ extra tensor files) and the registry entry model.json."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, tensors: dict[str, torch.Tensor]) -> dict:
        path = out_dir / f"{name}.safetensors"
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, path)
        return {"file": path.name, "sha256": sha256_of(path)}

    entry = {
        "id": model_id,
        "task": task,
        "architecture": architecture,
        "config": asdict(net.config),
        "weights": write("weights", net.state_dict()),
        "extra_files": {name: write(name, t) for name, t in (extra_tensors or {}).items()},
        "training_data": training_data,
        "license": PROJECT_LICENSE,
        "metrics": metrics or {},
        "training": training,
        "card": "README.md",
    }
    (out_dir / "model.json").write_text(json.dumps(entry, indent=2) + "\n")
    log.info("exported %s to %s", model_id, out_dir)
    return out_dir
