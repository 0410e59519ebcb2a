"""Decoding images users bring, and mapping pictures into the Fashion-MNIST domain."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.data.fashion_mnist import from_picture
from models.errors import InvalidRequestError
from models.image_input import MAX_PIXELS, ImageInputError, open_image


def encoded(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def test_rgba_is_composited_over_white():
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))
    rgb = np.asarray(open_image(encoded(image)))
    assert rgb.shape == (16, 16, 3)
    assert tuple(rgb[0, 12]) == (255, 255, 255) and tuple(rgb[0, 2]) == (0, 0, 255)


def test_palette_cmyk_and_greyscale_become_rgb():
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert tuple(np.asarray(open_image(encoded(palette)))[5, 5]) == (10, 200, 30)
    cmyk = open_image(encoded(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG"))
    red, green, blue = np.asarray(cmyk)[5, 5].astype(int)
    assert red > 200 and green < 60 and blue < 60
    assert open_image(encoded(Image.new("L", (10, 10), 77))).getpixel((3, 3)) == (77, 77, 77)


def test_sixteen_bit_images_keep_their_brightness():
    ramp = np.linspace(0, 65535, 64 * 16).reshape(16, 64).astype(np.uint16)
    rgb = np.asarray(open_image(encoded(Image.fromarray(ramp))))
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert abs(int(rgb[8, 32, 0]) - round(ramp[8, 32] / 257)) <= 1


def test_huge_image_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000)).save(path)  # compresses to a few hundred kB
    with pytest.raises(ImageInputError, match="up to 25 megapixels"):
        open_image(path)
    assert MAX_PIXELS < 8000 * 8000


@pytest.mark.parametrize("data, message", [
    (b"this is a text file, not a picture", "not an image the studio can read"),
    (encoded(Image.new("RGB", (1, 1))), "needs at least 8 pixels a side"),
    (encoded(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:200], "damaged or truncated"),
])
def test_unusable_files_get_a_readable_message(data, message):
    with pytest.raises(ImageInputError, match=message):
        open_image(data)
    assert issubclass(ImageInputError, InvalidRequestError)


def shirt_on_white(size=(300, 200)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((100, 50, 159, 189), fill=(40, 40, 40))  # 60 wide, 140 tall
    return image


def test_pictures_are_inverted_cropped_scaled_and_centred():
    pixels = from_picture(shirt_on_white())
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    assert pixels[:, :6].max() == 0 and pixels[:, -6:].max() == 0  # dark background either side
    rows, cols = np.nonzero(pixels > 128)
    assert rows.min() == 0 and rows.max() == 27  # the longer side fills the frame
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1  # centred
    assert 10 <= cols.max() - cols.min() + 1 <= 14  # aspect kept: 60/140 * 28 = 12


def test_a_dataset_image_passes_unchanged():
    rng = np.random.default_rng(0)
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 6:22] = rng.integers(50, 256, (20, 16))
    np.testing.assert_array_equal(from_picture(Image.fromarray(pixels).convert("RGB")), pixels)


def test_an_empty_picture_is_refused():
    with pytest.raises(InvalidRequestError, match="empty"):
        from_picture(Image.new("RGB", (100, 100), "white"))
