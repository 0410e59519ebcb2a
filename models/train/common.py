"""What every training run shares: seeding, time budget, resumable checkpoints, progress a UI can follow
(`RUN_DIR/stats.jsonl`, `RUN_DIR/samples.png`), stopping on a signal, export with a model card, and running
as several processes under torchrun (`distributed`: DistributedDataParallel, one process per GPU)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from safetensors.torch import save as save_tensors
from torch import nn
from tqdm import tqdm

from models.data import fashion_mnist
from models.device import select_device
from models.files import partial_name, swap_in_folder, write_atomically
from models.loading import sha256_of

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"
STATS_FILE = "stats.jsonl"  # one JSON line per logging interval: step, total_steps, elapsed_s, eta_s, losses
SAMPLES_FILE = "samples.png"  # the latest sample grid of a generative run
CARD_FILE = "README.md"
CARD_MARKER = "<!-- model card written by python -m models.train; delete this line to keep your edits -->"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_VOTE_EVERY = 10  # steps between the votes of torchrun's processes on stopping (`agree_to_stop`)
PROJECT_LICENSE = "MIT"
FASHION_MNIST_DATA = (
    "Fashion-MNIST train split (60,000 28x28 grayscale images, MIT license), "
    "from the Debian package dataset-fashion-mnist"
)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a run: its rank among `world` processes, its rank on its machine, its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device


_process: Distributed | None = None  # set inside `distributed()` when torchrun started several processes


@contextmanager
def distributed(preference: str | None = None, *, supported: bool = True) -> Iterator[Distributed]:
    """The process group of a run started by `torchrun --nproc-per-node N` (WORLD_SIZE, RANK and LOCAL_RANK in
    the environment): NCCL with each process on cuda:LOCAL_RANK when the device is a GPU, gloo on the CPU. Inside
    it `wrap` makes a network DistributedDataParallel, `is_main` tells rank 0 (the only one that writes files),
    `agree_to_stop` makes all ranks stop together and `RunState` gives every rank rank 0's checkpoint, with its
    own random streams so that each draws different data. A single process (no torchrun, or one process) gets
    Distributed(0, 1, 0, device) and everything is as without it. `supported=False` refuses torchrun."""
    global _process
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = select_device(preference)
    if world == 1:
        yield Distributed(0, 1, 0, device)
        return
    if not supported:
        raise SystemExit("only the texgan and texvae trainers run under torchrun; start this one without it")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"  # gloo reduces CPU tensors (not MPS ones)
    dist.init_process_group(backend, **({"device_id": device} if backend == "nccl" else {}))
    _process = Distributed(rank, world, local_rank, device)
    try:
        yield _process
        dist.barrier()  # rank 0 has written its checkpoint and export before anyone leaves
    finally:
        _process = None
        dist.destroy_process_group()


def run_device(preference: str | None = None) -> torch.device:
    """The device to train on: this rank's under torchrun, else `select_device(preference)`."""
    return select_device(preference) if _process is None else _process.device


def is_main() -> bool:
    """Whether this process writes the run's files: always, but for ranks other than 0 under torchrun."""
    return _process is None or _process.rank == 0


def world_size() -> int:
    return 1 if _process is None else _process.world


def wrap(net: nn.Module) -> nn.Module:
    """`net` as DistributedDataParallel under torchrun (train through the wrapper, save and export `net`
    itself: the wrapper shares its parameters), else `net`."""
    if _process is None:
        return net
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[_process.device.index] if _process.device.type == "cuda" else None)


def agree_to_stop(stop: bool) -> bool:
    """True on every rank when any rank wants to stop (a signal, its clock): all end at the same step."""
    if _process is None:
        return stop
    flag = torch.tensor([float(stop)], device=_process.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _from_main(value):
    """Rank 0's `value` on every rank (pickled; for a checkpoint read by rank 0 alone)."""
    if _process is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_process.device)
    return box[0]


def _rekey(obj, rank: int) -> None:
    """Give a random generator a stream of its own for `rank`, derived from its current state (so rank 0
    keeps the single-process stream and the other ranks draw different data, at the start and on resume)."""
    if isinstance(obj, torch.Generator):
        drawn = int(torch.randint(0, 2**62, (1,), generator=obj))
        obj.manual_seed(int(np.random.SeedSequence([drawn, rank]).generate_state(1, np.uint64)[0]))
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = type(obj.bit_generator)(np.random.SeedSequence(
            [int(obj.integers(2**62)), rank])).state


def record_batch(path: Path, step: int, batch: torch.Tensor) -> None:
    """For checking that ranks see different data: append {"rank", "step", "sha256"} of `batch` to `path`
    (every rank appends, one line per step, in one write)."""
    digest = sha256(batch.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    line = json.dumps({"rank": 0 if _process is None else _process.rank, "step": step, "sha256": digest}) + "\n"
    with open(path, "a") as file:
        file.write(line)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """--record-batches, the debugging option of trainers that run under torchrun."""
    parser.add_argument("--record-batches", type=Path, default=None, metavar="FILE",
                        help="debugging: every process appends a JSON line {rank, step, sha256 of its batch} "
                             "per step to FILE, to check that the processes of a torchrun see different data")


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
        state = _from_main(load_checkpoint(run_dir) if is_main() else None)  # every rank resumes from rank 0's
        if state:
            for name, obj in self.objects.items():
                _set_state(obj, state[name])
            self.step, elapsed = state["step"], state["elapsed"]
        if not is_main():
            for obj in self.objects.values():
                _rekey(obj, _process.rank)
        self.clock = Clock(elapsed)
        self._saved_at = self.clock.elapsed

    def save(self, step: int) -> None:
        """Save the checkpoint (rank 0 alone under torchrun)."""
        self.step = step
        if is_main():
            save_checkpoint(self.run_dir, {**{name: _get_state(obj) for name, obj in self.objects.items()},
                                           "step": step, "elapsed": self.clock.elapsed})
        self._saved_at = self.clock.elapsed

    def save_every(self, minutes: float, step: int) -> None:
        """Save if the last save is more than `minutes` old."""
        if self.clock.elapsed - self._saved_at > minutes * 60:
            self.save(step)
            if is_main():
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


def add_progress_arguments(parser: argparse.ArgumentParser, samples: bool = True) -> None:
    """The options of `Progress`: how often a stats line (and a sample grid) is written."""
    parser.add_argument("--log-every", type=int, default=10, help=f"steps between lines of RUN_DIR/{STATS_FILE}")
    if samples:
        parser.add_argument("--sample-every", type=int, default=50,
                            help=f"steps between sample grids written to RUN_DIR/{SAMPLES_FILE}")


class Progress:
    """What a run shows while it trains, and its stop switch. Every `log_every` steps a JSON line goes to
    RUN_DIR/stats.jsonl ({"step", "total_steps", "elapsed_s", "eta_s", losses by name}) and the log says
    `step N/M`; `samples` writes RUN_DIR/samples.png atomically. SIGTERM or SIGINT set `stop_requested`,
    so the loop ends, and the trainer saves its checkpoint and exports as after a finished run (a second
    SIGINT interrupts at once). `minutes` and `total_steps` count the whole run across resumes. Under torchrun
    rank 0 alone writes and shows progress (its own losses), and the ranks stop together (`agree_to_stop`)."""

    def __init__(self, run: RunState, total_steps: int, desc: str, *, minutes: float | None = None,
                 log_every: int = 10, sample_every: int | None = None):
        self.run, self.total_steps, self.minutes = run, total_steps, minutes
        self.log_every, self.sample_every = max(1, log_every), sample_every
        self.stats_path = run.run_dir / STATS_FILE
        run.run_dir.mkdir(parents=True, exist_ok=True)
        self.stop_requested = False
        self._first_step, self._first_elapsed = run.step, run.clock.elapsed
        if is_main():
            self._forget_lines_after(run.step)
        self.bar = tqdm(total=total_steps, initial=run.step, desc=desc, mininterval=10, disable=not is_main())
        if threading.current_thread() is threading.main_thread():  # given back by models.train.__main__
            for number in STOP_SIGNALS:
                signal.signal(number, self._stop)

    def _stop(self, number: int, frame) -> None:
        if self.stop_requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop_requested = True
        log.info("%s received: stopping to save and export", signal.Signals(number).name)

    def _forget_lines_after(self, step: int) -> None:
        """A resumed run repeats the steps after its checkpoint: their old lines go, so the curves do not fold."""
        if not self.stats_path.is_file():
            return
        lines = [line for line in self.stats_path.read_text().splitlines() if _line_step(line) <= step]
        write_atomically(self.stats_path, "".join(line + "\n" for line in lines).encode())

    def running(self, step: int) -> bool:
        """Whether to take another step: no stop asked for, steps and minutes left. Under torchrun the ranks
        vote every STOP_VOTE_EVERY steps (a vote waits for the GPU), so a stop comes a few steps later."""
        if step >= self.total_steps:
            return False  # the same step on every rank
        stop = self.stop_requested or (self.minutes is not None and self.run.clock.elapsed >= self.minutes * 60)
        if world_size() > 1 and step % STOP_VOTE_EVERY:
            return True
        return not agree_to_stop(stop)

    def update(self, step: int, **values) -> None:
        """After each step: advance the bar, and every `log_every` steps `log` the values (tensors or numbers,
        read only then, so a GPU is not synchronised every step)."""
        self.bar.update(step - self.bar.n)
        if step % self.log_every == 0:
            self.log(step, **values)

    def eta(self, step: int) -> float | None:
        """Seconds left at this session's pace (also bounded by `minutes`), None before a step is timed."""
        elapsed = self.run.clock.elapsed
        budget = None if self.minutes is None else max(0.0, self.minutes * 60 - elapsed)
        if step <= self._first_step:
            return budget
        pace = (elapsed - self._first_elapsed) / (step - self._first_step)
        left = max(0, self.total_steps - step) * pace
        return left if budget is None else min(left, budget)

    def log(self, step: int, **values) -> dict:
        """Append one stats line for `step` and log it (rank 0 alone); returns the line's record."""
        eta = self.eta(step)
        record = {"step": step, "total_steps": self.total_steps, "elapsed_s": round(self.run.clock.elapsed, 2),
                  "eta_s": None if eta is None else round(eta, 1), **{k: _plain(v) for k, v in values.items()}}
        if not is_main():
            return record
        with open(self.stats_path, "a") as file:
            file.write(json.dumps(record) + "\n")
        numbers = ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                            if k not in ("step", "total_steps", "elapsed_s", "eta_s") and isinstance(v, float))
        log.info("step %d/%d, %.0f s%s", step, self.total_steps, record["elapsed_s"], f": {numbers}" if numbers else "")
        return record

    def samples_due(self, step: int) -> bool:
        return bool(self.sample_every) and step % self.sample_every == 0 and is_main()

    def samples(self, images: torch.Tensor, columns: int | None = None) -> Path:
        """Write images [N, 3, H, W] in [-1, 1] as one grid to RUN_DIR/samples.png, atomically (rank 0 alone)."""
        if not is_main():
            return self.run.run_dir / SAMPLES_FILE
        grid = image_grid(images, columns)
        buffer = io.BytesIO()
        Image.fromarray(grid).save(buffer, format="PNG")
        return write_atomically(self.run.run_dir / SAMPLES_FILE, buffer.getvalue())

    def close(self) -> None:
        """Close the bar. The signal handlers stay until the trainer returns (models.train.__main__ gives them
        back): a second Stop during the last save and the export must not cut them short."""
        self.bar.close()


def _line_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf  # a torn or foreign line: dropped


def _plain(value):
    """A stats value as JSON: tensors and numpy numbers become Python numbers."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def image_grid(images: torch.Tensor, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] -> one RGB uint8 grid [rows * (H + gap) - gap, ..., 3] on white."""
    images = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    n, _, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        y, x = (i // columns) * (h + gap), (i % columns) * (w + gap)
        grid[y : y + h, x : x + w] = image
    return grid


def data_summary(folder: Path, classes: list[str], labels: np.ndarray | list[int]) -> dict:
    """What a run trained on, for its model card: {"folder", "images", "per_class": {class: images}}."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=max(len(classes), 1))
    names = classes or ["(one kind, no classes)"]
    return {"folder": Path(folder).name, "images": int(counts.sum()),
            "per_class": {name: int(counts[i]) for i, name in enumerate(names)}}


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
        **({"processes": world_size()} if world_size() > 1 else {}),  # each with batch_size: the global batch
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
    data: dict | None = None,
) -> Path:
    """Write weights.safetensors (+ extra tensor files), the registry entry model.json and the model card
    README.md. `data` is a `data_summary`. They are written to a hidden folder beside `out_dir` and swapped in
    whole, so a model folder is never half old, half new (the registry skips hidden folders); a hand-written
    card already in `out_dir` is kept."""
    final_dir = out_dir
    out_dir = partial_name(final_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if (final_dir / CARD_FILE).is_file():
        shutil.copy2(final_dir / CARD_FILE, out_dir / CARD_FILE)

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
        "card": CARD_FILE,
        **({"data": data} if data else {}),
    }
    write_model_card(out_dir, entry)
    write_atomically(out_dir / "model.json", (json.dumps(entry, indent=2) + "\n").encode())
    swap_in_folder(out_dir, final_dir)
    log.info("exported %s to %s", model_id, final_dir)
    return final_dir


FAMILIES = {  # architecture -> what a person calls it, for model cards
    "studio-texgan-generator": "Colour texture GAN (the generator; StyleGAN-like, seamless)",
    "texgan-dcgan-generator": "Colour texture DCGAN baseline (the generator)",
    "studio-texvae": "Colour texture VAE",
    "studio-texture": "Texture classifier",
}


def write_model_card(out_dir: Path, entry: dict) -> Path | None:
    """Write README.md from a registry entry: data (folder, images per class), family, training settings,
    steps, wall time, hardware and metrics. A card without CARD_MARKER (written or edited by a person) is
    kept as it is."""
    path = out_dir / CARD_FILE
    if path.is_file() and not path.read_text(errors="replace").startswith(CARD_MARKER):
        log.info("kept the hand-written model card %s", path)
        return None
    training, metrics, data = entry["training"], entry["metrics"], entry.get("data") or {}
    lines = [CARD_MARKER, f"# {entry['id']}", "",
             f"{FAMILIES.get(entry['architecture'], entry['architecture'])}; task `{entry['task']}`, "
             f"architecture `{entry['architecture']}`, license {entry['license']}.", "", "## Data", "",
             entry["training_data"] or "(not recorded)", ""]
    if data:
        lines += [f"Folder `{data['folder']}`: {data['images']} images.", "", "| class | images |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in data["per_class"].items()] + [""]
    settings = {k: v for k, v in training.items() if k not in ("command", "commit", "hardware", "steps", "wall_time_s")}
    lines += ["## Training", "",
              f"- Steps: {training.get('steps', '?')}",
              f"- Wall time: {training.get('wall_time_s', '?')} s",
              f"- Hardware: {training.get('hardware', '?')}",
              f"- Command: `{training.get('command', '?')}` (commit {training.get('commit', '?')})"]
    lines += [f"- {name}: {value}" for name, value in settings.items()] + [""]
    lines += _metrics_section(metrics, list(entry["config"].get("class_names") or []))
    write_atomically(path, ("\n".join(lines) + "\n").encode())
    return path


def _metrics_section(metrics: dict, classes: list[str]) -> list[str]:
    if not metrics:
        return ["## Metrics", "", "None measured at export.", ""]
    lines = ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in metrics.items() if isinstance(v, int | float | str)]
    confusion = metrics.get("confusion")
    if confusion and classes and len(confusion) == len(classes):
        lines += ["", "Confusion matrix on the held-out images (rows: true class, columns: predicted):", "",
                  "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(str(n) for n in row) + " |"
                  for name, row in zip(classes, confusion, strict=True)]
    return lines + [""]
