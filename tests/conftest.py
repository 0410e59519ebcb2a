"""Shared fixtures: tiny synthetic Fashion-MNIST files and the studio app running in this session."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def synthetic_fashion_mnist(tmp_path_factory) -> Path:
    """Four IDX .gz files with the real layout: 128 train and 64 test images of random blobs."""
    folder = tmp_path_factory.mktemp("fashion-mnist")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 128), ("t10k", 64)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


@pytest.fixture(scope="session")
def app_url():
    """The studio, launched in this test session on a free port, served the way launch.py serves it."""
    from studio.app import build_app, launch_on_free_port

    demo = build_app()
    yield launch_on_free_port(demo)
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)
