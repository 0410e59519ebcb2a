"""Live previews (studio.live): the preview of a slider position is the final image's pixels, bad requests get
a sentence, and the route keeps a public studio serving (body size, per-client share, unknown tabs)."""

from __future__ import annotations

import concurrent.futures
import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from models import vae as vae_models
from studio import live, pnginfo
from studio.tabs import conditional, latent, vae

DIRECTIONS = [0.0] * latent.SLIDER_COUNT


def latent_params(**changes) -> dict:
    return {"model_id": "fmnist-gan", "seed": 42, "num_samples": 1, "psi": 1.0, "directions": DIRECTIONS,
            "size": 256, "seamless": False, **changes}


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


def test_latent_previews_are_the_final_images_pixels_served_together():
    requests = [latent_params(directions=[v] + DIRECTIONS[1:]) for v in (-5.0, 0.3, 5.0)]
    requests.append(latent_params(model_id="dtd10-texgan", size=64, seamless=True, psi=0.8))
    requests.append(latent_params(num_samples=4, seed=7))
    previews = latent.live_previews(requests)
    for request, preview in zip(requests, previews, strict=True):
        final = latent.sample(request["model_id"], request["seed"], request["num_samples"], request["psi"],
                              *request["directions"], request["size"], request["seamless"])
        np.testing.assert_array_equal(pixels(preview), pixels(final))
        assert pnginfo.PNG_TEXT_KEY not in preview.info  # a preview is not a result: nothing to keep
    assert not np.array_equal(pixels(previews[0]), pixels(previews[2]))


def test_a_bad_request_gets_its_own_sentence_and_the_others_their_pictures():
    requests = [latent_params(), latent_params(psi=9.0), latent_params(model_id="nope"), {"seed": 1},
                latent_params(seed="x"), latent_params(directions=[0.0])]
    answers = latent.live_previews(requests)
    assert isinstance(answers[0], Image.Image)
    assert "psi" in str(answers[1]).lower()
    assert "nope" in str(answers[2])
    assert all(isinstance(answer, Exception) for answer in answers[1:])
    assert all(str(answer).endswith(".") for answer in answers[1:])
    large = latent.live_previews([latent_params(model_id="dtd10-texgan", size=live.MAX_TEXTURE_SIDE + 16)])[0]
    assert isinstance(large, Exception) and "when you let go" in str(large)
    many, four = latent.live_previews([latent_params(model_id="dtd10-texgan", size=256, num_samples=n) for n in (5, 4)])
    assert isinstance(many, Exception) and "5 textures" in str(many) and isinstance(four, Image.Image)


def test_the_morph_position_preview_is_the_blend_at_that_position():
    base = {"model_id": "fmnist-cgan", "class_a": "Sneaker", "class_b": "Ankle boot", "seed": 3, "psi": 1.0}
    texture = {"model_id": "dtd10-texgan", "class_a": "bubbly", "class_b": "cracked", "seed": 3, "psi": 1.0,
               "size": 64, "seamless": False}
    requests = [{**base, "position": 0.0}, {**base, "position": 0.37}, {**texture, "position": 0.5}]
    previews = conditional.live_previews(requests)
    for request, preview in zip(requests, previews, strict=True):
        final = conditional.blend(request["model_id"], request["class_a"], request["class_b"], request["seed"],
                                  request["psi"], request["position"], request.get("size", 128),
                                  request.get("seamless", False))
        np.testing.assert_array_equal(pixels(preview), pixels(final))
        assert pnginfo.image_params(final)["position"] == request["position"]
    ends = conditional.conditional.morph("fmnist-cgan", "Sneaker", "Ankle boot", 3, 2)
    np.testing.assert_array_equal(pixels(previews[0])[..., 0], ends[0])  # position 0 is class A itself
    wrong = conditional.live_previews([{**base, "position": 1.5}])[0]
    assert isinstance(wrong, Exception) and "0 to 1" in str(wrong)


def test_the_path_position_preview_is_the_frame_at_that_position():
    a = np.asarray(Image.open(sorted(vae.EXAMPLES_DIR.glob("*.png"))[0]))
    b = np.asarray(Image.open(sorted(vae.EXAMPLES_DIR.glob("*.png"))[5]))
    strip, _ = vae.interpolate("fmnist-vae", Image.fromarray(a), Image.fromarray(b), 5, "slerp", True)
    base = json.loads(vae.live_base(strip))
    assert set(base) == {"model_id", "path", "image_a", "image_b"}
    previews = vae.live_previews([{**base, "position": t} for t in (0.0, 0.5, 1.0)])
    frames = vae_models.interpolate("fmnist-vae", a, b, 5, "slerp")
    for t, preview in zip((0.0, 0.5, 1.0), previews, strict=True):
        final = vae.frame_at(strip, t)
        np.testing.assert_array_equal(pixels(preview), pixels(final))
        assert pnginfo.image_params(final)["position"] == t
    np.testing.assert_array_equal(pixels(previews[1])[..., 0], frames[2])  # halfway is the strip's middle frame
    missing = vae.live_previews([{"position": 0.5}])[0]
    assert isinstance(missing, Exception) and "Interpolate" in str(missing)
    # end images that do not fit each other, and a seed past every check, fail alone; the batch is served
    mismatched = {**base, "image_b": pnginfo.encode_pixels(np.zeros((16, 16), np.uint8)), "position": 0.5}
    answers = vae.live_previews([{**base, "position": 0.5}, mismatched])
    assert isinstance(answers[1], Exception) and "differ in shape" in str(answers[1])
    np.testing.assert_array_equal(pixels(answers[0]), pixels(previews[1]))
    answers = latent.live_previews([latent_params(seed=10**400), latent_params()])
    assert isinstance(answers[0], Exception) and not isinstance(answers[1], Exception)


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_route_answers_pngs_and_sentences(app_url):
    with urllib.request.urlopen(app_url + "studio/live", timeout=30) as response:
        assert json.loads(response.read())["tabs"] == ["conditional", "latent", "vae"]
    status, body = post(app_url + "studio/live/latent", json.dumps(latent_params()).encode())
    assert status == 200
    final = latent.sample("fmnist-gan", 42, 1, 1.0, *DIRECTIONS, 256, False)
    np.testing.assert_array_equal(pixels(Image.open(io.BytesIO(body))), pixels(final))
    for tab, payload, code, words in (
        ("latent", b"not json", 400, "JSON object"),
        ("latent", b"[1, 2]", 400, "JSON object"),
        ("latent", json.dumps(latent_params(seed=-1)).encode(), 400, "Seed"),
        ("latent", b"{" + b" " * live.MAX_BODY_BYTES + b"}", 413, "too large"),
        ("inpaint", b"{}", 404, "no live preview"),
    ):
        status, body = post(app_url + f"studio/live/{tab}", payload)
        assert status == code and words in json.loads(body)["error"], (tab, status, body[:200])


def test_concurrent_previews_share_passes_and_keep_their_own_pixels(app_url):
    values = [round(-5 + 0.5 * i, 1) for i in range(21)]
    bodies = [json.dumps(latent_params(directions=[v] + DIRECTIONS[1:])).encode() for v in values]
    alone = [post(app_url + "studio/live/latent", body)[1] for body in bodies]
    with concurrent.futures.ThreadPoolExecutor(live.MAX_IN_FLIGHT_PER_CLIENT) as pool:
        together = list(pool.map(lambda body: post(app_url + "studio/live/latent", body), bodies))
    assert all(status == 200 for status, _ in together)
    assert [body for _, body in together] == alone


def test_a_client_gets_a_fair_share_and_the_backlog_is_bounded():
    worker = live.PreviewWorker({})
    assert all(worker.admit("a") for _ in range(live.MAX_IN_FLIGHT_PER_CLIENT))
    assert not worker.admit("a")  # one client cannot take the worker
    assert worker.admit("b")
    worker.release("a")
    assert worker.admit("a")
    for _ in range(live.MAX_BACKLOG):
        worker.jobs.put(None)
    assert not worker.admit("c")


@pytest.mark.parametrize("broken", [lambda params: 1 / 0, lambda params: [None]])
def test_a_renderer_bug_is_the_studios_sentence_and_the_worker_keeps_serving(broken):
    worker = live.PreviewWorker({"bad": broken, "good": latent.live_previews})
    assert worker.admit("a")
    failed = worker.submit("bad", {}).result(timeout=30)
    assert isinstance(failed, live.PreviewFailedError)
    served = worker.submit("good", latent_params()).result(timeout=30)
    assert isinstance(served, bytes) and served.startswith(b"\x89PNG")
