"""Training jobs as processes, never request threads: started, observed through their files, stopped, resumed,
deleted.

A job is a folder `JOBS_ROOT/<job id>/`: `job.json` (what was asked, the command, the pid, the times, the
exit code once known), `run/` (the trainer's --run-dir: checkpoint.pt, stats.jsonl, samples.png) and
`log.txt` (the trainer's stdout and stderr). Status is read from those files and the pid's liveness only,
so a server restart loses nothing: a job marked running whose process is gone is then judged "finished",
"stopped" (resumable) or "failed" from its exit code, its log and its export. One job runs at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from models.errors import InvalidRequestError
from models.files import FileWriteError, write_atomically

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
# family -> the arguments after the Python interpreter that run its trainer (tests put fake trainers here)
TRAINERS: dict[str, list[str]] = {
    "gan": ["-m", "models.train", "texgan"],
    "vae": ["-m", "models.train", "texvae"],
    "classifier": ["-m", "models.train", "texture-head"],
}
GENERATIVE = ("gan", "vae")  # families with a --minutes budget, --patch pixels and sample grids (the
# classifier, texture-head, trains a fixed number of steps in seconds)
CPU_SIZES = (32, 64)
GPU_SIZES = (32, 64, 128)
MIN_MINUTES, MAX_MINUTES = 0.1, 12 * 60
CHECKPOINT_MINUTES = 1
RUN_MARKER = "--- "  # starts the log's header line of each run (a start or a resume)
SAMPLE_EVERY = 25  # steps between sample grids: the first shows within seconds on a CPU
LOSS_RECORDS = 500  # stats.jsonl records a status carries
LOG_LINES = 30
TAIL_BYTES = 256 * 1024
STOP_EXIT_CODES = (-signal.SIGTERM, 128 + signal.SIGTERM)
JOB_ID = re.compile(r"(gan|vae|classifier)-\d{8}-\d{6}-[0-9a-f]{16}")  # the random part: whoever holds the id owns it
JOB_FILE, RUN_DIR, LOG_FILE = "job.json", "run", "log.txt"
STATS_FILE, SAMPLES_FILE, MODEL_FILE = "stats.jsonl", "samples.png", "model.json"  # as models.train.common
CHECKPOINT_FILE = "checkpoint.pt"
DELETED_PREFIX = ".deleted-"  # a job folder being deleted (no job id starts with a dot)

_children: dict[str, subprocess.Popen] = {}  # the processes this server started, by job id
_lock = threading.Lock()  # job.json read-modify-write within this process


class JobError(InvalidRequestError):
    """A training request that cannot be carried out (bad options, another job running, unknown job)."""


NO_SUCH_JOB = "There is no training job with that id."


@dataclass
class Job:
    """What the Train tab shows of a job, read from its files."""

    id: str
    family: str
    status: str  # "running", "stopped", "finished" or "failed"
    model_id: str
    size: int | None = None
    minutes: float | None = None  # the time budget of the whole run (None: the classifier's fixed steps)
    step: int = 0
    total_steps: int | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    fraction: float = 0.0  # of the run done, 0..1
    losses: list[dict] = field(default_factory=list)  # the last LOSS_RECORDS stats.jsonl records
    samples: Path | None = None  # run/samples.png once the trainer wrote one
    log_tail: str = ""
    exported: bool = False  # MODELS_DIR/<model id>/model.json exists
    error: str | None = None  # a sentence, when failed
    stop_requested: bool = False  # Stop was pressed; "running" until the trainer has saved and exported
    created: str = ""
    started: str = ""


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def allowed_sizes() -> tuple[int, ...]:
    """Training patch sizes offered: 32 and 64 pixels on a CPU, 128 too when a GPU is present."""
    return GPU_SIZES if gpu_available() else CPU_SIZES


def start(dataset: Path, family: str, size: int, minutes: float, jobs_root: Path, models_dir: Path) -> Job:
    """Start training `family` on the folder `dataset` (a folder of class subfolders, or an ingested upload's
    folder) for `minutes` (the GAN and VAE; `size` too), exporting to `models_dir/<model id>`; JobError if the
    options are out of range or a job is already running."""
    if family not in TRAINERS:
        raise JobError(f"Unknown model family; choose one of {', '.join(TRAINERS)}.")
    sizes = allowed_sizes()
    if family in GENERATIVE and (isinstance(size, bool) or size not in sizes):
        raise JobError(f"The training size must be {' or '.join(map(str, sizes))} pixels"
                       + ("." if 128 in sizes else " (128 needs a GPU)."))
    timed = family in GENERATIVE
    if timed and (not isinstance(minutes, int | float) or not MIN_MINUTES <= minutes <= MAX_MINUTES):
        raise JobError(f"The training time must be between {MIN_MINUTES:g} and {MAX_MINUTES:g} minutes.")
    data = _data_folder(Path(dataset))
    jobs_root, models_dir = Path(jobs_root).resolve(), Path(models_dir).resolve()
    with _one_at_a_time(jobs_root):
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        job_id = f"{family}-{stamp}-{secrets.token_hex(8)}"
        model_id = _new_model_id(family, stamp, models_dir)
        folder = jobs_root / job_id
        (folder / RUN_DIR).mkdir(parents=True)
        argv = [*TRAINERS[family], "--data", str(data), "--run-dir", str(folder / RUN_DIR),
                "--export", str(models_dir / model_id), "--model-id", model_id,
                "--checkpoint-minutes", str(CHECKPOINT_MINUTES), "--threads", str(_threads())]
        if timed:
            argv += ["--minutes", f"{minutes:g}", "--patch", str(size), "--sample-every", str(SAMPLE_EVERY)]
        record = {"id": job_id, "family": family, "dataset": str(data), "size": size if timed else None,
                  "minutes": minutes if timed else None, "model_id": model_id, "models_dir": str(models_dir),
                  "argv": argv, "status": "running", "pid": None, "exit_code": None, "stop_requested": False,
                  "created": _now(), "started": None, "ended": None, "error": None}
        _launch(folder, record)
    log.info("started training job %s (%s, %s px, %g min)", job_id, family, size, minutes)
    return status(job_id, jobs_root)


def status(job_id: str, jobs_root: Path) -> Job:
    """The job as its files show it now (a job whose process has gone is judged and the verdict saved)."""
    folder = _job_folder(job_id, jobs_root)
    with _lock:
        record = _read_record(folder)
        if record["status"] == "running" and not _alive(folder, record):
            process = _children.get(record["id"])
            if process is not None and process.pid == record.get("pid") and record.get("exit_code") is None:
                record["exit_code"] = process.returncode  # the waiter thread may not have written it yet
            record.update(_verdict(folder, record))
            _write_record(folder, record)
    return _job(folder, record)


def stop(job_id: str, jobs_root: Path, wait_s: float = 0.0) -> Job:
    """Ask a running job's trainer to stop (SIGTERM: it saves a checkpoint and exports); wait up to `wait_s`
    seconds for it to end. A job that is not running is returned as it is."""
    folder = _job_folder(job_id, jobs_root)
    with _lock:
        record = _read_record(folder)
        if record["status"] == "running" and not record.get("stop_requested") and _alive(folder, record):
            record["stop_requested"] = True  # asked once: a second signal could cut the trainer's export short
            _write_record(folder, record)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record["pid"], signal.SIGTERM)  # the trainer only: it ends its workers
            log.info("asked training job %s to stop", job_id)
    deadline = time.monotonic() + wait_s
    job = status(job_id, jobs_root)
    while job.status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = status(job_id, jobs_root)
    return job


def resume(job_id: str, jobs_root: Path, extra_minutes: float) -> Job:
    """Run a job that is not running again with the same command and run folder (its trainer continues from
    the checkpoint) for `extra_minutes` more; JobError if it or another job is running."""
    if not isinstance(extra_minutes, int | float) or not MIN_MINUTES <= extra_minutes <= MAX_MINUTES:
        raise JobError(f"The extra training time must be between {MIN_MINUTES:g} and {MAX_MINUTES:g} minutes.")
    folder = _job_folder(job_id, jobs_root)
    jobs_root = folder.parent
    with _one_at_a_time(jobs_root):
        job = status(job_id, jobs_root)
        with _lock:
            record = _read_record(folder)
            # the trainers' clock counts the whole run across resumes, so the budget is the time spent + more
            argv, minutes = list(record["argv"]), record.get("minutes")
            if "--minutes" in argv:
                minutes = _time_spent(folder, job) / 60 + extra_minutes
                argv[argv.index("--minutes") + 1] = f"{minutes:g}"
            record.update(argv=argv, minutes=minutes, status="running", pid=None, exit_code=None,
                          stop_requested=False, ended=None, error=None, resumes=record.get("resumes", 0) + 1)
            _launch(folder, record)
    log.info("resumed training job %s for %g more minutes", job_id, extra_minutes)
    return status(job_id, jobs_root)


def delete(job_id: str, jobs_root: Path) -> None:
    """Remove a job that is not running: its checkpoint, samples, losses and log, so it can no longer be resumed.
    The model it exported stays (the registry deletes models), and its upload goes at a later upload's sweep once
    no job uses it and it is a day old (`remove_unused_datasets`). The folder is first renamed out of sight, so
    nobody sees half a job; JobError while it runs."""
    folder = _job_folder(job_id, jobs_root)
    jobs_root = folder.parent
    with _jobs_lock(jobs_root):
        if status(job_id, jobs_root).status == "running":
            raise JobError("This training is running; stop it before deleting it.")
        deleted = jobs_root / f"{DELETED_PREFIX}{job_id}"
        with _lock:
            if deleted.exists():  # an earlier deletion of it was cut short
                shutil.rmtree(deleted)
            folder.rename(deleted)
            _children.pop(job_id, None)
    shutil.rmtree(deleted, ignore_errors=True)
    if deleted.exists():
        log.warning("could not remove all of %s", deleted)
    log.info("deleted training job %s", job_id)


def jobs(jobs_root: Path) -> list[Job]:
    """Every job under `jobs_root`, newest first."""
    root = Path(jobs_root)
    folders = root.iterdir() if root.is_dir() else []
    ids = [p.name for p in folders if JOB_ID.fullmatch(p.name) and (p / JOB_FILE).is_file()]
    found = []
    for job_id in ids:
        try:
            found.append(status(job_id, root))
        except (JobError, OSError, ValueError, KeyError) as error:
            log.warning("unreadable job %s: %s", job_id, error)
    return sorted(found, key=lambda job: job.created, reverse=True)


def model_id_of(job_id: str, jobs_root: Path) -> str | None:
    """The id of the model a job exports (read from its job.json alone, without judging the job); None for a
    job that is not there."""
    try:
        return _read_record(_job_folder(job_id, jobs_root))["model_id"]
    except (JobError, OSError, ValueError, KeyError):
        return None


def running_job(jobs_root: Path) -> Job | None:
    """The job now running, if any."""
    return next((job for job in jobs(jobs_root) if job.status == "running"), None)


def _time_spent(folder: Path, job: Job) -> float:
    """Seconds the run has trained: its checkpoint's clock (saved at the stop, later than the last stats
    line), else the last stats line's."""
    spent = job.elapsed_s
    checkpoint = folder / RUN_DIR / CHECKPOINT_FILE
    if checkpoint.is_file():
        import torch

        try:
            spent = max(spent, float(torch.load(checkpoint, map_location="cpu", weights_only=True)["elapsed"]))
        except Exception as error:  # noqa: BLE001 - an unreadable checkpoint: the trainer will say so
            log.warning("could not read the clock of %s: %s", checkpoint, error)
    return spent


def _job_folder(job_id: object, jobs_root: Path) -> Path:
    """The folder of a job id from a request: checked for its form before any path is made, then for being
    a job under `jobs_root`."""
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise JobError("That is not a training job id.")
    folder = Path(jobs_root).resolve() / job_id
    if not (folder / JOB_FILE).is_file():
        raise JobError(NO_SUCH_JOB)
    return folder


def _data_folder(dataset: Path) -> Path:
    """The folder to give the trainer: an ingested upload's `images/` folder if given its parent."""
    if not dataset.is_dir():
        raise JobError("The training images were not found; please upload them again.")
    if (dataset / "images").is_dir() and not (dataset / "labels").is_dir():
        dataset = dataset / "images"
    return dataset.resolve()


def _new_model_id(family: str, stamp: str, models_dir: Path) -> str:
    """`user-<family>-<date>-<time>`, with -2, -3, ... if a model of that name exists: made by the studio."""
    base = f"user-{family}-{stamp}"
    model_id, n = base, 1
    while (models_dir / model_id).exists():
        n += 1
        model_id = f"{base}-{n}"
    return model_id


def _threads() -> int:
    """Torch threads for a trainer: all cores but one, which the server keeps."""
    return max(1, (os.cpu_count() or 2) - 1)


@contextlib.contextmanager
def _jobs_lock(jobs_root: Path):
    """Hold the jobs folder's lock (across processes too): starts, resumes and deletions take turns."""
    jobs_root.mkdir(parents=True, exist_ok=True)
    with open(jobs_root / ".lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextlib.contextmanager
def _one_at_a_time(jobs_root: Path):
    """Hold the jobs folder's lock and refuse if a job is running."""
    with _jobs_lock(jobs_root):
        if running_job(jobs_root) is not None:
            raise JobError("A training job is already running; stop it or wait for it to finish first.")
        yield


def _launch(folder: Path, record: dict) -> None:
    """Start the trainer in its own session, output appended to log.txt, and write job.json with its pid (only
    then, so no reader sees a running job without one); a waiter thread records its exit code when it ends
    (status does without it after a restart)."""
    with open(folder / LOG_FILE, "ab") as log_file:
        log_file.write(f"{RUN_MARKER}{_now()}: python {' '.join(record['argv'])}\n".encode())
        log_file.flush()
        try:
            process = subprocess.Popen([sys.executable, *record["argv"]], cwd=REPO_ROOT, stdout=log_file,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except OSError as error:
            record.update(status="failed", error=f"The trainer could not be started: {error.strerror or error}.")
            _write_record(folder, record)
            return
    _children[record["id"]] = process
    record.update(pid=process.pid, started=_now())
    _write_record(folder, record)
    threading.Thread(target=_wait, args=(folder, process), name=f"job-{record['id']}", daemon=True).start()


def _wait(folder: Path, process: subprocess.Popen) -> None:
    code = process.wait()
    with _lock, contextlib.suppress(JobError):  # a job deleted as it ended has nothing to record
        record = _read_record(folder)
        if record.get("pid") == process.pid:  # not a later run of the same job
            record.update(exit_code=code, ended=_now())
            if record["status"] == "running":
                record.update(_verdict(folder, record))
            _write_record(folder, record)


def _alive(folder: Path, record: dict) -> bool:
    """Whether the job's process runs: this server's child if it has one, otherwise its pid, if that process
    is not a zombie and its command line names the job's run folder (a pid reused after a restart is not)."""
    process = _children.get(record["id"])
    if process is not None and process.pid == record.get("pid"):
        return process.poll() is None
    pid = record.get("pid")
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no /proc: the pid's liveness is all there is
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and str(folder / RUN_DIR).encode() in command


def _verdict(folder: Path, record: dict) -> dict:
    """The final status of a job whose process has ended: failed (an error exit, or a traceback in the log
    when the exit code is unknown), finished (exported, its budget done), or stopped (resumable)."""
    code, log_text = record.get("exit_code"), _tail(folder / LOG_FILE).rsplit(RUN_MARKER, 1)[-1]  # this run's
    exported = (Path(record["models_dir"]) / record["model_id"] / MODEL_FILE).is_file()
    ended = {"ended": record.get("ended") or _now()}
    if code is not None and code < 0 and not record.get("stop_requested"):
        return {**ended, "status": "stopped", "error": f"The training process was killed (signal {-code}; often "
                                                       "the machine ran out of memory). Resume continues from "
                                                       "its last checkpoint."}
    if code in STOP_EXIT_CODES or (code is not None and code < 0):
        return {**ended, "status": "stopped"}
    if (code is not None and code > 0) or (code is None and "Traceback (most recent call last)" in log_text):
        return {**ended, "status": "failed", "error": _error_sentence(log_text, code)}
    if exported and not record.get("stop_requested") and (code == 0 or _budget_done(folder, record)):
        return {**ended, "status": "finished"}
    return {**ended, "status": "stopped"}


def _budget_done(folder: Path, record: dict) -> bool:
    stats = _stats(folder)
    if not stats:
        return False
    last = stats[-1]
    steps_done = last.get("total_steps") is not None and last.get("step", 0) >= last["total_steps"]
    minutes = record.get("minutes")
    return steps_done or (minutes is not None and last.get("elapsed_s", 0) >= minutes * 60 - CHECKPOINT_MINUTES * 60)


def _error_sentence(log_text: str, code: int | None) -> str:
    lines = [line.strip() for line in re.split(r"[\r\n]+", log_text) if line.strip()]
    last = lines[-1] if lines else f"exit code {code}"
    last = last if len(last) <= 300 else last[:299] + "…"
    return f"The training stopped with an error: {last}"


def _job(folder: Path, record: dict) -> Job:
    stats = _stats(folder)
    last = stats[-1] if stats else {}
    samples = folder / RUN_DIR / SAMPLES_FILE
    exported = (Path(record["models_dir"]) / record["model_id"] / MODEL_FILE).is_file()
    step, total = int(last.get("step", 0)), last.get("total_steps")
    elapsed = float(last.get("elapsed_s", 0.0))
    if record["status"] == "finished":
        fraction = 1.0
    else:
        by_steps = step / total if total else 0.0
        by_time = elapsed / (record["minutes"] * 60) if record.get("minutes") else 0.0
        fraction = min(1.0, max(by_steps, by_time))
    lines = [line for line in re.split(r"[\r\n]+", _tail(folder / LOG_FILE)) if line.strip()]
    return Job(
        id=record["id"], family=record["family"], status=record["status"], model_id=record["model_id"],
        size=record.get("size"), minutes=record.get("minutes"), step=step, total_steps=total, elapsed_s=elapsed,
        eta_s=last.get("eta_s") if record["status"] == "running" else None, fraction=fraction, losses=stats,
        samples=samples if samples.is_file() else None, log_tail="\n".join(lines[-LOG_LINES:]), exported=exported,
        error=record.get("error"), stop_requested=bool(record.get("stop_requested")), created=record["created"],
        started=record.get("started") or "",
    )


def _stats(folder: Path) -> list[dict]:
    """The last LOSS_RECORDS records of run/stats.jsonl (a line being written, or a damaged one, is left out)."""
    records = []
    for line in _tail(folder / RUN_DIR / STATS_FILE).splitlines()[-LOSS_RECORDS - 1:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records[-LOSS_RECORDS:]


def _tail(path: Path) -> str:
    """The last TAIL_BYTES of a text file ("" if there is none)."""
    try:
        with open(path, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_BYTES))
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _read_record(folder: Path) -> dict:
    try:
        return json.loads((folder / JOB_FILE).read_text())
    except FileNotFoundError:  # deleted since its id was checked
        raise JobError(NO_SUCH_JOB) from None


def _write_record(folder: Path, record: dict) -> None:
    """Write job.json, never making its folder: a job deleted meanwhile (from another studio sharing the jobs
    folder too) must not come back as a folder holding only its record."""
    try:
        write_atomically(folder / JOB_FILE, (json.dumps(record, indent=2) + "\n").encode(), make_folder=False)
    except FileWriteError:
        if not folder.is_dir():
            raise JobError(NO_SUCH_JOB) from None
        raise


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


UNUSED_DATASET_AGE_S = 24 * 3600  # an upload no job trained on is removed after this


def remove_unused_datasets(jobs_root: Path, max_age_s: float = UNUSED_DATASET_AGE_S) -> int:
    """Delete the uploads under `jobs_root/datasets` that no job trains on and that are older than `max_age_s`
    (an artist who uploaded and never started), and job folders whose deletion was cut short; returns how many
    uploads went. It holds the jobs lock, so a Start or Resume never loses its upload to it halfway."""
    jobs_root = Path(jobs_root)
    if not jobs_root.is_dir():
        return 0
    removed = 0
    with _jobs_lock(jobs_root):
        for leftover in jobs_root.glob(f"{DELETED_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        folder = jobs_root / "datasets"
        used = set()
        for record_path in jobs_root.glob("*/job.json"):
            if record_path.parent.name.startswith("."):
                continue  # a job being deleted
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                used.add(Path(json.loads(record_path.read_text())["dataset"]).resolve())
        for dataset in folder.iterdir() if folder.is_dir() else []:
            try:  # another studio sharing the folder may be sweeping it too
                resolved = dataset.resolve()
                if any(path == resolved or resolved in path.parents for path in used):
                    continue
                if time.time() - dataset.stat().st_mtime > max_age_s:
                    shutil.rmtree(dataset, ignore_errors=True)
                    removed += 1
            except OSError:
                continue
    if removed:
        log.info("removed %d uploads no job trained on", removed)
    return removed
