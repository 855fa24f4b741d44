"""The studio app: `python app.py` on a free local port with a tiny random checkpoint, driven
through every named endpoint with `gradio_client`; bad input ends in a clear error and the app
keeps serving; outputs stay in the temporary root and are removed when it stops."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import httpx
import imageio_ffmpeg
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from models import sampling_defaults as defaults
from studio import media
from studio.evaluation.judge import judge_clip
from studio.ui import board, build_ui, inputs
from studio.ui.examples import EXAMPLES_DIR, example_clips, example_images, example_prompts
from studio.ui.model_tab import card_and_metrics, status
from studio.ui.outputs import OutputRoot
from studio.ui.service import Studio
from tests.test_media import png_claiming

REPO_ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ("/text_to_video", "/image_to_video", "/edit_video")
FAST = dict(steps=1)  # the tiny model's clips cost well under a second at one step


def ffmpeg_clip(path: Path, source: str, seconds: float, tone: bool = True) -> Path:
    """A clip from an ffmpeg test source, with a tone if asked."""
    audio = ["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac", "-shortest"] if tone else []
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, *audio,
               "-t", f"{seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="module")
def app(tiny_checkpoint, tmp_path_factory, serve_app):
    temp = tmp_path_factory.mktemp("app-temp")
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    with serve_app(tiny_checkpoint, temp, log, FLIPBOOK_CONCURRENCY="2") as served:
        yield served


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return Client(app["url"], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def error_of(client: Client, *args, **kwargs) -> str:
    with pytest.raises(Exception) as error:
        client.predict(*args, **kwargs)
    return str(error.value)


def assert_playable_clip(path, size_px: int | None = None) -> None:
    info = media.probe(path)
    assert info.has_audio and info.audio_sample_rate_hz == 16_000
    assert abs(info.duration_s - 2.0) < 0.1 and info.fps == 8.0
    if size_px is not None:
        assert info.width == info.height == size_px


# ---------------------------------------------------------------- the endpoints


def test_the_page_is_built_without_torch():
    """So `python app.py` serves its page while the model's libraries load (README, Speed)."""
    code = "import sys, studio.ui; print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_endpoints_are_named_and_take_defaults_after_the_first_two(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(api) == set(ENDPOINTS)  # the UI's own events (seed, board, tabs) stay private
    for name in ENDPOINTS:
        parameters = api[name]["parameters"]
        assert all(p["parameter_has_default"] for p in parameters[2:]), (name, parameters)
        assert api[name]["returns"][0]["component"] == "Video"


def test_text_to_video_returns_candidates_side_by_side(client):
    first, second, third, _, seed, info = client.predict("a large red circle moving left on a navy background", 7,
                                                         candidates=2, api_name="/text_to_video", **FAST)
    assert_playable_clip(first, size_px=32 * 4)  # the tiny model's 32 px, shown 4x
    assert_playable_clip(second)
    assert third is None and seed == 7
    assert "seed(s) 7, 8" in info and Path(first).name == "flipbook-text-seed7.mp4"
    assert f"(sound {defaults.AUDIO_GUIDANCE:g})" in info


def test_text_to_video_with_the_same_seed_is_reproducible(client):
    a = client.predict("a green triangle moving up", 123, api_name="/text_to_video", **FAST)[0]
    b = client.predict("a green triangle moving up", 123, api_name="/text_to_video", **FAST)[0]
    frames_a, _ = media.read_video(a, size=None)
    frames_b, _ = media.read_video(b, size=None)
    assert np.array_equal(frames_a.frames, frames_b.frames)


def test_text_to_video_without_a_seed_reports_the_random_one(client):
    *_, seed, info = client.predict("a circle staying still 🎈 دائرة\x07", api_name="/text_to_video", **FAST)
    assert isinstance(seed, int) and 0 <= seed < 2**32 and f"seed(s) {seed}" in info
    assert "removed control characters from the prompt" in info  # emoji and right-to-left text stay


def test_image_to_video_from_an_example_image(client):
    image, prompt = example_images()[0]
    video, *_, info = client.predict(handle_file(image), prompt, 3, api_name="/image_to_video", **FAST)
    assert_playable_clip(video)
    assert "seed(s) 3" in info


@pytest.mark.parametrize("name, image", [
    ("alpha.png", Image.new("RGBA", (40, 30), (200, 100, 50, 128))),
    ("deep.png", Image.fromarray(np.full((20, 20), 40000, np.uint16))),
    ("gray.png", Image.new("L", (9, 15), 80)),
    ("dot.png", Image.new("RGB", (1, 1), (9, 99, 199))),
])
def test_image_to_video_takes_odd_images(client, tmp_path, name, image):
    image.save(tmp_path / name)
    video, *_ = client.predict(handle_file(str(tmp_path / name)), "a red circle", api_name="/image_to_video", **FAST)
    assert_playable_clip(video)


def test_edit_video_shows_the_source_beside_the_result(client):
    clip, instruction = example_clips()[0]
    first, second, _, _, source, seed, info = client.predict(handle_file(clip), instruction, 11,
                                                             api_name="/edit_video", **FAST)
    assert_playable_clip(first, size_px=32 * 4)
    assert_playable_clip(source, size_px=32 * 4)
    assert second is None and seed == 11
    assert "task `recolor`" in info  # detected from "make the ... blue"


def test_edit_video_with_task_override_and_kept_audio(client):
    clip, _ = example_clips()[0]
    first, *_, info = client.predict(handle_file(clip), "do something", task="reverse", keep_audio=True,
                                     api_name="/edit_video", **FAST)
    assert_playable_clip(first)
    assert "task `reverse`" in info


def test_long_and_vertical_sources_are_trimmed_and_cropped_with_a_notice(client, tmp_path):
    long = ffmpeg_clip(tmp_path / "ten-minutes.mp4", "color=c=navy:s=64x64:r=1", 600, tone=False)
    *_, info = client.predict(handle_file(str(long)), "make it grayscale", api_name="/edit_video", **FAST)
    assert "trimmed 600.0 s to 2.0 s" in info
    tall = ffmpeg_clip(tmp_path / "vertical.mp4", "testsrc=s=90x160:r=8", 3)
    *_, info = client.predict(handle_file(str(tall)), "make it grayscale", api_name="/edit_video", **FAST)
    assert "centre-cropped 90x160" in info
    still = ffmpeg_clip(tmp_path / "one-frame.mp4", "testsrc=s=64x64:r=8", 0.125, tone=False)
    *_, info = client.predict(handle_file(str(still)), "make it grayscale", api_name="/edit_video", **FAST)
    assert "repeated the last frame 15 times" in info


def test_queue_serves_concurrent_requests(client):
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(client.predict, f"a small blue square moving {way}", i, api_name="/text_to_video",
                            **FAST) for i, way in enumerate(("left", "right", "up", "down"))]
        results = [job.result(timeout=120) for job in jobs]
    assert [r[4] for r in results] == [0, 1, 2, 3]
    assert len({r[0] for r in results}) == 4  # each request wrote its own file


# ---------------------------------------------------------------- bad input


def bad_files(folder: Path) -> dict[str, Path]:
    (folder / "notes.mp4").write_text("this is not a video\n" * 20)
    data = Path(example_clips()[0][0]).read_bytes()
    (folder / "half.mp4").write_bytes(data[: len(data) // 2])
    media.write_wav(folder / "sound.wav", np.zeros(8000, np.float32))
    (folder / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    (folder / "noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=s=16x16",
                    "-frames:v", "0", str(folder / "zero-frames.mp4")], check=True)
    return {p.name: p for p in folder.iterdir()}


def test_bad_input_gets_a_clear_error_and_the_app_keeps_serving(client, tmp_path):
    files = bad_files(tmp_path)
    clip = handle_file(example_clips()[0][0])
    image = handle_file(example_images()[0][0])
    cases = [
        ("/text_to_video", ("", 1), {}, "the prompt is empty"),
        ("/text_to_video", ("  \t\n ", 1), {}, "the prompt is empty"),
        ("/text_to_video", ("x" * 10_000, 1), {}, "keep it under 1000"),
        ("/text_to_video", ("a red circle", -1), {}, "seed must be a whole number from 0 to 2^63 - 1"),
        ("/text_to_video", ("a red circle", 2**63), {}, "seed must be a whole number"),
        ("/text_to_video", ("a red circle", 1.5), {}, "seed must be a whole number"),
        ("/text_to_video", ("a red circle", 1), {"steps": 0}, "steps must be a whole number from 1 to 50"),
        ("/text_to_video", ("a red circle", 1), {"steps": 10**6}, "steps must be a whole number from 1 to 50"),
        ("/text_to_video", ("a red circle", 1), {"candidates": 5}, "candidates must be a whole number from 1 to 4"),
        ("/text_to_video", ("a red circle", 1), {"guidance": -1}, "guidance must be between 0 and 15"),
        ("/image_to_video", (image, ""), {}, "the prompt is empty"),
        ("/image_to_video", (handle_file(str(files["bomb.png"])), "a red circle"), {}, "decompression bomb"),
        ("/image_to_video", (handle_file(str(files["noise.png"])), "a red circle"), {}, "not a readable image"),
        ("/edit_video", (handle_file(str(files["notes.mp4"])), "make it grayscale"), {}, "cannot read notes.mp4"),
        ("/edit_video", (handle_file(str(files["half.mp4"])), "make it grayscale"), {}, "truncated or damaged"),
        ("/edit_video", (handle_file(str(files["sound.wav"])), "make it grayscale"), {}, "no video stream"),
        ("/edit_video", (handle_file(str(files["zero-frames.mp4"])), "make it grayscale"), {}, "no video stream"),
        ("/edit_video", (clip, "   "), {}, "the instruction is empty"),
        ("/edit_video", (clip, "make it grayscale"), {"task": "explode"}, "unknown task 'explode'"),
        ("/edit_video", (clip, "do something nice"), {}, "could not tell which edit"),
    ]
    for endpoint, args, kwargs, expected in cases:
        message = error_of(client, *args, api_name=endpoint, **{**FAST, **kwargs})
        assert expected in message, (endpoint, args[1:], kwargs, message)
    video_message = error_of(client, handle_file(str(files["notes.mp4"])), "make it grayscale",
                             api_name="/edit_video")
    assert "Upload a video file" in video_message and "/tmp" not in video_message  # the user's name, no server path
    video, *_ = client.predict("a red circle", 1, api_name="/text_to_video", **FAST)
    assert_playable_clip(video)


def call_raw(url: str, endpoint: str, body: str) -> str:
    """Gradio's plain-HTTP API, for values `gradio_client` will not send (NaN, made-up paths)."""
    base = f"{url}gradio_api/call/{endpoint}"
    event = httpx.post(base, content=body, headers={"content-type": "application/json"}).json()["event_id"]
    return httpx.get(f"{base}/{event}", timeout=60).text


def test_raw_requests_with_non_finite_numbers_or_foreign_paths_are_refused(app):
    for value in ("NaN", "Infinity", "-Infinity"):
        reply = call_raw(app["url"], "text_to_video", f'{{"data": ["a red circle", 1, "", 1, {value}, 1]}}')
        assert "event: error" in reply and "guidance must be a finite number" in reply, reply
    secret = {"path": str(REPO_ROOT / "app.py"), "meta": {"_type": "gradio.FileData"}}
    reply = call_raw(app["url"], "edit_video", json.dumps({"data": [secret, "make it grayscale", 1, "auto", 1, 4.0,
                                                                    1.5, 1, False, True]}))
    assert "event: error" in reply and "app.py" not in reply and "complete" not in reply
    assert httpx.get(f"{app['url']}gradio_api/file={REPO_ROOT / 'app.py'}").status_code == 403


def test_no_path_in_a_request_reads_a_file_the_app_did_not_make(app, tiny_checkpoint):
    secret = app["temp"] / "secret.txt"  # in the app's own temp folder, beside Gradio's cache
    secret.write_text("do not serve")
    weights = next((tiny_checkpoint / "transformer").glob("*.safetensors"))
    cache = app["temp"] / "gradio"
    probes = [secret, weights, REPO_ROOT / "README.md", "/etc/passwd", f"{cache}/../secret.txt", "../secret.txt",
              f"{cache}%2F..%2Fsecret.txt", f"{cache}/%2e%2e/secret.txt"]
    for path in probes:
        response = httpx.get(f"{app['url']}gradio_api/file={path}")
        assert response.status_code in (403, 404) and "do not serve" not in response.text, path
    # Readable media the app did not receive as uploads: were the paths honoured, these would succeed.
    image = shutil.copy(example_images()[0][0], app["temp"] / "secret.png")
    clip = shutil.copy(example_clips()[0][0], app["temp"] / "secret.mp4")
    for endpoint, data in (("image_to_video", [image, "a red circle", 1, "", 1, 4.0, 1]),
                           ("edit_video", [clip, "make it grayscale", 1, "auto", 1, 4.0, 1.5, 1, False, True])):
        data[0] = {"path": str(data[0]), "meta": {"_type": "gradio.FileData"}}
        reply = call_raw(app["url"], endpoint, json.dumps({"data": data}))
        assert "event: error" in reply and "complete" not in reply, reply
    for planted in (secret, image, clip):  # later tests check the app wrote nothing but its own folders
        planted.unlink()


def test_an_upload_over_the_size_limit_is_refused_and_the_app_keeps_serving(client, tmp_path):
    huge = tmp_path / "huge.mp4"
    with open(huge, "wb") as f:
        f.truncate(51 * 2**20)  # over the 50 MB limit
    assert "exceeds" in error_of(client, handle_file(str(huge)), "make it grayscale", api_name="/edit_video")
    video, *_ = client.predict("a red circle", 2, api_name="/text_to_video", **FAST)
    assert_playable_clip(video)


# ---------------------------------------------------------------- where outputs go


def test_each_request_writes_into_its_own_folder_under_the_temp_root(app, client):
    client.predict("a yellow circle moving down", 5, api_name="/text_to_video", **FAST)
    roots = list(app["temp"].glob("flipbook-*"))
    assert len(roots) == 1
    requests = [p for p in roots[0].iterdir() if p.is_dir()]
    assert all(p.name.split("-")[0] in ("text", "image", "edit") for p in requests)
    newest = max(requests, key=lambda p: p.stat().st_mtime)
    assert sorted(p.name for p in newest.iterdir()) == ["flipbook-text-seed5.json", "flipbook-text-seed5.mp4"]
    written = {p.relative_to(app["temp"]).parts[0] for p in app["temp"].rglob("*") if p.is_file()}
    assert written <= {roots[0].name, "gradio"}, written  # our root and Gradio's cache, nothing else


def test_stopping_the_app_removes_its_outputs(app, client):
    """Last in this module: it stops the server."""
    root = next(app["temp"].glob("flipbook-*"))
    client.close()  # its open heartbeat stream would hold up the server's graceful shutdown
    app["process"].send_signal(signal.SIGINT)
    app["process"].wait(timeout=60)
    assert not root.exists()


# ---------------------------------------------------------------- in-process pieces


def test_building_the_ui_loads_no_weights(tiny_checkpoint):
    studio = Studio(tiny_checkpoint)
    demo = build_ui(studio)
    assert isinstance(demo, gr.Blocks) and not studio.engine.loaded
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"text_to_video", "image_to_video", "edit_video"} <= names


def test_missing_or_broken_model_says_how_to_get_one(tmp_path, tiny_checkpoint):
    with pytest.raises(gr.Error, match="model folder .*missing.*assets/shapes"):
        Studio(tmp_path / "nowhere").generate("a red circle", 1, "", 1, 4.0, 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(gr.Error, match="Cannot load the model .*model_index.json.*--model"):
        Studio(tmp_path / "empty").generate("a red circle", 1, "", 1, 4.0, 1)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_checkpoint, corrupt)
    weights = next((corrupt / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(gr.Error, match="Cannot load the model .*transformer"):
        Studio(corrupt).use_model(str(corrupt))


def test_model_panel_shows_the_card_and_metrics_and_switches_checkpoints(tmp_path, tiny_checkpoint):
    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint, other)
    (other / "README.md").write_text("# Tiny\nA random checkpoint for tests.")
    (other / "metrics.json").write_text('{"edit_success": 0.5}')
    studio = Studio(tiny_checkpoint)
    assert "not loaded yet" in status(studio.engine) and "size 32" in status(studio.engine)
    assert card_and_metrics(studio.engine) == ("*This checkpoint has no model card (README.md).*", None)
    with pytest.raises(gr.Error, match="missing"):
        studio.use_model(str(tmp_path / "nowhere"))
    assert studio.engine.model_dir == tiny_checkpoint  # a bad folder leaves the model in place
    studio.use_model(str(other))
    assert studio.engine.model_dir == other and "content hash" in status(studio.engine)
    assert card_and_metrics(studio.engine) == ("# Tiny\nA random checkpoint for tests.", {"edit_success": 0.5})
    outcome = studio.generate("a red circle", 1, "", 1, 4.0, 1)
    assert str(other) in outcome.videos[0].with_suffix(".json").read_text()


def test_non_finite_guidance_is_refused_before_sampling(tiny_checkpoint):
    studio = Studio(tiny_checkpoint)
    for guidance in (math.nan, math.inf):
        with pytest.raises(gr.Error, match="guidance must be a finite number"):
            studio.generate("a red circle", 1, "", 1, guidance, 1)
    assert not studio.engine.loaded  # refused before any weights were read


def test_progress_follows_every_sampling_step(tiny_checkpoint):
    seen = []
    outcome = Studio(tiny_checkpoint).generate("a red circle", 1, "", 3, 4.0, 1,
                                                progress=lambda value, desc=None, unit=None: seen.append(value))
    total = 3 + defaults.UPSAMPLER_STEPS  # base steps + the engine's default upsampler steps
    assert [v for v in seen if isinstance(v, tuple)] == [(k, total) for k in range(1, total + 1)]
    assert outcome.videos[0].is_file()


def test_text_inputs_lose_control_characters_but_keep_emoji_and_rtl():
    text, notes = inputs.text("a\x00 red\u202e circle 🎈 مرحبا\n", "prompt", "", inputs.Limits())
    assert text == "a red circle 🎈 مرحبا" and notes == ["removed control characters from the prompt"]


def test_output_root_sweeps_old_requests_and_cleans_up(tmp_path):
    root = OutputRoot(max_age_s=60)
    old, new = root.new_request("text"), root.new_request("edit")
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert root.sweep() == 1 and not old.exists() and new.exists()
    root.cleanup()
    assert not root.path.exists()
    kept = OutputRoot(tmp_path / "given")
    kept.new_request("text")
    kept.cleanup()
    assert (tmp_path / "given").is_dir() and not any((tmp_path / "given").iterdir())


def test_examples_are_shapes_world_clips_with_instructions():
    assert len(example_prompts()) >= 8 and any(len(p.split()) <= 6 for p in example_prompts())
    for clip, instruction in example_clips():
        source, _ = media.read_video(clip, size=64)
        assert board.is_shapes_world(source, judge_clip(source)), clip
        assert instruction
    noise = media.Clip(np.random.default_rng(0).integers(0, 256, (16, 64, 64, 3), np.uint8), source.audio)
    assert not board.is_shapes_world(noise, judge_clip(noise))  # the board judges world clips only
    assert all(Path(image).parent == EXAMPLES_DIR for image, _ in example_images())


def test_board_keeps_edits_of_one_source_and_chains_edits_of_an_edit():
    def edit(source_key, *keys):
        return {"source_key": source_key, "source_video": f"{source_key}.mp4",
                "entries": [{"instruction": f"i{k}", "task": "style", "seed": k, "text_guidance": 4.0,
                             "video_guidance": 1.5, "audio": "new", "verdict": "", "video": f"{k}.mp4", "key": k}
                            for k in keys]}

    state = board.add(None, edit("A", "e1", "e2"))
    state = board.add(state, edit("A", "e3"))
    assert [e["n"] for e in state["entries"]] == [1, 2, 3] and state["chain"] == []
    assert board.video_of(state, "2") == "e2.mp4" and board.video_of(state, board.SOURCE) == "A.mp4"
    chained = board.add(state, edit("e2", "f1"))
    assert chained["chain"] == ["#2 · ie2 · seed e2"] and [e["n"] for e in chained["entries"]] == [1]
    fresh = board.add(chained, edit("B", "g1"))
    assert fresh["chain"] == [] and board.rows(fresh)[0][:4] == [1, "ig1", "style", "g1"]
