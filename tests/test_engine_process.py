"""The app's engine in a child process (studio/engine_process.py): the clips this process would
make, progress as it goes, errors raised here as they were raised there, requests at once, and
no hang or stray process when the child dies or is no longer used."""

import gc
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from studio import media
from studio.engine import Engine
from studio.engine_process import EngineProcess

FAST = dict(steps=2, upsampler_steps=1)


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    engine = EngineProcess(tiny_checkpoint)
    yield engine
    engine.close()


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_the_child_makes_the_clip_this_process_makes(engine, tiny_checkpoint, tmp_path):
    steps = []
    there = engine.generate("a red circle moving left", seed=5, progress=lambda done, total: steps.append(done),
                            **FAST)
    here = Engine(tiny_checkpoint).generate("a red circle moving left", seed=5, **FAST)
    assert np.array_equal(there.frames, here.frames) and np.array_equal(there.audio, here.audio)
    assert there.record == here.record and engine.content_hash == here.record["model_hash"]
    assert steps == sorted(steps) and len(steps) >= 3  # base and upsampler steps, in order
    written = engine.write(there, 0, tmp_path / "clip.mp4")
    assert media.probe(written).duration_s > 0 and written.with_suffix(".json").is_file()


def test_errors_are_raised_here_as_they_were_raised_there(engine, tmp_path):
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.generate("  ", seed=1, **FAST)
    (tmp_path / "not-a-video.mp4").write_text("hello")
    with pytest.raises(media.MediaError):
        engine.edit(str(tmp_path / "not-a-video.mp4"), "make the circle blue", seed=1, **FAST)


def test_requests_at_once_each_get_their_own_answer(engine):
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda seed: engine.generate("a green square", seed=seed, **FAST), [1, 2, 3]))
    assert [r.seeds for r in results] == [[1], [2], [3]]


def test_a_caller_that_stops_waiting_leaves_the_engine_serving(engine):
    """A progress callback that raises (a cancelled request) ends that request here; the
    child's later answers to it are dropped, and the next request is served."""
    def cancel(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.generate("a red circle", seed=1, progress=cancel, **FAST)
    assert engine.generate("a red circle", seed=2, **FAST).seeds == [2]


def test_a_folder_that_is_no_checkpoint_is_a_value_error(tmp_path):
    missing = EngineProcess(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="does not exist"):
        missing.load()
    assert not missing.loaded
    missing.close()


def test_a_dead_child_fails_requests_instead_of_hanging(tiny_checkpoint):
    engine = EngineProcess(tiny_checkpoint)
    engine.load()
    os.kill(engine.pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="model process stopped"):
        engine.generate("a red circle", seed=1, **FAST)
    assert time.monotonic() - started < 10
    engine.close()


def test_an_engine_no_longer_used_stops_its_child(tiny_checkpoint):
    engine = EngineProcess(tiny_checkpoint)
    engine.load()
    pid = engine.pid
    del engine
    gc.collect()
    assert not running(pid)
