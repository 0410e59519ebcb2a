"""Soak test: `python -m studio.soak [--clients 8] [--minutes 5] [--every 30]`.

Starts the studio in its own process as a public server runs it (`launch.py --host 0.0.0.0`-like limits,
served on 127.0.0.1, saving off, Gradio's cache in a fresh folder), then runs N clients that call the REST
API (`/gradio_api/call/<endpoint>`, so every call is a new session, as a script or an attacker makes them)
for M minutes, cycling through sampling, generation, classification, heatmaps, encoding and interpolation.
Every `--every` seconds it prints calls done, errors, the server's resident memory (RSS) and the size of
Gradio's cache folder; at the end, RSS after the first minute and at the end, and their ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx

from models.registry import ASSETS_DIR
from studio.serving import CACHE_MINUTES_PUBLIC

REPO = Path(__file__).resolve().parent.parent
PHOTO = ASSETS_DIR / "examples" / "dtd" / "cracked_0048.jpg"
GARMENT = sorted((ASSETS_DIR / "examples" / "fashion-mnist").glob("*.png"))[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_size(folder: Path) -> tuple[int, float]:
    """(files, MB) under `folder`."""
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(sizes), sum(sizes) / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the studio exited before it served")
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit("the studio did not start")


def call(http: httpx.Client, url: str, endpoint: str, data: list) -> bool:
    """One REST call to its end; True if it succeeded."""
    event = http.post(f"{url}gradio_api/call/{endpoint}", json={"data": data}).json()["event_id"]
    stream = http.get(f"{url}gradio_api/call/{endpoint}/{event}").text
    return "event: complete" in stream


def requests_of(http: httpx.Client, url: str) -> itertools.cycle:
    """The mix of calls one client cycles through (its uploads done once)."""
    def uploaded(path: Path) -> dict:
        with open(path, "rb") as file:
            server_path = http.post(f"{url}gradio_api/upload", files={"files": (path.name, file)}).json()[0]
        return {"path": server_path, "meta": {"_type": "gradio.FileData"}}

    photo, garment = uploaded(PHOTO), uploaded(GARMENT)
    seeds = itertools.count(int.from_bytes(os.urandom(2), "big") * 1000)
    return itertools.cycle([
        lambda: ("sample", ["fmnist-gan", next(seeds), 1, 1.0, *[0.0] * 10]),
        lambda: ("sample", ["fmnist-gan", next(seeds), 16, 0.8, *[0.5] * 10]),
        lambda: ("generate", ["fmnist-cgan", "Bag", 4, next(seeds), 1.0]),
        lambda: ("classify", ["dtd10-texture-ensemble", photo]),
        lambda: ("heatmap", ["dtd10-texture-ensemble", photo, "cracked"]),
        lambda: ("encode", ["fmnist-vae", garment]),
        lambda: ("interpolate", ["fmnist-vae", garment, photo, 8, "slerp", True]),
    ])


def client_loop(url: str, stop: threading.Event, counts: dict, lock: threading.Lock) -> None:
    with httpx.Client(timeout=120) as http:
        requests = requests_of(http, url)
        while not stop.is_set():
            endpoint, data = next(requests)()
            try:
                ok = call(http, url, endpoint, data)
            except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                ok = False
            with lock:
                counts["calls"] += 1
                counts["errors"] += not ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--every", type=float, default=30, help="seconds between reports")
    parser.add_argument("--cache-minutes", type=float, default=CACHE_MINUTES_PUBLIC,
                        help="the server's --cache-minutes (default: a public server's)")
    args = parser.parse_args(argv)

    cache = Path(tempfile.mkdtemp(prefix="studio-soak-cache-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "launch.py", "--port", str(port), "--no-outputs",
                               "--cache-minutes", str(args.cache_minutes)], cwd=REPO,
                              env={**os.environ, "GRADIO_TEMP_DIR": str(cache), "GRADIO_ANALYTICS_ENABLED": "False"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url, server)
        print(f"studio pid {server.pid}: {rss_mb(server.pid):.0f} MB RSS before load; "
              f"{args.clients} clients for {args.minutes:g} min; cache {cache}")
        print(f"{'time s':>7} {'calls':>7} {'errors':>7} {'RSS MB':>7} {'cache files':>12} {'cache MB':>9}")
        stop, lock, counts = threading.Event(), threading.Lock(), {"calls": 0, "errors": 0}
        threads = [threading.Thread(target=client_loop, args=(url, stop, counts, lock), daemon=True)
                   for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        start, rss_at_minute = time.monotonic(), None
        while (elapsed := time.monotonic() - start) < args.minutes * 60:
            time.sleep(min(args.every, args.minutes * 60 - elapsed))
            elapsed = time.monotonic() - start
            rss = rss_mb(server.pid)
            if rss_at_minute is None and elapsed >= 60 - 1:
                rss_at_minute = rss
            files, megabytes = folder_size(cache)
            print(f"{elapsed:7.0f} {counts['calls']:7d} {counts['errors']:7d} {rss:7.0f} {files:12d} {megabytes:9.1f}",
                  flush=True)
        stop.set()
        for thread in threads:
            thread.join(timeout=130)
        end_rss = rss_mb(server.pid)
        if rss_at_minute:
            print(f"RSS after the first minute {rss_at_minute:.0f} MB, at the end {end_rss:.0f} MB: "
                  f"{end_rss / rss_at_minute:.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
