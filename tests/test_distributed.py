"""The texture GAN under torchrun: two processes on the gloo backend (CPU) train with DistributedDataParallel,
each on its own data; rank 0 alone writes the run's files and the export, which loads; a second run resumes;
SIGTERM to one process stops both with the model exported."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from models import registry
from models.loading import load

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pictures(two_class_pictures) -> Path:
    return two_class_pictures


def torchrun_command(pictures: Path, tmp_path: Path, steps: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "models.train", "texgan", "--data", str(pictures), "--patch", "32", "--photo-size", "40",
               "--width", "8", "--batch-size", "4", "--steps", str(steps), "--log-every", "2", "--sample-every", "2",
               "--run-dir", str(tmp_path / "run"), "--export", str(tmp_path / "model"), "--model-id", "ddp-texgan",
               "--device", "cpu", "--threads", "1", *options]


def torchrun(pictures: Path, tmp_path: Path, steps: int) -> list[dict]:
    """Run texgan as 2 processes for `steps` steps (the whole run); returns the records of --record-batches."""
    batches = tmp_path / f"batches-{steps}.jsonl"
    command = torchrun_command(pictures, tmp_path, steps, "--record-batches", str(batches))
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in batches.read_text().splitlines()]


def test_two_processes_train_on_different_data_and_rank_0_exports_a_model_that_loads(pictures, tmp_path):
    batches = torchrun(pictures, tmp_path, 4)
    assert sorted((b["rank"], b["step"]) for b in batches) == [(r, s) for r in (0, 1) for s in range(4)]
    first = {b["rank"]: b["sha256"] for b in batches if b["step"] == 0}
    assert first[0] != first[1]  # each rank drew its own patches

    run_dir = tmp_path / "run"
    assert [json.loads(line)["step"] for line in (run_dir / "stats.jsonl").read_text().splitlines()] == [2, 4]
    assert (run_dir / "samples.png").is_file()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"] == 4
    checkpoint = registry.read_checkpoint(tmp_path / "model")
    assert checkpoint.id == "ddp-texgan" and checkpoint.training["steps"] == 4
    assert checkpoint.training["processes"] == 2 and checkpoint.training["batch_size"] == 4
    G = load(checkpoint, "cpu")
    cells = 32 // G.cell + 1
    with torch.no_grad():
        image = G(torch.randn(1, G.config.z_local, cells, cells), torch.randn(1, G.config.z_global),
                  torch.tensor([0]), seamless=True)
    assert image.shape[:2] == (1, 3) and torch.isfinite(image).all()

    resumed = torchrun(pictures, tmp_path, 6)  # every rank resumes from rank 0's checkpoint at step 4
    assert sorted((b["rank"], b["step"]) for b in resumed) == [(r, s) for r in (0, 1) for s in (4, 5)]
    assert len({b["sha256"] for b in resumed if b["step"] == 4}) == 2
    assert registry.read_checkpoint(tmp_path / "model").training["steps"] == 6


def test_sigterm_to_one_process_stops_both_with_the_model_exported(pictures, tmp_path):
    process = subprocess.Popen(torchrun_command(pictures, tmp_path, 100000), cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    stats = tmp_path / "run" / "stats.jsonl"
    try:
        deadline = time.monotonic() + 90
        while not stats.is_file() or not stats.read_text().strip():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
            time.sleep(0.2)
        workers = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(workers) == 2
        os.kill(int(workers[-1]), signal.SIGTERM)  # the other worker hears of it through the stop vote
        assert process.wait(timeout=90) == 0, process.stderr.read()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers
    stopped = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"]
    assert 2 <= stopped < 100000 and registry.read_checkpoint(tmp_path / "model").training["steps"] == stopped
