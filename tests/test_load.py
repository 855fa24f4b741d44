"""Load and leaks: one `python app.py` (tiny checkpoint, two requests sampling at once) serves
20 concurrent `gradio_client` users on mixed endpoints, then a long run of sequential requests
with its resident memory flat after warm-up and its request folders swept as they age.

FLIPBOOK_LOAD_REQUESTS sets the sequential run's length: 60 by default (what `.ci/run`
runs), 200 for the full check.
"""

import os
import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from studio import media
from studio.ui.examples import example_clips, example_images
from studio.ui.serving import memory_mb

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

USERS = 20
REQUESTS = int(os.environ.get("FLIPBOOK_LOAD_REQUESTS", "60"))
WARM_UP = 10  # requests before the memory baseline: caches, lazy imports and allocator pools fill
MAX_GROWTH = 0.10
OUTPUT_MAX_AGE_S = 10
FAST = dict(steps=1)


@pytest.fixture(scope="module")
def app(tiny_checkpoint, tmp_path_factory, serve_app):
    temp = tmp_path_factory.mktemp("load-temp")
    log = tmp_path_factory.mktemp("load-log") / "app.log"
    with serve_app(tiny_checkpoint, temp, log, FLIPBOOK_CONCURRENCY="2",
                   FLIPBOOK_OUTPUT_MAX_AGE_S=str(OUTPUT_MAX_AGE_S)) as served:
        yield served


def client(app, folder: Path) -> Client:
    return Client(app["url"], verbose=False, download_files=str(folder))


def request(user: Client, k: int) -> tuple[str, int, float]:
    """Request k, on the endpoint k picks: (mp4 path, seed returned, seconds)."""
    started = time.perf_counter()
    if k % 3 == 0:
        out = user.predict(f"a small blue square moving left {k}", k, api_name="/text_to_video", **FAST)
    elif k % 3 == 1:
        image, prompt = example_images()[k % len(example_images())]
        out = user.predict(handle_file(image), prompt, k, api_name="/image_to_video", **FAST)
    else:
        clip, instruction = example_clips()[k % len(example_clips())]
        out = user.predict(handle_file(clip), instruction, k, api_name="/edit_video", **FAST)
    return out[0], out[-2], time.perf_counter() - started  # (videos..., [source,] seed, info)


def test_twenty_concurrent_users_all_complete(app, tmp_path):
    users = [client(app, tmp_path / f"user{k}") for k in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        jobs = [pool.submit(request, user, k) for k, user in enumerate(users)]
        results = [job.result(timeout=1200) for job in jobs]
    for user in users:
        user.close()
    assert [seed for _, seed, _ in results] == list(range(USERS))  # every answer went to its asker
    assert len({video for video, _, _ in results}) == USERS
    for video, _, _ in results:
        assert media.probe(video).has_audio
    latencies = sorted(seconds for *_, seconds in results)
    p50, p95 = statistics.median(latencies), latencies[int(0.95 * (USERS - 1))]
    print(f"\n{USERS} concurrent users: p50 {p50:.1f} s, p95 {p95:.1f} s, max {latencies[-1]:.1f} s")


def test_an_unsafe_prompt_is_refused_and_the_next_request_served(app, tmp_path):
    user = client(app, tmp_path)
    with pytest.raises(Exception, match="refused by the safety filter"):
        user.predict("a circle with a gun", 1, api_name="/text_to_video", **FAST)
    video, seed, _ = request(user, 0)
    assert seed == 0 and media.probe(video).has_audio
    user.close()


def test_sequential_requests_hold_memory_and_sweep_outputs(app, tmp_path):
    user = client(app, tmp_path)
    pid = app["process"].pid
    memory, seconds = [], []
    started = time.time()
    for k in range(REQUESTS):
        video, seed, took = request(user, k)
        assert seed == k and Path(video).is_file()
        seconds.append(took)
        if k >= WARM_UP - 1:
            memory.append(memory_mb(pid))  # the app's and its engine's
    time.sleep(max(0.0, started + OUTPUT_MAX_AGE_S + 1 - time.time()))
    request(user, REQUESTS)  # its new folder sweeps those aged past the limit
    user.close()
    growth = memory[-1] / memory[0] - 1
    print(f"\n{REQUESTS} sequential requests: {statistics.mean(seconds):.2f} s each; resident memory "
          f"{memory[0]:.0f} MB after {WARM_UP} -> {memory[-1]:.0f} MB (peak {max(memory):.0f} MB, "
          f"{growth:+.1%})")
    assert growth <= MAX_GROWTH

    root = next(app["temp"].glob("flipbook-*"))
    made = [p.stat().st_mtime for p in root.iterdir() if p.is_dir()]
    assert min(made) >= started, "request folders from before this run outlived their age limit"
    assert time.time() - min(made) < OUTPUT_MAX_AGE_S + max(seconds) + 5
    written = {p.relative_to(app["temp"]).parts[0] for p in app["temp"].rglob("*") if p.is_file()}
    assert written <= {root.name, "gradio"}, written


def cache_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def test_stopping_removes_every_output(app):
    """Last: it stops the server, with SIGTERM as a Space does (test_app stops with SIGINT)."""
    root = next(app["temp"].glob("flipbook-*"))
    serving_mb = cache_mb(app["temp"] / "gradio")
    app["process"].send_signal(signal.SIGTERM)
    app["process"].wait(timeout=60)
    assert not root.exists()
    print(f"\nGradio's cache: {serving_mb:.1f} MB while serving, {cache_mb(app['temp'] / 'gradio'):.1f} MB "
          "after stopping")
