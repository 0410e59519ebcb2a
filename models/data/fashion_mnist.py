"""Fashion-MNIST reader for the four standard IDX `.gz` files, from any folder."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

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
