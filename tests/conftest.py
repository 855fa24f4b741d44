"""Shared fixtures: a tiny, randomly initialised Flipbook checkpoint (seconds to build)."""

import os

import pytest
import torch

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
