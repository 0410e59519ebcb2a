import gzip

import numpy as np
import pytest

from models.data import fashion_mnist


def test_reads_the_four_idx_files(synthetic_fashion_mnist):
    images, labels = fashion_mnist.load_split("train", synthetic_fashion_mnist)
    assert images.shape == (128, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(128)]
    tensor = fashion_mnist.to_model_range(images)
    assert tensor.shape == (128, 1, 28, 28)
    assert tensor.min() >= -1 and tensor.max() <= 1


def test_missing_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist.load_split("test", tmp_path)


def test_truncated_file_is_refused(tmp_path, synthetic_fashion_mnist):
    for f in synthetic_fashion_mnist.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        fashion_mnist.load_split("test", tmp_path)
