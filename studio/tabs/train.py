"""Train: an artist's pictures (a zip or images; class subfolders make classes) become a colour GAN, a colour VAE
or a classifier on the texture network. Training runs in a process of its own (`models.jobs`); this tab starts,
watches (progress, losses, samples, log), stops, resumes and deletes it, and the finished model appears in every
tab that fits it."""

from __future__ import annotations

import html
import secrets
import time
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from models import jobs, registry
from models.data import uploads
from models.errors import InvalidRequestError
from studio import files, serving
from studio.images import upscale
from studio.ui import FilesInput, StudioImage, user_errors, whole_number

FAMILIES = {"gan": "GAN: makes new pictures like yours", "vae": "VAE: blends between your pictures",
            "classifier": "Classifier: names your classes (on the texture network, seconds)"}
POLL_S = 2.0  # how often the page asks how the job is doing
MINUTES_RANGE = (0.5, 120)
DEFAULT_MINUTES = 5
LOSS_POINTS = 400  # points of each loss curve shown at most
LOG_LINES = 8  # the log's last lines shown (the job's log.txt has them all)


class Places(NamedTuple):
    """Where training keeps its datasets and jobs, and where finished models go; `allowed` is False on a public
    studio (Spaces, --share, a network address) unless --allow-training was given; `local` is True only on a
    studio nobody else reaches, where a folder on this machine may be named."""

    jobs_root: Path
    models_dir: Path
    allowed: bool
    local: bool = False


class TrainParts(NamedTuple):
    """What the app wires across tabs: events after which the list of models may have changed."""

    models_changed: list


def refuse_unless_allowed(places: Places) -> None:
    if not places.allowed:
        raise InvalidRequestError("Training is off on this public studio (start it with --allow-training to "
                                  "turn it on).")


def dataset_summary(dataset: uploads.Dataset, family: str, size: int) -> str:
    """The counts per class, what was skipped and why, and warnings for the chosen family, for people."""
    counts = ", ".join(f"{name} {count}" for name, count in dataset.counts.items())
    lines = [f"**{sum(dataset.counts.values())} pictures** in {len(dataset.counts)} "
             f"{'class' if len(dataset.counts) == 1 else 'classes'}: {counts}."]
    if dataset.skipped:
        shown = "; ".join(f"{name}: {reason}" for name, reason in dataset.skipped[:10])
        more = f" (and {len(dataset.skipped) - 10} more)" if len(dataset.skipped) > 10 else ""
        lines.append(f"Skipped {len(dataset.skipped)}: {shown}{more}")
    lines += [f"⚠ {warning}" for warning in dataset.check(family, size)]
    return "  \n".join(lines)


def new_dataset_dir(places: Places) -> Path:
    """A dataset folder named by the studio (never by the upload)."""
    return places.jobs_root / "datasets" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def prepare(places: Places, paths: list[str | Path] | None, family: str, size: int):
    """An upload (or a local folder) became a dataset folder: its path (kept in the session), the summary and a
    contact sheet."""
    refuse_unless_allowed(places)
    if not paths:
        return None, "", None
    jobs.remove_unused_datasets(places.jobs_root)
    dataset = uploads.ingest([Path(p) for p in paths], new_dataset_dir(places))
    return str(dataset.root), dataset_summary(dataset, family, size), Image.fromarray(dataset.contact_sheet())


def start_job(places: Places, folder: Path, family: str, size: float, minutes: float) -> jobs.Job:
    """A training job on a prepared dataset folder, from UI or API values."""
    return jobs.start(folder, family, whole_number(size, "Picture size"), float(minutes), places.jobs_root,
                      places.models_dir)


def status_record(job: jobs.Job) -> dict:
    """A job's state for the API (and the page): plain values only."""
    last = {key: value for key, value in (job.losses[-1] if job.losses else {}).items()
            if isinstance(value, int | float | str)}
    return {"job_id": job.id, "family": job.family, "status": job.status, "step": job.step,
            "total_steps": job.total_steps, "fraction": round(job.fraction, 4), "elapsed_s": round(job.elapsed_s, 1),
            "eta_s": None if job.eta_s is None else round(job.eta_s, 1), "model_id": job.model_id,
            "exported": job.exported, "error": job.error, "last": last}


def progress_html(job: jobs.Job | None) -> str:
    if job is None:
        return '<p class="train-progress">No training yet.</p>'
    percent = round(100 * job.fraction)
    eta = f", about {format_seconds(job.eta_s)} left" if job.status == "running" and job.eta_s else ""
    state = {"running": "Training", "stopped": "Stopped", "finished": "Finished", "failed": "Failed"}[job.status]
    if job.status == "running" and job.stop_requested:
        state = "Stopping (saving a checkpoint and exporting the model)"
    made = f" The model <code>{job.model_id}</code> is ready in the tabs that fit it." if job.exported else ""
    error = f" {html.escape(job.error)}" if job.error else ""
    return (f'<p class="train-progress" role="status">{state}: step {job.step}, {percent}% of the run{eta}.'
            f"{made}{error}</p>{held_out_html(job)}"
            f'<progress max="100" value="{percent}" aria-label="Training progress">{percent}%</progress>')


def held_out_html(job: jobs.Job | None) -> str:
    """A finished classifier's held-out accuracy per class and its confusion matrix, as a table."""
    last = job.losses[-1] if job is not None and job.losses else {}
    classes, confusion = last.get("classes"), last.get("confusion")
    if job is None or job.family != "classifier" or not classes or not confusion:
        return ""
    recall = last.get("per_class_accuracy") or {}
    header = "".join(f'<th scope="col">{html.escape(str(name))}</th>' for name in classes)
    rows = "".join(
        f'<tr><th scope="row">{html.escape(str(name))}</th>' + "".join(f"<td>{count}</td>" for count in counts)
        + f"<td>{100 * float(recall.get(name, 0)):.0f}%</td></tr>"
        for name, counts in zip(classes, confusion, strict=False))
    accuracy = 100 * float(last.get("val_accuracy", 0))
    return (f"<p>Held out ({last.get('held_out_images', '?')} pictures): {accuracy:.0f}% right. Rows: the true "
            "class; columns: what the classifier said.</p>"
            f'<table class="train-confusion"><tr><th></th>{header}<th scope="col">right</th></tr>{rows}</table>')


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def loss_frame(job: jobs.Job | None) -> pd.DataFrame | None:
    """The job's losses (and held-out accuracy) as long-form rows for the line plot; None before the first (a plot
    first drawn with rows of other series would not draw these)."""
    rows = [{"step": record["step"], "series": key, "value": float(value)}
            for record in (job.losses[-LOSS_POINTS:] if job else [])
            for key, value in record.items()
            if key.startswith(("loss", "kl", "val_")) and isinstance(value, int | float)]
    return pd.DataFrame(rows) if rows else None


def samples_image(job: jobs.Job | None) -> Image.Image | None:
    """The trainer's latest sample grid, blown up by a whole number so small pictures stay crisp."""
    if job is None or job.samples is None:
        return None
    try:
        with Image.open(job.samples) as grid:
            pixels = np.asarray(grid.convert("RGB"))
    except FileNotFoundError:  # the run was deleted meanwhile (from another page)
        return None
    return upscale(pixels, max(1, 512 // max(pixels.shape[:2])))


MAX_OWN_JOBS = 20  # job ids a browser keeps (its newest)


def owned(places: Places, job_id: str | None, own: list[str] | None) -> bool:
    """Whether this page may see and act on a job: on a studio only this machine reaches, any; on a public one,
    only the jobs this browser started (whoever holds a job's id, which has 64 random bits, owns it)."""
    return bool(job_id) and (places.local or job_id in (own or []))


def existing_job(places: Places, job_id: str) -> jobs.Job | None:
    try:
        return jobs.status(job_id, places.jobs_root)
    except InvalidRequestError:  # its folder was removed meanwhile
        return None


def shown_job(places: Places, job_id: str | None, own: list[str] | None) -> jobs.Job | None:
    """The session's job, else this browser's newest (a reloaded page finds its job again); on a studio only this
    machine reaches, else the one running or the newest of all."""
    for candidate in [job_id, *reversed(own or [])]:
        if owned(places, candidate, own) and (job := existing_job(places, candidate)) is not None:
            return job
    if not places.local:
        return None
    every = jobs.jobs(places.jobs_root)  # newest first
    return next((job for job in every if job.status == "running"), every[0] if every else None)


def own_job(places: Places, job_id: str | None, own: list[str] | None) -> str:
    """A job id this page may stop, resume or delete; a sentence otherwise."""
    if not owned(places, job_id, own):
        raise InvalidRequestError("Start a training here first: this page has no job to stop, resume or delete.")
    return job_id


def view(job: jobs.Job | None, drawn: bool = False) -> tuple:
    """Job id, progress, losses, samples, log and which buttons work, for a job (or none); with `drawn`, the
    page already shows these losses and samples, and they are skipped rather than drawn again."""
    running = job is not None and job.status == "running"
    stoppable = running and not job.stop_requested
    resumable = job is not None and job.status == "stopped"
    deletable = job is not None and not running
    log_lines = "\n".join(job.log_tail.splitlines()[-LOG_LINES:]) if job else ""
    plot, samples = (gr.skip(), gr.skip()) if drawn else (loss_frame(job), samples_image(job))
    return (job.id if job else None, progress_html(job), plot, samples, log_lines,
            gr.Button(interactive=not running), gr.Button(interactive=stoppable), gr.Button(interactive=resumable),
            gr.Button(interactive=deletable))


def drawn_signature(job: jobs.Job | None) -> list | None:
    """What the loss plot and the sample grid were drawn from: the job, its sample file's version and its last
    loss record. A poll re-sends them only when this changes."""
    if job is None:
        return None
    try:
        samples = Path(job.samples).stat().st_mtime_ns if job.samples else None
    except OSError:
        samples = None
    return [job.id, samples, job.losses[-1].get("step") if job.losses else None, len(job.losses)]


def polled_view(job: jobs.Job | None, drawn: list | None) -> tuple:
    """`view`, with the loss plot and the sample grid skipped where `drawn` (this page's last signature) says the
    page already shows them; and the new signature."""
    signature = drawn_signature(job)
    return (*view(job, drawn=signature is not None and signature == drawn), signature)


def user_model_choices(places: Places, own: list[str] | None) -> list[str]:
    """The trained models this page may list and delete: all of them on a studio only this machine reaches, on
    a public one those of this browser's jobs."""
    ids = {c.id for c in registry.checkpoints() if c.user}
    if not places.local:
        ids &= {jobs.model_id_of(job_id, places.jobs_root) for job_id in own or []}
    return sorted(ids)


def refreshed_user_models(places: Places, chosen: str | None, listed: list[str], own: list[str] | None):
    """The "Your models" list, only where it changed (a poll must not disturb an open list); a chosen model that
    has gone is unchosen."""
    ids = user_model_choices(places, own)
    if ids == listed:
        return gr.skip(), gr.skip()
    return gr.Dropdown(choices=ids, value=chosen if chosen in ids else None), ids


CONFIRM_DELETE = ("(model, own) => [model ? (confirm(`Delete the model ${model}? It cannot be brought back.`) "
                  "? model : '') : null, own]")
# gr.State never reaches the page, so the answer travels in a hidden checkbox and the job id stays on the server
CONFIRM_DELETE_RUN = ("(_, current, own) => [confirm('Delete this training run: its checkpoint, samples and log? "
                      "It can no longer be resumed. The model it made stays in Your models.'), current, own]")


def build(places: Places) -> TrainParts:
    gr.Markdown("Train a small model on your own pictures: a zip (class subfolders make classes, or one zip per "
                f"class) or pictures, each file up to {serving.MAX_UPLOAD_MB} MB. Training runs on this computer "
                "in a process of its own: you can close the page and come back. The finished model appears in the "
                "Latent sampling, Class-conditional, VAE or Texture tab.")
    if not places.allowed:
        gr.Markdown("**Training is off on this public studio.** Whoever runs it can turn it on with "
                    "`--allow-training`.")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            upload = FilesInput(label="Your pictures: zip files or images", file_count="multiple",
                                file_types=[".zip", ".png", ".jpg", ".jpeg", ".webp"], type="filepath",
                                height=140, interactive=places.allowed)
            with gr.Row(visible=places.local and places.allowed):
                folder = gr.Textbox(label="Or a folder on this computer", placeholder="/home/me/textures",
                                    info="Its subfolders are the classes. Only on a studio nobody else reaches.",
                                    scale=3)
                use_folder = gr.Button("Use folder", scale=1)
            family = gr.Radio([(label, key) for key, label in FAMILIES.items()], value="gan", label="What to train")
            size = gr.Radio(list(jobs.allowed_sizes()), value=32, label="Picture size (pixels a side; GAN and VAE)")
            minutes = gr.Slider(*MINUTES_RANGE, value=DEFAULT_MINUTES, step=0.5, label="Minutes to train",
                                info="A GAN shows shapes after a few minutes and keeps improving for hours. "
                                     "Resume adds this many minutes.")
            with gr.Row():
                start = gr.Button("Start training", variant="primary", interactive=places.allowed)
                stop = gr.Button("Stop", variant="stop", interactive=False)
                resume = gr.Button("Resume", interactive=False)
                delete_run = gr.Button("Delete run", interactive=False)
            summary = gr.Markdown()
            sheet = StudioImage(label="A sample of your pictures", type="pil", format="png", interactive=False,
                                height=220, alt_text="Thumbnails of the uploaded pictures")
        with gr.Column(scale=2, min_width=320, elem_id="train-result", elem_classes="result-column"):
            progress = gr.HTML(progress_html(None))
            plot = gr.LinePlot(None, x="step", y="value", color="series", label="Losses",
                               height=260)
            samples = StudioImage(label="Samples from the model so far", type="pil", format="png",
                                  interactive=False, elem_classes=["crisp", "whole-pixels"], height=360)
            log_text = gr.Textbox(label="Log (its last lines)", lines=LOG_LINES, max_lines=LOG_LINES, interactive=False)
            with gr.Row():
                models = gr.Dropdown(user_model_choices(places, []) if places.local else [], value=None,
                                     label="Your models", scale=3)
                delete = gr.Button("Delete model", variant="stop", scale=1)
    dataset = gr.State(None)  # the dataset folder of the upload (made by the studio)
    job_id = gr.State(None)
    own_jobs = gr.BrowserState([], storage_key="studio-training-jobs")  # the jobs this browser started
    drawn = gr.State(None)  # drawn_signature of the plot and samples this page shows
    timer = gr.Timer(POLL_S, active=places.allowed)
    delete_run_confirmed = gr.Checkbox(False, visible=False)
    shown = [job_id, progress, plot, samples, log_text, start, stop, resume, delete_run]

    @user_errors
    def on_upload(paths, family_value, size_value):
        return prepare(places, paths, family_value, whole_number(size_value, "Picture size"))

    @user_errors
    def on_folder(path, family_value, size_value, request: gr.Request):
        chosen = files.admitted_folder(path, places.local and serving.from_this_machine(request))
        return prepare(places, [chosen], family_value, whole_number(size_value, "Picture size"))

    @user_errors
    def on_start(folder, family_value, size_value, minutes_value, own):
        refuse_unless_allowed(places)
        if folder is None:
            raise InvalidRequestError("Upload your pictures first.")
        job = start_job(places, Path(folder), family_value, size_value, minutes_value)
        return (*view(job), [*(own or []), job.id][-MAX_OWN_JOBS:])

    @user_errors
    def on_poll(current, own, drawn_before):
        job = shown_job(places, current, own)
        if (job is not None and job.exported and not registry.has(job.model_id)
                and job.model_id not in registry.skipped_user_models()):
            registry.refresh()  # a model the job just exported: every fitting tab lists it now
        return polled_view(job, drawn_before)

    @user_errors
    def on_stop(current, own):
        refuse_unless_allowed(places)
        return view(jobs.stop(own_job(places, current, own), places.jobs_root))

    @user_errors
    def on_resume(current, minutes_value, own):
        refuse_unless_allowed(places)
        return view(jobs.resume(own_job(places, current, own), places.jobs_root, float(minutes_value)))

    @user_errors
    def on_delete_run(confirmed, current, own):
        refuse_unless_allowed(places)
        if not confirmed:
            return (*[gr.skip()] * len(shown), gr.skip())  # the person answered No
        deleted = own_job(places, current, own)
        jobs.delete(deleted, places.jobs_root)
        gr.Info("Deleted the training run. Any model it made stays in Your models.")
        remaining = [job for job in own or [] if job != deleted]
        return (*view(shown_job(places, None, remaining)), remaining)

    @user_errors
    def on_delete(model_id, own):
        refuse_unless_allowed(places)
        if model_id == "":
            return gr.skip()  # the person answered No to the page's "Delete ...?"
        if not model_id or model_id not in user_model_choices(places, own):
            raise InvalidRequestError("Choose one of your models first.")
        registry.delete_user_model(model_id)
        gr.Info(f"Deleted {model_id}.")
        return gr.Dropdown(choices=user_model_choices(places, own), value=None)

    upload.change(on_upload, [upload, family, size], [dataset, summary, sheet], api_visibility="private")
    gr.on([use_folder.click, folder.submit], on_folder, [folder, family, size], [dataset, summary, sheet],
          api_visibility="private")
    gr.on([family.change, size.change], lambda folder, family_value, size_value: gr.skip() if folder is None else
          dataset_summary(uploads.Dataset.read(Path(folder)), family_value, whole_number(size_value, "Picture size")),
          [dataset, family, size], summary, api_visibility="private")
    started = start.click(on_start, [dataset, family, size, minutes, own_jobs], [*shown, own_jobs],
                          api_visibility="private")
    polled = timer.tick(on_poll, [job_id, own_jobs, drawn], [*shown, drawn], api_visibility="private", queue=False,
                        show_progress="hidden")
    stopped = stop.click(on_stop, [job_id, own_jobs], shown, api_visibility="private")
    resumed = resume.click(on_resume, [job_id, minutes, own_jobs], shown, api_visibility="private")
    delete_run.click(on_delete_run, [delete_run_confirmed, job_id, own_jobs], [*shown, own_jobs],
                     api_visibility="private", js=CONFIRM_DELETE_RUN)
    deleted = delete.click(on_delete, [models, own_jobs], models, api_visibility="private", js=CONFIRM_DELETE)
    listed = gr.State([])  # what the "Your models" list shows: changed only when this does
    for event in (polled, started, deleted):
        event.success(lambda chosen, shown_ids, own: refreshed_user_models(places, chosen, shown_ids, own),
                      [models, listed, own_jobs], [models, listed], api_visibility="private", queue=False,
                      show_progress="hidden")
    api(places)
    return TrainParts(models_changed=[polled, deleted, started, stopped, resumed])


def api(places: Places) -> None:
    """/train_start, /train_status, /train_stop, /train_resume and /train_delete for scripts (gradio_client)."""

    @user_errors
    def train_start(paths: list[str] | None, family: str = "gan", size: float = 32,
                    minutes: float = DEFAULT_MINUTES) -> dict:
        """Pictures (zips or images) -> a training job of `family` ("gan", "vae" or "classifier")."""
        folder, _, _ = prepare(places, paths, family, whole_number(size, "Picture size"))
        if folder is None:
            raise InvalidRequestError("Send at least one zip or picture.")
        return status_record(start_job(places, Path(folder), family, size, minutes))

    @user_errors
    def train_status(job_id: str) -> dict:
        return status_record(jobs.status(job_id, places.jobs_root))

    @user_errors
    def train_stop(job_id: str) -> dict:
        refuse_unless_allowed(places)
        return status_record(jobs.stop(job_id, places.jobs_root))

    @user_errors
    def train_resume(job_id: str, minutes: float = DEFAULT_MINUTES) -> dict:
        refuse_unless_allowed(places)
        return status_record(jobs.resume(job_id, places.jobs_root, float(minutes)))

    @user_errors
    def train_delete(job_id: str) -> dict:
        refuse_unless_allowed(places)
        jobs.delete(job_id, places.jobs_root)
        return {"job_id": job_id, "deleted": True}

    files = FilesInput(file_count="multiple", type="filepath", visible=False)
    job = gr.Textbox(visible=False)
    more = gr.Number(DEFAULT_MINUTES, visible=False)
    answer = gr.JSON(visible=False)
    hidden = gr.Button(visible=False)
    hidden.click(train_start, [files, gr.Textbox("gan", visible=False), gr.Number(32, visible=False), more],
                 answer, api_name="train_start")
    hidden.click(train_status, job, answer, api_name="train_status", queue=False)
    hidden.click(train_stop, job, answer, api_name="train_stop")
    hidden.click(train_resume, [job, more], answer, api_name="train_resume")
    hidden.click(train_delete, job, answer, api_name="train_delete")
