"""PNG parameters and display conversions, without a server."""

import numpy as np
import pytest
from PIL import Image

from studio import __version__, pnginfo
from studio.images import GRID_DISPLAY_SIZE, grid_image, tile, upscale


def test_png_parameters_round_trip(tmp_path):
    image = pnginfo.embed(Image.new("L", (4, 4)), {"seed": 5, "psi": 0.75, "directions": [1.5, -0.1]})
    path = pnginfo.save_png(image, tmp_path / "x.png")
    params = pnginfo.read(path)
    assert params == {"seed": 5, "psi": 0.75, "directions": [1.5, -0.1], "studio_version": __version__}


def test_foreign_files_are_refused_with_a_reason(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "plain.png")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="no studio parameters"):
        pnginfo.read(tmp_path / "plain.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.jpg")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="JPEG"):
        pnginfo.read(tmp_path / "photo.jpg")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(pnginfo.NotAStudioPNGError, match="not a readable image"):
        pnginfo.read(tmp_path / "notes.png")


def test_upscale_is_nearest_neighbour_by_a_whole_factor():
    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    big = np.asarray(upscale(pixels))
    assert big.shape == (448, 448)
    np.testing.assert_array_equal(big[::16, ::16], pixels)
    np.testing.assert_array_equal(big[15::16, 15::16], pixels)


def test_grid_places_every_sample():
    images = np.stack([np.full((28, 28), 10 * i, np.uint8) for i in range(1, 6)])
    grid = tile(images)
    assert grid.shape == (2 * 28 + 2, 3 * 28 + 4)
    assert grid[0, 0] == 10 and grid[30, 30] == 50 and grid[-1, -1] == 0
    assert max(grid_image(np.zeros((64, 28, 28), np.uint8)).size) <= GRID_DISPLAY_SIZE
    assert min(grid_image(np.zeros((64, 28, 28), np.uint8)).size) >= 3 * 238
