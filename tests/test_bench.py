"""The benchmark's smoke run: every figure issue 7 asks for is printed with a number (no
timing is asserted: these machines are shared)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIGURES = (
    "model load (in process)",
    "text → clip, end to end to mp4",
    "text → clip, two objects, end to end to mp4",
    "image → clip, end to end to mp4",
    "edit, end to end to mp4",
    "text encoding",
    "encoders (image / source)",
    "base sampling",
    "upsampler",
    "decoders",
    "mp4 writing",
    "reading the input",
    "studio cold start to first clip",
    "peak resident memory serving",
    "matmul peak bf16 (torch.mm)",
    "matmul peak fp32 (torch.mm)",
    "training vae step",
    "training generator step",
    "training upsampler step",
    "training edit step",
    "MFU vae",
    "MFU generator",
    "MFU upsampler",
    "MFU edit",
    "denoiser forward (ours)",
    "diffusers CogVideoXTransformer3DModel forward",
    "ratio ours / CogVideoX",
    "seed reference sampler (DDPM 2+2 steps)",
    "ratio text → clip end to end / seed reference",
    "ratio our sampling / seed sampling",
)


def columns(line: str) -> list[str]:
    """A table row's columns: label, value, unit, target, holds, notes."""
    return re.split(r"\s{2,}", line.strip())


@pytest.fixture(scope="module")
def table(tiny_checkpoint):
    done = subprocess.run([sys.executable, "-m", "studio.bench", "--model", str(tiny_checkpoint), "--quick"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_figure_is_printed_with_a_number(table):
    rows = [columns(line) for line in table.splitlines()]
    for figure in FIGURES:
        matching = [row for row in rows if row[0] == figure]
        assert matching, f"no row for '{figure}' in:\n{table}"
        for row in matching:
            assert len(row) >= 3 and float(row[1]) >= 0, f"'{figure}' has no number: {row}"


def test_each_request_has_its_breakdown(table):
    """Text (one object, two), image and edit requests each list their stages, and the stages
    add up to the end-to-end time they break down."""
    blocks = re.split(r"\n(?=\S)", table)
    requests = [block.splitlines() for block in blocks if "end to end to mp4" in block.splitlines()[0]]
    assert len(requests) == 4
    for first, *stages in requests:
        seconds = {columns(line)[0]: float(columns(line)[1]) for line in stages}
        assert {"text encoding", "base sampling", "upsampler", "decoders", "mp4 writing", "other"} <= set(seconds)
        assert sum(seconds.values()) == pytest.approx(float(columns(first)[1]), abs=0.005)


def test_the_model_is_named_in_the_header(table, tiny_checkpoint):
    assert f"model: {tiny_checkpoint}" in table.splitlines()[0]
