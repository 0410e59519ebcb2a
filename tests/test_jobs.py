"""Uploads made into training folders (models.data.uploads) and training jobs as processes (models.jobs), with
fake trainers: small Python scripts that write stats.jsonl and an export the way the real trainers do."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models import jobs
from models.data import uploads
from models.data.photos import labelled_images

# --- uploads -------------------------------------------------------------------------------------------------


def png_bytes(width: int = 40, height: int = 30, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png() -> bytes:
    """A PNG whose header says 6000 x 6000 pixels (36 megapixels; its pixel data is a small picture's): refused
    from the header, never decoded."""
    data = bytearray(png_bytes(16, 16))
    ihdr = bytes(data[12:16]) + struct.pack(">II", 6000, 6000) + bytes(data[24:29])
    data[16:24] = ihdr[4:12]
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def make_zip(path: Path, entries: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, the studio refuses
def test_a_zip_with_class_folders_is_ingested_safely(tmp_path):
    source = make_zip(tmp_path / "My Set.zip", {
        "set/Cats!/a.png": png_bytes(seed=1),
        "set/Cats!/b.jpg": png_bytes(600, 400, seed=2),
        "set/dogs/c.png": png_bytes(seed=3),
        "set/dogs/fake.png": b"this is not a picture",
        "set/dogs/huge.png": huge_png(),
        "set/readme.txt": b"hello",
        "../evil.png": png_bytes(seed=4),
        "/abs.png": png_bytes(seed=5),
        "set/__MACOSX/._a.png": b"resource fork",
    }, symlinks=("set/dogs/link.png",))
    dataset = uploads.ingest([source], tmp_path / "data")

    assert dataset.root == tmp_path / "data" / "images"
    assert dataset.counts == {"cats": 2, "dogs": 1}
    assert sorted(p.relative_to(dataset.root).as_posix() for p in dataset.root.rglob("*") if p.is_file()) == [
        "cats/000001.png", "cats/000002.png", "dogs/000001.png"]
    with Image.open(dataset.root / "cats" / "000002.png") as picture:
        assert picture.mode == "RGB" and min(picture.size) == uploads.SHORT_SIDE
    reasons = dict(dataset.skipped)
    assert set(reasons) == {"fake.png", "huge.png", "readme.txt", "evil.png", "abs.png", "link.png"}
    assert "not an image" in reasons["fake.png"] and "megapixels" in reasons["huge.png"]
    assert "'..'" in reasons["evil.png"] and "absolute" in reasons["abs.png"] and "link" in reasons["link.png"]
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "data" / "evil.png").exists()
    entries, classes = labelled_images(dataset.root, "train1")
    assert classes == ["cats", "dogs"] and len(entries) == 3


def test_flat_zips_make_a_class_each_and_loose_images_one(tmp_path):
    flat = [make_zip(tmp_path / name, {f"{i}.png": png_bytes(seed=i) for i in range(2)})
            for name in ("Brick Wall.zip", "日本.zip", "brick wall!.zip", "images.zip")]
    loose = tmp_path / "photo.png"
    loose.write_bytes(png_bytes())
    dataset = uploads.ingest([*flat, loose], tmp_path / "data")
    # distinct upload names stay distinct classes, the loose pictures' class included
    assert dataset.counts == {"brick-wall": 2, "brick-wall-2": 2, "class": 2, "images": 1, "images-2": 2}


def test_a_zip_bomb_is_refused_before_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    monkeypatch.setattr(uploads, "_read_entry", lambda *_: pytest.fail("an entry was extracted"))
    source = tmp_path / "bomb.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"x/{i}.png", bytes(700 * 1024))  # 2.1 MB unpacked, a few kB packed
    with pytest.raises(uploads.UploadError, match="unpacks to 2 MB"):
        uploads.ingest([source], tmp_path / "data")
    monkeypatch.setattr(uploads, "MAX_FILES", 2)
    with pytest.raises(uploads.UploadError, match="holds 3 images; the studio accepts up to 2"):
        uploads.ingest([source], tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_contact_sheet_and_warnings(tmp_path):
    source = make_zip(tmp_path / "up.zip", {"a/1.png": png_bytes(seed=1), "a/2.png": png_bytes(seed=2),
                                            "b/3.png": png_bytes(seed=3)})
    dataset = uploads.ingest([source], tmp_path / "data")
    sheet = dataset.contact_sheet()
    assert sheet.shape == (64, 3 * 64, 3) and sheet.dtype == np.uint8
    assert uploads.Dataset.read(dataset.root).counts == dataset.counts
    assert any("at least 32" in warning for warning in dataset.check("gan"))
    assert any("at least 5 images" in w and "a, b" in w for w in dataset.check("classifier"))
    assert any("smaller than 64 pixels" in warning for warning in dataset.check("vae", size=64))
    one_class = uploads.Dataset(dataset.root, {"a": 40})
    assert any("at least 2 classes" in warning for warning in one_class.check("classifier"))
    assert uploads.Dataset(dataset.root, {"a": 40}).check("gan") == []


# --- jobs ----------------------------------------------------------------------------------------------------

# A fake trainer: each step is 0.5 s of its (simulated) clock and 0.01 s of real time; the clock and steps
# carry over a resume through stats.jsonl, as the real ones do through checkpoint.pt; SIGTERM and the end of
# the budget both export.
FAKE_TRAINER = r"""
import argparse, json, signal, time
from pathlib import Path
parser = argparse.ArgumentParser()
for name in ("--run-dir", "--export", "--model-id", "--minutes", "--data", "--patch", "--sample-every"):
    parser.add_argument(name)
args, _ = parser.parse_known_args()
run = Path(args.run_dir)
stats = run / "stats.jsonl"
lines = stats.read_text().splitlines() if stats.exists() else []
step = json.loads(lines[-1])["step"] if lines else 0
budget = float(args.minutes) * 60
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
print("fake trainer starts at step", step, flush=True)
while not stopping and step * 0.5 < budget:
    step += 1
    with open(stats, "a") as file:
        file.write(json.dumps({"step": step, "total_steps": int(budget / 0.5), "elapsed_s": step * 0.5,
                               "eta_s": budget - step * 0.5, "d_loss": 1 / step}) + "\n")
    (run / "samples.png").write_bytes(b"png")
    time.sleep(0.01)
Path(args.export).mkdir(parents=True, exist_ok=True)
(Path(args.export) / "model.json").write_text(json.dumps({"id": args.model_id}))
print("exported", args.model_id, flush=True)
"""


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setitem(jobs.TRAINERS, "gan", ["-c", FAKE_TRAINER])
    monkeypatch.setitem(jobs.TRAINERS, "vae", ["-c", "import sys; print('loading'); "
                                                     "raise RuntimeError('the fake trainer ran out of memory')"])
    data = tmp_path / "upload"
    (data / "images" / "a").mkdir(parents=True)
    yield data, tmp_path / "jobs", tmp_path / "models"
    for job in jobs.jobs(tmp_path / "jobs"):  # leave no process behind
        jobs.stop(job.id, tmp_path / "jobs", wait_s=5)


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail("timed out")


def test_start_stop_resume_finish(roots):
    data, jobs_root, models_dir = roots
    job = jobs.start(data, "gan", 32, 10, jobs_root, models_dir)
    assert job.status == "running" and job.model_id.startswith("user-gan-") and not job.exported
    record = json.loads((jobs_root / job.id / "job.json").read_text())
    assert record["argv"][2:] == ["--data", str((data / "images").resolve()), "--run-dir",
                                  str(jobs_root.resolve() / job.id / "run"), "--export",
                                  str(models_dir.resolve() / job.model_id), "--model-id", job.model_id,
                                  "--checkpoint-minutes", "1", "--threads", record["argv"][-7],
                                  "--minutes", "10", "--patch", "32", "--sample-every", str(jobs.SAMPLE_EVERY)]
    running = wait_for(lambda: (j := jobs.status(job.id, jobs_root)).step >= 5 and j)
    assert running.status == "running" and running.total_steps == 1200 and 0 < running.fraction < 1
    assert running.losses[-1]["d_loss"] > 0 and running.samples.is_file() and "fake trainer" in running.log_tail
    assert jobs.running_job(jobs_root).id == job.id

    with pytest.raises(jobs.JobError, match="already running"):
        jobs.start(data, "gan", 32, 1, jobs_root, models_dir)

    stopped = jobs.stop(job.id, jobs_root, wait_s=10)
    assert stopped.status == "stopped" and stopped.exported and stopped.eta_s is None
    assert jobs.running_job(jobs_root) is None

    resumed = jobs.resume(job.id, jobs_root, extra_minutes=0.1)
    assert resumed.status == "running"
    finished = wait_for(lambda: (j := jobs.status(job.id, jobs_root)).status != "running" and j)
    assert finished.status == "finished" and finished.fraction == 1.0 and finished.error is None
    assert abs(finished.step - (stopped.elapsed_s + 6) / 0.5) <= 1  # continued from the stop, 6 s more
    assert "starts at step 0" in finished.log_tail and f"starts at step {stopped.step}" in finished.log_tail
    assert [j.id for j in jobs.jobs(jobs_root)] == [job.id]


def test_a_run_that_is_not_running_is_deleted_whole_and_its_model_kept(roots):
    data, jobs_root, models_dir = roots
    job = jobs.start(data, "gan", 32, 10, jobs_root, models_dir)
    with pytest.raises(jobs.JobError, match="stop it before deleting"):
        jobs.delete(job.id, jobs_root)
    wait_for(lambda: jobs.status(job.id, jobs_root).step >= 3)  # its SIGTERM handler (the export) is in place
    assert jobs.stop(job.id, jobs_root, wait_s=10).status == "stopped"

    jobs.delete(job.id, jobs_root)
    assert not (jobs_root / job.id).exists() and not list(jobs_root.glob(".deleted-*"))
    assert (models_dir / job.model_id / "model.json").is_file()  # the model it made stays
    assert jobs.jobs(jobs_root) == []
    with pytest.raises(jobs.JobError, match="no training job"):
        jobs.resume(job.id, jobs_root, extra_minutes=1)
    with pytest.raises(jobs.JobError, match="no training job"):
        jobs.delete(job.id, jobs_root)
    for job_id in ("../jobs", f"{job.id}/../..", "", None):
        with pytest.raises(jobs.JobError, match="not a training job id"):
            jobs.delete(job_id, jobs_root)
    assert jobs_root.is_dir() and data.is_dir()


def test_options_and_job_ids_are_checked(roots):
    data, jobs_root, models_dir = roots
    with pytest.raises(jobs.JobError, match="must be 32 or 64"):
        jobs.start(data, "gan", 128 if 128 not in jobs.allowed_sizes() else 48, 1, jobs_root, models_dir)
    for minutes in (0, -1, float("nan"), 10**6):
        with pytest.raises(jobs.JobError, match="between"):
            jobs.start(data, "gan", 32, minutes, jobs_root, models_dir)
    with pytest.raises(jobs.JobError, match="Unknown model family"):
        jobs.start(data, "diffusion", 32, 1, jobs_root, models_dir)
    unknown = "gan-20261130-231500-abcdef0123456789"
    for job_id in ("../etc", f"{unknown}/../../x", None, unknown, f"{unknown}\n"):
        with pytest.raises(jobs.JobError, match="not a training job id|no training job"):
            jobs.status(job_id, jobs_root)
        with pytest.raises(jobs.JobError):
            jobs.stop(job_id, jobs_root)


def test_a_failed_trainer_gives_its_error(roots):
    data, jobs_root, models_dir = roots
    job = jobs.start(data, "vae", 64, 1, jobs_root, models_dir)
    failed = wait_for(lambda: (j := jobs.status(job.id, jobs_root)).status != "running" and j)
    assert failed.status == "failed" and not failed.exported
    assert failed.error == "The training stopped with an error: RuntimeError: the fake trainer ran out of memory"
    assert json.loads((jobs_root / job.id / "job.json").read_text())["exit_code"] == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_job(jobs_root: Path, models_dir: Path, job_id: str, **fields) -> Path:
    folder = jobs_root / job_id
    (folder / "run").mkdir(parents=True)
    record = {"id": job_id, "family": "gan", "dataset": "/nowhere", "size": 32, "minutes": 1.0,
              "model_id": f"user-{job_id}", "models_dir": str(models_dir), "argv": ["-c", "pass", "--minutes", "1"],
              "status": "running", "pid": dead_pid(), "exit_code": None, "stop_requested": False,
              "created": "2026-11-30T23:15:00", "started": "2026-11-30T23:15:01", "ended": None, "error": None}
    (folder / "job.json").write_text(json.dumps({**record, **fields}))
    return folder


def test_status_after_a_restart_is_read_from_files(tmp_path):
    jobs_root, models_dir = tmp_path / "jobs", tmp_path / "models"
    done = write_job(jobs_root, models_dir, "gan-20261130-231500-0000000000000001")
    (done / "run" / "stats.jsonl").write_text(json.dumps({"step": 120, "total_steps": 120, "elapsed_s": 60.2,
                                                          "eta_s": 0}) + "\n{\"step\": 12")  # a line half-written
    (models_dir / "user-gan-20261130-231500-0000000000000001").mkdir(parents=True)
    (models_dir / "user-gan-20261130-231500-0000000000000001" / "model.json").write_text("{}")
    write_job(jobs_root, models_dir, "gan-20261130-231500-0000000000000002")
    broken = write_job(jobs_root, models_dir, "gan-20261130-231500-0000000000000003")
    (broken / "log.txt").write_text("Traceback (most recent call last):\n  ...\nValueError: bad picture\r\n")

    # a process that is alive and names the job's run folder is running, whoever started it
    live_folder = write_job(jobs_root, models_dir, "gan-20261130-231500-0000000000000004")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(live_folder / "run")])
    try:
        record = json.loads((live_folder / "job.json").read_text())
        (live_folder / "job.json").write_text(json.dumps({**record, "pid": live.pid}))
        assert jobs.status("gan-20261130-231500-0000000000000004", jobs_root).status == "running"
        stopped = jobs.stop("gan-20261130-231500-0000000000000004", jobs_root, wait_s=5)
        assert stopped.status == "stopped" and stopped.stop_requested
    finally:
        live.kill()
        live.wait()

    statuses = {job.id[-1]: (job.status, job.error) for job in jobs.jobs(jobs_root)}
    assert statuses == {"1": ("finished", None), "2": ("stopped", None), "4": ("stopped", None),
                        "3": ("failed", "The training stopped with an error: ValueError: bad picture")}
    assert json.loads((done / "job.json").read_text())["status"] == "finished"  # the verdict is saved


def test_a_classifier_job_trains_its_steps_without_a_time_budget(roots, monkeypatch):
    data, jobs_root, models_dir = roots
    monkeypatch.setitem(jobs.TRAINERS, "classifier", ["-c", FAKE_TRAINER.replace(
        "budget = float(args.minutes) * 60", "budget = 5.0")])
    job = jobs.start(data, "classifier", 0, 0, jobs_root, models_dir)
    argv = json.loads((jobs_root / job.id / "job.json").read_text())["argv"]
    assert not {"--minutes", "--patch", "--sample-every"} & set(argv) and job.size is None and job.minutes is None
    finished = wait_for(lambda: (j := jobs.status(job.id, jobs_root)).status != "running" and j)
    assert finished.status == "finished" and finished.step == 10 and finished.exported


def test_uploads_no_job_used_are_removed_after_a_day_and_used_ones_kept(tmp_path):
    jobs_root = tmp_path / "jobs"
    used, unused, fresh = (jobs_root / "datasets" / name for name in ("used", "unused", "fresh"))
    for folder in (used, unused, fresh):
        (folder / "images" / "a").mkdir(parents=True)
    (jobs_root / "gan-1").mkdir()
    (jobs_root / "gan-1" / "job.json").write_text(json.dumps({"dataset": str(used / "images")}))
    old = time.time() - jobs.UNUSED_DATASET_AGE_S - 60
    for folder in (used, unused):
        os.utime(folder, (old, old))
    assert jobs.remove_unused_datasets(jobs_root) == 1
    assert used.exists() and fresh.exists() and not unused.exists()

    # a deletion cut short between its rename and its removal: the leftover goes, and its upload is not "used"
    (jobs_root / ".deleted-gan-2").mkdir()
    (jobs_root / ".deleted-gan-2" / "job.json").write_text(json.dumps({"dataset": str(unused / "images")}))
    (unused / "images").mkdir(parents=True)
    os.utime(unused, (old, old))
    # an upload that vanishes while the sweep looks at it (another studio sweeping the same folder)
    (jobs_root / "datasets" / "vanished").symlink_to(tmp_path / "nowhere")
    assert jobs.remove_unused_datasets(jobs_root) == 1
    assert not unused.exists() and not (jobs_root / ".deleted-gan-2").exists() and used.exists()


def deleting_after(step, folder: Path):
    """`step`, after which `folder` is deleted, as another studio sharing the jobs folder might at that moment."""
    def wrapped(*args):
        result = step(*args)
        shutil.rmtree(folder)
        return result

    return wrapped


def test_a_job_deleted_by_another_studio_meanwhile_is_gone_not_a_traceback_nor_a_ghost(tmp_path, monkeypatch):
    jobs_root, models_dir = tmp_path / "jobs", tmp_path / "models"
    job_id = "gan-20261130-231500-0000000000000001"
    folder = write_job(jobs_root, models_dir, job_id)  # "running", its process gone: a status judges it
    monkeypatch.setattr(jobs, "_job_folder", deleting_after(jobs._job_folder, folder))  # deleted after the check
    with pytest.raises(jobs.JobError, match="no training job"):
        jobs.status(job_id, jobs_root)
    with pytest.raises(jobs.JobError, match="no training job"):
        jobs.stop(job_id, jobs_root)
    monkeypatch.undo()

    folder = write_job(jobs_root, models_dir, job_id)
    monkeypatch.setattr(jobs, "_verdict", deleting_after(jobs._verdict, folder))  # deleted while judged
    with pytest.raises(jobs.JobError, match="no training job"):
        jobs.status(job_id, jobs_root)
    assert not folder.exists()  # its verdict was not written into a new folder


def test_a_local_folder_is_ingested_with_its_subfolders_as_classes_and_only_on_a_local_studio(tmp_path):
    from studio import files

    folder = tmp_path / "my textures"
    for name, count in (("Rough Stone", 3), ("wood", 2)):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            (folder / name / f"{i}.png").write_bytes(png_bytes(seed=i))
    (folder / "loose.png").write_bytes(png_bytes())
    (folder / ".hidden.png").write_bytes(png_bytes())
    (folder / "notes.txt").write_text("not a picture")
    (folder / "wood" / "link.png").symlink_to(folder / "loose.png")
    chosen = files.admitted_folder(str(folder), local=True)
    dataset = uploads.ingest([chosen], tmp_path / "dataset")
    assert dataset.counts == {"images": 1, "rough-stone": 3, "wood": 2}
    with pytest.raises(files.NotUploadedError):
        files.admitted_folder(str(folder), local=False)  # a public studio never opens the server's folders
    with pytest.raises(uploads.InvalidRequestError, match="does not exist"):
        files.admitted_folder(str(tmp_path / "nowhere"), local=True)


def test_an_upload_over_its_pixel_budget_keeps_the_pictures_within_it(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_TOTAL_PIXELS", 40 * 30 * 2 + 10)  # room for two 40x30 pictures
    pictures = []
    for i in range(3):
        pictures.append(tmp_path / f"{i}.png")
        pictures[-1].write_bytes(png_bytes(seed=i))
    dataset = uploads.ingest(pictures, tmp_path / "dataset")
    assert dataset.counts == {"images": 2}
    assert [reason for _, reason in dataset.skipped] == [
        f"The upload's pictures hold more than {uploads.MAX_TOTAL_PIXELS // 1_000_000} megapixels in all; the rest "
        "were left out."]
