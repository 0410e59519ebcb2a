"""Latent animations: frames (seamless loops through the models' own samples), the GIF/WebM/MP4 writer with the
parameters inside, the header-only reader, the limits, and the /animate_* endpoints through gradio_client."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import animation, conditional, sampling, texgen, vae
from models.errors import InvalidRequestError
from studio import animation as studio_animation
from studio import pnginfo, video
from studio.outputs import describe

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples" / "fashion-mnist"
BOOT, DRESS = (str(EXAMPLES_DIR / name) for name in ("test-00000-ankle-boot.png", "test-00013-dress.png"))
DIRECTIONS = [0.5, -1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded (the tests' own check; the studio never decodes a video)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# Frames.


def test_loop_positions_go_there_and_back_and_close_the_loop():
    positions = animation.loop_positions(12)
    assert positions[0] == 0 and positions[6] == 1
    np.testing.assert_allclose(positions[1:], positions[1:][::-1])  # back the way it came
    steps = np.diff(np.append(positions, positions[0]))  # the step after the last frame is back to the first
    assert abs(steps[-1]) == pytest.approx(abs(steps[0]))  # no jump where the loop closes


def test_a_sweep_reaches_both_ends_and_its_frames_are_the_single_samples():
    frames = animation.sweep("fmnist-gan", 42, 0.9, DIRECTIONS, 2, 8)
    assert frames.shape == (8, 28, 28)
    for index, value in ((0, -5.0), (4, 5.0), (2, 0.0)):
        values = DIRECTIONS[:2] + [value] + DIRECTIONS[3:]
        np.testing.assert_array_equal(frames[index], sampling.sample("fmnist-gan", 42, 1, 0.9, values)[0])
    np.testing.assert_array_equal(frames[1], frames[7])  # symmetric: the way back retraces the way there
    assert np.abs(frames[0].astype(int) - frames[4]).max() > 50  # -5 and +5 look different


def test_a_texture_sweep_is_made_at_the_tabs_size_and_seamless_setting():
    frames = animation.sweep("dtd10-texgan", 3, 1.0, [], 0, 4, size=64, seamless=True)
    assert frames.shape == (4, 64, 64, 3)
    single = texgen.generate("dtd10-texgan", texgen.ANY_CLASS, 3, 64, True, 1.0, [5.0])
    np.testing.assert_array_equal(frames[2], single[0])


def test_slerp_loop_passes_through_every_point_and_closes_without_a_jump():
    points = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    path = animation.slerp_loop(points, 5)
    assert path.shape == (15, 16)
    for j in range(3):
        assert torch.equal(path[5 * j], points[j])  # exactly, not a rounding of it
    closed = torch.cat([path, path[:1]])
    steps = [float((closed[i + 1] - closed[i]).norm()) for i in range(15)]
    last_segment = steps[10:14]  # the steps within the segment from the last point back to the first
    assert 0.7 * min(last_segment) <= steps[14] <= 1.3 * max(last_segment)  # the closing step is one like them


def test_a_seed_loop_shows_each_seeds_own_sample_at_its_boundary():
    frames = animation.seed_loop("fmnist-gan", 7, 3, 0.8, DIRECTIONS, 4)
    assert frames.shape == (12, 28, 28)
    for j in range(3):
        np.testing.assert_array_equal(frames[4 * j], sampling.sample("fmnist-gan", 7 + j, 1, 0.8, DIRECTIONS)[0])
    assert np.abs(frames[1].astype(int) - frames[0]).max() > 0  # in between, not a held frame


def test_a_texture_seed_loop_interpolates_the_spatial_noise_too():
    frames = animation.seed_loop("dtd10-texgan", 11, 2, 1.0, [1.0], 2, size=64, seamless=True)
    assert frames.shape == (4, 64, 64, 3)
    for j in range(2):
        single = texgen.generate("dtd10-texgan", texgen.ANY_CLASS, 11 + j, 64, True, 1.0, [1.0])
        np.testing.assert_array_equal(frames[2 * j], single[0])


def test_the_morph_and_the_path_go_from_a_to_b_and_back():
    frames = animation.morph_loop("fmnist-cgan", "Sneaker", "Ankle boot", 3, 6, 0.9)
    ends = conditional.morph_at("fmnist-cgan", "Sneaker", "Ankle boot", 3, [0.0, 1.0], 0.9)
    np.testing.assert_array_equal(frames[[0, 3]], ends)
    boot, dress = (np.asarray(Image.open(path).convert("L")) for path in (BOOT, DRESS))
    path = animation.path_loop("fmnist-vae", boot, dress, 6, "slerp")
    np.testing.assert_array_equal(path[[0, 3]], vae.path_at("fmnist-vae", boot, dress, [0.0, 1.0], "slerp"))


def test_progress_is_reported_and_can_stop_the_work():
    seen = []
    animation.seed_loop("fmnist-gan", 0, 2, 1.0, [], 40, progress=seen.append)
    assert seen[0] == 0 and seen[-1] == 1 and len(seen) > 2

    def stop(fraction):
        if fraction > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        animation.sweep("fmnist-gan", 0, 1.0, [], 0, 100, progress=stop)


@pytest.mark.parametrize("call, message", [
    (lambda: animation.sweep("fmnist-gan", 0, 1.0, [], 0, animation.MAX_FRAMES + 1), "2 to 600 frames"),
    (lambda: animation.sweep("fmnist-gan", 0, 1.0, [], 10, 8), "directions 1 to 10"),
    (lambda: animation.sweep("fmnist-gan", 0, 3.0, [], 0, 8), "psi"),
    (lambda: animation.seed_loop("fmnist-gan", 0, 17, 1.0, [], 2), "2 to 16 seeds"),
    (lambda: animation.seed_loop("fmnist-gan", sampling.MAX_SEED, 2, 1.0, [], 2), "largest seed"),
    (lambda: animation.seed_loop("fmnist-cgan", 0, 2, 1.0, [], 2), "not unconditional"),
])
def test_requests_beyond_the_limits_are_refused_with_a_sentence(call, message):
    with pytest.raises(InvalidRequestError, match=message):
        call()


# Files: the writer, the reader, the limits.


PARAMS = {"tab": "latent", "mode": "sweep", "model_id": "fmnist-gan", "seed": 5, "num_samples": 1, "psi": 1.0,
          "directions": [0.0] * 10, "animation": {"kind": "sweep", "direction": 3, "fps": 12, "seconds": 1,
                                                  "size": 64, "format": "webm"}}


@pytest.mark.parametrize("fmt", video.FORMATS)
def test_each_format_carries_the_parameters_and_blows_pixels_up_crisply(tmp_path, fmt):
    frames = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    frames[:, :, :14] = 0  # a hard edge: blown up by 2, it must stay on a pixel boundary
    path = video.write_animation(frames, tmp_path / f"loop.{fmt}", 12, 64, pnginfo.gif_comment(PARAMS))
    params = pnginfo.read(path)
    assert {key: params[key] for key in PARAMS} == PARAMS and "studio_version" in params
    if fmt == "gif":
        with Image.open(path) as gif:
            assert gif.n_frames == 6 and gif.size == (56, 56) and gif.info["loop"] == 0
            durations = []
            for index in range(gif.n_frames):
                gif.seek(index)
                durations.append(gif.info["duration"])
            assert durations == [80, 90, 80, 80, 90, 80] and sum(durations) == 500  # whole hundredths: 6 / 12 s
            gif.seek(1)
            np.testing.assert_array_equal(np.asarray(gif.convert("L")), np.repeat(np.repeat(frames[1], 2, 0), 2, 1))
    else:
        decoded = decoded_frames(path)
        assert len(decoded) == 6 and decoded[0].shape == (56, 56, 3)
        expected = np.repeat(np.repeat(frames[0], 2, 0), 2, 1)
        assert np.abs(decoded[0][:, :, 1].astype(int) - expected).mean() < 12  # lossy, but the same picture
        assert decoded[0][:, :26].max() < 40  # the black half stays black up to its edge
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == {"webm": "vp9", "mp4": "h264"}[fmt]
            assert stream.average_rate == 12


def test_gif_durations_add_up_to_the_length_in_hundredths():
    assert set(video.gif_durations(48, 24)) == {40, 50} and sum(video.gif_durations(48, 24)) == 2000
    assert sum(video.gif_durations(600, 30)) == 20_000 and set(video.gif_durations(600, 30)) == {30, 40}


@pytest.mark.parametrize("fmt", video.FORMATS)
def test_a_progress_callback_raising_stops_the_write_and_leaves_no_file(tmp_path, fmt):
    seen = []

    def stop(fraction):
        seen.append(fraction)
        if len(seen) > 3:
            raise KeyboardInterrupt

    frames = np.zeros((20, 28, 28), np.uint8)
    with pytest.raises(KeyboardInterrupt):
        video.write_animation(frames, tmp_path / f"stopped.{fmt}", 10, 64, pnginfo.gif_comment(PARAMS), stop)
    assert seen == [0, 0.05, 0.1, 0.15]  # one report per frame encoded
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one


def test_a_colour_animation_of_odd_size_is_padded_to_even_sides(tmp_path):
    frames = np.full((3, 33, 33, 3), (200, 30, 30), np.uint8)
    path = video.write_animation(frames, tmp_path / "odd.mp4", 10, 33, pnginfo.gif_comment({"tab": "latent"}))
    decoded = decoded_frames(path)
    assert decoded[0].shape == (34, 34, 3) and abs(int(decoded[0][5, 5, 0]) - 200) < 8


def write_video(path: Path, width: int, height: int, frames: int, fps: int, comment: str | None = None,
                codec: str = "libx264") -> Path:
    """A plain video of black frames (libx264 ultrafast: a 30-megapixel frame takes a fraction of a second)."""
    with av.open(str(path), "w") as container:
        if comment is not None:
            container.metadata["comment"] = comment
        stream = container.add_stream(codec, rate=fps, options={"preset": "ultrafast"} if codec == "libx264" else {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame(width, height, "yuv420p")))
        container.mux(stream.encode())
    return path


def test_a_video_over_the_pixel_cap_is_refused_from_its_header(tmp_path):
    path = write_video(tmp_path / "huge.mp4", 1000, 800, 1, 1, pnginfo.gif_comment({"tab": "latent"}))
    assert 1000 * 800 > video.MAX_VIDEO_PIXELS >= (video.SIZE_RANGE[1] + 2) ** 2  # the largest animation reads
    with pytest.raises(pnginfo.NotAStudioPNGError, match=r"1000x800 pixels; .* up to 614,656 pixels a frame"):
        pnginfo.read(path)


def test_one_restore_probes_a_video_header_once_until_the_file_changes(tmp_path, monkeypatch):
    path = write_video(tmp_path / "made.webm", 64, 64, 2, 2, pnginfo.gif_comment({"tab": "latent", "seed": 3}),
                       "libvpx-vp9")
    probes = []
    monkeypatch.setattr(video, "read_comment", lambda *args, real=video.read_comment: probes.append(1) or real(*args))
    first = pnginfo.read(path)
    first["seed"] = 99  # a caller's change does not reach the next reader
    assert pnginfo.read(path)["seed"] == 3 and len(probes) == 1
    write_video(path, 64, 64, 2, 2, pnginfo.gif_comment({"tab": "latent", "seed": 4}), "libvpx-vp9")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    assert pnginfo.read(path)["seed"] == 4 and len(probes) == 2


def test_a_video_in_a_codec_the_studio_never_writes_is_refused(tmp_path):
    path = write_video(tmp_path / "other.mp4", 64, 64, 2, 2, pnginfo.gif_comment({"tab": "latent"}), "mpeg4")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="coded as 'mpeg4'; the studio's animations are VP9 or H.264"):
        pnginfo.read(path)


def test_a_vp9_video_over_a_cap_is_refused_before_its_frames_are_decoded(tmp_path):
    path = write_video(tmp_path / "small.webm", 64, 64, 2, 2, pnginfo.gif_comment({"tab": "latent"}), "libvpx-vp9")
    assert video.read_comment(path, "matroska").startswith("studio-parameters:")
    with pytest.raises(video.VideoReadError, match="larger than the studio's"):
        video.read_comment(path, "matroska", max_pixels=1000)


def test_a_video_longer_than_any_animation_is_refused(tmp_path):
    path = write_video(tmp_path / "long.mp4", 64, 64, video.MAX_READ_SECONDS + 2, 1, pnginfo.gif_comment({}))
    with pytest.raises(pnginfo.NotAStudioPNGError, match="longer than the studio's animations"):
        pnginfo.read(path)


@pytest.mark.parametrize("name, content, message", [
    ("garbage.webm", b"\x1a\x45\xdf\xa3" + os.urandom(2000), "not a readable WebM or MP4"),
    ("garbage.mp4", b"\x00\x00\x00\x18ftypisom" + os.urandom(2000), "not a readable WebM or MP4"),
    ("truncated.webm", None, "not a readable WebM or MP4"),
    ("playlist.webm", b"\x1a\x45\xdf\xa3#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "not a readable WebM or MP4"),
    ("concat.mp4", b"\x00\x00\x00\x18ftypffconcat version 1.0\nfile /etc/passwd\n", "not a readable WebM or MP4"),
    ("playlist.mp4", b"#EXTM3U\n#EXTINF:1,\nwhole.webm\n", "not a readable image"),
    ("concat.webm", b"ffconcat version 1.0\nfile whole.webm\n", "not a readable image"),
    ("plain.mp4", "plain", "holds no studio parameters"),
    ("damaged.mp4", "studio-parameters:{not json", "damaged"),
])
def test_garbage_and_foreign_videos_are_refused_with_a_sentence(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        made = video.write_animation(np.zeros((4, 28, 28), np.uint8), tmp_path / "whole.webm", 4, 64,
                                     pnginfo.gif_comment(PARAMS))
        path.write_bytes(made.read_bytes()[:60])
    elif isinstance(content, str):
        write_video(path, 64, 64, 2, 2, None if content == "plain" else content)
    else:
        path.write_bytes(content)
    with pytest.raises(pnginfo.NotAStudioPNGError, match=message):
        pnginfo.read(path)


@pytest.mark.parametrize("values, message", [
    ((0, 4, 256, "webm"), "Frames per second must be a whole number from 1 to 30"),
    ((31, 4, 256, "webm"), "Frames per second"),
    ((24, 21, 256, "webm"), "Length must be a whole number from 1 to 20 seconds"),
    ((24, 2.5, 256, "webm"), "Length must be a whole number"),
    ((24, 4, 2000, "webm"), "Size must be a whole number from 64 to 768 pixels"),
    ((24, 4, 256, "avi"), "Format must be one of webm, mp4, gif"),
])
def test_options_beyond_the_limits_are_refused(values, message):
    with pytest.raises(InvalidRequestError, match=message):
        studio_animation.options(*values)


def test_one_frame_is_refused_with_a_sentence_naming_the_rate_and_length():
    with pytest.raises(InvalidRequestError, match="at least 2 frames; 1 frame a second for 1 second makes 1"):
        studio_animation.options(1, 1, 256, "webm")
    assert studio_animation.options(2, 1, 256, "webm").frames == 2


def test_the_longest_seed_loop_stays_within_the_frame_limit():
    path = studio_animation.animate_seeds("fmnist-gan", 0, 1.0, [], 256, False, 16, 30, 20, 64, "mp4")
    record = pnginfo.read(path)["animation"]
    assert record["seeds"] == 16 and record["frames"] == 16 * 37 <= animation.MAX_FRAMES


def test_the_pixel_budget_is_checked_before_any_frame_is_made():
    video.check_budget(240, (28, 28), 640)  # 240 frames of 616 pixels: within 100 megapixels
    with pytest.raises(InvalidRequestError, match="make 343 megapixels; an animation holds at most 100"):
        video.check_budget(600, (28, 28), 768)


def test_restoring_reads_the_animation_options_and_the_caption_says_what_it_is():
    params = {**PARAMS, "animation": {"kind": "seed_loop", "seeds": 5, "fps": 12, "seconds": 3, "size": 128,
                                      "format": "gif"}}
    assert studio_animation.latent_options_of(params, 10) == ("seed_loop", 1, 5, 12, 3, 128, "gif")
    assert studio_animation.latent_options_of({"tab": "latent"}, 10) == ("sweep", 1, 4, 24, 4, 256, "webm")
    assert "GIF animation, 5 seeds, 3 s at 12 fps" in describe(params)
    with pytest.raises(pnginfo.NotAStudioPNGError):
        studio_animation.options_of({"animation": {"fps": 1000}})


# The endpoints, through gradio_client.


def test_api_sweep_returns_a_webm_that_restores_the_latent_tab(client):
    path = client.predict("fmnist-gan", 9, 0.7, DIRECTIONS, 256, False, 3, 8, 1, 64, "webm",
                          api_name="/animate_sweep")
    assert path.endswith(".webm")
    params = pnginfo.read(path)
    assert params["mode"] == "sweep" and params["seed"] == 9 and params["directions"] == DIRECTIONS
    assert params["animation"] == {"kind": "sweep", "direction": 3, "fps": 8, "seconds": 1, "size": 64,
                                   "format": "webm", "frames": 8}
    decoded = decoded_frames(Path(path))
    assert len(decoded) == 8 and decoded[0].shape == (56, 56, 3)
    model, seed, n, psi, *values, size, seamless, image = client.predict(handle_file(path),
                                                                        api_name="/restore_latent")
    assert (model, seed, n, psi, values) == ("fmnist-gan", 9, 1, 0.7, DIRECTIONS)
    expected = sampling.sample("fmnist-gan", 9, 1, 0.7, DIRECTIONS)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(image).convert("L")), expected)
    summary, shown = client.predict(handle_file(path), api_name="/png_info")[:2]
    assert "sweep" in summary and "PC3 swept" in summary and shown["animation"]["format"] == "webm"


def test_api_seed_loop_returns_a_gif_through_the_seeds(client):
    path = client.predict("fmnist-gan", 20, 1.0, [], 256, False, 3, 6, 1, 64, "gif", api_name="/animate_seeds")
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.size == (56, 56)
        gif.seek(2)  # the second seed's own sample, blown up twice
        expected = sampling.sample("fmnist-gan", 21, 1)[0]
        np.testing.assert_array_equal(np.asarray(gif.convert("L"))[::2, ::2], expected)
    assert pnginfo.read(path)["animation"]["seeds"] == 3


def test_api_morph_and_path_return_mp4_and_webm_that_restore_their_tabs(client):
    morph = client.predict("fmnist-cgan", "Sneaker", "Bag", 4, 0.8, 128, False, 6, 1, 64, "mp4",
                           api_name="/animate_morph")
    assert morph.endswith(".mp4") and len(decoded_frames(Path(morph))) == 6
    restored = client.predict(handle_file(morph), api_name="/restore_conditional")
    assert isinstance(restored, tuple) and restored[5:7] == ("Sneaker", "Bag")
    path = client.predict("fmnist-vae", handle_file(BOOT), handle_file(DRESS), "linear", 4, 2, 64, "webm",
                          api_name="/animate_path")
    params = pnginfo.read(path)
    assert params["tab"] == "vae" and params["path"] == "linear" and params["animation"]["frames"] == 8
    assert pnginfo.decode_pixels(params["image_a"]).shape == (28, 28)
    restored = client.predict(handle_file(path), api_name="/restore_vae")
    assert restored[0] == "fmnist-vae" and restored[6] == "linear"


def test_api_refuses_animations_beyond_the_limits_with_a_sentence(client):
    with pytest.raises(AppError, match="343 megapixels"):
        client.predict("fmnist-gan", 0, 1.0, [], 256, False, 1, 30, 20, 768, "gif", api_name="/animate_sweep")
    with pytest.raises(AppError, match="up to 512 pixels a side"):
        client.predict("dtd10-texgan", 0, 1.0, [], 1024, False, 1, 4, 1, 64, "webm", api_name="/animate_sweep")
    with pytest.raises(AppError, match="Format must be one of|not in the list of choices"):
        client.predict("fmnist-gan", 0, 1.0, [], 256, False, 1, 4, 1, 64, "avi", api_name="/animate_sweep")
