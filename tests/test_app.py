"""The running studio, called through gradio_client as a script would."""

import json

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from models import sampling
from studio import pnginfo
from studio.images import grid_image

SLIDERS = [0.0] * 10


def call_sample(client, model="fmnist-gan", seed=42, n=1, psi=1.0, directions=SLIDERS):
    return client.predict(model, seed, n, psi, *directions, api_name="/sample")


def test_sample_returns_the_models_pixels_upscaled_with_parameters(client):
    directions = [1.0, -2.0] + [0.0] * 8
    path = call_sample(client, seed=11, n=4, psi=0.7, directions=directions)
    image = Image.open(path)
    expected = grid_image(sampling.sample("fmnist-gan", 11, 4, 0.7, directions, device="cpu"))
    assert image.size == expected.size
    assert np.abs(np.asarray(image.convert("L"), int) - np.asarray(expected, int)).max() <= 1
    params = pnginfo.read(path)
    assert params["model_id"] == "fmnist-gan" and params["seed"] == 11 and params["num_samples"] == 4
    assert params["psi"] == 0.7 and params["directions"] == directions and "studio_version" in params


def test_png_parameters_restore_exactly(client):
    directions = [0.5, 0.0, -1.3, 2.2, 0.0, 0.0, 0.0, 4.9, -5.0, 0.1]
    saved = call_sample(client, seed=123456, n=9, psi=0.55, directions=directions)
    model, seed, n, psi, *values, size, seamless, image = client.predict(handle_file(saved), api_name="/restore_latent")
    assert (model, seed, n, psi, values) == ("fmnist-gan", 123456, 9, 0.55, directions)
    assert (size, seamless) == (256, False)  # a grey model's PNG has none: the defaults
    np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(saved)))


@pytest.mark.parametrize("args, message", [
    ({"seed": -1}, "Seed must be a whole number from 0"),
    ({"seed": 2**32}, "Seed must be a whole number from 0"),
    ({"seed": 1.5}, "Seed must be a whole number"),
    ({"model": "no-such-model"}, "Unknown model id 'no-such-model'"),
    ({"n": 100}, "greater than maximum value 64"),  # Gradio's slider bounds answer first
    ({"directions": [9.0] + SLIDERS[1:]}, "greater than maximum value 5"),
])
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client, args, message):
    with pytest.raises(AppError, match=message):
        call_sample(client, **args)
    assert pnginfo.read(call_sample(client, seed=1))["seed"] == 1


def test_restoring_a_foreign_png_is_refused_clearly(client, tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "plain.png")
    with pytest.raises(AppError, match="no studio parameters"):
        client.predict(handle_file(str(tmp_path / "plain.png")), api_name="/restore_latent")


def test_api_documents_sample(client):
    info = client.view_api(print_info=False, return_format="dict")
    params = [p["parameter_name"] for p in info["named_endpoints"]["/sample"]["parameters"]]
    assert params[:4] == ["model_id", "seed", "num_samples", "psi"]
    assert json.dumps(info)  # serialisable API description
