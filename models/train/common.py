"""What every training run shares: seeding, time budget, resumable checkpoints, export."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_tensors
from torch import nn

from models.data import fashion_mnist
from models.files import write_atomically
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


def add_fashion_mnist_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=fashion_mnist.DEFAULT_DIR,
                        help="folder with the four Fashion-MNIST IDX .gz files")


def save_checkpoint(run_dir: Path, state: dict) -> None:
    """Write the training state atomically so an interrupted save never corrupts the last one."""
    write_atomically(run_dir / CHECKPOINT_FILE, lambda file: torch.save(state, file))


def load_checkpoint(run_dir: Path) -> dict | None:
    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return None
    log.info("resuming from %s", path)
    return torch.load(path, map_location="cpu", weights_only=False)


def epoch_steps(items: int, batch_size: int, epochs: int, max_steps: int | None) -> tuple[int, int]:
    """(steps per epoch, total steps) of an epoch-based run, cut at `max_steps` if given."""
    per_epoch = -(-items // batch_size)
    total = epochs * per_epoch
    return per_epoch, total if max_steps is None else min(total, max_steps)


class RunState:
    """The resumable state of a training run: named stateful objects (modules, optimizers, torch or
    numpy random generators), the step count and the wall clock. Created from `RUN_DIR/checkpoint.pt`
    when one exists, so a restarted run continues where it stopped."""

    def __init__(self, run_dir: Path, **objects):
        self.run_dir = run_dir
        self.objects = {name: obj for name, obj in objects.items() if obj is not None}
        self.step, elapsed = 0, 0.0
        state = load_checkpoint(run_dir)
        if state:
            for name, obj in self.objects.items():
                _set_state(obj, state[name])
            self.step, elapsed = state["step"], state["elapsed"]
        self.clock = Clock(elapsed)
        self._saved_at = self.clock.elapsed

    def save(self, step: int) -> None:
        self.step = step
        save_checkpoint(self.run_dir, {**{name: _get_state(obj) for name, obj in self.objects.items()},
                                       "step": step, "elapsed": self.clock.elapsed})
        self._saved_at = self.clock.elapsed

    def save_every(self, minutes: float, step: int) -> None:
        """Save if the last save is more than `minutes` old."""
        if self.clock.elapsed - self._saved_at > minutes * 60:
            self.save(step)
            log.info("step %d, %.0f s: checkpoint saved", step, self.clock.elapsed)


def _get_state(obj):
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    return obj.state_dict()


def _set_state(obj, state) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    else:
        obj.load_state_dict(state)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor,
            schedule: torch.optim.lr_scheduler.LRScheduler | None = None) -> None:
    """One optimisation step on `loss` (and one step of its learning-rate schedule, if any)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if schedule is not None:
        schedule.step()


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int,
              step: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """One-cycle schedule over `total_steps`, positioned at `step` (a resumed run may change its length;
    the schedule is a function of the step, so it is rebuilt rather than restored)."""
    if step == 0:
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=max(total_steps, step + 1),
                                               last_epoch=step - 1)


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
        path = write_atomically(out_dir / f"{name}.safetensors",
                                save_tensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()}))
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
    write_atomically(out_dir / "model.json", (json.dumps(entry, indent=2) + "\n").encode())
    log.info("exported %s to %s", model_id, out_dir)
    return out_dir
