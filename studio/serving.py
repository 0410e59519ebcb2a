"""Limits that keep a public studio (a share link, a Space) serving everyone: a bounded queue with a fair
share per client, sessions that expire, and working files that are cleaned up on a schedule.

Gradio keeps a copy of the whole page's configuration for every session (about 0.4 MB here) and every REST
call without a session makes a new one; its cache keeps every file it served until the server stops. These
are bounded here rather than left to its defaults (10,000 sessions, no cache cleaning).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import threading
import time
from collections.abc import Callable

import gradio as gr

from studio import files, outputs

log = logging.getLogger(__name__)

BUSY_MESSAGE = "The studio is busy: please try again in a moment."
MAX_UPLOAD_MB = 10  # an uploaded file, an image sent inline (data: URL) or an editor layer
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024  # as Gradio reads "10mb"
MAX_QUEUE = 64  # requests waiting, all clients together (running ones are not counted)
MAX_WAITING_PER_CLIENT = 16  # requests one client (an address) may have waiting: one full batch of /sample
SESSION_CAPACITY = 2000  # sessions kept in memory at most (Gradio drops the least recently used beyond)
API_SESSION_IDLE_S = 10  # a session that never loaded the page (a REST or API client) is dropped after this
BROWSER_SESSION_IDLE_S = 6 * 3600  # a page's session (its history) is dropped after this long unused
SWEEP_EVERY_S = 5
CANCEL_MEMORY_S = 3600  # a cancel request is forgotten after this (the longest work takes minutes)
CACHE_MINUTES_PUBLIC = 3  # Gradio's cached files unused this long are deleted, on a public server
CACHE_MINUTES_LOCAL = 60  # ... and on a studio on this machine only
WORK_FILES_MAX_AGE_S = {"downloads": 3600, "animations": 3600, "history": BROWSER_SESSION_IDLE_S}
CACHE_MAX_MB = 2000  # Gradio's cache beyond this loses its least recently used files first
WORK_FILES_MAX_MB = 1000  # ... and so does each kind of the app's working files


def client_key(request) -> str:
    """Who a request comes from: its address, or, behind a proxy on this machine or a private network (a
    share tunnel, a Space's proxy), the address that proxy added: the last of X-Forwarded-For (the ones
    before it are the client's own word)."""
    peer = request.client.host if request is not None and request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for") if request is not None else None
    if forwarded:
        try:
            behind_proxy = ipaddress.ip_address(peer).is_private or outputs.on_spaces()
        except ValueError:
            behind_proxy = False
        if behind_proxy:
            return forwarded.split(",")[-1].strip()
    return peer


def from_this_machine(request) -> bool:
    """Whether a request comes straight from this machine (a loopback address, through no proxy)."""
    peer = request.client.host if request is not None and request.client else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    return loopback and not request.headers.get("x-forwarded-for")


def limit_queue(demo: gr.Blocks) -> None:
    """Refuse a request with BUSY_MESSAGE when MAX_QUEUE requests wait, or when its client already has
    MAX_WAITING_PER_CLIENT waiting: one client cannot make everyone else wait behind it."""
    queue = demo._queue
    push = queue.push

    def waiting_of(client: str) -> int:
        return sum(client_key(event.request) == client
                   for event_queue in list(queue.event_queue_per_concurrency_id.values())
                   for event in list(event_queue.queue))

    async def fair_push(body, request, username):
        client = client_key(request)
        if len(queue) >= MAX_QUEUE or waiting_of(client) >= MAX_WAITING_PER_CLIENT:
            log.info("refused a request from %s: the queue is full", client)
            return False, BUSY_MESSAGE, "queue_full"
        return await push(body, request, username)

    queue.push = fair_push


_browser_sessions: set[str] = set()


def note_browser_session(request: gr.Request) -> None:
    """The page loaded in this session: keep its state (the history) longer than an API call's."""
    _browser_sessions.add(request.session_hash)


def drop_idle_sessions(demo: gr.Blocks, now: datetime.datetime | None = None) -> int:
    """Forget sessions unused for longer than their kind allows; returns how many were dropped."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    now = now or datetime.datetime.now()
    dropped = 0
    with holder.lock:
        for session, last_used in list(holder.time_last_used.items()):
            idle = (now - last_used).total_seconds()
            if idle > (BROWSER_SESSION_IDLE_S if session in _browser_sessions else API_SESSION_IDLE_S):
                holder.session_data.pop(session, None)
                holder.time_last_used.pop(session, None)
                dropped += 1
        _browser_sessions.intersection_update(holder.session_data)  # also those Gradio dropped beyond capacity
    return dropped


def remove_unused_cache_files(demo: gr.Blocks, cache_minutes: float) -> int:
    """Delete Gradio's cached files (uploads, results) unused for `cache_minutes`, but the page's own (the
    example galleries). Gradio's `delete_cache` is not used: the results of API calls are missing from the
    list of files it deletes (seen with Gradio 6.31: the cache grew without end)."""
    keep = set().union(*(getattr(block, "keep_in_cache", set()) for block in demo.blocks.values()))
    return files.remove_files(files.cache_dir(), cache_minutes * 60, CACHE_MAX_MB * 1_000_000, keep)


def housekeeping(demo: gr.Blocks, cache_minutes: float, forget_cancels: Callable[[float], None]) -> None:
    """One sweep: idle sessions, old cancel requests, unused cached files and the app's old working files."""
    sessions = drop_idle_sessions(demo)
    forget_cancels(time.monotonic() - CANCEL_MEMORY_S)
    cached = remove_unused_cache_files(demo, cache_minutes)
    removed = sum(files.remove_files(files.work_dir() / kind, age, WORK_FILES_MAX_MB * 1_000_000)
                  for kind, age in WORK_FILES_MAX_AGE_S.items())
    if sessions or cached or removed:
        log.info("housekeeping: dropped %d idle sessions, %d unused cached files and %d old working files",
                 sessions, cached, removed)


def start_housekeeping(demo: gr.Blocks, cache_minutes: float, forget_cancels: Callable[[float], None]) -> None:
    """Sweep every SWEEP_EVERY_S seconds in a daemon thread, until the server, once started, is closed."""

    def loop() -> None:
        served = False
        while not (served and not demo.is_running):
            time.sleep(SWEEP_EVERY_S)
            served = served or demo.is_running
            try:
                housekeeping(demo, cache_minutes, forget_cancels)
            except Exception:  # a failed sweep must not end the sweeping; the next one tries again
                log.exception("housekeeping failed")

    threading.Thread(target=loop, name="studio-housekeeping", daemon=True).start()
