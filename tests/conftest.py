"""Shared fixtures: a tiny, randomly initialised Flipbook checkpoint (seconds to build), and
`python app.py` served on a free local port."""

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from studio.ui import serving

# Tests use tiny tensors: one thread each is faster than two fighting (also for the
# subprocesses tests start, which inherit the variable).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    from models.pipelines import save_components
    from models.presets import build_components

    torch.manual_seed(0)
    components, clip_format = build_components("tiny")
    # A fresh DiT outputs zeros (adaLN-Zero, zero-initialised conditioning); give every weight a
    # value, as training would, so conditioning and guidance visibly act.
    with torch.no_grad():
        for name in ("transformer", "upsampler"):
            for p in components[name].parameters():
                p.add_(torch.randn_like(p) * 0.05)
    folder = tmp_path_factory.mktemp("tiny_checkpoint")
    save_components(folder, components, clip_format)
    return folder


@pytest.fixture(scope="session")
def tiny_pipelines(tiny_checkpoint):
    from models.pipelines import EditPipeline, GeneratePipeline, load_components

    components, clip_format = load_components(tiny_checkpoint)
    generate, edit = GeneratePipeline(**components, **clip_format), EditPipeline(**components, **clip_format)
    for pipe in (generate, edit):
        pipe.set_progress_bar_config(disable=True)
    return generate, edit


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: pretrained models must load with no network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("a model loader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# ---------------------------------------------------------------- the app in a subprocess

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def _serving_app(checkpoint: Path, temp: Path, log: Path, **env_vars: str):
    port = serving.free_port()
    env = {**os.environ, "FLIPBOOK_MODEL": str(checkpoint), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "TMPDIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONUNBUFFERED": "1", **env_vars}
    env.pop("GRADIO_TEMP_DIR", None)
    with open(log, "w") as log_file:  # a file, not a pipe nobody drains
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        serving.wait_until_serving(url, process, log)
        yield {"url": url, "temp": temp, "process": process}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def free_port():
    """A function returning a free local port."""
    return serving.free_port


@pytest.fixture(scope="session")
def serve_app():
    """`with serve_app(checkpoint, temp, log, **env_vars) as app:` runs `python app.py` on a free
    port with its temp folder redirected to `temp` (so every file it writes can be found) and
    its output in `log`; `app` holds url, temp and process. The app is killed on exit."""
    return _serving_app
