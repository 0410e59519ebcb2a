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
def synthetic_dtd(tmp_path_factory) -> Path:
    """A folder in the DTD layout: four of the DTD10 classes, random 80x96 JPEGs, four per split."""
    from PIL import Image

    root = tmp_path_factory.mktemp("dtd")
    rng = np.random.default_rng(0)
    classes = ["banded", "bubbly", "chequered", "cracked"]
    (root / "labels").mkdir()
    (root / "labels" / "classes.txt").write_text("\n".join(classes) + "\n")
    for split in ("train1", "val1"):
        entries = []
        for name in classes:
            (root / "images" / name).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                entry = f"{name}/{name}_{split}_{i}.jpg"
                Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(root / "images" / entry)
                entries.append(entry)
        (root / "labels" / f"{split}.txt").write_text("\n".join(entries) + "\n")
    return root


@pytest.fixture(scope="session")
def two_class_pictures(tmp_path_factory) -> Path:
    """40 small RGB pictures in two class folders (stone, wood): colour fields with noise, for training runs."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    for i in range(40):
        name = ("stone", "wood")[i % 2]
        (root / name).mkdir(exist_ok=True)
        base = np.array([[120, 110, 100], [150, 90, 40]][i % 2])
        image = np.clip(base + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def outputs_dir(tmp_path_factory) -> Path:
    """The outputs folder of the app under test."""
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def studio_app(outputs_dir):
    """The studio's Blocks and URL, launched in this test session on a free port, served the way launch.py
    serves it."""
    from studio.app import build_app, launch_on_free_port

    demo = build_app(outputs_dir)
    yield demo, launch_on_free_port(demo)
    demo.close()


@pytest.fixture(scope="session")
def app_url(studio_app):
    return studio_app[1]


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def server_paths_client(app_url):
    """A client that answers with the server's file payloads (paths on the server) instead of downloading."""
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=False)
