"""Fashion-MNIST: reader for the four standard IDX `.gz` files from any folder, and the mapping of any
picture into the dataset's domain."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.errors import InvalidRequestError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SIZE = 28
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_UBYTE = 0x08
PICTURE_WORKING_SIZE = 256  # pictures are reduced to this before the object is found
MIN_OBJECT_CONTRAST = 16  # grey levels an object must stand out from the background
OBJECT_THRESHOLD = 0.1  # share of the peak above which a pixel belongs to the object


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes into an array of its shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _IDX_UBYTE:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {shape}, found {array.size} values")
    return array.reshape(shape).copy()


def load_split(split: str, data_dir: Path | str = DEFAULT_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]) of the `train` or `test` split."""
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, not {split!r}")
    data_dir = Path(data_dir)
    image_file, label_file = (data_dir / name for name in _FILES[split])
    for path in (image_file, label_file):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found. Install Fashion-MNIST with "
                "`apt-get install dataset-fashion-mnist` or pass --data DIR."
            )
    images = read_idx(image_file)
    labels = read_idx(label_file).astype(np.int64)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"unexpected Fashion-MNIST shapes {images.shape} / {labels.shape} in {data_dir}")
    return images, labels


def to_model_range(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float tensor [N, 1, 28, 28] in [-1, 1], the range the networks use."""
    return torch.from_numpy(images).float().div_(127.5).sub_(1.0).unsqueeze(1)


def from_picture(image: Image.Image) -> np.ndarray:
    """Map any picture into the dataset's domain: uint8 [28, 28], grayscale, dark background, the
    object cropped to its bounding box, scaled so its longer side fills the frame, and centred.

    The background level is the median of the border pixels; a light background is inverted. A 28x28
    picture is only inverted if need be (it is taken as a dataset image). A picture with nothing on it
    (one flat tone) is refused.
    """
    gray = image.convert("L")
    gray.thumbnail((PICTURE_WORKING_SIZE, PICTURE_WORKING_SIZE), Image.Resampling.BOX)
    pixels = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = float(np.median(border))
    if background > 127:
        pixels, background = 255 - pixels, 255 - background
    foreground = np.clip(pixels - background, 0, None)
    peak = float(foreground.max())
    if peak < MIN_OBJECT_CONTRAST:
        raise InvalidRequestError("The image is empty: it has no object that stands out from its background.")
    if pixels.shape == (IMAGE_SIZE, IMAGE_SIZE):  # already at the dataset's resolution: keep every pixel
        return pixels.astype(np.uint8)
    foreground *= 255 / peak
    rows, cols = np.nonzero(foreground > OBJECT_THRESHOLD * 255)
    crop = foreground[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = IMAGE_SIZE / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    resized = Image.fromarray(crop.round().astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    canvas.paste(resized, ((IMAGE_SIZE - size[0]) // 2, (IMAGE_SIZE - size[1]) // 2))
    return np.asarray(canvas).copy()
