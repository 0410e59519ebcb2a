"""Animations as files: one writer for GIF, WebM (VP9) and MP4 (H.264), each carrying the studio parameters
(the GIF comment, or the container's `comment` tag, the same `studio-parameters:` text), and the reader of
those parameters from a WebM or MP4 header, which never decodes a frame (see `read_comment` for what it checks).

Video goes through PyAV, whose wheels bundle FFmpeg (with libvpx and libx264, so the wheel is GPL). Small
frames are blown up by the largest whole number that fits the chosen size, so model pixels stay square.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from models.errors import InvalidRequestError, shown
from models.files import write_atomically
from studio.images import upscale, write_gif

log = logging.getLogger(__name__)

FORMATS = ("webm", "mp4", "gif")  # the file's suffix is its format
FORMAT_LABELS = {"webm": "WebM (VP9)", "mp4": "MP4 (H.264)", "gif": "GIF"}
VIDEO_CODECS = {"webm": ("webm", "libvpx-vp9"), "mp4": ("mp4", "libx264")}
# Quality: VP9 in constant-quality mode, H.264 at a near-transparent CRF; both 4:2:0, which every browser plays.
CODEC_OPTIONS = {"libvpx-vp9": {"crf": "24", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
                 "libx264": {"crf": "18", "preset": "medium"}}
MP4_OPTIONS = {"movflags": "+faststart"}  # the index first, so a browser starts playing before it has it all
FPS_RANGE = (1, 30)
SECONDS_RANGE = (1, 20)
SIZE_RANGE = (64, 768)  # pixels on the longest side an animation is blown up to (at most)
MAX_ANIMATION_PIXELS = 100_000_000  # frames x pixels a frame of one animation, e.g. 240 frames at 640x640
MAX_VIDEO_PIXELS = (SIZE_RANGE[1] + 16) ** 2  # a frame the reader accepts: the largest animation's, with room
READ_CODECS = "vp9,h264"  # the only decoders FFmpeg may open while it reads a header (the studio writes no other)
MAX_READ_SECONDS = 60  # a WebM or MP4 longer than this is not one of the studio's (they last at most 20 s)
MAX_READ_FRAMES = 3_600
PROBE_BYTES = 2_000_000  # most bytes FFmpeg reads to find a video's streams
MAGIC = {b"\x1a\x45\xdf\xa3": "matroska", b"ftyp": "mp4"}  # EBML header at 0 (WebM); an ISO box type at 4 (MP4)


class VideoReadError(ValueError):
    """A WebM or MP4 whose parameters cannot be read; the message is a sentence for a person."""


def check_options(fps: int, seconds: int, size: int, fmt: str) -> None:
    """Refuse animation options beyond the studio's limits, with a sentence that says which."""
    if fmt not in FORMATS:
        raise InvalidRequestError(f"Format must be one of {', '.join(FORMATS)}, not {shown(fmt)}.")
    for name, value, (lo, hi), unit in (("Frames per second", fps, FPS_RANGE, ""),
                                        ("Length", seconds, SECONDS_RANGE, " seconds"),
                                        ("Size", size, SIZE_RANGE, " pixels")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise InvalidRequestError(f"{name} must be a whole number from {lo} to {hi}{unit}, not {shown(value)}.")


def scale_factor(frame_shape: tuple[int, ...], size: int) -> int:
    """The whole number each frame is blown up by: the largest that keeps its longest side within `size`
    (1 for frames already that large: they are never shrunk)."""
    return max(1, size // max(frame_shape[:2]))


def check_budget(frames: int, frame_shape: tuple[int, ...], size: int) -> None:
    """Refuse an animation with more than MAX_ANIMATION_PIXELS in all, before any frame is made."""
    factor = scale_factor(frame_shape, size)
    total = frames * frame_shape[0] * frame_shape[1] * factor * factor
    if total > MAX_ANIMATION_PIXELS:
        side = frame_shape[0] * factor
        raise InvalidRequestError(
            f"{frames} frames of {side} pixels a side make {total / 1e6:.0f} megapixels; an animation holds at most "
            f"{MAX_ANIMATION_PIXELS / 1e6:.0f}. Choose a shorter length, fewer frames a second or a smaller size.")


def _upscaled(frame: np.ndarray, factor: int) -> np.ndarray:
    """A frame [H, W] or [H, W, 3] as RGB [H * factor, W * factor, 3], each pixel a square block."""
    return np.asarray(upscale(frame, factor).convert("RGB"))


def _even(frame: np.ndarray) -> np.ndarray:
    """4:2:0 video needs even sides: an odd side gets its last row or column repeated."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frame


def gif_durations(frames: int, fps: int) -> list[int]:
    """Milliseconds each of `frames` GIF frames shows at `fps`: GIF times are whole hundredths of a second, so
    each frame ends at its own time rounded to a hundredth, and the whole lasts frames / fps (to a hundredth)."""
    ends = np.round(np.arange(frames + 1) * 100 / fps)
    return [int(ms) for ms in np.diff(ends) * 10]


def write_animation(frames: np.ndarray, path: Path, fps: int, size: int, comment: str,
                    progress: Callable[[float], None] | None = None) -> Path:
    """Write uint8 frames [T, H, W] (grey) or [T, H, W, 3] as a looping animation at `fps`, blown up crisply
    toward `size`, with `comment` (see pnginfo.gif_comment) embedded; the format is the suffix of `path`
    (.gif, .webm or .mp4). `progress(fraction)` is called as the frames are encoded, so raising from it stops
    the encoding; nothing is then left at `path`. A working file of the app (served and downloaded), so not
    flushed to disk."""
    fmt = path.suffix.lstrip(".")
    factor = scale_factor(frames.shape[1:3], size)
    report = progress or (lambda fraction: None)
    if fmt == "gif":
        return write_gif(frames, path, gif_durations(len(frames), fps), max(frames.shape[1:3]) * factor, comment,
                         report)
    container_format, codec = VIDEO_CODECS[fmt]
    # FFmpeg writes a scratch file of its own (MP4's faststart reopens it by name to move the index first); the
    # finished bytes then go to `path` through the one writer.
    with tempfile.TemporaryDirectory(prefix="studio-video-") as scratch:
        encoded = Path(scratch) / path.name
        with av.open(str(encoded), "w", format=container_format,
                     options=MP4_OPTIONS if fmt == "mp4" else {}) as container:
            container.metadata["comment"] = comment
            stream = container.add_stream(codec, rate=fps, options=CODEC_OPTIONS[codec])
            stream.height, stream.width = _even(_upscaled(frames[0], factor)).shape[:2]
            stream.pix_fmt = "yuv420p"
            for index, frame in enumerate(frames):
                report(index / len(frames))
                picture = av.VideoFrame.from_ndarray(_even(_upscaled(frame, factor)), format="rgb24")
                container.mux(stream.encode(picture))
            container.mux(stream.encode())
        report(1.0)
        return write_atomically(path, encoded.read_bytes(), durable=False)


def sniffed_format(head: bytes) -> str | None:
    """The container a file's first bytes announce: "matroska" (WebM), "mp4", or None."""
    if head[:4] in MAGIC:
        return MAGIC[head[:4]]
    return MAGIC.get(head[4:8])


def read_comment(path: str | Path, container_format: str, max_pixels: int = MAX_VIDEO_PIXELS) -> str:
    """The `comment` tag of a WebM or MP4 (empty if it has none); no frame is ever decoded here. While FFmpeg
    opens the file it reads local files only (no other protocol, so no playlist or concat file can point it
    elsewhere), with the container format fixed from the file's first bytes, reads at most PROBE_BYTES to
    find the streams, and may open only the VP9 and H.264 decoders, which refuse any frame over `max_pixels`
    while it probes. Then, before the comment is read, the file must have one video stream coded as VP9 or
    H.264, of at most `max_pixels` a frame (the largest animation's, by default) and at most
    MAX_READ_SECONDS long."""
    try:
        with av.open(str(path), format=container_format, metadata_errors="replace",
                     container_options={"protocol_whitelist": "file", "probesize": str(PROBE_BYTES),
                                        "format_whitelist": "matroska,webm,mov,mp4,m4a,3gp,3g2,mj2",
                                        "codec_whitelist": READ_CODECS},
                     options={"max_pixels": str(max_pixels)}) as container:
            if len(container.streams.video) != 1:
                raise VideoReadError("That video has no picture, or more than one: it was not made by the studio.")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in READ_CODECS.split(","):
                raise VideoReadError(f"That video is coded as {shown(codec)}; the studio's animations are VP9 or "
                                     "H.264.")
            width, height = stream.width, stream.height
            if not width or not height:
                raise VideoReadError("That video's size cannot be read: it is damaged, or larger than the studio's "
                                     f"animations ({max_pixels:,} pixels a frame at most).")
            if width * height > max_pixels:
                raise VideoReadError(f"That video is {width}x{height} pixels; the studio reads videos of up to "
                                     f"{max_pixels:,} pixels a frame (its animations are at most "
                                     f"{SIZE_RANGE[1]} pixels a side).")
            seconds = container.duration / av.time_base if container.duration else 0.0
            if not math.isfinite(seconds) or seconds > MAX_READ_SECONDS or (stream.frames or 0) > MAX_READ_FRAMES:
                raise VideoReadError(f"That video is longer than the studio's animations ({MAX_READ_SECONDS} "
                                     "seconds at most).")
            metadata = {key.lower(): value for key, value in container.metadata.items()}
            return metadata.get("comment", "")
    except (av.FFmpegError, OSError, ValueError, TypeError, UnicodeError) as error:
        if isinstance(error, VideoReadError):
            raise
        log.info("could not read a video's header: %s", error)
        raise VideoReadError("That file is not a readable WebM or MP4 video.") from error
