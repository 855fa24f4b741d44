"""Crash safety of training: a tiny generator stage killed with SIGKILL at three random moments
(one while a checkpoint is being saved) and resumed each time ends bit-identical to a run
never interrupted, and a torn checkpoint is never picked up.

The moments come from FLIPBOOK_CRASH_SEED (default: drawn and printed, so a failure can be
replayed).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.test_training import CONFIG, REPO, copy_run, digest, stage, weights
from training.loop import CHECKPOINT, COMPLETE_MARKER, EMA_FILE, latest_checkpoint

STEPS = 24  # tiny.yaml checkpoints every 2 steps; a tiny step takes tens of milliseconds

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def after_vae(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    stage("vae", run_dir)
    return run_dir


def start(run_dir: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "training.generator", "--config", str(CONFIG), "--output-dir", str(run_dir),
               "--max-steps", str(STEPS)]
    with open(log, "a") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def steps_done(run_dir: Path) -> int:
    """The last step in the training log (resuming trims it back to the checkpoint's step)."""
    try:
        lines = (run_dir / "generator" / "log.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (FileNotFoundError, json.JSONDecodeError, IndexError):
        return 0  # not written yet, or caught mid-line


def torn(run_dir: Path, since: float = 0.0) -> list[Path]:
    """Temporary checkpoint folders (a save in progress, or torn by a kill) with at least one
    file written, made after `since`."""
    folder = run_dir / "generator" / "checkpoints"
    found = []
    for path in sorted(folder.glob("tmp_step_*")) if folder.is_dir() else []:
        try:
            if path.stat().st_mtime >= since and any(path.iterdir()):
                found.append(path)
        except FileNotFoundError:
            continue  # renamed into place meanwhile
    return found


def kill_when(process: subprocess.Popen, ready, timeout_s: float = 900) -> None:
    """SIGKILL the stage's process group the moment `ready()` holds; fail if it ends first."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert process.poll() is None, f"the stage ended (code {process.returncode}) before the planned kill"
        assert time.monotonic() < deadline, "the planned kill never came"
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def at_step(run_dir: Path, step: int, rng: random.Random):
    """Ready a random moment (up to about a step) after `step` was logged."""
    delay_s = rng.uniform(0, 0.05)
    reached = []

    def ready():
        if not reached and steps_done(run_dir) >= step:
            reached.append(time.monotonic())
        return bool(reached) and time.monotonic() - reached[0] >= delay_s
    return ready


def test_killed_three_times_ends_bit_identical_to_an_uninterrupted_run(after_vae, tmp_path):
    seed = int(os.environ.get("FLIPBOOK_CRASH_SEED", random.randrange(2**32)))
    print(f"FLIPBOOK_CRASH_SEED={seed}")
    rng = random.Random(seed)
    straight = copy_run(after_vae, tmp_path, "straight")
    crashed = copy_run(after_vae, tmp_path, "crashed")
    log = tmp_path / "crashed.log"
    checkpoints = crashed / "generator" / "checkpoints"

    first = rng.randint(1, STEPS // 4)
    kill_when(start(crashed, log), at_step(crashed, first, rng))
    print(f"killed after step {steps_done(crashed)} was logged")

    started = time.time()
    kill_when(start(crashed, log), lambda: bool(torn(crashed, started)))  # mid-save: a file in, not marked
    tmp = torn(crashed, started)
    assert tmp, f"the save finished before the kill landed (seed {seed})"
    latest = latest_checkpoint(checkpoints)  # None when the first kill came before any checkpoint
    assert latest is None or ((latest / COMPLETE_MARKER).is_file() and
                              int(CHECKPOINT.match(latest.name).group(1)) < int(tmp[-1].name.rsplit("_", 1)[1]))
    print(f"killed while saving {tmp[-1].name} ({len(list(tmp[-1].iterdir()))} files in); latest is "
          f"{latest.name if latest else None}")

    third = rng.randint(min(steps_done(crashed) + 1, STEPS - 4), STEPS - 4)
    kill_when(start(crashed, log), at_step(crashed, third, rng))
    print(f"killed after step {steps_done(crashed)} was logged")

    stage("generator", crashed, "--max-steps", STEPS)
    stage("generator", straight, "--max-steps", STEPS)

    assert digest(crashed, "generator") == digest(straight, "generator"), f"seed {seed}"
    a, b = weights(straight / "model" / "transformer"), weights(crashed / "model" / "transformer")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"seed {seed}"
    logged = [json.loads(line)["step"] for line in (crashed / "generator" / "log.jsonl").read_text().splitlines()]
    assert logged == list(range(1, STEPS + 1))
    assert not torn(crashed)  # the resumed save cleared the torn folder
    for folder in (p for p in checkpoints.iterdir() if CHECKPOINT.match(p.name)):
        assert (folder / EMA_FILE).is_file() and not list(folder.glob("*custom_checkpoint*")), folder
