"""Live previews while a slider is dragged: a lean route beside Gradio's queue.

A drag asks `POST /studio/live/<tab>` for the picture at each slider position (browser.js, part 5). The
route answers with a bare PNG (no parameters, nothing saved, no history), rendered by the same model-layer
call as the tab's final image, so the last preview and the final image are the same pixels. Gradio's own
event runs once, at release, and stays the source of truth: the saved PNG, its parameters and the history.

Why a route of its own: a round trip through Gradio's queue costs about 100 ms here whatever the model does
(the generator needs 5 ms), so a slider wired to it redraws 4 to 6 times a second. This route costs a few
milliseconds. All previews go through one worker thread that serves everything waiting in one go, so
concurrent drags share forward passes (`sampling.sample_many`) instead of competing for the two cores.

A public studio must keep serving everyone: bodies are small and bounded, each client may have a few
previews in flight, the worker's backlog is bounded, and a bad request gets one sentence and one log line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from PIL import Image

from models.errors import InvalidRequestError, cut
from models.registry import UnknownModelError
from studio import pnginfo, serving

log = logging.getLogger(__name__)

ROUTE = "/studio/live"
MAX_BODY_BYTES = 64 * 1024  # a preview request is parameters; a texture VAE's two 64x64 end images are ~33 kB
MAX_BACKLOG = 64  # previews waiting for the worker, all clients together
MAX_IN_FLIGHT_PER_CLIENT = 4  # the page keeps at most 2 in flight; a little slack for a second tab
PNG_COMPRESS_LEVEL = 1  # previews are thrown away: encode fast rather than small
MAX_TEXTURE_SIDE = 256  # a larger texture takes too long to follow a slider (1024 pixels: 1.2 s on 2 cores) ...
MAX_TEXTURE_PIXELS = 4 * 256 * 256  # ... and so do many textures at once (64 of 256 pixels: 4.1 s)


def check_texture_side(request: dict) -> dict:
    """Refuse a live preview of a texture over MAX_TEXTURE_SIDE, or of textures over MAX_TEXTURE_PIXELS in all
    (their final image still comes at release)."""
    size = request.get("size", 0)
    if size > MAX_TEXTURE_SIDE:
        raise InvalidRequestError(f"Textures over {MAX_TEXTURE_SIDE} pixels are drawn when you let go of the "
                                  "slider, not while you drag it.")
    if size * size * request.get("n", 1) > MAX_TEXTURE_PIXELS:
        raise InvalidRequestError(f"{request['n']} textures of {size} pixels are drawn when you let go of the "
                                  "slider, not while you drag it.")
    return request

# A tab's preview renderer: parameters of several requests -> a picture or the request's error, in order.
Renderer = Callable[[list[dict]], list[Image.Image | Exception]]
REQUEST_ERRORS = (InvalidRequestError, UnknownModelError, pnginfo.NotAStudioPNGError)


def previews(params: Sequence[dict], make_request: Callable[[dict], Any], serve_many: Callable[[list], list],
             make_image: Callable[[Any, Any], Image.Image]) -> list[Image.Image | Exception]:
    """A tab's renderer from its parts: `make_request(params)` builds the model-layer request (raising on bad
    values), `serve_many` serves the good ones together (a result or an error each), `make_image(request,
    result)` makes the picture the tab would show. Each request gets its picture or its own error."""
    built: list = []
    for p in params:
        try:
            built.append(make_request(p))
        except REQUEST_ERRORS as error:
            built.append(error)
        except Exception as error:  # noqa: BLE001 - whatever one request's values raise is that request's failure
            built.append(malformed(error))
    answers = iter(serve_many([r for r in built if not isinstance(r, Exception)]))
    out: list[Image.Image | Exception] = []
    for request in built:
        if isinstance(request, Exception):
            out.append(request)
            continue
        answer = next(answers)
        out.append(answer if isinstance(answer, Exception) else make_image(request, answer))
    return out


def one_by_one(serve_one: Callable[[Any], Any]) -> Callable[[list], list]:
    """A `serve_many` for `previews` from a function that serves one request: each gets its result or error."""
    def serve_many(requests: list) -> list:
        results = []
        for request in requests:
            try:
                results.append(serve_one(request))
            except REQUEST_ERRORS as error:
                results.append(error)
            except (KeyError, TypeError, ValueError, ArithmeticError, IndexError) as error:  # values no check foresaw
                results.append(malformed(error))
        return results

    return serve_many


def malformed(error: Exception) -> InvalidRequestError:
    """The answer to a preview request whose values raised where no check foresaw them: one log line."""
    log.info("a malformed preview request: %s: %s", type(error).__name__, cut(str(error)))
    return InvalidRequestError(f"The preview request is malformed ({type(error).__name__}).")


class PreviewFailedError(RuntimeError):
    """The studio's own fault (logged with its traceback), not the request's."""


class PreviewWorker:
    """One thread that renders every waiting preview in one go, per tab: under load, requests queue while a
    batch renders and the next batch takes them all."""

    def __init__(self, renderers: dict[str, Renderer]):
        self.renderers = renderers
        self.jobs: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.thread: threading.Thread | None = None

    def admit(self, client: str) -> bool:
        """Count a preview of `client` in, unless the backlog or its share is full."""
        with self.lock:
            if self.jobs.qsize() >= MAX_BACKLOG or self.in_flight.get(client, 0) >= MAX_IN_FLIGHT_PER_CLIENT:
                return False
            self.in_flight[client] = self.in_flight.get(client, 0) + 1
            return True

    def release(self, client: str) -> None:
        with self.lock:
            left = self.in_flight.get(client, 1) - 1
            if left:
                self.in_flight[client] = left
            else:
                self.in_flight.pop(client, None)

    def submit(self, tab: str, params: dict) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="studio-live-previews", daemon=True)
                self.thread.start()
        self.jobs.put((tab, params, future))
        return future

    def run(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            for tab in {tab for tab, _, _ in batch}:
                jobs = [(params, future) for t, params, future in batch if t == tab]
                try:
                    results = self.renderers[tab]([params for params, _ in jobs])
                    for (_, future), result in zip(jobs, results, strict=True):
                        future.set_result(result if isinstance(result, Exception) else png_bytes(result))
                except Exception:  # a renderer's own bug must not stop the worker for every client
                    log.exception("live previews of %s failed", tab)
                    for _, future in jobs:
                        if not future.done():
                            future.set_result(PreviewFailedError("The preview could not be made."))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def refused(status: int, sentence: str) -> JSONResponse:
    return JSONResponse({"error": sentence}, status_code=status, headers={"Cache-Control": "no-store"})


def routes(renderers: dict[str, Renderer]) -> list[APIRoute]:
    """The preview route (`POST ROUTE/<tab>`) and its health check (`GET ROUTE`, which the page asks first:
    where it fails, sliders keep Gradio's own updates and the page says so)."""
    worker = PreviewWorker(renderers)

    async def health() -> JSONResponse:
        return JSONResponse({"tabs": sorted(renderers)}, headers={"Cache-Control": "no-store"})

    async def preview(tab: str, request: Request) -> Response:
        client = serving.client_key(request)
        if tab not in renderers:
            return refused(404, f"There is no live preview for {tab[:40]!r}.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                log.info("live preview from %s refused: body over %d bytes", client, MAX_BODY_BYTES)
                return refused(413, "The preview request is too large.")
        try:
            params = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            params = None
        if not isinstance(params, dict):
            log.info("live preview from %s refused: not a JSON object", client)
            return refused(400, "The preview request must be a JSON object of the tab's parameters.")
        if not worker.admit(client):
            return refused(503, serving.BUSY_MESSAGE)
        try:
            result = await asyncio.wrap_future(worker.submit(tab, params))
        finally:
            worker.release(client)
        if isinstance(result, PreviewFailedError):
            return refused(500, str(result))
        if isinstance(result, Exception):
            log.info("live preview of %s from %s refused: %s", tab, client, result)
            return refused(400, str(result))
        return Response(result, media_type="image/png", headers={"Cache-Control": "no-store"})

    return [APIRoute(ROUTE, health, methods=["GET"], include_in_schema=False),
            APIRoute(ROUTE + "/{tab}", preview, methods=["POST"], include_in_schema=False)]
