"""launch.py's command line: clear one-sentence failures instead of tracebacks."""

import torch

import launch
from studio.serving import CACHE_MINUTES_LOCAL, CACHE_MINUTES_PUBLIC


def test_share_without_internet_fails_with_one_sentence(monkeypatch, capsys):
    monkeypatch.setattr(launch, "SHARE_SERVER", ("127.0.0.1", 9))  # nothing listens on the discard port
    assert launch.main(["--share", "--port", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--share needs an internet connection" in err
    assert "Traceback" not in err


def test_unavailable_device_is_refused_clearly(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert launch.main(["--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_host_defaults_to_loopback(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    assert launch.parse_args([]).host == "127.0.0.1"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # what Hugging Face Spaces sets
    assert launch.parse_args([]).host == "0.0.0.0"


def test_served_files_are_kept_briefly_on_a_public_server_and_longer_locally(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert launch.cache_minutes(launch.parse_args([])) == CACHE_MINUTES_LOCAL
    assert launch.cache_minutes(launch.parse_args(["--share"])) == CACHE_MINUTES_PUBLIC
    assert launch.cache_minutes(launch.parse_args(["--host", "0.0.0.0"])) == CACHE_MINUTES_PUBLIC
    assert launch.cache_minutes(launch.parse_args(["--cache-minutes", "7"])) == 7
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert launch.cache_minutes(launch.parse_args([])) == CACHE_MINUTES_PUBLIC
