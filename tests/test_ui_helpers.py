"""PNG parameters and display conversions, without a server."""

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from studio import __version__, pnginfo
from studio.images import cell_at, cell_count, cell_image, grid_image, labelled_rows_image, tile, upscale
from studio.ui import alt_text, received_image


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
    big = np.asarray(upscale(pixels, 16))
    assert big.shape == (448, 448)
    np.testing.assert_array_equal(big[::16, ::16], pixels)
    np.testing.assert_array_equal(big[15::16, 15::16], pixels)


def test_grid_places_every_sample_at_model_pixels_and_knows_its_cells():
    images = np.stack([np.full((28, 28), 10 * i, np.uint8) for i in range(1, 6)])
    grid = tile(images)
    assert grid.shape == (2 * 28 + 2, 3 * 28 + 4)
    assert grid[0, 0] == 10 and grid[30, 30] == 50 and grid[-1, -1] == 0
    image = grid_image(images)
    assert image.size == (3 * 28 + 4, 2 * 28 + 2) and cell_count(image) == 5
    assert [cell_at(image, x, y) for x, y in ((0, 0), (27, 27), (28, 5), (31, 0), (45, 40), (87, 57), (87, 20))] == [
        0, 0, None, 1, 4, None, 2]  # (28, 5) is a gutter; (87, 57) the empty sixth cell
    assert np.array_equal(np.asarray(cell_image(image, 4)), images[4]) and cell_count(cell_image(image, 4)) == 1
    single = grid_image(images[:1])
    assert single.size == (28, 28) and cell_count(single) == 1 and cell_at(single, 3, 3) is None


def test_labelled_rows_know_their_cells_past_the_labels():
    rows = np.stack([np.stack([np.full((28, 28), 10 * (3 * r + c + 1), np.uint8) for c in range(3)])
                     for r in range(2)])
    image = labelled_rows_image(rows, ["T-shirt/top", "Bag"])
    assert cell_count(image) == 6 and cell_at(image, 2, 2) is None  # the label margin
    assert np.asarray(cell_image(image, 5)).mean() == 60  # row 1, column 2, at twice the model pixels
    assert cell_image(image, 5).size == (56, 56)


def test_a_damaged_cell_layout_is_one_picture():
    image = grid_image(np.zeros((4, 28, 28), np.uint8))
    for damaged in ('{"count": 4}', "not json", '{"count": 4, "cols": 0, "cell": [28, 28], "origin": [0, 0], '
                    '"gap": 2}', '{"count": 400, "cols": 2, "cell": [28, 28], "origin": [0, 0], "gap": 2}'):
        image.info["studio-cells"] = damaged
        assert cell_count(image) == 1 and cell_at(image, 1, 1) is None


def test_a_grid_is_not_sent_whole_and_says_what_it_is():
    grid = pnginfo.embed(grid_image(np.zeros((9, 28, 28), np.uint8)),
                         {"tab": "latent", "model_id": "fmnist-gan", "seed": 3, "num_samples": 9})
    with pytest.raises(gr.Error, match="holds 9 pictures: click the one you want"):
        received_image(grid)
    assert alt_text(grid, "Sample") == ("Sample: Latent sampling · fmnist-gan · seed 3 · 9 samples "
                                        "(a grid of 9 pictures: click one to pick it)")
    single = cell_image(grid, 4)
    assert received_image(single) is single and alt_text(None, "Sample") == "Sample"
